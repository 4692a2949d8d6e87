//! Scenarios beside the main suites: simultaneous close, a FIN behind a
//! closed window, tiny MSS under loss, a cookie ACK with data and FIN, a
//! receiver that must renege; and two that failed before their fixes
//! (issue 20): RACK's reordering window on a sub-millisecond path with
//! timestamps (RTT samples now in µs from the send log), and CUBIC's loss
//! response of a receive-window-limited flow (RFC 9438 §4.6).

mod sim;

use proto::tcp::{CloseReason, RecvError, State, TcpConfig, TcpEvent};
use proto::time::Duration;
use sim::*;
use wire::tcp::{TcpFlags, TcpOptions};

/// Both sides close at the same instant (RFC 9293 Figure 13): FIN-WAIT-1 ->
/// CLOSING -> TIME-WAIT on both, Closed{Normal} on both, slots freed.
#[test]
fn simultaneous_close() {
    for lose in [false, true] {
        let cfg = TcpConfig { time_wait: Duration::from_secs(2), ..TcpConfig::default() };
        let mut s = Sim::new(3, cfg.clone(), cfg);
        let (c, sc) = s.handshake(80);
        s.a.send(c, b"ping").unwrap();
        s.b.send(sc, b"pong").unwrap();
        s.a.close(c).unwrap();
        s.b.close(sc).unwrap();
        if lose {
            let mut n = 0;
            s.drop_if = Some(Box::new(move |g| {
                if g.has(TcpFlags::FIN) && n < 2 {
                    n += 1;
                    return true;
                }
                false
            }));
        }
        let mut seen = Vec::new();
        let ok = s.run(Duration::from_secs(30), |s| {
            let mut buf = [0u8; 16];
            let _ = s.a.recv(c, &mut buf);
            let _ = s.b.recv(sc, &mut buf);
            if let (Some(x), Some(y)) = (s.a.state(c), s.b.state(sc)) {
                if seen.last() != Some(&(x, y)) {
                    seen.push((x, y));
                }
            }
            Sim::closed(&s.a_events, c).is_some() && Sim::closed(&s.b_events, sc).is_some()
        });
        eprintln!("lose={lose}: states {seen:?}; closed {:?} {:?}", Sim::closed(&s.a_events, c), Sim::closed(&s.b_events, sc));
        assert!(ok);
        assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::Normal));
        assert_eq!(Sim::closed(&s.b_events, sc), Some(CloseReason::Normal));
        assert!(s.run(Duration::from_secs(10), |s| s.a.connection_count() == 0 && s.b.connection_count() == 0));
    }
}

/// The receiver's window is closed when the sender's data and FIN are
/// queued; once the receiver reads, all data and the EOF arrive promptly.
#[test]
fn fin_behind_closed_window_delivered_after_read() {
    let bcfg = TcpConfig { rx_buffer: 16 * 1024, rx_buffer_initial: 16 * 1024, ..TcpConfig::default() };
    let mut s = Sim::new(1, TcpConfig::default(), bcfg);
    let (c, sc) = s.handshake(80);
    let data = pattern(40_000, 9);
    let mut sent = 0;
    let mut closed = false;
    // B does not read for 30 s (A probes the zero window, backing off).
    s.run(Duration::from_secs(30), |s| {
        if sent < data.len() {
            if let Ok(n) = s.a.send(c, &data[sent..]) {
                sent += n;
            }
        }
        if sent == data.len() && !closed {
            s.a.close(c).unwrap();
            closed = true;
        }
        false
    });
    let t0 = s.now;
    let mut got = Vec::new();
    let mut eof = false;
    let ok = s.run(Duration::from_secs(300), |s| {
        if sent < data.len() {
            if let Ok(n) = s.a.send(c, &data[sent..]) {
                sent += n;
            }
        }
        if sent == data.len() && !closed {
            s.a.close(c).unwrap();
            closed = true;
        }
        let mut buf = [0u8; 4096];
        loop {
            match s.b.recv(sc, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(RecvError::Eof) => {
                    eof = true;
                    break;
                }
                Err(_) => break,
            }
        }
        eof
    });
    eprintln!("after the reader woke: {} of {} bytes, eof={eof} after {:?}; A probes {} retransmits {}", got.len(), data.len(), s.now - t0, s.a.stats().window_probes, s.a.stats().retransmits);
    assert!(ok);
    check_same(1, "data", &got, &data);
    assert!(s.now - t0 < Duration::from_secs(5), "EOF {:?} after the reader woke", s.now - t0);
}

