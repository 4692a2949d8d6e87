//! The `tcp_conn` target: one live connection driven by a sequence of operations.
//!
//! The harness opens a connection to the interface of [`crate::iface::interface`]
//! (the peer's SYN options and initial sequence number come from the input, and
//! the handshake must complete), then decodes the rest of the input (`arbitrary`)
//! into up to [`MAX_OPS`] operations: peer segments whose sequence and
//! acknowledgment numbers, flags, window, timestamps, SACK blocks and payload
//! length are chosen relative to the live state (what the stack acknowledged and
//! sent), application writes, reads, close and abort, and time steps (a jump or
//! the interface's next timer). After every operation:
//!
//! * every frame the interface sent passes [`crate::check`];
//! * segments of the connection stay in its sequence space: data the stack sends
//!   is exactly the bytes the application wrote at that offset (retransmissions
//!   included), never beyond what was written, FIN only after `close` and at the
//!   end of the written data; the stack never acknowledges a byte the peer did
//!   not send (its ACK and its `RCV.NXT` stay within the contiguous prefix the
//!   peer sent, plus one for a FIN sent at its end); ACKs never move backwards;
//! * data the application reads is, in order, the bytes the peer sent at those
//!   offsets (the peer's byte at each sequence number is fixed, so
//!   retransmissions and overlaps agree), each one actually sent; `Eof` only
//!   where the peer sent FIN;
//! * `SND.UNA ≤ SND.NXT` and both within what was written.
//!
//! After the connection ends (reset, timeout, abort) or a SYN reopens it from
//! TIME-WAIT, segments on the same ports belong to another incarnation: driven
//! on, no longer modelled.
//!
//! Peer bytes and application bytes are functions of their stream offset
//! ([`peer_byte`], [`app_byte`]), so any correct TCP delivers exactly them.

use crate::check::{CheckSink, SentTcp};
use crate::iface::{interface, run_timers, IFACE_IP, LISTEN_PORT, PEER_IP};
use core::net::IpAddr;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use proto::iface::Interface;
use proto::tcp::{ConnId, RecvError, State, TcpEvent};
use proto::time::{Duration, Instant};
use wire::ip::protocol;
use wire::tcp::{SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr};

/// Most operations decoded from one input.
pub const MAX_OPS: usize = 96;
/// The peer's port.
pub const PEER_PORT: u16 = 40000;
/// Largest peer payload (more than an MSS, so oversized segments are tried).
pub const MAX_PAYLOAD: usize = 3000;

/// `TCP_CONN_TRACE=1` in the environment prints every operation and every segment
/// of the connection (to triage a crash: run the test or the fuzz target on it).
fn trace() -> bool {
    static T: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::env::var_os("TCP_CONN_TRACE").is_some())
}

/// The peer's byte at stream offset `off` (0 = the byte after its SYN).
pub fn peer_byte(off: u64) -> u8 {
    (off.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// The application's byte at stream offset `off`.
pub fn app_byte(off: u64) -> u8 {
    (off.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) >> 53) as u8
}

/// The peer's SYN.
#[derive(Arbitrary, Debug)]
pub struct Hello {
    /// Initial sequence number.
    pub isn: u32,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option.
    pub window_scale: Option<u8>,
    /// SACK permitted.
    pub sack: bool,
    /// Timestamps (first TSval).
    pub ts: Option<u32>,
    /// Window of the SYN and the handshake ACK.
    pub window: u16,
}

/// A number relative to a base from the live state.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Rel {
    /// The base.
    At,
    /// Base plus n.
    Plus(u16),
    /// Base minus n.
    Minus(u16),
    /// Far off: base plus n × 64 KiB.
    Far(i8),
    /// Any value.
    Raw(u32),
}

impl Rel {
    fn of(self, base: u32) -> u32 {
        match self {
            Rel::At => base,
            Rel::Plus(n) => base.wrapping_add(u32::from(n)),
            Rel::Minus(n) => base.wrapping_sub(u32::from(n)),
            Rel::Far(n) => base.wrapping_add((i32::from(n) << 16) as u32),
            Rel::Raw(v) => v,
        }
    }
}

