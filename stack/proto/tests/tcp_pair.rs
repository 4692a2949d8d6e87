//! Core TCP behaviour in the deterministic pair simulator (`sim`): handshake, bulk
//! transfer, half-close, RST, loss and retransmission, windows, wraparound,
//! TIME-WAIT. Failures print the seed.

mod sim;

use proto::tcp::{CloseReason, RecvError, State, Tcp, TcpConfig, TcpEvent};
use proto::time::{Duration, Instant};
use sim::*;
use std::net::SocketAddr;
use wire::tcp::{TcpFlags, TcpOptions};

#[test]
fn handshake() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    assert_eq!(s.a.state(c), Some(State::Established));
    assert_eq!(s.b.state(sc), Some(State::Established));
    assert_eq!(s.b.remote(sc), Some(SocketAddr::new(A_IP, 40000)));
    assert_eq!(s.a.local(c), Some(SocketAddr::new(A_IP, 40000)));
    assert!(s.b.is_listening(80));
    // SYN options: MSS, wscale, timestamps, SACK-permitted (RFC 2018 §2), and
    // the SYN-ACK answers it: SACK is in use both ways.
    let syn = &s.log[0].1;
    assert!(syn.has(TcpFlags::SYN) && !syn.has(TcpFlags::ACK));
    assert_eq!(syn.options.mss, Some(1460));
    assert!(syn.options.window_scale.is_some());
    assert!(syn.options.timestamps.is_some());
    assert!(syn.options.sack_permitted);
    let synack = &s.log[1].1;
    assert!(synack.has(TcpFlags::SYN | TcpFlags::ACK) && synack.options.sack_permitted);
    assert!(s.a.negotiated(c).unwrap().sack && s.b.negotiated(sc).unwrap().sack);
    assert_eq!(s.a.stats().established, 1);
    assert_eq!(s.b.stats().established, 1);
    assert_eq!(s.a.connection_count(), 1);
    assert_eq!(s.b.connection_count(), 1);
}

#[test]
fn transmit_ring_shortage_is_not_loss() {
    // Only 3 transmit frames per round for both endpoints together: data that finds
    // no frame waits for the next round instead of counting as lost, so there is no
    // retransmission and no timeout, and every byte arrives.
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.tx_room = Some(3);
    let mut up = Flow::new(pattern(512 << 10, 0x33), false);
    let mut down = Flow::new(pattern(256 << 10, 0x44), false);
    assert!(transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(60)));
    check_same(1, "up", &up.got, &up.data);
    check_same(1, "down", &down.got, &down.data);
    for t in [&s.a, &s.b] {
        assert!(t.stats().send_failed > 0, "the shortage happened");
        assert_eq!(t.stats().retransmits, 0);
        assert_eq!(t.stats().rto_expired, 0);
    }
}

#[test]
fn one_megabyte_both_ways() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    let mut up = Flow::new(pattern(1 << 20, 0x11), false);
    let mut down = Flow::new(pattern(1 << 20, 0x22), false);
    assert!(transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(60)));
    check_same(1, "up", &up.got, &up.data);
    check_same(1, "down", &down.got, &down.data);
    // Never a payload above the negotiated MSS (1460 - 12 bytes of timestamps).
    assert!(s.log.iter().all(|(_, seg)| seg.payload.len() <= 1448));
    assert_eq!(s.a.stats().retransmits, 0);
}

