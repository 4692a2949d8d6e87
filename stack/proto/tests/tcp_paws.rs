//! Timestamps and PAWS (RFC 7323 §3.2, §4.3, §5.3, §5.5) in the pair
//! simulator, rule by rule: R1 (an old TSval makes a segment unacceptable; it
//! is answered with an ACK, at most one per 200 ms; an RST is exempt), R2/R3
//! (TS.Recent is taken only from acceptable segments covering Last.ACK.sent),
//! §5.5 (TS.Recent idle for more than 24 days is invalid: a connection idle
//! that long still works when the peer's clock has moved by more than 2^31),
//! §3.2 (timestamps on SYN and SYN-ACK, a TSopt ignored when not negotiated, a
//! non-RST segment without one dropped, an RST without one taken).

mod sim;

use proto::tcp::{CloseReason, ConnId, TcpConfig};
use proto::time::Duration;
use sim::{Out, Seg, Sim, A_IP, B_IP};
use wire::tcp::{TcpFlags, TcpOptions};

/// The last segment `src` put on the wire.
fn last_from(s: &Sim, src: std::net::IpAddr) -> Seg {
    s.log.iter().rev().find(|(_, g)| g.src == src).map(|(_, g)| g.clone()).expect("a segment")
}

/// A segment from A to B at B's RCV.NXT acknowledging what A received, with
/// `payload` and timestamps `ts` (`None`: no TSopt).
fn from_a(s: &Sim, sc: ConnId, payload: &[u8], ts: Option<(u32, u32)>) -> Seg {
    let (_, _, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    let mut g = last_from(s, A_IP);
    g.seq = rcv_nxt.get();
    g.flags = TcpFlags::ACK | TcpFlags::PSH;
    g.options = TcpOptions { timestamps: ts, ..TcpOptions::default() };
    g.payload = payload.to_vec();
    g
}

/// Hand `g` to B now and collect what B sends in reply.
fn to_b(s: &mut Sim, g: &Seg) -> Vec<Seg> {
    let mut out = Out::default();
    s.b.handle_segment(s.now, g.src, g.dst, &g.repr(), &mut out);
    s.b.poll_transmit(s.now, &mut out);
    out.0
}

/// A's latest TSval and what it echoes (TS.Recent at B is A's TSval).
fn a_ts(s: &Sim) -> (u32, u32) {
    last_from(s, A_IP).options.timestamps.expect("timestamps in use")
}

/// B's TS.Recent, as the TSecr of an ACK B sends now.
fn b_echo(out: &[Seg]) -> u32 {
    out.iter().find(|g| g.src == B_IP).and_then(|g| g.options.timestamps).expect("B answered with timestamps").1
}

/// R1: a segment whose TSval is older than TS.Recent is dropped, though in
/// sequence; it is answered with an ACK (RCV.NXT, TSecr = TS.Recent), but at
/// most one per 200 ms however many arrive; an RST is not subject to PAWS.
#[test]
fn r1_old_tsval_rejected_and_acked_at_most_every_200ms() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.a.send(c, b"hello").unwrap();
    s.sleep(Duration::from_millis(100));
    let (tsval, _) = a_ts(&s);
    let (_, _, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    let mut acks = Vec::new();
    for k in 0..5u32 {
        let old = from_a(&s, sc, b"old!", Some((tsval.wrapping_sub(1000 + k), 0)));
        acks.extend(to_b(&mut s, &old).into_iter().filter(|g| g.src == B_IP));
        s.now += Duration::from_millis(20);
    }
    let st = s.b.stats();
    assert_eq!(st.paws_rejected, 5, "{st:?}");
    assert_eq!(s.b.seq_state(sc).unwrap().2, rcv_nxt, "PAWS-rejected data was taken");
    assert_eq!(acks.len(), 1, "one ACK per 200 ms, got {}: {acks:?}", acks.len());
    assert_eq!(st.paws_acks_limited, 4);
    assert_eq!(acks[0].ack, rcv_nxt.get());
    assert!(acks[0].has(TcpFlags::ACK) && !acks[0].has(TcpFlags::RST));
    assert_eq!(b_echo(&acks), tsval, "the ACK echoes TS.Recent, not the old TSval");
    // 200 ms later the next one is answered again.
    s.now += Duration::from_millis(200);
    let old = from_a(&s, sc, b"old!", Some((tsval.wrapping_sub(2000), 0)));
    assert_eq!(to_b(&mut s, &old).iter().filter(|g| g.src == B_IP).count(), 1);
    // A's own segments (current TSval) still go through.
    s.a.send(c, b" world").unwrap();
    s.sleep(Duration::from_millis(100));
    let mut buf = [0u8; 64];
    assert_eq!(s.b.recv(sc, &mut buf), Ok(11));
    assert_eq!(&buf[..11], b"hello world");
    // R1 exempts RSTs: an exact RST with an old TSval resets the connection.
    let mut rst = from_a(&s, sc, b"", Some((tsval.wrapping_sub(5000), 0)));
    rst.flags = TcpFlags::RST;
    to_b(&mut s, &rst);
    s.round();
    assert_eq!(Sim::closed(&s.b_events, sc), Some(CloseReason::Reset));
}

/// R2/R3 (§4.3): TS.Recent takes SEG.TSval only from acceptable segments with
/// SEG.SEQ <= Last.ACK.sent: neither an out-of-order segment nor an
/// out-of-window one moves it, the next in-order one does.
#[test]
fn r3_ts_recent_only_from_segments_covering_last_ack_sent() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.a.send(c, b"first").unwrap();
    s.sleep(Duration::from_millis(100));
    let (tsval, _) = a_ts(&s);
    // Out of order (beyond RCV.NXT = Last.ACK.sent), newer TSval: held, the
    // duplicate ACK still echoes the old TS.Recent.
    let mut ooo = from_a(&s, sc, b"later", Some((tsval + 50, 0)));
    ooo.seq = ooo.seq.wrapping_add(100);
    let out = to_b(&mut s, &ooo);
    assert_eq!(b_echo(&out), tsval, "an out-of-order segment moved TS.Recent");
    // Out of the window altogether: dropped, TS.Recent unchanged.
    let mut far = from_a(&s, sc, b"far", Some((tsval + 60, 0)));
    far.seq = far.seq.wrapping_add(10_000_000);
    let out = to_b(&mut s, &far);
    assert_eq!(s.b.stats().out_of_window, 1);
    assert_eq!(b_echo(&out), tsval, "an unacceptable segment moved TS.Recent");
    // In order: TS.Recent moves to its TSval.
    let next = from_a(&s, sc, b"second", Some((tsval + 70, 0)));
    let out = to_b(&mut s, &next);
    s.now += Duration::from_millis(100);
    s.round();
    let echo = out.iter().chain(s.log.iter().rev().filter(|(_, g)| g.src == B_IP).map(|(_, g)| g)).find_map(|g| g.options.timestamps).unwrap().1;
    assert_eq!(echo, tsval + 70);
}

