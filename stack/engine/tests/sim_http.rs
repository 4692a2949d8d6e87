//! Deterministic simulation of the `http` service: a client `Interface` and a
//! `Core` serving two files, joined by the in-memory device pair, on a virtual
//! clock. Checks the persistence signalling of RFC 9112 §9.3 and its HTTP/1.0
//! form (RFC 9112 Appendix C.2.2): an HTTP/1.0 client that asks for
//! `Connection: keep-alive` (ApacheBench `ab -k`) must see `Connection:
//! keep-alive` in the answer, or it waits for a close that never comes.

use engine::http::Site;
use engine::mesh::mesh;
use engine::rss::Steering;
use engine::{Clock, Core, Net, Service, ServiceKind, Services, TxSink};
use proto::iface::{Interface, InterfaceConfig};
use proto::tcp::{ConnId, RecvError, TcpEvent};
use proto::time::{Duration, Instant};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xsk::{mem_pair, Device, MemDevice};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const INDEX: &[u8] = b"<h1>xdpstack</h1>\n";

struct Sim {
    now: Instant,
    client_dev: MemDevice,
    client: Interface,
    server: Core<MemDevice, Services>,
    next_port: u16,
}

/// One response as the client read it.
#[derive(Debug)]
struct Response {
    /// Status line and header lines (without the empty line).
    head: Vec<String>,
    body: Vec<u8>,
    /// Did the server close the connection (FIN) after the response?
    closed: bool,
}

impl Response {
    /// The values of header `name` (case-insensitive name).
    fn header(&self, name: &str) -> Vec<&str> {
        self.head[1..]
            .iter()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }
}

impl Sim {
    fn new() -> Sim {
        let (a, b) = mem_pair(CLIENT_MAC, SERVER_MAC, 4096);
        let client = Interface::new(InterfaceConfig { mac: CLIENT_MAC, ipv4: vec![(CLIENT_IP, 24)], ..Default::default() });
        let server_iface = Interface::new(InterfaceConfig { mac: SERVER_MAC, ipv4: vec![(SERVER_IP, 24)], ..Default::default() });
        let site = Site::from_files([("/index.html".to_string(), INDEX.to_vec()), ("/1k.bin".to_string(), vec![7u8; 1024])]);
        let services = [Service { kind: ServiceKind::Http, port: 80 }];
        let net = Net::new(server_iface, 0, Arc::new(Steering::single()), Arc::new(AtomicBool::new(false)), 50000);
        let links = mesh(1, 1, 2048).unwrap().pop().unwrap();
        let server = Core::new(b, net, Services::with_site(&services, Arc::new(site)), links, Clock::new(), 0);
        Sim { now: Instant::from_millis(1), client_dev: a, client, server, next_port: 40000 }
    }

    /// Advance the virtual clock by `step` and run both sides once.
    fn step(&mut self) {
        self.now += Duration::from_micros(50);
        let now = self.now;
        self.server.turn_at(now).unwrap();
        let client = &mut self.client;
        self.client_dev.rx_burst(64, |f, tx| client.handle_frame(now, f, &mut TxSink::new(tx))).unwrap();
        self.client.poll_transmit(now, &mut TxSink::new(self.client_dev.tx()));
        self.client_dev.flush().unwrap();
    }

    /// Open a connection to port 80 and wait until it is established.
    fn connect(&mut self) -> ConnId {
        let local = SocketAddr::from((CLIENT_IP, self.next_port));
        self.next_port += 1;
        let now = self.now;
        let conn = self.client.connect(now, local, SocketAddr::from((SERVER_IP, 80)), &mut TxSink::new(self.client_dev.tx())).unwrap();
        for _ in 0..100_000 {
            self.step();
            while let Some(ev) = self.client.tcp_mut().poll_event() {
                if ev == TcpEvent::Connected(conn) {
                    return conn;
                }
            }
        }
        panic!("no connection to the http service");
    }