#[test]
fn half_close_then_close_and_time_wait() {
    let cfg = TcpConfig { time_wait: Duration::from_secs(2), ..TcpConfig::default() };
    let mut s = Sim::new(1, cfg.clone(), cfg);
    let (c, sc) = s.handshake(80);
    // Client sends 10 KB and closes; server keeps sending 100 KB after that.
    let mut up = Flow::new(pattern(10_000, 1), true);
    let mut down = Flow::new(pattern(100_000, 2), false);
    let ok = s.run(Duration::from_secs(30), |s| {
        up.pump(&mut s.a, c, &mut s.b, sc, usize::MAX);
        if up.eof {
            down.pump(&mut s.b, sc, &mut s.a, c, usize::MAX);
        }
        up.done() && down.done()
    });
    assert!(ok);
    assert_eq!(s.a.state(c), Some(State::FinWait2));
    assert_eq!(s.b.state(sc), Some(State::CloseWait));
    check_same(1, "up", &up.got, &up.data);
    check_same(1, "down", &down.got, &down.data);
    // The client can no longer send.
    assert!(s.a.send(c, b"x").is_err());
    // Server closes: client gets Eof, both see Closed{Normal}.
    s.b.close(sc).unwrap();
    let mut eof = false;
    let ok = s.run(Duration::from_secs(10), |s| {
        let mut buf = [0u8; 16];
        if s.a.recv(c, &mut buf) == Err(RecvError::Eof) {
            eof = true;
        }
        Sim::closed(&s.a_events, c).is_some() && Sim::closed(&s.b_events, sc).is_some()
    });
    if !(ok && eof) {
        s.dump(30);
        eprintln!("{:?} {:?} {:?} {:?}", s.a.state(c), s.b.state(sc), s.a_events, s.b_events);
    }
    assert!(ok && eof);
    assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::Normal));
    assert_eq!(Sim::closed(&s.b_events, sc), Some(CloseReason::Normal));
    // Passive closer frees at once; the active closer holds TIME-WAIT.
    assert_eq!(s.b.connection_count(), 0);
    assert_eq!(s.a.connection_count(), 1);
    assert_eq!(s.a.state(c), None, "handle is stale after Closed");
    assert_eq!(s.a.recv(c, &mut [0u8; 4]), Err(RecvError::InvalidConn));
    let t0 = s.now;
    let ok = s.run(Duration::from_secs(10), |s| s.a.connection_count() == 0);
    assert!(ok);
    assert!(s.now - t0 >= Duration::from_millis(1900), "TIME-WAIT lasted {:?}", s.now - t0);
    // Exactly one Closed per connection.
    assert_eq!(s.a_events.iter().filter(|e| matches!(e, TcpEvent::Closed { .. })).count(), 1);
    assert_eq!(s.b_events.iter().filter(|e| matches!(e, TcpEvent::Closed { .. })).count(), 1);
    // The slot is reused with a new generation.
    let c2 = s.connect(81);
    assert_ne!(c2, c);
}

#[test]
fn rst_when_no_listener() {
    let mut s = Sim::pair();
    let c = s.connect(9);
    let ok = s.run(Duration::from_secs(5), |s| Sim::closed(&s.a_events, c).is_some());
    assert!(ok);
    assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::Refused));
    assert_eq!(s.b.stats().no_listener_rst, 1);
    let rst = &s.log[1].1;
    assert!(rst.has(TcpFlags::RST) && rst.has(TcpFlags::ACK));
    assert_eq!(rst.seq, 0);
    assert_eq!(rst.ack, s.log[0].1.seq.wrapping_add(1));
    assert_eq!(s.a.connection_count(), 0);
    assert_eq!(s.a.state(c), None);
}

/// Drop the first segment matching `pred`, then transfer data both ways and close.
fn lose_first(what: &str, pred: impl Fn(&Seg) -> bool + 'static) {
    let mut s = Sim::pair();
    let mut dropped = false;
    s.drop_if = Some(Box::new(move |seg| {
        if !dropped && pred(seg) {
            dropped = true;
            return true;
        }
        false
    }));
    s.b.listen(80).unwrap();
    let c = s.connect(80);
    let mut up = Flow::new(pattern(50_000, 3), true);
    let mut down = Flow::new(pattern(30_000, 4), true);
    let mut sc = None;
    let ok = s.run(Duration::from_secs(60), |s| {
        if sc.is_none() {
            sc = s.accepted();
        }
        let Some(sc) = sc else { return false };
        if !s.a_events.contains(&TcpEvent::Connected(c)) {
            return false;
        }
        up.pump(&mut s.a, c, &mut s.b, sc, usize::MAX);
        down.pump(&mut s.b, sc, &mut s.a, c, usize::MAX);
        up.done() && down.done() && Sim::closed(&s.a_events, c).is_some() && Sim::closed(&s.b_events, sc).is_some()
    });
    assert!(ok, "{what}: transfer did not complete");
    check_same(0, what, &up.got, &up.data);
    check_same(0, what, &down.got, &down.data);
    let r = s.a.stats().retransmits + s.b.stats().retransmits;
    assert!(r > 0, "{what}: nothing was retransmitted");
}

#[test]
fn lost_syn() {
    lose_first("SYN", |s| s.has(TcpFlags::SYN) && !s.has(TcpFlags::ACK));
}

#[test]
fn lost_syn_ack() {
    lose_first("SYN-ACK", |s| s.has(TcpFlags::SYN) && s.has(TcpFlags::ACK));
}

#[test]
fn lost_data() {
    lose_first("data", |s| s.payload.len() > 1000 && s.dst == B_IP);
}

#[test]
fn lost_fin() {
    lose_first("FIN", |s| s.has(TcpFlags::FIN));
}

