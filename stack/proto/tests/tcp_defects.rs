//! Defects found from outside (issue 20), each a test that failed before its
//! fix: TS.Recent poisoned by segments that must be dropped, unlimited ACKs
//! drawn by out-of-window SYNs (and the spurious fast retransmits they cause),
//! the IPv6 cookie SYN-ACK's MSS and window, the ISS of a recycled TIME-WAIT,
//! a receive window beyond what a queue can hold; and the rate limits and
//! drops beside them (ACKs of unsent data, too-old ACKs, SYN+FIN).

mod sim;

use proto::tcp::{RecvError, State, TcpConfig, TcpEvent};
use proto::time::Duration;
use sim::*;
use std::net::{IpAddr, Ipv6Addr};
use wire::tcp::{TcpFlags, TcpOptions};

fn last_from(s: &Sim, src: IpAddr) -> Seg {
    s.log.iter().rev().find(|(_, g)| g.src == src).map(|(_, g)| g.clone()).expect("a segment")
}

fn to_b(s: &mut Sim, g: &Seg) -> Vec<Seg> {
    let mut out = Out::default();
    s.b.handle_segment(s.now, g.src, g.dst, &g.repr(), &mut out);
    s.b.poll_transmit(s.now, &mut out);
    out.0
}

/// TS.Recent is updated (RFC 7323 R3) before the ACK field is checked, so
/// a segment that RFC 9293 / RFC 5961 §5.2 drops for its ACK (here: it
/// acknowledges data never sent) still installs its TSval. A TSval far ahead
/// then makes every genuine segment of the peer fail PAWS: the connection
/// is dead. Linux moved tcp_replace_ts_recent() after tcp_ack() for exactly
/// this (commit bd090dfc634d, "tcp: tcp_replace_ts_recent() should not be
/// called from tcp_validate_incoming()").
#[test]
fn ts_recent_poisoned_by_segment_with_bad_ack() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.a.send(c, b"hello").unwrap();
    s.sleep(Duration::from_millis(100));
    let (tsval, tsecr) = last_from(&s, A_IP).options.timestamps.unwrap();
    let (_, b_nxt, b_rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    // Forged: right SEG.SEQ, but SEG.ACK far beyond anything B sent, and a
    // TSval 2^30 ahead. B must drop it (ACK of unsent data).
    let mut g = last_from(&s, A_IP);
    g.seq = b_rcv_nxt.get();
    g.ack = b_nxt.get().wrapping_add(50_000_000);
    g.flags = TcpFlags::ACK;
    g.payload.clear();
    g.options = TcpOptions { timestamps: Some((tsval.wrapping_add(1 << 30), tsecr)), ..TcpOptions::default() };
    to_b(&mut s, &g);
    eprintln!("after forged segment: B stats ack_unsent={} paws_rejected={}", s.b.stats().ack_unsent, s.b.stats().paws_rejected);
    // The real peer goes on.
    s.a.send(c, b" world").unwrap();
    s.sleep(Duration::from_secs(20));
    let mut buf = [0u8; 64];
    let got = s.b.recv(sc, &mut buf).unwrap_or(0);
    eprintln!(
        "B read {:?}; B paws_rejected={} A retransmits={} A state={:?}",
        String::from_utf8_lossy(&buf[..got]),
        s.b.stats().paws_rejected,
        s.a.stats().retransmits,
        s.a.state(c)
    );
    let ok = s.run(Duration::from_secs(900), |s| Sim::closed(&s.a_events, c).is_some());
    eprintln!("then: A closed={ok} reason {:?} after the forged segment; B paws_rejected={}", Sim::closed(&s.a_events, c), s.b.stats().paws_rejected);
    assert_eq!(&buf[..got], b"hello world", "a segment with an invalid ACK poisoned TS.Recent: the peer's data is PAWS-rejected");
}

