//! The accept backlog of the async API, in the deterministic simulation: a
//! client `Interface` and a `Core` running a `Runtime` whose listener has a
//! backlog of 2 and accepts nothing for its first second. Established
//! connections waiting for `accept()` count against the backlog, so the third
//! and fourth handshakes complete only once the task accepts; then every
//! connection is served.

use engine::mesh::mesh;
use engine::rss::Steering;
use engine::rt::{Handle, Runtime};
use engine::{Clock, Core, Net, TxSink};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use proto::iface::{Interface, InterfaceConfig};
use proto::tcp::{ConnId, TcpEvent};
use proto::time::{Duration, Instant};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xsk::{mem_pair, Device, MemDevice};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 7;

/// Echo server: backlog 2, sleeps 1 s before its first accept, then echoes
/// one message per connection.
fn server() -> Runtime {
    Runtime::new(|h: Handle| async move {
        let listener = h.bind_backlog(PORT, 2).expect("bind");
        h.sleep(Duration::from_secs(1)).await;
        loop {
            let Ok(mut s) = listener.accept().await else { break };
            h.spawn(async move {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf).await {
                    let _ = s.write_all(&buf[..n]).await;
                }
                let _ = s.close().await;
            });
        }
    })
}

#[test]
fn async_listener_backlog_holds_handshakes_until_accept() {
    let (a, b) = mem_pair(CLIENT_MAC, SERVER_MAC, 4096);
    let mut client = Interface::new(InterfaceConfig { mac: CLIENT_MAC, ipv4: vec![(CLIENT_IP, 24)], ..Default::default() });
    let server_iface = Interface::new(InterfaceConfig { mac: SERVER_MAC, ipv4: vec![(SERVER_IP, 24)], ..Default::default() });
    let net = Net::new(server_iface, 0, Arc::new(Steering::single()), Arc::new(AtomicBool::new(false)), 50000);
    let links = mesh(1, 1, 2048).unwrap().pop().unwrap();
    let mut core = Core::new(b, net, server(), links, Clock::new(), 0);
    let mut client_dev: MemDevice = a;
    let mut now = Instant::from_millis(1);
    let step = |now: &mut Instant, core: &mut Core<MemDevice, Runtime>, client: &mut Interface, dev: &mut MemDevice| {
        *now += Duration::from_millis(1);
        let t = *now;
        core.turn_at(t).unwrap();
        dev.rx_burst(64, |f, tx| client.handle_frame(t, f, &mut TxSink::new(tx))).unwrap();
        client.poll_transmit(t, &mut TxSink::new(dev.tx()));
        dev.flush().unwrap();
    };
    // Let the runtime start and bind.
    step(&mut now, &mut core, &mut client, &mut client_dev);
    let remote = SocketAddr::from((SERVER_IP, PORT));
    let conns: Vec<ConnId> = (0..4u16)
        .map(|i| client.connect(now, SocketAddr::from((CLIENT_IP, 40000 + i)), remote, &mut TxSink::new(client_dev.tx())).unwrap())
        .collect();
    let mut connected = Vec::new();
    let mut got = vec![Vec::new(); 4];
    let mut sent = [false; 4];
    let mut queues_while_asleep = None;
    for _ in 0..10_000 {
        step(&mut now, &mut core, &mut client, &mut client_dev);
        while let Some(ev) = client.tcp_mut().poll_event() {
            if let TcpEvent::Connected(c) = ev {
                connected.push(c);
            }
        }
        if now == Instant::from_millis(900) {
            let net = core.net();
            let tcp = net.iface().tcp();
            queues_while_asleep = Some((tcp.listener_queues(PORT).unwrap(), tcp.stats().established));
        }
        for (i, &c) in conns.iter().enumerate() {
            // A client whose handshake completed on its side sends at once; the
            // server's application sees it only after accept().
            if connected.contains(&c) && !sent[i] {
                client.tcp_mut().send_nodelay(c, format!("hello {i}").as_bytes()).unwrap();
                sent[i] = true;
            }
            let mut buf = [0u8; 64];
            while let Ok(n) = client.tcp_mut().recv(c, &mut buf) {
                got[i].extend_from_slice(&buf[..n]);
            }
        }
        if (0..4).all(|i| got[i] == format!("hello {i}").as_bytes()) {
            break;
        }
    }
    let (q, established) = queues_while_asleep.expect("observed at 900 ms");
    assert_eq!((q.accept_queue, q.backlog), (2, 2), "two connections wait for accept(): {q:?}");
    assert_eq!(established, 2, "a handshake completed beyond the backlog");
    let stats = core.net().iface().tcp().stats().clone();
    assert!(stats.accept_queue_full >= 2, "{stats:?}");
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g, format!("hello {i}").as_bytes(), "connection {i} not served: {:?}", String::from_utf8_lossy(g));
    }
    assert!(now > Instant::from_millis(1000), "served before the first accept()");
    assert_eq!(core.net().iface().tcp().listener_queues(PORT).unwrap().accept_queue, 0);
}