#[test]
fn lost_ack_of_fin() {
    // The ACK that answers the client's FIN (pure ACK from server after a FIN).
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.a.close(c).unwrap();
    let mut dropped = false;
    s.drop_if = Some(Box::new(move |seg| {
        if !dropped && seg.src == B_IP && seg.payload.is_empty() && !seg.has(TcpFlags::FIN) {
            dropped = true;
            return true;
        }
        false
    }));
    let ok = s.run(Duration::from_secs(10), |s| s.a.state(c) == Some(State::FinWait2));
    assert!(ok);
    assert!(s.a.stats().retransmits >= 1);
    assert_eq!(s.b.state(sc), Some(State::CloseWait));
}

#[test]
fn lossy_reordering_duplicating_link_20_seeds() {
    let mut fast = 0;
    for seed in 1..=20u64 {
        let mut s = Sim::new(seed, TcpConfig::default(), TcpConfig::default());
        s.loss = 100;
        s.reorder = 200;
        s.dup = 50;
        let (c, sc) = s.handshake(80);
        let mut up = Flow::new(pattern(200_000, seed as u8), true);
        let mut down = Flow::new(pattern(50_000, !seed as u8), true);
        let ok = transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(600));
        assert!(ok, "seed {seed}: transfer did not complete (got {} / {})", up.got.len(), down.got.len());
        check_same(seed, "up", &up.got, &up.data);
        check_same(seed, "down", &down.got, &down.data);
        assert!(s.a.stats().retransmits > 0 && s.b.stats().retransmits > 0, "seed {seed}: no loss happened");
        assert!(s.b.stats().ooo_segments > 0, "seed {seed}: no reordering happened");
        fast += s.a.stats().fast_retransmits;
    }
    assert!(fast > 0, "fast retransmit never triggered");
}

#[test]
fn window_scaling_slow_reader_zero_window_persist() {
    let bcfg = TcpConfig { rx_buffer: 1 << 20, ..TcpConfig::default() };
    let acfg = TcpConfig { tx_buffer: 1 << 20, ..TcpConfig::default() };
    let mut s = Sim::new(7, acfg, bcfg);
    let (c, sc) = s.handshake(80);
    let mut up = Flow::new(pattern(3 << 20, 9), false);
    let mut down = Flow::new(Vec::new(), false);
    // The reader sleeps for 3 s (the window closes), then reads 64 KB per round.
    let start = s.now;
    let ok = s.run(Duration::from_secs(120), |s| {
        let limit = if s.now - start < Duration::from_secs(3) { 0 } else { 64 * 1024 };
        up.pump(&mut s.a, c, &mut s.b, sc, limit);
        down.pump(&mut s.b, sc, &mut s.a, c, usize::MAX);
        up.done()
    });
    assert!(ok, "got {} of {}", up.got.len(), up.data.len());
    check_same(7, "up", &up.got, &up.data);
    // The server announced a window beyond 64 KB through scaling...
    let synack = s.log.iter().find(|(_, g)| g.has(TcpFlags::SYN) && g.has(TcpFlags::ACK)).unwrap();
    let shift = synack.1.options.window_scale.unwrap();
    assert_eq!(shift, 5);
    let big = s.log.iter().any(|(_, g)| g.src == B_IP && !g.has(TcpFlags::SYN) && (u32::from(g.window) << shift) > 65535);
    assert!(big);
    // ...closed it to zero while the reader slept, and the sender probed it.
    if !s.log.iter().any(|(_, g)| g.src == B_IP && g.window == 0) {
        let v: Vec<_> = s.log.iter().filter(|(t, g)| g.src == B_IP && *t < start + Duration::from_millis(3100)).collect();
        for (t, g) in v.iter().rev().take(20).rev() {
            eprintln!("{} ack={} win={}", t.micros(), g.ack, g.window);
        }
        s.dump(10);
    }
    assert!(s.log.iter().any(|(_, g)| g.src == B_IP && g.window == 0 && !g.has(TcpFlags::RST)));
    assert!(s.a.stats().window_probes > 0);
    // The window never shrank by more than the rounding of the scale (RFC 7323 §2.4).
    let mut edge: Option<u32> = None;
    for (_, g) in s.log.iter().filter(|(_, g)| g.src == B_IP && !g.has(TcpFlags::SYN)) {
        let e = g.ack.wrapping_add(u32::from(g.window) << shift);
        if let Some(prev) = edge {
            assert!((e.wrapping_sub(prev) as i32) > -(1 << shift), "window shrank");
        }
        edge = Some(e);
    }
}