    /// Send `req` on `conn` and read one response (head, then `Content-Length`
    /// bytes of body unless `head_only`); then run a while longer to see
    /// whether the server closes.
    fn exchange(&mut self, conn: ConnId, req: &[u8], head_only: bool) -> Response {
        let mut sent = 0;
        let mut got = Vec::new();
        let mut eof = false;
        let mut buf = vec![0u8; 65536];
        let mut done_at = None;
        for i in 0..200_000 {
            self.step();
            while self.client.tcp_mut().poll_event().is_some() {}
            if sent < req.len() {
                sent += self.client.tcp_mut().send(conn, &req[sent..]).unwrap();
            }
            loop {
                match self.client.tcp_mut().recv(conn, &mut buf) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(RecvError::WouldBlock) => break,
                    Err(RecvError::Eof) => {
                        eof = true;
                        break;
                    }
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
            if done_at.is_none() && complete(&got, head_only).is_some() {
                done_at = Some(i);
            }
            // 20 ms of virtual time after the response for a FIN to come.
            if eof || done_at.is_some_and(|d| i > d + 400) {
                break;
            }
        }
        let end = complete(&got, head_only).unwrap_or_else(|| panic!("no complete response to {:?}: {:?}", String::from_utf8_lossy(req), String::from_utf8_lossy(&got)));
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(got[..head_end].to_vec()).unwrap().split("\r\n").map(str::to_string).collect();
        assert_eq!(end, got.len(), "nothing after the response: {:?}", String::from_utf8_lossy(&got));
        Response { head, body: got[head_end + 4..end].to_vec(), closed: eof }
    }
}

/// Where the first response in `buf` ends, if it is complete.
fn complete(buf: &[u8], head_only: bool) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let len: usize = head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap()))?;
    let end = head_end + if head_only { 0 } else { len };
    (buf.len() >= end).then_some(end)
}

#[test]
fn http10_keep_alive_is_acknowledged_and_kept() {
    let mut sim = Sim::new();
    let conn = sim.connect();
    // ApacheBench's request with -k, three times on one connection.
    for _ in 0..3 {
        let r = sim.exchange(conn, b"GET /1k.bin HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: 198.18.0.2\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n", false);
        assert_eq!(r.head[0], "HTTP/1.1 200 OK");
        assert_eq!(r.body, vec![7u8; 1024]);
        assert_eq!(r.header("connection"), ["keep-alive"], "a persistent answer to HTTP/1.0 says so: {:?}", r.head);
        assert!(!r.closed, "the connection stays open");
    }
    // Also for HEAD, 404 and 405 (any persistent answer).
    let r = sim.exchange(conn, b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true);
    assert_eq!((r.head[0].as_str(), r.header("connection")), ("HTTP/1.1 200 OK", vec!["keep-alive"]), "{:?}", r.head);
    assert_eq!(r.header("content-length"), [INDEX.len().to_string()]);
    let r = sim.exchange(conn, b"GET /missing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false);
    assert_eq!((r.head[0].as_str(), r.header("connection")), ("HTTP/1.1 404 Not Found", vec!["keep-alive"]), "{:?}", r.head);
    let r = sim.exchange(conn, b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false);
    assert_eq!((r.head[0].as_str(), r.header("connection")), ("HTTP/1.1 405 Method Not Allowed", vec!["keep-alive"]), "{:?}", r.head);
    assert!(!r.closed);
    // A later request on the same connection without keep-alive ends it.
    let r = sim.exchange(conn, b"GET / HTTP/1.0\r\n\r\n", false);
    assert_eq!(r.body, INDEX);
    assert_eq!(r.header("connection"), ["close"]);
    assert!(r.closed, "HTTP/1.0 without keep-alive: the server closes");
}

#[test]
fn http11_persistence_unchanged() {
    let mut sim = Sim::new();
    let conn = sim.connect();
    for _ in 0..2 {
        let r = sim.exchange(conn, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        assert_eq!(r.head[0], "HTTP/1.1 200 OK");
        assert_eq!(r.body, INDEX);
        assert!(r.header("connection").is_empty(), "HTTP/1.1 persists by default, no Connection header: {:?}", r.head);
        assert!(!r.closed);
    }
    // HTTP/1.1 with an explicit keep-alive: still no header needed.
    let r = sim.exchange(conn, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", false);
    assert!(r.header("connection").is_empty(), "{:?}", r.head);
    let r = sim.exchange(conn, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false);
    assert_eq!(r.header("connection"), ["close"]);
    assert!(r.closed);
}

#[test]
fn http10_without_keep_alive_and_bad_requests_close() {
    let mut sim = Sim::new();
    let conn = sim.connect();
    let r = sim.exchange(conn, b"GET / HTTP/1.0\r\n\r\n", false);
    assert_eq!(r.header("connection"), ["close"]);
    assert!(r.closed);
    // keep-alive and close together: close wins.
    let conn = sim.connect();
    let r = sim.exchange(conn, b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false);
    assert_eq!(r.header("connection"), ["close"]);
    assert!(r.closed);
    // A bad request closes even when it asked for keep-alive.
    let conn = sim.connect();
    let r = sim.exchange(conn, b"GET x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false);
    assert_eq!(r.head[0], "HTTP/1.1 400 Bad Request");
    assert_eq!(r.header("connection"), ["close"]);
    assert!(r.closed);
}