/// A tiny MSS (peer announces 64) and a large write, over a lossy link.
#[test]
fn tiny_mss_large_write_lossy() {
    let bcfg = TcpConfig { mss: 64, ..TcpConfig::default() };
    let mut s = Sim::new(5, TcpConfig::default(), bcfg);
    let (c, sc) = s.handshake(80);
    assert_eq!(s.a.negotiated(c).unwrap().send_mss, 52);
    s.loss = 20;
    s.reorder = 50;
    let mut up = Flow::new(pattern(300_000, 3), true);
    let mut down = Flow::new(Vec::new(), true);
    let t0 = s.now;
    let ok = transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(600));
    eprintln!("tiny MSS: ok={ok} {} of {} in {:?}; A rto={} fast={} B ooo_dropped={} sack_reneged(A)={}", up.got.len(), up.data.len(), s.now - t0, s.a.stats().rto_expired, s.a.stats().fast_retransmits, s.b.stats().ooo_dropped, s.a.stats().sack_reneged);
    assert!(ok);
    check_same(5, "up", &up.got, &up.data);
}

/// Cookie handshake whose third segment carries data and FIN.
#[test]
fn cookie_ack_with_data_and_fin() {
    let bcfg = TcpConfig { syn_backlog: 0, ..TcpConfig::default() };
    let mut s = Sim::new(1, TcpConfig::default(), bcfg);
    s.b.listen(80).unwrap();
    let c = s.connect(80);
    // Let the SYN-ACK arrive at A, but hold A's third ACK.
    s.drop_if = Some(Box::new(|g| g.src == A_IP && !g.has(TcpFlags::SYN)));
    assert!(s.run(Duration::from_secs(2), |s| s.a_events.contains(&TcpEvent::Connected(c))));
    s.drop_if = None;
    s.a.send(c, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    s.a.close(c).unwrap();
    let mut got = Vec::new();
    let mut eof = false;
    let ok = s.run(Duration::from_secs(10), |s| {
        if let Some(sc) = s.accepted() {
            let mut buf = [0u8; 64];
            loop {
                match s.b.recv(sc, &mut buf) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(RecvError::Eof) => {
                        eof = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        eof
    });
    eprintln!("cookie + data + FIN: got {:?} eof={eof} cookies_validated={} cookies_failed={}", String::from_utf8_lossy(&got), s.b.stats().cookies_validated, s.b.stats().cookies_failed);
    assert!(ok);
    assert_eq!(got, b"GET / HTTP/1.0\r\n\r\n");
    let _ = (State::Closed, TcpOptions::default());
}

/// The receiver's out-of-order range bound uses its own MSS (one range per
/// `cfg.mss` of buffer); a peer whose own MSS is small sends segments far
/// below it, and holes beyond the bound evict (renege) SACKed data.
#[test]
fn small_peer_mss_receiver_reneges() {
    let bcfg = TcpConfig { mss: 64, ..TcpConfig::default() };
    let mut s = Sim::new(5, TcpConfig::default(), bcfg);
    let (c, sc) = s.handshake(80);
    s.loss = 30;
    let mut up = Flow::new(Vec::new(), true);
    let mut down = Flow::new(pattern(1_000_000, 3), true);
    let t0 = s.now;
    let ok = transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(900));
    eprintln!("B(mss 64) -> A: ok={ok} in {:?}; A ooo_dropped={} ooo_segments={}; B rto={} sack_reneged={} fast={}", s.now - t0, s.a.stats().ooo_dropped, s.a.stats().ooo_segments, s.b.stats().rto_expired, s.b.stats().sack_reneged, s.b.stats().fast_retransmits);
    assert!(ok);
    check_same(5, "down", &down.got, &down.data);
}

/// With timestamps (the default) every RTT sample is TSecr-based in whole
/// milliseconds: on a sub-millisecond path SRTT is 0, so RACK's reordering
/// window min(reo_wnd_mult * min_RTT / 4, SRTT) (RFC 8985 §6.2 step 4) is 0
/// and can never grow: any reordering is taken for loss. Same link, same
/// reordering, timestamps off (RTT timed in µs): no spurious recovery.
#[test]
fn rack_reordering_window_is_zero_on_sub_ms_paths_with_timestamps() {
    let run = |ts: bool| {
        let cfg = TcpConfig { timestamps: ts, ..TcpConfig::default() };
        let mut s = Sim::new(11, cfg.clone(), cfg);
        s.delay = Duration::from_micros(100);
        let (c, sc) = s.handshake(80);
        s.jitter = Duration::from_micros(40);
        let mut up = Flow::new(pattern(4 << 20, 1), true);
        let mut down = Flow::new(Vec::new(), true);
        assert!(transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(120)));
        check_same(11, "up", &up.got, &up.data);
        let st = s.a.stats();
        (st.recoveries, st.retransmits, st.spurious_recoveries, s.b.stats().ooo_segments)
    };
    let with_ts = run(true);
    let without = run(false);
    eprintln!("RTT 200 us, 40 us reordering, no loss; (recoveries, retransmits, spurious undone, receiver ooo segments): timestamps {with_ts:?}, no timestamps {without:?}");
    assert!(with_ts.1 <= without.1 + 10, "timestamps make RACK retransmit on reordering alone");
}

/// RFC 9438 §4.6: an implementation that computes ssthresh from cwnd
/// (cubic.rs `reduce`) "MUST use other measures to prevent cwnd from
/// growing when the volume of bytes in flight is smaller than cwnd". Here
/// slow start grows cwnd on every ACK of a receive-window-limited flow, so
/// after a while cwnd is far above the flight, and a loss leaves the
/// sender's flight where it was: no multiplicative decrease at all.
/// NewReno (ssthresh from FlightSize, RFC 5681 eq. 4) halves it.
#[test]
fn cubic_loss_response_void_for_rwnd_limited_flow() {
    use proto::tcp::congestion::Algorithm;
    let run = |cc: Algorithm| {
        let acfg = TcpConfig { congestion: cc, ..TcpConfig::default() };
        let bcfg = TcpConfig { rx_buffer: 64 * 1024, rx_buffer_initial: 64 * 1024, ..TcpConfig::default() };
        let mut s = Sim::new(21, acfg, bcfg);
        let (c, sc) = s.handshake(80);
        let data = pattern(64 << 20, 1);
        let mut sent = 0;
        let mut sink = [0u8; 65536];
        let mut pump = |s: &mut Sim| {
            if let Ok(n) = s.a.send(c, &data[sent..]) {
                sent += n;
            }
            while let Ok(n) = s.b.recv(sc, &mut sink) {
                let _ = n;
            }
        };
        // 2 s without loss (rwnd-limited: 64 KiB per 2 ms RTT).
        let t0 = s.now;
        s.run(Duration::from_secs(3), |s| {
            pump(s);
            s.now - t0 > Duration::from_secs(2)
        });
        let flight = |s: &Sim| {
            let (una, nxt, ..) = s.a.seq_state(c).unwrap();
            nxt.get().wrapping_sub(una.get())
        };
        let mut before = 0;
        let t1 = s.now;
        s.run(Duration::from_secs(1), |s| {
            pump(s);
            before = before.max(flight(s));
            s.now - t1 > Duration::from_millis(20)
        });
        // One loss.
        let mut dropped = false;
        s.drop_if = Some(Box::new(move |g| {
            if !dropped && g.src == A_IP && !g.payload.is_empty() {
                dropped = true;
                return true;
            }
            false
        }));
        let r0 = s.a.stats().recoveries;
        s.run(Duration::from_secs(1), |s| {
            pump(s);
            s.a.stats().recoveries > r0
        });
        // The next 10 RTTs.
        let mut after = 0;
        let t2 = s.now;
        s.run(Duration::from_secs(1), |s| {
            pump(s);
            if s.now - t2 > Duration::from_millis(4) {
                after = after.max(flight(s));
            }
            s.now - t2 > Duration::from_millis(20)
        });
        (before, after, s.a.stats().recoveries - r0)
    };
    let cubic = run(Algorithm::Cubic);
    let reno = run(Algorithm::NewReno);
    eprintln!("(max flight before loss, max flight in the 20 ms after, recoveries): CUBIC {cubic:?}, NewReno {reno:?}");
    assert!(f64::from(cubic.1) <= 0.8 * f64::from(cubic.0), "CUBIC did not reduce its flight after a loss");
}