/// Same with a segment without the ACK bit (RFC 9293: "if the ACK bit
/// is off, drop the segment and return").
#[test]
fn ts_recent_poisoned_by_segment_without_ack_bit() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.a.send(c, b"hello").unwrap();
    s.sleep(Duration::from_millis(100));
    let (tsval, tsecr) = last_from(&s, A_IP).options.timestamps.unwrap();
    let (_, _, b_rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    let mut g = last_from(&s, A_IP);
    // 1000 bytes below RCV.NXT with 1400 bytes: any SEG.SEQ in a 1400-value
    // range works, so a blind attacker needs about 2^32 / 1400 tries.
    g.seq = b_rcv_nxt.get().wrapping_sub(1000);
    g.ack = 0;
    g.flags = TcpFlags::PSH;
    g.payload = vec![b'X'; 1400];
    g.options = TcpOptions { timestamps: Some((tsval.wrapping_add(1 << 30), tsecr)), ..TcpOptions::default() };
    to_b(&mut s, &g);
    s.a.send(c, b" world").unwrap();
    s.sleep(Duration::from_secs(20));
    let mut buf = [0u8; 64];
    let got = s.b.recv(sc, &mut buf).unwrap_or(0);
    eprintln!("B read {:?}; B no_ack={} paws_rejected={}", String::from_utf8_lossy(&buf[..got]), s.b.stats().no_ack, s.b.stats().paws_rejected);
    assert_eq!(&buf[..got], b"hello world", "an ACK-less segment poisoned TS.Recent");
}

/// RFC 5961 §4.2: a SYN in a synchronized state, "irrespective of the
/// sequence number", draws a challenge ACK, and §7 rate-limits those. An
/// in-window SYN is limited (2/s per connection), an out-of-window one is
/// answered every time: a blind spoofer who knows the 4-tuple gets one ACK
/// per SYN, unlimited.
#[test]
fn out_of_window_syn_acks_not_rate_limited() {
    let mut s = Sim::pair();
    let (_c, sc) = s.handshake(80);
    let (tsval, _) = last_from(&s, A_IP).options.timestamps.unwrap();
    let (_, _, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    let mut acks = 0;
    for k in 0..100u32 {
        let g = Seg {
            src: A_IP,
            dst: B_IP,
            src_port: 40000,
            dst_port: 80,
            seq: rcv_nxt.get().wrapping_add(0x4000_0000).wrapping_add(k * 7919),
            ack: 0,
            flags: TcpFlags::SYN,
            window: 65535,
            options: TcpOptions { mss: Some(1460), timestamps: Some((tsval.wrapping_add(10), 0)), ..TcpOptions::default() },
            payload: Vec::new(),
        };
        acks += to_b(&mut s, &g).iter().filter(|x| x.has(TcpFlags::ACK)).count();
    }
    let st = s.b.stats();
    eprintln!("100 out-of-window SYNs in one instant -> {acks} ACKs (challenge_acks={} limited={})", st.challenge_acks, st.challenge_acks_limited);
    assert!(acks <= 2, "{acks} ACKs for 100 spoofed SYNs in the same millisecond");
}

/// SYN cookies over IPv6: the cookie SYN-ACK announces the IPv4 MSS
/// (cfg.mss) where a queued SYN-ACK announces cfg.mss - 20 (RFC 9293 §3.7.1).
#[test]
fn cookie_syn_ack_over_ipv6_announces_ipv4_mss() {
    let mss_of_synack = |backlog: usize| {
        let bcfg = TcpConfig { syn_backlog: backlog, ..TcpConfig::default() };
        let mut s = Sim::new(1, TcpConfig::default(), bcfg);
        s.a_ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        s.b_ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        s.b.listen(80).unwrap();
        let _c = s.connect(80);
        s.run(Duration::from_secs(2), |s| s.log.iter().any(|(_, g)| g.has(TcpFlags::SYN | TcpFlags::ACK)));
        let synack = s.log.iter().find(|(_, g)| g.has(TcpFlags::SYN | TcpFlags::ACK)).map(|(_, g)| g.clone()).unwrap();
        (synack.options.mss, s.b.stats().cookies_sent)
    };
    let queued = mss_of_synack(128);
    let cookie = mss_of_synack(0);
    eprintln!("IPv6 SYN-ACK MSS: queued {queued:?}, cookie {cookie:?}");
    assert_eq!(cookie.0, queued.0, "the cookie SYN-ACK announces another MSS");
}

/// The cookie SYN-ACK's window is min(rx_buffer, 65535), but the
/// connection the cookie creates has rx_buffer_initial: with
/// rx_buffer_initial below 64 KiB the window shrinks right after the
/// handshake (RFC 9293 §3.8.6 SHLD-14) and the client's first flight, sent
/// into the window it was given, is dropped as out of window.
#[test]
fn cookie_syn_ack_window_larger_than_the_buffer() {
    let run = |backlog: usize| {
        let bcfg = TcpConfig { syn_backlog: backlog, rx_buffer_initial: 8192, ..TcpConfig::default() };
        let mut s = Sim::new(1, TcpConfig::default(), bcfg);
        let (c, sc) = s.handshake(80);
        let synack_win = s.log.iter().find(|(_, g)| g.has(TcpFlags::SYN | TcpFlags::ACK)).unwrap().1.window;
        let mut up = Flow::new(pattern(60_000, 1), false);
        let mut down = Flow::new(Vec::new(), false);
        assert!(transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(30)));
        (synack_win, s.b.stats().out_of_window, s.a.stats().retransmits, s.b.stats().cookies_validated)
    };
    let queued = run(128);
    let cookie = run(0);
    eprintln!("(SYN-ACK window, B out_of_window, A retransmits, cookies_validated): queued {queued:?}, cookie {cookie:?}");
    assert_eq!(cookie.0, queued.0, "cookie SYN-ACK promised a window the connection does not have");
}

