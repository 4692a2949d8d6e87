//! The deterministic two-endpoint simulator shared by the TCP integration tests:
//! two `Tcp` endpoints over an in-memory link with a virtual clock and seeded
//! loss, reordering and duplication. Failures print the seed.
#![allow(dead_code)]

use proto::tcp::{CloseReason, ConnId, RecvError, SegmentSink, Tcp, TcpConfig, TcpEvent};
use proto::time::{Duration, Instant};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use wire::tcp::{TcpFlags, TcpOptions, TcpRepr};

/// A segment with an owned payload.
#[derive(Debug, Clone)]
pub struct Seg {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl Seg {
    pub fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: self.options,
            payload: &self.payload,
        }
    }
    pub fn has(&self, f: TcpFlags) -> bool {
        self.flags.contains(f)
    }
}

/// The segments sent in one round; with `Some(n)` in the second field the sink has
/// room for only `n` of them (a transmit ring running out of frames).
#[derive(Default)]
pub struct Out(pub Vec<Seg>, pub Option<usize>);

impl SegmentSink for Out {
    fn send_segment(&mut self, local: IpAddr, remote: IpAddr, r: &TcpRepr<'_>) -> bool {
        if self.1.is_some_and(|room| self.0.len() >= room) {
            return false;
        }
        self.0.push(Seg {
            src: local,
            dst: remote,
            src_port: r.src_port,
            dst_port: r.dst_port,
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
            window: r.window,
            options: r.options,
            payload: r.payload.to_vec(),
        });
        true
    }
}

/// xorshift64*.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// True with probability `p` per mille.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

pub type Filter = Box<dyn FnMut(&Seg) -> bool>;
pub type Editor = Box<dyn FnMut(&mut Seg)>;

pub struct Sim {
    pub now: Instant,
    pub a: Tcp,
    pub b: Tcp,
    pub a_ip: IpAddr,
    pub b_ip: IpAddr,
    /// (deliver at, order, segment)
    pub wire: Vec<(Instant, u64, Seg)>,
    pub order: u64,
    pub rng: Rng,
    pub seed: u64,
    pub delay: Duration,
    pub loss: u64,
    pub dup: u64,
    pub reorder: u64,
    /// Reordering as netem (and `--fault`) does it: a reordered segment skips
    /// `delay` instead of waiting up to 3 ms more.
    pub reorder_skips_delay: bool,
    /// Extra uniform random delay in `[0, jitter)` per segment.
    pub jitter: Duration,
    /// Transmit frames available per round (None: unlimited).
    pub tx_room: Option<usize>,
    /// Drop a segment when this returns true (targeted loss).
    pub drop_if: Option<Filter>,
    /// Rewrite segments on the wire (a middlebox), before `drop_if`.
    pub edit: Option<Editor>,
    /// Take B's events each round (`false`: B's application does not look, so
    /// its `Accepted` connections stay in the listener's accept queue).
    pub poll_b: bool,
    /// Every segment put on the wire (before loss), with its send time.
    pub log: Vec<(Instant, Seg)>,
    pub a_events: Vec<TcpEvent>,
    pub b_events: Vec<TcpEvent>,
}

pub const A_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
pub const B_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

