//! The user timeout (RFC 9293 §3.8.3 and §3.10.8 USER TIMEOUT, RFC 5482 §2)
//! in the pair simulator: data unacknowledged longer than the connection's
//! user timeout aborts it (`Closed{UserTimeout}`, a RST to the peer, queues
//! flushed, counted), on time (the retransmission and persist timers are
//! clamped to it); progress, idleness and the retry limit keep their meaning.

mod sim;

use proto::tcp::{CloseReason, RecvError, TcpConfig, TcpEvent};
use proto::time::Duration;
use sim::{pattern, Sim, A_IP};
use wire::tcp::TcpFlags;

fn with_uto(ms: u64) -> TcpConfig {
    TcpConfig { user_timeout: Some(Duration::from_millis(ms)), ..TcpConfig::default() }
}

/// The peer vanishes (everything it would receive is lost) while data is
/// outstanding: with a 5 s user timeout the connection is aborted 5 s after the
/// data went out, not after 10 backed-off RTOs (minutes); the application learns
/// `UserTimeout`, the peer gets a RST, and the handle is gone.
#[test]
fn silent_peer_aborts_at_user_timeout() {
    for (seed, uto_ms) in [(1u64, 5000u64), (2, 1500), (3, 30_000)] {
        let mut s = Sim::new(seed, with_uto(uto_ms), TcpConfig::default());
        s.delay = Duration::from_millis(5);
        let (c, _sc) = s.handshake(80);
        assert_eq!(s.a.user_timeout(c), Some(Duration::from_millis(uto_ms)));
        // From now on B hears nothing.
        s.drop_if = Some(Box::new(|g: &sim::Seg| g.dst != A_IP));
        let t0 = s.now;
        assert_eq!(s.a.send(c, &pattern(20_000, 1)), Ok(20_000));
        s.sleep(Duration::from_millis(uto_ms - 1));
        assert_eq!(Sim::closed(&s.a_events, c), None, "seed {seed}: aborted before the user timeout");
        s.sleep(Duration::from_millis(2));
        let took = s.now.saturating_duration_since(t0);
        assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::UserTimeout), "seed {seed}: not aborted {took:?} after sending ({:?})", s.a.stats());
        let st = s.a.stats();
        assert_eq!(st.user_timeouts, 1, "seed {seed}");
        assert!(st.rto_expired >= 2, "seed {seed}: {st:?}");
        // RFC 9293 §3.10.8: the TCB is deleted; the peer is told with a RST.
        assert_eq!(s.a.connection_count(), 0);
        assert_eq!(s.a.recv(c, &mut [0; 16]), Err(RecvError::InvalidConn));
        let rst = s.log.iter().rev().find(|(_, g)| g.src == A_IP && g.has(TcpFlags::RST));
        assert!(rst.is_some_and(|(t, _)| t.saturating_duration_since(t0) >= Duration::from_millis(uto_ms)), "seed {seed}: no RST at the abort");
    }
}

/// Without a user timeout the same silent peer is given up only after the
/// retry limit (the abort above is the user timeout's doing).
#[test]
fn without_user_timeout_the_retry_limit_decides() {
    let mut s = Sim::new(4, TcpConfig::default(), TcpConfig::default());
    let (c, _sc) = s.handshake(80);
    s.drop_if = Some(Box::new(|g: &sim::Seg| g.dst != A_IP));
    assert_eq!(s.a.user_timeout(c), None);
    assert_eq!(s.a.send(c, &pattern(20_000, 1)), Ok(20_000));
    s.sleep(Duration::from_secs(30));
    assert_eq!(Sim::closed(&s.a_events, c), None);
    s.sleep(Duration::from_secs(900));
    assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::Timeout));
    assert_eq!(s.a.stats().user_timeouts, 0);
}

/// Progress restarts the clock: a transfer over a lossy link that takes much
/// longer than the user timeout, but never stalls that long, completes; an
/// idle connection (nothing outstanding) is never aborted by it.
#[test]
fn progress_and_idleness_do_not_abort() {
    let mut s = Sim::new(5, with_uto(2000), with_uto(2000));
    s.delay = Duration::from_millis(20);
    let (c, sc) = s.handshake(80);
    s.loss = 20;
    let data = pattern(3 << 20, 5);
    let mut flow = sim::Flow::new(data.clone(), false);
    let t0 = s.now;
    let done = s.run(Duration::from_secs(600), |s| {
        flow.pump(&mut s.a, c, &mut s.b, sc, usize::MAX);
        flow.done()
    });
    let took = s.now.saturating_duration_since(t0);
    assert!(done, "transfer did not complete: {:?}", s.a.stats());
    sim::check_same(5, "bulk", &flow.got, &data);
    assert!(took > Duration::from_secs(4), "the transfer took only {took:?}: not longer than the user timeout");
    assert!(s.a.stats().retransmits > 0);
    // Idle for a minute: nothing outstanding, nothing aborted.
    s.loss = 0;
    s.sleep(Duration::from_secs(60));
    assert_eq!(Sim::closed(&s.a_events, c), None);
    assert_eq!(Sim::closed(&s.b_events, sc), None);
    assert_eq!(s.a.stats().user_timeouts + s.b.stats().user_timeouts, 0);
}