/// A segment from the peer.
#[derive(Arbitrary, Debug)]
pub struct PeerSeg {
    /// Sequence number, relative to the stack's `RCV.NXT` as last seen in its ACKs.
    pub seq: Rel,
    /// Acknowledgment number, relative to the end of what the stack sent.
    pub ack: Rel,
    /// Control bits (all eight).
    pub flags: u8,
    /// Window field.
    pub window: u16,
    /// Payload length (capped at [`MAX_PAYLOAD`]).
    pub len: u16,
    /// Timestamps: TSval advance over the last one, and whether TSecr echoes the
    /// stack's last TSval (else 0).
    pub ts: Option<(u16, bool)>,
    /// SACK blocks: start relative to what the peer last acknowledged, length.
    pub sack: Vec<(Rel, u16)>,
    /// Urgent pointer.
    pub urgent: u16,
}

/// One step.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// The peer sends a segment.
    Seg(PeerSeg),
    /// The peer sends `len` bytes of new data after all it sent before (and ACKs
    /// everything).
    Data(u16),
    /// The peer acknowledges everything the stack sent (a pure ACK at its SND.NXT).
    AckAll,
    /// The application writes `len` bytes.
    Write(u16),
    /// The application reads up to `len` bytes.
    Read(u16),
    /// The application closes (FIN).
    Close,
    /// The application aborts (RST).
    Abort,
    /// Time passes (milliseconds).
    Wait(u16),
    /// Time jumps to the interface's next timer.
    Timer,
}

/// The peer's view of the connection and the model the stack is held to.
struct Model {
    /// The peer's ISN.
    irs: u32,
    /// The stack's ISN (from its SYN-ACK).
    iss: u32,
    /// Peer stream offsets sent: disjoint, sorted, non-adjacent half-open ranges.
    covered: Vec<(u64, u64)>,
    /// Offsets at which the peer sent FIN.
    fins: Vec<u64>,
    /// The stack's `RCV.NXT` as last seen in its ACKs (for [`Rel`] bases).
    stack_ack: u32,
    /// Highest ACK the stack sent, as a peer stream offset (ACKs never retreat).
    max_ack_off: u64,
    /// The end of what the stack sent (sequence number).
    stack_end: u32,
    /// What the peer last acknowledged.
    peer_ack: u32,
    /// The stack's last TSval.
    stack_ts: u32,
    /// The peer's TSval clock.
    peer_ts: u32,
    /// Bytes the application wrote.
    written: u64,
    /// The application called close.
    closed: bool,
    /// Bytes the application read.
    read: u64,
    /// Segments of `sink.sent` already looked at.
    seen: usize,
    /// The connection was seen in TIME-WAIT.
    time_wait: bool,
    /// The connection's segments are no longer held to the model (after it ended,
    /// or a new connection took its ports).
    ended: bool,
}

impl Model {
    /// Peer stream offset of sequence number `seq`.
    fn off(&self, seq: u32) -> i64 {
        i64::from(seq.wrapping_sub(self.irs.wrapping_add(1)) as i32)
    }

    /// Stack stream offset of sequence number `seq`.
    fn stack_off(&self, seq: u32) -> i64 {
        i64::from(seq.wrapping_sub(self.iss.wrapping_add(1)) as i32)
    }

    /// The end of the contiguous prefix the peer sent.
    fn contiguous(&self) -> u64 {
        match self.covered.first() {
            Some(&(0, end)) => end,
            _ => 0,
        }
    }

    /// The peer sent the byte at offset `at`.
    fn was_sent(&self, at: u64) -> bool {
        self.covered.iter().any(|&(a, b)| a <= at && at < b)
    }

    /// Add `[a, b)` to the sent ranges.
    fn cover(&mut self, a: u64, b: u64) {
        if a >= b {
            return;
        }
        let (mut a, mut b) = (a, b);
        self.covered.retain(|&(x, y)| {
            if y < a || x > b {
                return true;
            }
            a = a.min(x);
            b = b.max(y);
            false
        });
        let i = self.covered.partition_point(|&(x, _)| x < a);
        self.covered.insert(i, (a, b));
    }