/// RFC 1122 §4.2.2.13 (1) / RFC 6191: a SYN may reopen a connection from
/// TIME-WAIT only if the new ISS is above every sequence number of the old
/// incarnation (Linux: tw_snd_nxt + 65535 + 2). Here the recycled
/// connection takes a fresh clock-based ISS, which lies inside the old
/// incarnation's sequence space after a transfer faster than 250 kB/s; without
/// timestamps an old duplicate of the previous incarnation is then taken as
/// data of the new one.
#[test]
fn time_wait_recycle_iss_inside_old_sequence_space() {
    let cfg = TcpConfig { timestamps: false, ..TcpConfig::default() };
    let mut s = Sim::new(1, cfg.clone(), cfg);
    let (c, sc) = s.handshake(80);
    // B (the server) sends 2 MB, then closes first: B ends in TIME-WAIT.
    let mut down = Flow::new(pattern(2 << 20, 0x5a), true);
    let up = Flow::new(Vec::new(), false);
    let mut a_closed = false;
    let ok = s.run(Duration::from_secs(30), |s| {
        down.pump(&mut s.b, sc, &mut s.a, c, usize::MAX);
        if down.eof && !a_closed {
            s.a.close(c).unwrap();
            a_closed = true;
        }
        let _ = up.got.len();
        Sim::closed(&s.a_events, c).is_some()
    });
    assert!(ok);
    check_same(1, "old", &down.got, &down.data);
    let old_b_data: Vec<Seg> = s.log.iter().filter(|(_, g)| g.src == B_IP && !g.payload.is_empty()).map(|(_, g)| g.clone()).collect();
    let old_b_iss = s.log.iter().find(|(_, g)| g.has(TcpFlags::SYN | TcpFlags::ACK)).unwrap().1.seq;
    let old_b_snd_nxt = old_b_iss.wrapping_add(1 + (2 << 20) + 1);
    assert!(s.run(Duration::from_secs(2), |s| s.a.connection_count() == 0));
    assert_eq!(s.b.connection_count(), 1, "B in TIME-WAIT");
    // A reconnects on the same 4-tuple: B recycles its TIME-WAIT.
    s.b_events.clear();
    s.a_events.clear();
    let log_from = s.log.len();
    let c2 = s.connect(80);
    assert!(s.run(Duration::from_secs(2), |s| s.accepted().is_some() && s.a_events.contains(&TcpEvent::Connected(c2))));
    assert_eq!(s.b.stats().time_wait_recycled, 1);
    let new_b_iss = s.log[log_from..].iter().find(|(_, g)| g.has(TcpFlags::SYN | TcpFlags::ACK)).unwrap().1.seq;
    let inside = (old_b_snd_nxt.wrapping_sub(new_b_iss) as i32) > 0;
    eprintln!("old B ISS {old_b_iss}, old B SND.NXT {old_b_snd_nxt}, new B ISS {new_b_iss}: new ISS {} old SND.NXT by {}", if inside { "BELOW" } else { "above" }, (old_b_snd_nxt.wrapping_sub(new_b_iss) as i32));
    // An old duplicate of the previous incarnation, delayed in the network,
    // arrives now: the segment of the old stream covering A's new RCV.NXT.
    let (_, _, a_rcv_nxt, _) = s.a.seq_state(c2).unwrap();
    let dup = old_b_data.iter().find(|g| {
        let end = g.seq.wrapping_add(g.payload.len() as u32);
        (a_rcv_nxt.get().wrapping_sub(g.seq) as i32) >= 0 && (end.wrapping_sub(a_rcv_nxt.get()) as i32) > 0
    });
    if let Some(d) = dup {
        let mut out = Out::default();
        s.a.handle_segment(s.now, d.src, d.dst, &d.repr(), &mut out);
        let mut buf = [0u8; 4096];
        match s.a.recv(c2, &mut buf) {
            Ok(n) => {
                let off = a_rcv_nxt.get().wrapping_sub(d.seq) as usize;
                eprintln!("A's NEW connection delivered {n} bytes of the OLD incarnation's stream to the application (old seq {}, bytes == old payload[{off}..]: {})", d.seq, buf[..n] == d.payload[off..off + n]);
            }
            Err(e) => eprintln!("old duplicate not delivered: {e:?}"),
        }
    }
    assert!(!inside, "recycled TIME-WAIT: new ISS lies inside the old incarnation's sequence space");
    let _ = (RecvError::Eof, State::Closed);
}

