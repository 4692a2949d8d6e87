//! The TCP User Timeout Option (RFC 5482 §3) in the pair simulator: a local
//! user timeout is advertised in the SYN / SYN-ACK (and once more after a
//! change), the peer adopts `min(U_LIMIT, max(ADV_UTO, REMOTE_UTO, 100 s))`
//! when `uto_changeable` allows it (§3.1, §3.2) and aborts on that timeout;
//! by default nothing appears on the wire.

mod sim;

use proto::tcp::{CloseReason, TcpConfig};
use proto::time::Duration;
use sim::{pattern, Sim, A_IP, B_IP};
use wire::tcp::TcpFlags;

fn with_uto(secs: u64) -> TcpConfig {
    TcpConfig { user_timeout: Some(Duration::from_secs(secs)), ..TcpConfig::default() }
}

/// The UTO field of the first SYN (`ack == false`) or SYN-ACK sent by `src`.
fn syn_uto(s: &Sim, src: core::net::IpAddr, ack: bool) -> Option<u16> {
    let (_, g) = s.log.iter().find(|(_, g)| g.src == src && g.has(TcpFlags::SYN) && g.has(TcpFlags::ACK) == ack).expect("a SYN");
    g.options.user_timeout
}

/// A client with a 200 s user timeout sends UTO = 200 s in its SYN; the
/// server (no local user timeout, changeable by default) adopts
/// max(200 s, L_LIMIT) = 200 s and, when the client goes silent while server
/// data is outstanding, aborts 200 s after sending it (`Closed{UserTimeout}`).
#[test]
fn server_adopts_client_uto_and_aborts_on_it() {
    let mut s = Sim::new(11, with_uto(200), TcpConfig::default());
    let (c, sc) = s.handshake(80);
    assert_eq!(syn_uto(&s, A_IP, false), Some(200), "UTO (seconds) in the client's SYN");
    assert_eq!(syn_uto(&s, B_IP, true), None, "the server advertises none of its own");
    assert_eq!(s.b.user_timeout(sc), Some(Duration::from_secs(200)));
    assert_eq!(s.b.stats().uto_adopted, 1);
    assert_eq!(s.a.user_timeout(c), Some(Duration::from_secs(200)));
    // The client goes silent: nothing it sends arrives any more.
    s.drop_if = Some(Box::new(|g: &sim::Seg| g.src == A_IP));
    let t0 = s.now;
    assert_eq!(s.b.send(sc, &pattern(20_000, 3)), Ok(20_000));
    s.sleep(Duration::from_millis(199_900));
    assert_eq!(Sim::closed(&s.b_events, sc), None, "aborted before the adopted user timeout");
    s.sleep(Duration::from_millis(200));
    assert_eq!(Sim::closed(&s.b_events, sc), Some(CloseReason::UserTimeout), "not aborted {:?} after sending", s.now.saturating_duration_since(t0));
    assert_eq!(s.b.stats().user_timeouts, 1);
}

/// With `uto_changeable: false` the server ignores the client's option: no
/// user timeout, and the same silent client does not abort it at 200 s.
#[test]
fn server_not_changeable_ignores_uto() {
    // More retries than the default 10, so that the retry limit is not what
    // ends it within the 250 s watched (backed-off RTOs reach 60 s each).
    let b = TcpConfig { uto_changeable: false, max_retries: 30, ..TcpConfig::default() };
    let mut s = Sim::new(12, with_uto(200), b);
    let (_c, sc) = s.handshake(80);
    assert_eq!(syn_uto(&s, A_IP, false), Some(200));
    assert_eq!(s.b.user_timeout(sc), None);
    assert_eq!(s.b.stats().uto_adopted, 0);
    s.drop_if = Some(Box::new(|g: &sim::Seg| g.src == A_IP));
    assert_eq!(s.b.send(sc, &pattern(20_000, 3)), Ok(20_000));
    s.sleep(Duration::from_secs(250));
    assert_eq!(Sim::closed(&s.b_events, sc), None, "no user timeout: the retry limit decides");
    assert_eq!(s.b.stats().user_timeouts, 0);
}