    /// The highest offset the stack may acknowledge.
    fn ack_limit(&self) -> u64 {
        let c = self.contiguous();
        c + u64::from(self.fins.iter().any(|&f| f <= c))
    }

    fn sent_data(&mut self, seq: u32, len: usize, fin: bool) {
        let o = self.off(seq);
        let (a, b) = (o.max(0), o + len as i64);
        if b > a {
            self.cover(a as u64, b as u64);
        }
        if fin {
            if let Ok(f) = u64::try_from(o + len as i64) {
                if !self.fins.contains(&f) {
                    self.fins.push(f);
                }
            }
        }
    }

    /// Hold the stack's new segments on the connection to the model.
    fn learn(&mut self, sink: &CheckSink) {
        for s in &sink.sent[self.seen..] {
            let Some(t) = s.tcp() else { continue };
            if t.dst_port != PEER_PORT || t.src_port != LISTEN_PORT || self.ended {
                continue;
            }
            if t.flags.contains(TcpFlags::SYN) && t.seq != self.iss {
                // A new incarnation: only from TIME-WAIT (a SYN there may reopen
                // the connection, RFC 9293 §3.10.7.4 / RFC 6191).
                assert!(self.time_wait, "SYN-ACK with another ISN on the live connection: {t:?}");
                self.ended = true;
                continue;
            }
            self.segment(t);
        }
        self.seen = sink.sent.len();
    }

    fn segment(&mut self, t: &SentTcp) {
        if trace() {
            let (o, a) = (self.stack_off(t.seq), self.off(t.ack));
            eprintln!("  stack: seq +{o} ack +{a} flags {:#04x} win {} len {} {:?}", t.flags.0, t.window, t.payload.len(), t.options);
        }
        if let Some((v, _)) = t.options.timestamps {
            self.stack_ts = v;
        }
        if t.flags.contains(TcpFlags::RST) {
            return;
        }
        // Data: the application's bytes at that offset, never beyond what it wrote.
        let o = self.stack_off(t.seq) + i64::from(t.flags.contains(TcpFlags::SYN));
        assert!(o >= 0 || t.payload.is_empty(), "data before the ISN: {t:?}");
        let end = o + t.payload.len() as i64;
        // A segment after our FIN has the FIN's sequence number behind it.
        let limit = if t.payload.is_empty() { self.written as i64 + i64::from(self.closed) } else { self.written as i64 };
        assert!(end <= limit, "sent data not written: offset {o}, {} bytes, {} written: {t:?}", t.payload.len(), self.written);
        for (k, &b) in t.payload.iter().enumerate() {
            let at = (o + k as i64) as u64;
            assert_eq!(b, app_byte(at), "sent byte at offset {at} is not the application's");
        }
        if t.flags.contains(TcpFlags::FIN) {
            assert!(self.closed, "FIN without close: {t:?}");
            assert_eq!(end, self.written as i64, "FIN not at the end of the written data: {t:?}");
        }
        let tail = t.seq.wrapping_add(t.seg_len());
        if (tail.wrapping_sub(self.stack_end) as i32) > 0 {
            self.stack_end = tail;
        }
        // ACK: within what the peer sent, never backwards.
        if t.flags.contains(TcpFlags::ACK) {
            let a = self.off(t.ack);
            assert!(a >= 0, "ACK before the peer's ISN: {t:?}");
            let a = a as u64;
            assert!(a <= self.ack_limit(), "ACK of {a} beyond what the peer sent (limit {}): {t:?}", self.ack_limit());
            assert!(a >= self.max_ack_off, "ACK moved back from {} to {a}: {t:?}", self.max_ack_off);
            self.max_ack_off = a;
            self.stack_ack = t.ack;
        }
    }