/// A receive queue holds at most u16::MAX chunks (`ChunkBuf::held`,
/// 65,535 x 4 KiB = 256 MiB) but `ChunkBuf::room` (the advertised window)
/// ignores that cap: with rx_buffer above 256 MiB (a scaled window up to
/// 1 GiB, wscale 14) and a slow reader, B keeps advertising hundreds of MiB
/// of window while it refuses every byte (rx_no_memory). The sender cannot
/// tell this from loss: it retransmits with backoff and gives up after
/// max_retries instead of probing a zero window forever (RFC 9293 §3.8.6.1).
#[test]
fn receive_window_beyond_chunk_cap_is_never_honoured() {
    let big = 1usize << 30;
    let bcfg = TcpConfig { rx_buffer: big, rx_buffer_initial: big, buffer_memory: 2 * big, ..TcpConfig::default() };
    let mut s = Sim::new(1, TcpConfig::default(), bcfg);
    let (_c, sc) = s.handshake(80);
    let shift = s.log.iter().find(|(_, g)| g.has(TcpFlags::SYN | TcpFlags::ACK)).unwrap().1.options.window_scale.unwrap();
    let tmpl = last_from(&s, A_IP);
    let payload = vec![0x42u8; 65_000];
    let mut last_win = 0u64;
    let mut refused_at = None;
    for k in 0..5000u32 {
        let (_, b_nxt, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
        let mut g = tmpl.clone();
        g.seq = rcv_nxt.get();
        g.ack = b_nxt.get();
        g.flags = TcpFlags::ACK;
        g.payload = payload.clone();
        let out = to_b(&mut s, &g);
        if let Some(a) = out.iter().rev().find(|x| x.src == B_IP) {
            last_win = u64::from(a.window) << shift;
        }
        let (_, _, after, _) = s.b.seq_state(sc).unwrap();
        if after == rcv_nxt && refused_at.is_none() {
            refused_at = Some(k);
        }
        if refused_at.is_some_and(|r| k > r + 3) {
            break;
        }
    }
    let held = s.b.recv_queue(sc);
    eprintln!(
        "B holds {} MiB unread; refuses data from segment {:?} on (rx_no_memory={} bytes) while advertising a window of {} MiB",
        held >> 20,
        refused_at,
        s.b.stats().rx_no_memory,
        last_win >> 20
    );
    assert!(refused_at.is_none() || last_win == 0, "window advertised but every byte refused");
}

/// What unlimited ACKs to out-of-window SYNs would buy a blind attacker: a few spoofed
/// out-of-window SYNs "from" the sender A to the receiver B each RTT make B
/// send A duplicate ACKs; without SACK (RFC 5681 DupThresh) A takes them
/// for loss: spurious fast retransmits and window halvings.
#[test]
fn spoofed_syns_drive_spurious_fast_retransmits() {
    let run = |attack: bool| {
        let cfg = TcpConfig { sack: false, ..TcpConfig::default() };
        let mut s = Sim::new(2, cfg.clone(), cfg);
        let (c, sc) = s.handshake(80);
        let mut up = Flow::new(pattern(8 << 20, 3), false);
        let mut down = Flow::new(Vec::new(), false);
        let mut k = 0u32;
        let mut next = s.now;
        let t0 = s.now;
        let ok = s.run(Duration::from_secs(60), |s| {
            up.pump(&mut s.a, c, &mut s.b, sc, usize::MAX);
            down.pump(&mut s.b, sc, &mut s.a, c, usize::MAX);
            if attack && s.now >= next {
                next = s.now + Duration::from_millis(2);
                let ts = s.log.iter().rev().find(|(_, g)| g.src == A_IP).and_then(|(_, g)| g.options.timestamps).map(|(v, _)| (v.wrapping_add(1), 0));
                let (_, _, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
                let mut out = Out::default();
                for _ in 0..4 {
                    k += 1;
                    let g = Seg { src: A_IP, dst: B_IP, src_port: 40000, dst_port: 80, seq: rcv_nxt.get().wrapping_add(0x6000_0000).wrapping_add(k.wrapping_mul(104_729)), ack: 0, flags: TcpFlags::SYN, window: 1024, options: TcpOptions { timestamps: ts, ..TcpOptions::default() }, payload: Vec::new() };
                    s.b.handle_segment(s.now, A_IP, B_IP, &g.repr(), &mut out);
                    s.b.poll_transmit(s.now, &mut out);
                }
                s.put(out);
            }
            up.done()
        });
        assert!(ok);
        check_same(2, "up", &up.got, &up.data);
        (s.a.stats().fast_retransmits, s.a.stats().retransmits, s.now - t0)
    };
    let clean = run(false);
    let attacked = run(true);
    eprintln!("8 MiB, no loss, SACK off: (fast retransmits, retransmits, time) clean {clean:?}, with 4 spoofed SYNs per 2 ms {attacked:?}");
    assert_eq!(attacked.0, clean.0, "spoofed SYNs caused spurious fast retransmits");
}

/// Forged pure ACKs from the peer's address: 100 acknowledging data never
/// sent, then 100 older than SND.UNA − MAX.SND.WND (RFC 5961 §5.2). Each
/// must be dropped; the ACKs they draw are challenge ACKs, limited (§7),
/// so a blind attacker cannot make us send one ACK per forged segment.
#[test]
fn acks_answering_bad_acks_are_rate_limited() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    s.b.send(sc, b"some data for A").unwrap();
    s.sleep(Duration::from_millis(100));
    let tmpl = last_from(&s, A_IP);
    let (una, _, rcv_nxt, _) = s.b.seq_state(sc).unwrap();
    let count = |s: &mut Sim, ack: u32| {
        let mut n = 0;
        for k in 0..100u32 {
            let mut g = tmpl.clone();
            g.seq = rcv_nxt.get();
            g.ack = ack.wrapping_add(k);
            g.flags = TcpFlags::ACK;
            g.payload.clear();
            n += to_b(s, &g).iter().filter(|x| x.has(TcpFlags::ACK)).count();
        }
        n
    };
    let unsent = count(&mut s, una.get().wrapping_add(50_000_000));
    let too_old = count(&mut s, una.get().wrapping_sub(0x4000_0000));
    let st = s.b.stats();
    eprintln!("100 ACKs of unsent data -> {unsent} answers, 100 too-old ACKs -> {too_old} (ack_unsent={} bad_ack={} challenge_acks={} limited={})", st.ack_unsent, st.bad_ack, st.challenge_acks, st.challenge_acks_limited);
    assert_eq!((st.ack_unsent, st.bad_ack), (100, 100));
    assert!(unsent + too_old <= 2, "{unsent} + {too_old} ACKs for 200 forged segments in one instant");
    assert!(st.challenge_acks_limited >= 198);
    // The connection goes on.
    s.a.send(c, b"hello").unwrap();
    s.sleep(Duration::from_millis(100));
    let mut buf = [0u8; 16];
    assert_eq!(s.b.recv(sc, &mut buf), Ok(5));
}

/// SYN+FIN to a listener is no opening: dropped unanswered and counted, as
/// Linux does, no connection made.
#[test]
fn syn_fin_to_a_listener_is_dropped() {
    let mut s = Sim::pair();
    s.b.listen(80).unwrap();
    let g = Seg {
        src: A_IP,
        dst: B_IP,
        src_port: 40001,
        dst_port: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN | TcpFlags::FIN,
        window: 65535,
        options: TcpOptions { mss: Some(1460), ..TcpOptions::default() },
        payload: Vec::new(),
    };
    let answers = to_b(&mut s, &g);
    assert!(answers.is_empty(), "answered SYN+FIN: {answers:?}");
    assert_eq!(s.b.stats().syn_fin_dropped, 1);
    assert_eq!(s.b.connection_count(), 0);
}

/// Found by header prediction's differential test (`tcp_predict.rs`): the
/// duplicate-ACK test compared SEG.ACK with SND.UNA *after* the ACK had moved
/// SND.UNA, so every pure ACK that acknowledged new data, with the window
/// unchanged and data still in flight, counted as a duplicate (RFC 5681 §2:
/// a duplicate ACK does not advance the left edge). Without SACK each one
/// then bought a limited-transmit segment beyond cwnd (RFC 3042) and, in
/// recovery, inflated the pipe estimate. On a clean link there is no
/// duplicate ACK at all.
#[test]
fn advancing_acks_are_not_duplicates() {
    // The general path (header prediction would take these ACKs), a fixed
    // receive buffer (no auto-tuning): B's ACKs announce the same window.
    let base = TcpConfig::default();
    let cfg = TcpConfig { sack: false, header_prediction: false, rx_buffer_initial: base.rx_buffer, ..base };
    let mut s = Sim::new(7, cfg.clone(), cfg);
    let (c, sc) = s.handshake(80);
    // Six full segments out; B gets them two at a time, reads them at once
    // and ACKs each pair (data still in flight after every ACK).
    let data = pattern(6 * 1448, 5);
    assert_eq!(s.a.send(c, &data).unwrap(), data.len());
    let mut out = Out::default();
    s.a.poll_transmit(s.now, &mut out);
    let segs: Vec<Seg> = out.0.into_iter().filter(|g| !g.payload.is_empty()).collect();
    assert!(segs.len() >= 5, "A sent {} data segments", segs.len());
    let mut windows = Vec::new();
    for pair in segs[..4].chunks(2) {
        s.now += Duration::from_millis(1);
        let mut out = Out::default();
        for g in pair {
            s.b.handle_segment(s.now, g.src, g.dst, &g.repr(), &mut out);
        }
        let mut buf = [0u8; 8192];
        while s.b.recv(sc, &mut buf).is_ok_and(|n| n > 0) {}
        s.b.poll_transmit(s.now, &mut out);
        let ack = out.0.iter().rev().find(|g| g.payload.is_empty()).expect("B acknowledges the pair").clone();
        let last = pair.last().unwrap();
        assert_eq!(ack.ack, last.seq.wrapping_add(last.payload.len() as u32), "the ACK covers the pair");
        windows.push(ack.window);
        s.now += Duration::from_millis(1);
        let mut out = Out::default();
        s.a.handle_segment(s.now, ack.src, ack.dst, &ack.repr(), &mut out);
    }
    assert_eq!(windows[0], windows[1], "B's window changed: the case needs it unchanged");
    assert_eq!(s.a.stats().dup_acks, 0, "an ACK that advanced SND.UNA was counted as a duplicate");
}