impl Sim {
    /// Two endpoints with `a_cfg` and `b_cfg`, their ISN secrets derived from
    /// `seed` (the default secret is random per configuration: a run must be
    /// reproducible from its seed).
    pub fn new(seed: u64, mut a_cfg: TcpConfig, mut b_cfg: TcpConfig) -> Sim {
        let secret = |side: u64| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&seed.to_le_bytes());
            k[8..].copy_from_slice(&side.to_le_bytes());
            k
        };
        a_cfg.isn_secret = secret(1);
        b_cfg.isn_secret = secret(2);
        a_cfg.cookie_secret = secret(3);
        b_cfg.cookie_secret = secret(4);
        Sim::with_secrets(seed, a_cfg, b_cfg)
    }

    /// As [`Sim::new`], keeping the configurations' ISN and cookie secrets.
    pub fn with_secrets(seed: u64, a_cfg: TcpConfig, b_cfg: TcpConfig) -> Sim {
        Sim {
            now: Instant::from_millis(1000),
            a: Tcp::new(a_cfg),
            b: Tcp::new(b_cfg),
            a_ip: A_IP,
            b_ip: B_IP,
            wire: Vec::new(),
            order: 0,
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            seed,
            delay: Duration::from_millis(1),
            loss: 0,
            dup: 0,
            reorder: 0,
            reorder_skips_delay: false,
            jitter: Duration::ZERO,
            drop_if: None,
            edit: None,
            poll_b: true,
            tx_room: None,
            log: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    pub fn pair() -> Sim {
        Sim::new(1, TcpConfig::default(), TcpConfig::default())
    }

    pub fn put(&mut self, out: Out) {
        for mut seg in out.0 {
            if let Some(f) = self.edit.as_mut() {
                f(&mut seg);
            }
            self.log.push((self.now, seg.clone()));
            if seg.dst != self.a_ip && seg.dst != self.b_ip {
                // Nobody at that address (a spoofed source): a black hole.
                continue;
            }
            if let Some(f) = self.drop_if.as_mut() {
                if f(&seg) {
                    continue;
                }
            }
            if self.loss > 0 && self.rng.chance(self.loss) {
                continue;
            }
            let copies = if self.dup > 0 && self.rng.chance(self.dup) { 2 } else { 1 };
            for _ in 0..copies {
                let mut at = self.now + self.delay;
                if self.reorder > 0 && self.rng.chance(self.reorder) {
                    if self.reorder_skips_delay {
                        at = self.now;
                    } else {
                        at += Duration::from_micros(self.rng.next() % 3000);
                    }
                }
                if self.jitter > Duration::ZERO {
                    at += Duration::from_micros(self.rng.next() % self.jitter.as_micros().max(1) as u64);
                }
                self.order += 1;
                self.wire.push((at, self.order, seg.clone()));
            }
        }
    }

    pub fn connect(&mut self, port: u16) -> ConnId {
        let mut out = Out::default();
        let c = self.a.connect(self.now, SocketAddr::new(self.a_ip, 40000), SocketAddr::new(self.b_ip, port), &mut out).unwrap();
        self.put(out);
        c
    }

    /// One round: deliver due segments, transmit, collect events.
    pub fn round(&mut self) {
        self.wire.sort_by_key(|(t, o, _)| (*t, *o));
        let due = self.wire.iter().take_while(|(t, _, _)| *t <= self.now).count();
        let segs: Vec<_> = self.wire.drain(..due).collect();
        let mut out = Out(Vec::new(), self.tx_room);
        for (_, _, seg) in segs {
            let tcp = if seg.dst == self.a_ip { &mut self.a } else { &mut self.b };
            tcp.handle_segment(self.now, seg.src, seg.dst, &seg.repr(), &mut out);
        }
        self.a.poll_transmit(self.now, &mut out);
        self.b.poll_transmit(self.now, &mut out);
        self.put(out);
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while self.poll_b {
            let Some(e) = self.b.poll_event() else { break };
            self.b_events.push(e);
        }
    }

    /// Advance the clock to the next thing that happens; false if nothing will.
    pub fn advance(&mut self) -> bool {
        let next = [self.wire.iter().map(|(t, _, _)| *t).min(), self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
        match next {
            Some(t) => {
                if t > self.now {
                    self.now = t;
                }
                true
            }
            None => {
                // Idle: let the application's clock run (a slow reader wakes later).
                self.now += Duration::from_millis(10);
                true
            }
        }
    }

    /// Run rounds, calling `app` each round, until `done` or the time limit.
    pub fn run(&mut self, limit: Duration, mut app: impl FnMut(&mut Sim) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.round();
            if app(self) {
                // Let the last output go out.
                self.round();
                return true;
            }
            if !self.advance() || self.now > end {
                return app(self);
            }
        }
    }

    /// Run rounds for `d` of simulated time, never jumping past its end (an
    /// application that wakes up then).
    pub fn sleep(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.round();
            let next = [self.wire.iter().map(|(t, _, _)| *t).min(), self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    self.round();
                    return;
                }
            }
        }
    }

    pub fn accepted(&self) -> Option<ConnId> {
        self.b_events.iter().find_map(|e| match e {
            TcpEvent::Accepted { conn, .. } => Some(*conn),
            _ => None,
        })
    }

    pub fn closed(events: &[TcpEvent], c: ConnId) -> Option<CloseReason> {
        events.iter().find_map(|e| match e {
            TcpEvent::Closed { conn, reason } if *conn == c => Some(*reason),
            _ => None,
        })
    }

    #[allow(dead_code)]
    pub fn dump(&self, last: usize) {
        for (t, g) in self.log.iter().rev().take(last).rev() {
            eprintln!(
                "{:>10} {} -> {} seq={} ack={} flags={:#04x} win={} len={}",
                t.micros(),
                g.src,
                g.dst,
                g.seq,
                g.ack,
                g.flags.0,
                g.window,
                g.payload.len()
            );
        }
    }

    pub fn handshake(&mut self, port: u16) -> (ConnId, ConnId) {
        self.b.listen(port).unwrap();
        let c = self.connect(port);
        let ok = self.run(Duration::from_secs(60), |s| s.accepted().is_some() && s.a_events.contains(&TcpEvent::Connected(c)));
        assert!(ok, "seed {}: handshake did not complete", self.seed);
        (c, self.accepted().unwrap())
    }
}

pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + i / 251) as u8) ^ salt).collect()
}

/// One direction of a bulk transfer driven by the application loop.
pub struct Flow {
    pub data: Vec<u8>,
    pub sent: usize,
    pub got: Vec<u8>,
    pub close_when_sent: bool,
    pub closed: bool,
    pub eof: bool,
}

impl Flow {
    pub fn new(data: Vec<u8>, close_when_sent: bool) -> Flow {
        Flow { data, sent: 0, got: Vec::new(), close_when_sent, closed: false, eof: false }
    }
    pub fn pump(&mut self, tx: &mut Tcp, tc: ConnId, rx: &mut Tcp, rc: ConnId, read_limit: usize) {
        if self.sent < self.data.len() {
            if let Ok(n) = tx.send(tc, &self.data[self.sent..]) {
                self.sent += n;
            }
        }
        if self.sent == self.data.len() && self.close_when_sent && !self.closed {
            tx.close(tc).unwrap();
            self.closed = true;
        }
        let mut buf = [0u8; 4096];
        let mut budget = read_limit;
        while budget > 0 {
            let want = buf.len().min(budget);
            match rx.recv(rc, &mut buf[..want]) {
                Ok(n) => {
                    self.got.extend_from_slice(&buf[..n]);
                    budget -= n;
                }
                Err(RecvError::Eof) => {
                    self.eof = true;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    pub fn done(&self) -> bool {
        self.got.len() == self.data.len() && (!self.close_when_sent || self.eof)
    }
}

pub fn check_same(seed: u64, what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "seed {seed}: {what}: length");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("seed {seed}: {what}: first difference at byte {i}");
    }
}

pub fn transfer(s: &mut Sim, c: ConnId, sc: ConnId, up: &mut Flow, down: &mut Flow, limit: Duration) -> bool {
    s.run(limit, |s| {
        up.pump(&mut s.a, c, &mut s.b, sc, usize::MAX);
        down.pump(&mut s.b, sc, &mut s.a, c, usize::MAX);
        up.done() && down.done()
    })
}