    /// The stack's own sequence state agrees with the model.
    fn check_state(&self, ifc: &Interface, conn: ConnId) {
        let Some((una, nxt, rcv_nxt, _)) = ifc.tcp().seq_state(conn) else { return };
        let (una, nxt) = (self.stack_off(una.0), self.stack_off(nxt.0));
        let fin = i64::from(self.closed);
        assert!(una <= nxt, "SND.UNA {una} after SND.NXT {nxt}");
        assert!(una >= -1 && nxt <= self.written as i64 + fin, "SND.NXT {nxt} beyond written {} (+FIN)", self.written);
        let r = self.off(rcv_nxt.0);
        assert!(r >= 0 && r as u64 <= self.ack_limit(), "RCV.NXT {r} beyond what the peer sent (limit {})", self.ack_limit());
        assert!(r as u64 >= self.read, "RCV.NXT {r} behind what was read ({})", self.read);
    }
}

fn tcp_frame(repr: &TcpRepr<'_>) -> Vec<u8> {
    let (s, d) = (IpAddr::V4(PEER_IP), IpAddr::V4(IFACE_IP));
    crate::iface_ipv4::peer_frame(protocol::TCP, repr.buffer_len(), |b| repr.emit(&mut TcpPacket::new_unchecked(b), &s, &d, wire::ChecksumMode::Full))
}

/// The peer's payload for a segment at `seq`: its bytes at those offsets.
fn payload(m: &Model, seq: u32, len: usize) -> Vec<u8> {
    let o = m.off(seq);
    (0..len as i64).map(|k| peer_byte((o + k) as u64)).collect()
}

struct Run {
    ifc: Interface,
    sink: CheckSink,
    now: Instant,
    m: Model,
    conn: Option<ConnId>,
    ts: bool,
}

impl Run {
    fn send(&mut self, repr: &TcpRepr<'_>) {
        if trace() {
            let (o, a) = (self.m.off(repr.seq), self.m.stack_off(repr.ack));
            eprintln!("  peer:  seq +{o} ack +{a} flags {:#04x} win {} len {} {:?}", repr.flags.0, repr.window, repr.payload.len(), repr.options);
        }
        self.m.sent_data(repr.seq, repr.payload.len(), repr.flags.contains(TcpFlags::FIN));
        if repr.flags.contains(TcpFlags::ACK) {
            self.m.peer_ack = repr.ack;
        }
        let f = tcp_frame(repr);
        self.ifc.handle_frame(self.now, &f, &mut self.sink);
    }

    fn options(&mut self, ts: Option<(u16, bool)>) -> TcpOptions {
        let mut o = TcpOptions::default();
        if let Some((adv, echo)) = ts {
            self.m.peer_ts = self.m.peer_ts.wrapping_add(u32::from(adv));
            o.timestamps = Some((self.m.peer_ts, if echo { self.m.stack_ts } else { 0 }));
        }
        o
    }

    fn peer_seg(&mut self, s: &PeerSeg) {
        let seq = s.seq.of(self.m.stack_ack);
        let ack = s.ack.of(self.m.stack_end);
        let data = payload(&self.m, seq, usize::from(s.len).min(MAX_PAYLOAD));
        let mut options = self.options(s.ts);
        let mut sack = SackBlocks::default();
        for &(l, n) in s.sack.iter().take(4) {
            let left = l.of(self.m.peer_ack);
            sack.push(left, left.wrapping_add(u32::from(n)));
        }
        options.sack = sack;
        let mut repr = TcpRepr { src_port: PEER_PORT, dst_port: LISTEN_PORT, seq, ack, flags: TcpFlags(s.flags), window: s.window, urgent: s.urgent, options, payload: &data };
        while repr.header_len() > 60 && repr.options.sack.len > 0 {
            repr.options.sack.len -= 1;
        }
        self.send(&repr);
    }