/// A window the peer keeps closed (its application stopped reading) while our
/// window probes are answered: the probed byte stays unacknowledged, so the
/// user timeout ends the connection (as Linux's `TCP_USER_TIMEOUT` does for
/// zero-window probing); set per connection, and off again for another.
#[test]
fn zero_window_probing_is_bounded_by_user_timeout() {
    let small = TcpConfig { rx_buffer: 16 * 1024, rx_buffer_initial: 16 * 1024, ..TcpConfig::default() };
    let mut s = Sim::new(6, TcpConfig::default(), small);
    let (c, _sc) = s.handshake(80);
    assert!(s.a.set_user_timeout(c, Some(Duration::from_secs(8))));
    assert_eq!(s.a.user_timeout(c), Some(Duration::from_secs(8)));
    // B never reads: its window closes after 16 KiB.
    assert_eq!(s.a.send(c, &pattern(100_000, 6)), Ok(100_000));
    s.sleep(Duration::from_secs(5));
    assert!(s.a.stats().window_probes > 0, "{:?}", s.a.stats());
    assert_eq!(Sim::closed(&s.a_events, c), None);
    s.sleep(Duration::from_secs(10));
    assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::UserTimeout), "{:?}", s.a.stats());
    assert!(s.b_events.iter().any(|e| matches!(e, TcpEvent::Closed { reason: CloseReason::Reset, .. })), "the peer was not reset");

    // The same with the timeout turned off again: still probing long after.
    let mut s = Sim::new(7, with_uto(3000), TcpConfig { rx_buffer: 16 * 1024, rx_buffer_initial: 16 * 1024, ..TcpConfig::default() });
    let (c, _sc) = s.handshake(80);
    assert!(s.a.set_user_timeout(c, None));
    assert_eq!(s.a.user_timeout(c), None);
    assert_eq!(s.a.send(c, &pattern(100_000, 7)), Ok(100_000));
    s.sleep(Duration::from_secs(60));
    assert_eq!(Sim::closed(&s.a_events, c), None);
    assert_eq!(s.a.stats().user_timeouts, 0);
    // A stale handle is refused.
    let mut out = sim::Out::default();
    s.a.abort(c, &mut out);
    assert!(!s.a.set_user_timeout(c, Some(Duration::from_secs(1))));
}

/// The clock runs only while something is outstanding: a window that closed
/// while the connection was otherwise idle for longer than the user timeout
/// does not abort it when the application writes again; the clock starts with
/// the first window probe, and the peer reading in time lets everything
/// through.
#[test]
fn user_timeout_clock_starts_with_the_first_probe() {
    let small = TcpConfig { rx_buffer: 16 * 1024, rx_buffer_initial: 16 * 1024, ..TcpConfig::default() };
    let mut s = Sim::new(8, with_uto(5000), small);
    let (c, sc) = s.handshake(80);
    // Exactly B's buffer: all acknowledged, B's window closed, nothing queued.
    let first = pattern(16 * 1024, 8);
    assert_eq!(s.a.send(c, &first), Ok(first.len()));
    s.sleep(Duration::from_secs(1));
    let (una, nxt, _, wnd) = s.a.seq_state(c).unwrap();
    assert_eq!((una, wnd), (nxt, 0), "B's window did not close with everything acknowledged");
    s.sleep(Duration::from_secs(60));
    let more = pattern(1000, 9);
    assert_eq!(s.a.send(c, &more), Ok(more.len()));
    s.sleep(Duration::from_secs(4));
    assert_eq!(Sim::closed(&s.a_events, c), None, "aborted by a clock that ran while nothing was outstanding: {:?}", s.a.stats());
    // B reads: the window opens, the rest arrives.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let done = s.run(Duration::from_secs(10), |s| {
        while let Ok(n) = s.b.recv(sc, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == first.len() + more.len()
    });
    assert!(done, "got {} bytes", got.len());
    assert_eq!(&got[first.len()..], &more[..]);
    assert_eq!(Sim::closed(&s.a_events, c), None);
    assert_eq!(s.a.stats().user_timeouts, 0);
}

/// Set while the retransmission timer runs with a long backoff, the user
/// timeout still ends the connection on time (the armed timer is brought
/// forward), not at that timer's expiry.
#[test]
fn user_timeout_set_late_still_on_time() {
    let mut s = Sim::new(9, TcpConfig::default(), TcpConfig::default());
    let (c, _sc) = s.handshake(80);
    s.drop_if = Some(Box::new(|g: &sim::Seg| g.dst != A_IP));
    let t0 = s.now;
    assert_eq!(s.a.send(c, &pattern(5000, 9)), Ok(5000));
    s.sleep(Duration::from_secs(20));
    assert!(s.a.stats().rto_expired >= 5, "{:?}", s.a.stats());
    // The next RTO is seconds away; the user timeout ends 21 s after sending.
    assert!(s.a.set_user_timeout(c, Some(Duration::from_secs(21))));
    s.sleep(Duration::from_millis(999));
    assert_eq!(Sim::closed(&s.a_events, c), None);
    s.sleep(Duration::from_millis(2));
    let at = s.now.saturating_duration_since(t0);
    assert_eq!(Sim::closed(&s.a_events, c), Some(CloseReason::UserTimeout), "not aborted {at:?} after sending: {:?}", s.a.stats());
}