#[test]
fn out_of_window_segments_dropped_and_counted() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    let (_, _, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    let (snd_una, ..) = s.a.seq_state(c).unwrap();
    // With A's latest timestamp (RFC 7323 §3.2: a segment without one is
    // dropped before any other check).
    let ts = s.log.iter().rev().find(|(_, g)| g.src == A_IP).and_then(|(_, g)| g.options.timestamps);
    let mut bogus = Seg {
        src: A_IP,
        dst: B_IP,
        src_port: 40000,
        dst_port: 80,
        seq: rcv_nxt.get().wrapping_add(10_000_000),
        ack: snd_una.get(),
        flags: TcpFlags::ACK,
        window: 100,
        options: TcpOptions { timestamps: ts, ..TcpOptions::default() },
        payload: b"junk".to_vec(),
    };
    let mut out = Out::default();
    s.b.handle_segment(s.now, A_IP, B_IP, &bogus.repr(), &mut out);
    assert_eq!(s.b.stats().out_of_window, 1);
    // Old data (before RCV.NXT) too.
    bogus.seq = rcv_nxt.get().wrapping_sub(5000);
    s.b.handle_segment(s.now, A_IP, B_IP, &bogus.repr(), &mut out);
    assert_eq!(s.b.stats().out_of_window, 2);
    assert_eq!(s.b.recv_queue(sc), 0);
    // An in-window RST that is not exact gets a challenge ACK and changes nothing.
    bogus.seq = rcv_nxt.get().wrapping_add(100);
    bogus.flags = TcpFlags::RST;
    bogus.payload.clear();
    s.b.handle_segment(s.now, A_IP, B_IP, &bogus.repr(), &mut out);
    assert_eq!(s.b.stats().challenge_acks, 1);
    // A SYN on an established connection: challenge ACK too (RFC 5961 §4).
    bogus.flags = TcpFlags::SYN;
    s.b.handle_segment(s.now, A_IP, B_IP, &bogus.repr(), &mut out);
    assert_eq!(s.b.stats().challenge_acks, 2);
    s.b.poll_transmit(s.now, &mut out);
    assert!(out.0.iter().any(|g| g.has(TcpFlags::ACK) && g.ack == rcv_nxt.get()));
    assert_eq!(s.b.state(sc), Some(State::Established));
    // The connection still works.
    let mut up = Flow::new(pattern(10_000, 5), false);
    let mut down = Flow::new(Vec::new(), false);
    assert!(transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(10)));
    check_same(0, "after junk", &up.got, &up.data);
    // An exact RST resets.
    let (_, _, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    bogus.seq = rcv_nxt.get();
    bogus.flags = TcpFlags::RST;
    s.b.handle_segment(s.now, A_IP, B_IP, &bogus.repr(), &mut out);
    assert_eq!(s.b.poll_event(), Some(TcpEvent::Closed { conn: sc, reason: CloseReason::Reset }));
    assert_eq!(s.b.connection_count(), 0);
}

/// A secret that makes the ISN of `local`/`remote` at `now` land within `below` bytes
/// under 2^32.
fn secret_for_wrap(local: SocketAddr, remote: SocketAddr, now: Instant, below: u32) -> [u8; 16] {
    for i in 0u64.. {
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&i.to_le_bytes());
        let isn = proto::tcp::isn::initial_seq(proto::tcp::isn::tuple_hash(&secret, &local, &remote), now);
        if isn > u32::MAX - below && isn < u32::MAX - 1000 {
            return secret;
        }
    }
    unreachable!()
}