    fn in_order(&mut self, len: u16) {
        // The peer's SND.NXT: the end of the contiguous data it sent.
        let seq = self.m.irs.wrapping_add(1).wrapping_add(self.m.contiguous() as u32);
        let data = payload(&self.m, seq, usize::from(len).min(MAX_PAYLOAD));
        let options = self.options(self.ts.then_some((1, true)));
        let flags = TcpFlags::ACK.union(TcpFlags::PSH);
        let repr = TcpRepr { src_port: PEER_PORT, dst_port: LISTEN_PORT, seq, ack: self.m.stack_end, flags, window: 65535, urgent: 0, options, payload: &data };
        self.send(&repr);
    }

    fn read(&mut self, conn: ConnId, len: u16) {
        let mut buf = vec![0u8; usize::from(len).min(16384)];
        let r = self.ifc.tcp_mut().recv(conn, &mut buf);
        if self.m.ended {
            return;
        }
        match r {
            Ok(n) => {
                assert!(n <= buf.len());
                for (k, &b) in buf[..n].iter().enumerate() {
                    let at = self.m.read + k as u64;
                    assert!(self.m.was_sent(at), "read byte {at} the peer never sent: {:?}", self.m.covered);
                    assert_eq!(b, peer_byte(at), "read byte {at} is not the peer's");
                }
                self.m.read += n as u64;
            }
            Err(RecvError::Eof) => {
                assert!(self.m.fins.contains(&self.m.read), "Eof at {} where the peer sent no FIN ({:?})", self.m.read, self.m.fins);
            }
            Err(_) => {}
        }
    }

    fn op(&mut self, op: &Op) {
        if trace() {
            eprintln!("{:?} {:?} {op:?}", self.now, self.conn.and_then(|c| self.ifc.tcp().state(c)));
        }
        match op {
            Op::Seg(s) => self.peer_seg(s),
            Op::Data(len) => self.in_order(*len),
            Op::AckAll => self.in_order(0),
            Op::Write(len) => {
                if let Some(c) = self.conn {
                    let data: Vec<u8> = (0..u64::from(*len)).map(|k| app_byte(self.m.written + k)).collect();
                    if let Ok(n) = self.ifc.tcp_mut().send(c, &data) {
                        assert!(n <= data.len());
                        if !self.m.ended {
                            assert!(!self.m.closed || n == 0, "send accepted {n} bytes after close");
                            self.m.written += n as u64;
                        }
                    }
                }
            }
            Op::Read(len) => {
                if let Some(c) = self.conn {
                    self.read(c, *len);
                }
            }
            Op::Close => {
                if let Some(c) = self.conn {
                    if self.ifc.tcp_mut().close(c).is_ok() && !self.m.ended {
                        self.m.closed = true;
                    }
                }
            }
            Op::Abort => {
                if let Some(c) = self.conn {
                    self.ifc.tcp_mut().abort_deferred(c);
                }
            }
            Op::Wait(ms) => self.now += Duration::from_millis(u64::from(*ms)),
            Op::Timer => {
                if let Some(t) = self.ifc.poll_timeout() {
                    self.now = self.now.max(t);
                }
            }
        }
        self.ifc.poll_transmit(self.now, &mut self.sink);
        self.m.learn(&self.sink);
        self.events();
        if let Some(c) = self.conn.filter(|_| !self.m.ended) {
            self.m.check_state(&self.ifc, c);
            self.m.time_wait |= self.ifc.tcp().state(c) == Some(State::TimeWait);
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.ifc.tcp_mut().poll_event() {
            if trace() {
                eprintln!("  event: {e:?}");
            }
            match e {
                TcpEvent::Accepted { conn, .. } => {
                    // After the first one ended, the peer's segments may open
                    // another on the same ports: driven on, no longer modelled.
                    assert!(self.conn.is_none() || self.m.ended, "a second connection accepted while the first lives: {conn:?}");
                    self.conn = Some(conn);
                }
                TcpEvent::Closed { conn, .. } if Some(conn) == self.conn => {
                    self.conn = None;
                    self.m.ended = true;
                }
                _ => {}
            }
        }
    }
}

/// Run the target on `data`: the handshake from a [`Hello`], then up to
/// [`MAX_OPS`] [`Op`]s.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(hello) = Hello::arbitrary(&mut u) else { return };
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(u) else { return };
    run_ops(&hello, &ops);
}

