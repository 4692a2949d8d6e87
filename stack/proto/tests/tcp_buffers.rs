//! Buffer memory in the pair simulator (`sim`, issue 13): receive-buffer
//! auto-tuning and the endpoint's memory bound (`TcpConfig::buffer_memory`).

mod sim;

use proto::tcp::{ConnId, TcpConfig, TcpEvent};
use proto::time::Duration;
use sim::*;
use std::net::SocketAddr;
use wire::tcp::TcpFlags;

/// Windows B advertised (scaled), in order, on non-SYN segments.
fn b_windows(s: &Sim, wscale: u8) -> Vec<u32> {
    s.log.iter().filter(|(_, g)| g.src == B_IP && !g.has(TcpFlags::SYN) && !g.has(TcpFlags::RST)).map(|(_, g)| u32::from(g.window) << wscale).collect()
}

/// A connection starts with `rx_buffer_initial` and, with an application that
/// reads everything at once, its window grows towards `rx_buffer` (it stayed at
/// a fixed 256 KiB before); the buffers go back to the pool once read.
#[test]
fn receive_window_grows_with_a_fast_reader() {
    let b_cfg = TcpConfig { rx_buffer: 1 << 20, rx_buffer_initial: 16 * 1024, ..TcpConfig::default() };
    let mut s = Sim::new(5, TcpConfig::default(), b_cfg);
    let (c, sc) = s.handshake(80);
    let wscale = s.b.negotiated(sc).unwrap().rcv_wscale;
    let mut up = Flow::new(pattern(8 << 20, 0x21), false);
    let mut down = Flow::new(Vec::new(), false);
    assert!(transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(60)), "seed 5: transfer did not finish");
    check_same(5, "up", &up.got, &up.data);
    let w = b_windows(&s, wscale);
    assert!(w[0] <= 16 * 1024, "first window {} above rx_buffer_initial", w[0]);
    let max = w.iter().copied().max().unwrap();
    eprintln!("windows advertised: first {}, largest {max}", w[0]);
    assert!(max >= 512 * 1024, "the window never grew past {max}");
    assert!(max <= 1 << 20, "window {max} above rx_buffer");
    s.sleep(Duration::from_secs(1));
    assert_eq!(s.b.memory().buffer_bytes, 0, "buffers held after everything was read");
    assert_eq!(s.a.memory().buffer_bytes, 0, "send buffers held after everything was acknowledged");
}

/// With the memory bound reached, the receiver's windows shrink to what its
/// pool can still give (data beyond is not acknowledged, never lost), a new
/// connection is dropped and counted (`conn_no_memory`), and once the
/// application reads, every byte arrives and the new connection gets in.
#[test]
fn memory_bound_shrinks_windows_and_refuses_connections() {
    let b_cfg = TcpConfig { buffer_memory: 256 * 1024, rx_buffer: 128 * 1024, rx_buffer_initial: 128 * 1024, ..TcpConfig::default() };
    let mut s = Sim::new(9, TcpConfig::default(), b_cfg);
    s.b.listen(80).unwrap();
    let remote = SocketAddr::new(B_IP, 80);
    let mut clients = Vec::new();
    for i in 0..4u16 {
        let mut out = Out::default();
        clients.push(s.a.connect(s.now, SocketAddr::new(A_IP, 40001 + i), remote, &mut out).unwrap());
        s.put(out);
    }
    let accepted = |s: &Sim| -> Vec<ConnId> {
        s.b_events
            .iter()
            .filter_map(|e| match e {
                TcpEvent::Accepted { conn, .. } => Some(*conn),
                _ => None,
            })
            .collect()
    };
    assert!(s.run(Duration::from_secs(5), |s| accepted(s).len() == 4), "4 handshakes");
    // Server handles in client order.
    let mut servers = accepted(&s);
    servers.sort_by_key(|&sc| s.b.remote(sc).unwrap().port());
    let mut flows: Vec<Flow> = (0..4).map(|i| Flow::new(pattern(100_000, i as u8), true)).collect();
    // B's application does not read for 3 s: 400 kB sent into 256 KiB of memory.
    s.run(Duration::from_secs(3), |s| {
        for (i, f) in flows.iter_mut().enumerate() {
            f.pump(&mut s.a, clients[i], &mut s.b, servers[i], 0);
        }
        false
    });
    let mem = s.b.memory();
    assert!(mem.buffer_bytes <= 256 * 1024, "buffers beyond the bound: {mem:?}");
    let held: usize = servers.iter().map(|&sc| s.b.recv_queue(sc)).sum();
    eprintln!("at the bound: {held} bytes held unread, {mem:?}, rx_no_memory {}", s.b.stats().rx_no_memory);
    assert!(held < 400_000 && held > 128 * 1024, "{held} bytes held");
    let zero = b_windows(&s, s.b.negotiated(servers[0]).unwrap().rcv_wscale).contains(&0);
    assert!(zero, "no zero window advertised at the bound");
    // A fifth connection finds no memory: its SYN is dropped and counted.
    let mut out = Out::default();
    let fifth = s.a.connect(s.now, SocketAddr::new(A_IP, 40010), remote, &mut out).unwrap();
    s.put(out);
    s.sleep(Duration::from_millis(500));
    assert!(s.b.stats().conn_no_memory >= 1, "the SYN was not counted: {:?}", s.b.stats());
    assert!(!s.a_events.contains(&TcpEvent::Connected(fifth)), "connected without memory");
    // The application reads: everything arrives, byte-exact, and the fifth
    // connection gets in with its SYN retransmission.
    let ok = s.run(Duration::from_secs(60), |s| {
        for (i, f) in flows.iter_mut().enumerate() {
            f.pump(&mut s.a, clients[i], &mut s.b, servers[i], usize::MAX);
        }
        flows.iter().all(Flow::done) && s.a_events.contains(&TcpEvent::Connected(fifth))
    });
    assert!(ok, "seed 9: flows or the fifth connection did not finish: {:?}", s.b.stats());
    for (i, f) in flows.iter().enumerate() {
        check_same(9, &format!("flow {i}"), &f.got, &f.data);
    }
    s.sleep(Duration::from_secs(1));
    assert_eq!(s.b.memory().buffer_bytes, 0);
}