#[test]
fn sequence_wraparound() {
    let now = Instant::from_millis(1000);
    let a_addr = SocketAddr::new(A_IP, 40000);
    let b_addr = SocketAddr::new(B_IP, 80);
    let a_cfg = TcpConfig { isn_secret: secret_for_wrap(a_addr, b_addr, now, 300_000), ..TcpConfig::default() };
    // The server's ISN is taken when the SYN arrives, one link delay later.
    let b_cfg = TcpConfig { isn_secret: secret_for_wrap(b_addr, a_addr, now + Duration::from_millis(1), 300_000), ..TcpConfig::default() };
    let mut s = Sim::with_secrets(3, a_cfg, b_cfg);
    let (c, sc) = s.handshake(80);
    let (a_una, ..) = s.a.seq_state(c).unwrap();
    let (b_una, ..) = s.b.seq_state(sc).unwrap();
    assert!(a_una.get() > u32::MAX - 300_000, "client ISN not near the wrap: {a_una:?}");
    assert!(b_una.get() > u32::MAX - 300_000, "server ISN not near the wrap: {b_una:?}");
    let mut up = Flow::new(pattern(1 << 20, 0x33), true);
    let mut down = Flow::new(pattern(1 << 20, 0x44), true);
    s.loss = 20;
    let ok = transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(120));
    if !ok {
        s.dump(20);
        eprintln!("{} {} {} {} {:?} {:?} {:?} {:?}", up.got.len(), up.eof, down.got.len(), down.eof, s.a.state(c), s.b.state(sc), s.a.stats(), s.b.stats());
    }
    assert!(ok);
    check_same(3, "up", &up.got, &up.data);
    check_same(3, "down", &down.got, &down.data);
    // The connection may already be closed (both sides read Eof): look at the
    // client's last segment instead of its state.
    let last = s.log.iter().rev().find(|(_, g)| g.src == A_IP).map(|(_, g)| g.seq).unwrap();
    assert!(last < 2_000_000, "sequence space did not wrap: {last}");
}

#[test]
fn rto_backoff_then_timeout() {
    // Without the tail loss probe, which would add one probe before the first
    // RTO (see tcp_loss.rs).
    let cfg = TcpConfig { max_retries: 5, tail_loss_probe: false, ..TcpConfig::default() };
    let mut s = Sim::new(1, cfg.clone(), cfg);
    let (c, _sc) = s.handshake(80);
    // The peer disappears.
    s.drop_if = Some(Box::new(|_| true));
    let t0 = s.now;
    s.a.send(c, b"hello").unwrap();
    let ok = s.run(Duration::from_secs(600), |s| Sim::closed(&s.a_events, c).is_some());
    assert!(ok);
    assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::Timeout));
    let times: Vec<Instant> = s.log.iter().filter(|(t, g)| *t >= t0 && g.src == A_IP && g.payload == b"hello").map(|(t, _)| *t).collect();
    assert_eq!(times.len(), 6, "original + 5 retransmissions: {times:?}");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for w in gaps.windows(2) {
        let ratio = w[1].as_secs_f64() / w[0].as_secs_f64();
        assert!((1.9..=2.1).contains(&ratio), "backoff not doubling: {gaps:?}");
    }
    assert!(gaps[0] >= Duration::from_millis(200));
    assert_eq!(s.a.stats().timeouts, 1);
    assert_eq!(s.a.connection_count(), 0);
    assert_eq!(s.a.send(c, b"x"), Err(proto::tcp::SendError::InvalidConn));
}

#[test]
fn connect_times_out_without_answer() {
    let cfg = TcpConfig { syn_retries: 2, ..TcpConfig::default() };
    let mut s = Sim::new(1, cfg.clone(), cfg);
    s.drop_if = Some(Box::new(|_| true));
    let c = s.connect(80);
    assert!(s.run(Duration::from_secs(60), |s| Sim::closed(&s.a_events, c).is_some()));
    assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::Timeout));
    assert_eq!(s.log.len(), 3);
}

#[test]
fn abort_sends_rst() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    let mut out = Out::default();
    s.a.abort(c, &mut out);
    assert_eq!(s.a.poll_event(), Some(TcpEvent::Closed { conn: c, reason: CloseReason::Aborted }));
    s.put(out);
    assert!(s.run(Duration::from_secs(1), |s| Sim::closed(&s.b_events, sc).is_some()));
    assert_eq!(Sim::closed(&s.b_events, sc), Some(CloseReason::Reset));
}

#[test]
fn errors_and_listen() {
    let mut s = Sim::pair();
    assert_eq!(s.b.listen(0), Err(proto::tcp::ListenError::InvalidPort));
    s.b.listen(80).unwrap();
    assert_eq!(s.b.listen(80), Err(proto::tcp::ListenError::AlreadyListening));
    s.b.unlisten(80);
    assert!(!s.b.is_listening(80));
    let mut out = Out::default();
    let local = SocketAddr::new(A_IP, 1234);
    let bad = SocketAddr::new(B_IP, 0);
    assert_eq!(s.a.connect(s.now, local, bad, &mut out), Err(proto::tcp::ConnectError::InvalidAddress));
    let remote = SocketAddr::new(B_IP, 80);
    s.a.connect(s.now, local, remote, &mut out).unwrap();
    assert_eq!(s.a.connect(s.now, local, remote, &mut out), Err(proto::tcp::ConnectError::AddrInUse));
    let mut small = Tcp::new(TcpConfig { max_connections: 1, ..TcpConfig::default() });
    small.connect(s.now, local, remote, &mut out).unwrap();
    assert_eq!(small.connect(s.now, SocketAddr::new(A_IP, 1235), remote, &mut out), Err(proto::tcp::ConnectError::TooManyConnections));
}