/// What a run did, for tests of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Bytes the application wrote.
    pub written: u64,
    /// Bytes the application read.
    pub read: u64,
    /// The highest peer stream offset the stack acknowledged.
    pub acked: u64,
    /// The end of what the stack sent, as a stream offset (FIN included).
    pub sent: i64,
    /// The connection was still open at the end.
    pub open: bool,
    /// Frames the interface sent (all checked).
    pub frames: usize,
}

/// The handshake from `hello`, then the first [`MAX_OPS`] of `ops`, every
/// invariant checked (panics on a violation).
pub fn run_ops(hello: &Hello, ops: &[Op]) -> Summary {
    let mut sink = CheckSink::default();
    let now = Instant::from_millis(1000);
    let ifc = interface(now, &mut sink);
    let m = Model {
        irs: hello.isn,
        iss: 0,
        covered: Vec::new(),
        fins: Vec::new(),
        stack_ack: hello.isn.wrapping_add(1),
        max_ack_off: 0,
        stack_end: 0,
        peer_ack: 0,
        stack_ts: 0,
        peer_ts: hello.ts.unwrap_or(0),
        written: 0,
        closed: false,
        read: 0,
        seen: sink.sent.len(),
        time_wait: false,
        ended: false,
    };
    let mut r = Run { ifc, sink, now, m, conn: None, ts: hello.ts.is_some() };
    r.handshake(hello);
    for op in ops.iter().take(MAX_OPS) {
        r.op(op);
    }
    let now = r.now;
    run_timers(&mut r.ifc, now, 16, &mut r.sink);
    r.m.learn(&r.sink);
    Summary {
        written: r.m.written,
        read: r.m.read,
        acked: r.m.max_ack_off,
        sent: r.m.stack_off(r.m.stack_end),
        open: r.conn.is_some(),
        frames: r.sink.frames,
    }
}

impl Run {
    /// SYN, SYN-ACK, ACK: the connection must be accepted.
    fn handshake(&mut self, h: &Hello) {
        let options = TcpOptions { mss: h.mss, window_scale: h.window_scale, sack_permitted: h.sack, timestamps: h.ts.map(|t| (t, 0)), ..TcpOptions::default() };
        let syn = TcpRepr { src_port: PEER_PORT, dst_port: LISTEN_PORT, seq: h.isn, ack: 0, flags: TcpFlags::SYN, window: h.window, urgent: 0, options, payload: &[] };
        self.ifc.handle_frame(self.now, &tcp_frame(&syn), &mut self.sink);
        self.ifc.poll_transmit(self.now, &mut self.sink);
        let synack = self.sink.sent[self.m.seen..]
            .iter()
            .filter_map(|s| s.tcp())
            .find(|t| t.flags.contains(TcpFlags::SYN) && t.flags.contains(TcpFlags::ACK))
            .unwrap_or_else(|| panic!("no SYN-ACK to {syn:?}: {:?}", &self.sink.sent[self.m.seen..]))
            .clone();
        assert_eq!(synack.ack, h.isn.wrapping_add(1), "SYN-ACK acknowledges the SYN");
        self.m.iss = synack.seq;
        self.m.stack_end = synack.seq.wrapping_add(1);
        self.m.peer_ack = synack.seq;
        self.m.learn(&self.sink);
        let options = self.options(h.ts.map(|_| (1, true)));
        let ack = TcpRepr { src_port: PEER_PORT, dst_port: LISTEN_PORT, seq: h.isn.wrapping_add(1), ack: self.m.stack_end, flags: TcpFlags::ACK, window: h.window, urgent: 0, options, payload: &[] };
        self.send(&ack);
        self.ifc.poll_transmit(self.now, &mut self.sink);
        self.m.learn(&self.sink);
        self.events();
        assert!(self.conn.is_some(), "handshake not accepted: SYN {syn:?}, sent {:?}", &self.sink.sent[self.m.seen.saturating_sub(4)..]);
    }
}