/// §5.5: after more than 24 days idle, TS.Recent is invalid. The peer's
/// timestamp clock (1 ms per tick) moved by more than 2^31 meanwhile, so its
/// TSval looks older than TS.Recent; without the rule every segment would be
/// dropped by PAWS and the connection would be dead. Under 24 days, an old
/// TSval is still rejected.
#[test]
fn ts_recent_invalid_after_24_days_idle() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.a.send(c, b"before").unwrap();
    s.sleep(Duration::from_millis(100));
    // 23 days idle: TS.Recent valid, an old TSval is rejected.
    s.sleep(Duration::from_secs(23 * 24 * 3600));
    let (tsval, _) = a_ts(&s);
    let old = from_a(&s, sc, b"old", Some((tsval.wrapping_sub(10), 0)));
    to_b(&mut s, &old);
    assert_eq!(s.b.stats().paws_rejected, 1);
    // Two more days (25 in all): 2.16e9 ms since TS.Recent, past 2^31.
    s.sleep(Duration::from_secs(2 * 24 * 3600));
    s.a.send(c, b" after 25 days").unwrap();
    s.b.send(sc, b"pong").unwrap();
    s.sleep(Duration::from_millis(500));
    let mut buf = [0u8; 64];
    let n = s.b.recv(sc, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"before after 25 days", "B: {:?}", s.b.stats());
    let n = s.a.recv(c, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong", "A: {:?}", s.a.stats());
    assert!(s.b.stats().ts_recent_expired >= 1 && s.a.stats().ts_recent_expired >= 1);
    assert_eq!(s.b.stats().paws_rejected, 1);
    // TS.Recent is valid again: an old TSval is rejected once more.
    let (tsval, _) = a_ts(&s);
    let old = from_a(&s, sc, b"old", Some((tsval.wrapping_sub(10), 0)));
    to_b(&mut s, &old);
    assert_eq!(s.b.stats().paws_rejected, 2);
}