/// The SYN queue holds `syn_backlog` handshakes; with SYN cookies off
/// (`syn_cookies: false`) further SYNs are dropped and counted, with cookies on
/// (the default) they are answered statelessly (see `tcp_robust.rs` for the
/// cookie handshake).
#[test]
fn syn_backlog_bounded() {
    for cookies in [false, true] {
        let cfg = TcpConfig { syn_backlog: 2, syn_cookies: cookies, ..TcpConfig::default() };
        let mut b = Tcp::new(cfg);
        b.listen(80).unwrap();
        let mut out = Out::default();
        for port in 1000..1005u16 {
            let syn = Seg {
                src: A_IP,
                dst: B_IP,
                src_port: port,
                dst_port: 80,
                seq: 1,
                ack: 0,
                flags: TcpFlags::SYN,
                window: 1000,
                options: TcpOptions::default(),
                payload: Vec::new(),
            };
            b.handle_segment(Instant::ZERO, A_IP, B_IP, &syn.repr(), &mut out);
        }
        assert_eq!(b.connection_count(), 2);
        assert_eq!(b.listener_queues(80).unwrap().syn_received, 2);
        if cookies {
            assert_eq!(b.stats().syn_queue_full, 0);
            assert_eq!(b.stats().cookies_sent, 3);
            assert_eq!(out.0.len(), 5);
        } else {
            assert_eq!(b.stats().syn_queue_full, 3);
            assert_eq!(b.stats().cookies_sent, 0);
            assert_eq!(out.0.len(), 2);
        }
        // No window scaling or timestamps offered by the peer: none in the SYN-ACKs.
        for g in &out.0 {
            assert!(g.options.window_scale.is_none() && g.options.timestamps.is_none());
            assert_eq!(g.options.mss, Some(1460));
        }
    }
}

#[test]
fn nagle_holds_small_segments() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.log.clear();
    for _ in 0..10 {
        s.a.send(c, b"x").unwrap();
        s.round();
    }
    // With Nagle only the first tiny segment is out before its ACK.
    let n = s.log.iter().filter(|(_, g)| g.src == A_IP && !g.payload.is_empty()).count();
    assert_eq!(n, 1);
    assert!(s.run(Duration::from_secs(1), |s| s.b.recv_queue(sc) == 10));
    s.log.clear();
    assert!(s.a.set_nodelay(c, true));
    for _ in 0..5 {
        s.a.send(c, b"y").unwrap();
        s.round();
    }
    let n = s.log.iter().filter(|(_, g)| g.src == A_IP && !g.payload.is_empty()).count();
    assert_eq!(n, 5);
}

/// seed 001's `write_nodelay`: a per-write choice. With Nagle on for the
/// connection, a small write waits behind unacknowledged data; the same write
/// through `send_nodelay` goes at once, and the connection's flag is unchanged.
#[test]
fn send_nodelay_is_a_per_write_choice() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.log.clear();
    s.a.send(c, b"first").unwrap();
    s.round();
    s.a.send(c, b"held").unwrap();
    s.round();
    let data_segs = |s: &Sim| s.log.iter().filter(|(_, g)| g.src == A_IP && !g.payload.is_empty()).count();
    assert_eq!(data_segs(&s), 1, "Nagle holds the second small write");
    // Everything acknowledged: the next small write goes at once ("a"), and with
    // "a" in flight a nodelay write goes too instead of waiting for its ACK.
    let all_acked = |s: &Sim| s.a.seq_state(c).is_some_and(|(una, nxt, _, _)| una == nxt);
    assert!(s.run(Duration::from_secs(1), |s| s.b.recv_queue(sc) == 9 && all_acked(s)));
    s.log.clear();
    s.a.send(c, b"a").unwrap();
    s.round();
    s.a.send_nodelay(c, b"b").unwrap();
    s.round();
    assert_eq!(data_segs(&s), 2, "the nodelay write did not wait for the ACK");
    assert!(s.run(Duration::from_secs(1), |s| s.b.recv_queue(sc) == 11 && all_acked(s)));
    s.log.clear();
    s.a.send(c, b"c").unwrap();
    s.round();
    s.a.send(c, b"d").unwrap();
    s.round();
    assert_eq!(data_segs(&s), 1, "Nagle still applies to plain writes (the flag is unchanged)");
}

