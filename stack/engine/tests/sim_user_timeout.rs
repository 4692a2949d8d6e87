//! The user timeout through the engine's application API (RFC 9293 §3.8.3,
//! §3.10.8): an application sets it with `Io::set_user_timeout` on a `Core`
//! (virtual clock, in-memory device); the peer, a plain `Interface`, goes
//! silent with data outstanding; the application gets
//! `Closed{UserTimeout}` at the user timeout, not after the retry limit.

use engine::mesh::mesh;
use engine::rss::Steering;
use engine::{App, CloseReason, Clock, ConnId, Core, Event, Io, Net, TxSink};
use proto::iface::{Interface, InterfaceConfig};
use proto::time::{Duration, Instant};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xsk::{mem_pair, Device};

const APP_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const APP_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Connects, sets the user timeout, sends 10 KB once connected, records how
/// the connection ended.
struct Sender {
    to: SocketAddr,
    timeout: Option<Duration>,
    conn: Option<ConnId>,
    connected_at: Option<Instant>,
    closed: Option<(CloseReason, Instant)>,
}

impl App for Sender {
    fn start(&mut self, io: &mut Io<'_>) {
        let c = io.connect(self.to).expect("connect");
        io.set_user_timeout(c, self.timeout);
        assert_eq!(io.user_timeout(c), self.timeout);
        self.conn = Some(c);
    }
    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Connected(c) => {
                self.connected_at = Some(io.now());
                assert_eq!(io.send(c, &[7u8; 10_000]), Ok(10_000));
            }
            Event::Closed { reason, .. } => self.closed = Some((reason, io.now())),
            _ => {}
        }
    }
}

/// Run until the peer has the data's first segment, then make it silent; return
/// when the sender connected and how and when its connection ended (within
/// `limit`).
fn run(timeout: Option<Duration>, limit: Duration) -> (Option<Instant>, Option<(CloseReason, Instant)>) {
    let (a, b) = mem_pair(APP_MAC, PEER_MAC, 4096);
    let iface = Interface::new(InterfaceConfig { mac: APP_MAC, ipv4: vec![(APP_IP, 24)], ..Default::default() });
    let net = Net::new(iface, 0, Arc::new(Steering::single()), Arc::new(AtomicBool::new(false)), 50000);
    let links = mesh(1, 1, 2048).unwrap().pop().unwrap();
    let app = Sender { to: SocketAddr::from((PEER_IP, 7)), timeout, conn: None, connected_at: None, closed: None };
    let mut core = Core::new(a, net, app, links, Clock::new(), 0);
    let mut peer_dev = b;
    let mut peer = Interface::new(InterfaceConfig { mac: PEER_MAC, ipv4: vec![(PEER_IP, 24)], ..Default::default() });
    peer.tcp_mut().listen(7).unwrap();
    let mut now = Instant::from_millis(1);
    let end = now + limit;
    let mut silent = false;
    while now < end && core.app().closed.is_none() {
        now += Duration::from_millis(1);
        core.turn_at(now).unwrap();
        if silent {
            // The peer is gone: whatever reaches it is lost.
            peer_dev.rx_burst(64, |_, _| {}).unwrap();
        } else {
            peer_dev.rx_burst(64, |f, tx| peer.handle_frame(now, f, &mut TxSink::new(tx))).unwrap();
            while peer.tcp_mut().poll_event().is_some() {}
            silent = peer.tcp().stats().bytes_in > 0;
        }
        peer.poll_transmit(now, &mut TxSink::new(peer_dev.tx()));
        peer_dev.flush().unwrap();
    }
    (core.app().connected_at, core.app().closed)
}

#[test]
fn user_timeout_set_through_io_aborts_on_time() {
    let (connected, closed) = run(Some(Duration::from_secs(3)), Duration::from_secs(20));
    let connected = connected.expect("connected");
    let (reason, at) = closed.expect("the connection did not end within 20 s");
    assert_eq!(reason, CloseReason::UserTimeout);
    // The data went out at once; 3 s of silence then (1 ms steps).
    let after = at.saturating_duration_since(connected);
    assert!(after >= Duration::from_secs(3) && after <= Duration::from_millis(3010), "ended {after:?} after connecting");
}

#[test]
fn without_user_timeout_the_connection_lives_on() {
    let (connected, closed) = run(None, Duration::from_secs(20));
    assert!(connected.is_some());
    assert_eq!(closed, None, "ended without a user timeout");
}