/// §3.2: our SYN carries TSval with TSecr 0; the SYN-ACK echoes the SYN's
/// TSval; every later segment carries timestamps; a non-RST segment without
/// TSopt is dropped silently (counted), an RST without one is taken.
#[test]
fn timestamps_on_syn_and_syn_ack_and_missing_tsopt() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    let syn = s.log.iter().find(|(_, g)| g.has(TcpFlags::SYN) && !g.has(TcpFlags::ACK)).unwrap().1.clone();
    let synack = s.log.iter().find(|(_, g)| g.has(TcpFlags::SYN) && g.has(TcpFlags::ACK)).unwrap().1.clone();
    let (syn_val, syn_ecr) = syn.options.timestamps.expect("TSopt in the SYN");
    assert_eq!(syn_ecr, 0, "TSecr of a SYN without ACK");
    let (_, synack_ecr) = synack.options.timestamps.expect("TSopt in the SYN-ACK");
    assert_eq!(synack_ecr, syn_val, "the SYN-ACK echoes the SYN's TSval");
    s.a.send(c, b"data").unwrap();
    s.sleep(Duration::from_millis(100));
    assert!(s.log.iter().filter(|(_, g)| !g.has(TcpFlags::RST)).all(|(_, g)| g.options.timestamps.is_some()), "a segment without TSopt");
    // No TSopt: dropped silently, not acknowledged.
    let (tsval, _) = a_ts(&s);
    let bare = from_a(&s, sc, b"no timestamp", None);
    let out = to_b(&mut s, &bare);
    assert!(out.is_empty(), "answered: {out:?}");
    assert_eq!(s.b.stats().ts_missing, 1);
    assert_eq!(s.b.recv_queue(sc), 4);
    // The same with TSopt is taken.
    let good = from_a(&s, sc, b"!", Some((tsval, 0)));
    to_b(&mut s, &good);
    assert_eq!(s.b.recv_queue(sc), 5);
    // An RST without TSopt is not dropped for it.
    let mut rst = from_a(&s, sc, b"", None);
    rst.flags = TcpFlags::RST;
    to_b(&mut s, &rst);
    s.round();
    assert_eq!(Sim::closed(&s.b_events, sc), Some(CloseReason::Reset));
}

/// §3.2: a SYN-ACK may carry TSopt only if the SYN did; one that carries it
/// anyway (a broken peer, here edited on the wire) is ignored: timestamps are
/// not used, and segments without them are taken. Without timestamps offered
/// by the client, the server's SYN-ACK carries none.
#[test]
fn tsopt_ignored_when_not_negotiated() {
    let no_ts = TcpConfig { timestamps: false, ..TcpConfig::default() };
    let mut s = Sim::new(3, no_ts.clone(), TcpConfig::default());
    s.edit = Some(Box::new(|g: &mut Seg| {
        if g.has(TcpFlags::SYN) && g.has(TcpFlags::ACK) {
            assert!(g.options.timestamps.is_none(), "the SYN-ACK answered a SYN without TSopt with one");
            g.options.timestamps = Some((12345, 999));
        }
    }));
    let (c, sc) = s.handshake(80);
    s.edit = None;
    s.a.send(c, b"ping").unwrap();
    s.b.send(sc, b"pong").unwrap();
    s.sleep(Duration::from_millis(100));
    assert!(s.log.iter().filter(|(_, g)| g.src == A_IP).all(|(_, g)| g.options.timestamps.is_none()), "A used timestamps it never negotiated");
    assert_eq!(s.b.recv_queue(sc), 4);
    assert_eq!(s.a.recv_queue(c), 4);
    assert_eq!(s.a.stats().ts_missing + s.b.stats().ts_missing, 0);
}