/// RFC 5482 §3.1: a remote UTO below L_LIMIT (100 s) is raised to it; a
/// local ADV_UTO above the remote one wins (max), and U_LIMIT caps it.
#[test]
fn limits_of_the_adopted_timeout() {
    // 5 s from the client: the server takes 100 s; the client keeps its 5 s.
    let mut s = Sim::new(13, with_uto(5), TcpConfig::default());
    let (c, sc) = s.handshake(80);
    assert_eq!(syn_uto(&s, A_IP, false), Some(5));
    assert_eq!(s.b.user_timeout(sc), Some(Duration::from_secs(100)));
    assert_eq!(s.a.user_timeout(c), Some(Duration::from_secs(5)));
    // Both advertise: each takes the larger (client 500 s, server 200 s).
    let mut s = Sim::new(14, with_uto(500), with_uto(200));
    let (c, sc) = s.handshake(80);
    assert_eq!((syn_uto(&s, A_IP, false), syn_uto(&s, B_IP, true)), (Some(500), Some(200)));
    assert_eq!(s.a.user_timeout(c), Some(Duration::from_secs(500)));
    assert_eq!(s.b.user_timeout(sc), Some(Duration::from_secs(500)));
    // 10 hours in minutes (G = 1) from the client, U_LIMIT one hour at the server.
    let b = TcpConfig { uto_max: Duration::from_secs(3600), ..TcpConfig::default() };
    let mut s = Sim::new(15, with_uto(36_000), b);
    let (_c, sc) = s.handshake(80);
    assert_eq!(syn_uto(&s, A_IP, false), Some(0x8000 | 600), "36,000 s > 32,767 s: in minutes");
    assert_eq!(s.b.user_timeout(sc), Some(Duration::from_secs(3600)));
    let mut s = Sim::new(16, with_uto(86_400), TcpConfig::default());
    let (_c, sc) = s.handshake(80);
    assert_eq!(syn_uto(&s, A_IP, false), Some(0x8000 | 1440), "a day in minutes");
    assert_eq!(s.b.user_timeout(sc), Some(Duration::from_secs(86_400)));
}

/// By default (no user timeout anywhere) no segment carries the option, and
/// nothing is adopted (the SYN-ACK stays the one the replay tests compare
/// with Linux's).
#[test]
fn default_sends_no_uto() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    assert_eq!(s.a.send(c, &pattern(10_000, 1)), Ok(10_000));
    s.sleep(Duration::from_secs(1));
    let mut buf = vec![0; 20_000];
    assert_eq!(s.b.recv(sc, &mut buf), Ok(10_000));
    assert!(s.log.len() > 5);
    assert!(s.log.iter().all(|(_, g)| g.options.user_timeout.is_none()));
    assert_eq!(s.a.stats().uto_adopted + s.b.stats().uto_adopted, 0);
    assert_eq!((s.a.user_timeout(c), s.b.user_timeout(sc)), (None, None));
}

/// A user timeout set on an established connection is advertised once, on a
/// pure ACK, and the peer adopts it; later segments do not repeat it.
#[test]
fn set_user_timeout_later_is_advertised_once() {
    let mut s = Sim::pair();
    let (c, sc) = s.handshake(80);
    let n = s.log.len();
    assert!(s.a.set_user_timeout(c, Some(Duration::from_secs(300))));
    s.sleep(Duration::from_millis(100));
    let with: Vec<_> = s.log[n..].iter().filter(|(_, g)| g.options.user_timeout.is_some()).collect();
    assert_eq!(with.len(), 1, "one segment carries the new UTO");
    let g = &with[0].1;
    assert!(g.src == A_IP && g.payload.is_empty() && g.has(TcpFlags::ACK) && !g.has(TcpFlags::SYN));
    assert_eq!(g.options.user_timeout, Some(300));
    assert_eq!(s.b.user_timeout(sc), Some(Duration::from_secs(300)));
    assert_eq!(s.a.send(c, &pattern(5000, 1)), Ok(5000));
    s.sleep(Duration::from_secs(1));
    assert_eq!(s.log.iter().filter(|(_, g)| g.options.user_timeout.is_some()).count(), 1);
}