/// `recv_with` lends the receive buffer in place and consumes what the closure
/// says; `splice` moves bytes from one connection's receive buffer to another's
/// send buffer (an echo when it is the same connection), without loss when the
/// send buffer is full.
#[test]
fn recv_with_and_splice_move_bytes_exactly() {
    let small = TcpConfig { tx_buffer: 4096, rx_buffer: 64 * 1024, ..TcpConfig::default() };
    let mut s = Sim::new(3, TcpConfig::default(), small);
    let (c, sc) = s.handshake(80);
    let data = pattern(20_000, 9);
    let mut sent = 0;
    let mut echoed = Vec::new();
    let mut peeked = 0;
    let ok = s.run(Duration::from_secs(10), |s| {
        if sent < data.len() {
            sent += s.a.send(c, &data[sent..]).unwrap();
        }
        // The server echoes with splice; its 4 KiB send buffer fills up often.
        loop {
            match s.b.splice(sc, sc, usize::MAX) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // The client reads in place, at most 1000 bytes at a time.
        while let Ok(n) = s.a.recv_with(c, |b| {
            let k = b.len().min(1000);
            echoed.extend_from_slice(&b[..k]);
            k
        }) {
            assert!(n <= 1000);
            peeked += 1;
        }
        echoed.len() == data.len()
    });
    assert!(ok, "echo did not complete: {} of {}", echoed.len(), data.len());
    check_same(3, "spliced echo", &echoed, &data);
    assert!(peeked >= 20, "recv_with consumed in steps of at most 1000 bytes");
    // Splice reports the reading side's state: nothing buffered now.
    assert_eq!(s.b.splice(sc, sc, usize::MAX), Err(proto::tcp::SpliceError::Recv(proto::tcp::RecvError::WouldBlock)));
    // After the client half-closes, the server sees Eof through splice.
    s.a.close(c).unwrap();
    assert!(s.run(Duration::from_secs(1), |s| s.b.peer_closed(sc)));
    assert_eq!(s.b.splice(sc, sc, usize::MAX), Err(proto::tcp::SpliceError::Recv(proto::tcp::RecvError::Eof)));
}

#[test]
fn delayed_ack() {
    let mut s = Sim::pair();
    let (c, _sc) = s.handshake(80);
    s.log.clear();
    s.a.set_nodelay(c, true);
    s.a.send(c, b"one small segment").unwrap();
    let t0 = s.now;
    assert!(s.run(Duration::from_secs(1), |s| s.log.iter().any(|(_, g)| g.src == B_IP)));
    let (t_ack, _) = s.log.iter().find(|(_, g)| g.src == B_IP).unwrap();
    let d = *t_ack - t0;
    assert!(d >= Duration::from_millis(40) && d < Duration::from_millis(45), "ACK after {d:?}");
    assert_eq!(s.b.stats().delayed_acks, 1);
}

#[test]
fn simultaneous_open() {
    let mut s = Sim::pair();
    let a_addr = SocketAddr::new(A_IP, 5000);
    let b_addr = SocketAddr::new(B_IP, 6000);
    let mut out = Out::default();
    let ca = s.a.connect(s.now, a_addr, b_addr, &mut out).unwrap();
    let cb = s.b.connect(s.now, b_addr, a_addr, &mut out).unwrap();
    s.put(out);
    let ok = s.run(Duration::from_secs(10), |s| {
        s.a_events.contains(&TcpEvent::Connected(ca)) && s.b_events.contains(&TcpEvent::Connected(cb))
    });
    assert!(ok);
    let mut up = Flow::new(pattern(20_000, 1), true);
    let mut down = Flow::new(pattern(20_000, 2), true);
    assert!(transfer(&mut s, ca, cb, &mut up, &mut down, Duration::from_secs(10)));
    check_same(0, "up", &up.got, &up.data);
    check_same(0, "down", &down.got, &down.data);
}

#[test]
fn readable_once_and_writable_after_full() {
    let cfg = TcpConfig { tx_buffer: 8192, ..TcpConfig::default() };
    let mut s = Sim::new(1, cfg.clone(), cfg);
    let (c, sc) = s.handshake(80);
    // Fill the send buffer: a short write arms Writable.
    let big = pattern(20_000, 3);
    assert_eq!(s.a.send(c, &big), Ok(8192));
    assert_eq!(s.a.send_capacity(c), 0);
    assert_eq!(s.a.send(c, &big), Ok(0));
    assert!(s.run(Duration::from_secs(5), |s| s.a_events.contains(&TcpEvent::Writable(c)) && s.b.recv_queue(sc) == 8192));
    // Several segments arrived, but without a recv() in between only one Readable.
    let readables = s.b_events.iter().filter(|e| **e == TcpEvent::Readable(sc)).count();
    assert_eq!(readables, 1);
    assert_eq!(s.b.recv_queue(sc), 8192);
    let mut buf = vec![0u8; 10_000];
    assert_eq!(s.b.recv(sc, &mut buf), Ok(8192));
    assert_eq!(&buf[..8192], &big[..8192]);
    assert_eq!(s.b.recv(sc, &mut buf), Err(RecvError::WouldBlock));
    // New data after the read: a new Readable.
    s.a.send(c, b"more").unwrap();
    assert!(s.run(Duration::from_secs(5), |s| s.b_events.iter().filter(|e| **e == TcpEvent::Readable(sc)).count() == 2));
    // close() then send is refused; close twice is fine.
    s.a.close(c).unwrap();
    s.a.close(c).unwrap();
    assert_eq!(s.a.send(c, b"x"), Err(proto::tcp::SendError::Closed));
}

/// A pair whose connection on port 80 the server closed first, so that the
/// server holds it in TIME-WAIT (both sides saw it closed).
fn server_in_time_wait() -> Sim {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.b.close(sc).unwrap();
    let mut client_closed = false;
    assert!(s.run(Duration::from_secs(2), |s| {
        let mut buf = [0u8; 8];
        if !client_closed && s.a.recv(c, &mut buf) == Err(RecvError::Eof) {
            s.a.close(c).unwrap();
            client_closed = true;
        }
        let _ = s.b.recv(sc, &mut buf);
        Sim::closed(&s.a_events, c).is_some() && Sim::closed(&s.b_events, sc).is_some()
    }));
    assert_eq!(s.b.connection_count(), 1, "server in TIME-WAIT");
    s
}

#[test]
fn time_wait_recycled_by_new_syn() {
    let mut s = server_in_time_wait();
    // Same 4-tuple again, right away: the SYN (higher ISN, the clock moved) recycles it.
    s.now += Duration::from_millis(10);
    s.b_events.clear();
    let c2 = s.connect(80);
    assert!(s.run(Duration::from_secs(2), |s| s.accepted().is_some() && s.a_events.contains(&TcpEvent::Connected(c2))));
    assert_eq!(s.b.stats().time_wait_recycled, 1);
}

/// RFC 6191 §2: with timestamps on the old connection, a SYN whose TSval is
/// newer than TS.Recent opens a new incarnation from TIME-WAIT even with a
/// sequence number below RCV.NXT (the sequence-number rule alone refused it);
/// one with an older TSval does not, whatever its sequence number.
#[test]
fn time_wait_recycled_by_timestamp_rfc6191() {
    let mut s = server_in_time_wait();
    // The client's last segment: its port, sequence number and TSval.
    let last = s.log.iter().rev().find(|(_, g)| g.src == s.a_ip).map(|(_, g)| g.clone()).unwrap();
    let tsval = last.options.timestamps.expect("timestamps in use").0;
    let syn = |seq: u32, tsval: u32| Seg {
        src: s.a_ip,
        dst: s.b_ip,
        src_port: last.src_port,
        dst_port: 80,
        seq,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        options: TcpOptions { mss: Some(1460), timestamps: Some((tsval, 0)), sack_permitted: true, ..TcpOptions::default() },
        payload: Vec::new(),
    };
    let now = s.now;
    // An older TSval with a higher sequence number: TIME-WAIT stays.
    let old = syn(last.seq.wrapping_add(100_000), tsval.wrapping_sub(5));
    let mut out = Out(Vec::new(), None);
    s.b.handle_segment(now, s.a_ip, s.b_ip, &old.repr(), &mut out);
    assert_eq!(s.b.stats().time_wait_recycled, 0);
    assert!(out.0.iter().all(|g| !g.has(TcpFlags::SYN)), "no SYN-ACK for an old incarnation's timestamp");
    // A newer TSval with a lower sequence number: a new incarnation.
    let new = syn(last.seq.wrapping_sub(100_000), tsval.wrapping_add(5));
    let mut out = Out(Vec::new(), None);
    s.b.handle_segment(now, s.a_ip, s.b_ip, &new.repr(), &mut out);
    assert_eq!(s.b.stats().time_wait_recycled, 1);
    assert!(out.0.iter().any(|g| g.has(TcpFlags::SYN) && g.has(TcpFlags::ACK)), "SYN-ACK for the new incarnation: {:?}", out.0);
}
