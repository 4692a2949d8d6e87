//! Interop, services: `xdpstack serve` with `http` (curl, wrk), `chargen`
//! (socat) and `sockperf` (the unmodified sockperf client, TCP and UDP) on a
//! veth with 2 queues, kernel clients in the peer namespace with their default
//! offloads. Needs root and the tools `make setup` installs; fails (never skips)
//! without them.

mod common;

use common::{in_netns, payload, Bed};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;


/// The tests of this file run one at a time: each runs busy-polling stacks and
/// load on a machine that may have only 2 CPUs, and latency figures measured
/// while another test's loops spin would be meaningless.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const STACK: &str = "198.18.0.2";

fn require_tool(t: &str) {
    let ok = std::process::Command::new("sh").arg("-c").arg(format!("command -v {t} >/dev/null")).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "this test needs `{t}`: run `make setup`");
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("xdpstack-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sha256_file(p: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))).to_vec()
}

/// A raw HTTP exchange from the peer namespace: send `req`, read until the server
/// closes or 2 s pass.
fn raw_http(bed: &Bed, req: &'static [u8]) -> String {
    in_netns(&bed.peer_ns, move || {
        let mut s = TcpStream::connect_timeout(&format!("{STACK}:80").parse().unwrap(), Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(req).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    })
}

#[test]
fn http_serves_files_byte_exact_to_curl_and_wrk() {
    let _serial = serial();
    require_tool("curl");
    require_tool("wrk");
    let bed = Bed::new(2);
    let www = TempDir::new("www");
    std::fs::write(www.path().join("index.html"), b"<h1>xdpstack</h1>\n").unwrap();
    for (name, len) in [("1k.bin", 1024usize), ("1m.bin", 1 << 20), ("100m.bin", 100 << 20)] {
        std::fs::write(www.path().join(name), payload(len, len as u64)).unwrap();
    }
    std::fs::create_dir_all(www.path().join("sub")).unwrap();
    std::fs::write(www.path().join("sub/page.txt"), b"nested\n").unwrap();
    let dir = www.path().to_str().unwrap().to_string();
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "http:80", "--www", &dir]);
    assert!(stack.seen.iter().any(|l| l.contains("files=5")), "ready line names the files: {:?}", stack.seen);

    let out = TempDir::new("curl");
    for name in ["1k.bin", "1m.bin", "100m.bin", "sub/page.txt", "index.html"] {
        let dst = out.path().join(name.replace('/', "_"));
        let (ok, msg) = bed.peer(&format!("curl -sS -m 60 --fail -o {} http://{STACK}/{name}", dst.display()));
        assert!(ok, "curl {name}: {msg}");
        assert_eq!(sha256_file(&dst), sha256_file(&www.path().join(name)), "{name} byte-exact");
    }
    // `/` is index.html; unknown names 404; HEAD has the length and no body.
    let (_, body) = bed.peer(&format!("curl -sS -m 5 http://{STACK}/"));
    assert_eq!(body, "<h1>xdpstack</h1>\n");
    let (_, code) = bed.peer(&format!("curl -s -m 5 -o /dev/null -w %{{http_code}} http://{STACK}/missing.bin"));
    assert_eq!(code.trim(), "404");
    let (_, head) = bed.peer(&format!("curl -sS -m 5 -I http://{STACK}/1m.bin"));
    assert!(head.starts_with("HTTP/1.1 200 OK") && head.contains("Content-Length: 1048576"), "{head}");
    // Keep-alive: curl fetches two names over one connection.
    let (ok, v) = bed.peer(&format!("curl -sS -v -m 5 -o /dev/null -o /dev/null http://{STACK}/1k.bin http://{STACK}/index.html"));
    assert!(ok && v.contains("Re-using existing connection"), "keep-alive: {v}");
    // Bad requests: 400 and close; pipelined requests answered in order.
    let r = raw_http(&bed, b"GARBAGE\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400 Bad Request") && r.contains("Connection: close"), "{r}");
    let r = raw_http(&bed, b"GET / HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "HTTP/1.1 without Host: {r}");
    let r = raw_http(&bed, b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let statuses: Vec<&str> = r.lines().filter(|l| l.starts_with("HTTP/1.1 ")).collect();
    assert_eq!(statuses, ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 405 Method Not Allowed"], "{r}");

    // A short wrk run: many requests, no error.
    let (ok, w) = bed.peer(&format!("wrk -t1 -c8 -d1s http://{STACK}/1k.bin"));
    assert!(ok, "wrk: {w}");
    let requests: u64 = w.lines().find_map(|l| l.split_whitespace().next().filter(|_| l.contains("requests in")).and_then(|n| n.parse().ok())).unwrap_or(0);
    assert!(requests > 1000, "wrk made {requests} requests: {w}");
    assert!(!w.contains("Socket errors") && !w.contains("Non-2xx"), "wrk saw errors: {w}");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// A field of ApacheBench's report (`Complete requests:      2000` → 2000).
fn ab_field(report: &str, name: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("ab report lacks {name:?}: {report}"))
}

/// ApacheBench with keep-alive (`ab -k`): HTTP/1.0 requests with `Connection:
/// Keep-Alive`. It reuses a connection only when the answer says
/// `Connection: keep-alive` (RFC 9112 Appendix C.2.2); without it, it waits
/// for a close and never completes (issue 21).
#[test]
fn http_keep_alive_to_apachebench() {
    let _serial = serial();
    require_tool("ab");
    let bed = Bed::new(2);
    let www = TempDir::new("www-ab");
    std::fs::write(www.path().join("1k.bin"), payload(1024, 1)).unwrap();
    let dir = www.path().to_str().unwrap().to_string();
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "http:80", "--www", &dir]);
    // -s 10: a stalled connection fails the run after 10 s instead of hanging;
    // `timeout` bounds the whole run.
    let (ok, r) = bed.peer(&format!("timeout 60 ab -k -n 2000 -c 100 -s 10 http://{STACK}/1k.bin"));
    assert!(ok, "ab -k -n 2000 -c 100 did not complete: {r}");
    assert_eq!(ab_field(&r, "Complete requests:"), 2000, "{r}");
    assert_eq!(ab_field(&r, "Failed requests:"), 0, "{r}");
    assert_eq!(ab_field(&r, "Keep-Alive requests:"), 2000, "every request on a kept-alive connection: {r}");
    assert_eq!(ab_field(&r, "Document Length:"), 1024, "{r}");
    assert!(!r.contains("Non-2xx"), "{r}");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn http_flag_errors() {
    let _serial = serial();
    let bed = Bed::new(1);
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    for (args, want) in [
        (vec!["--service", "http:80"], "--www"),
        (vec!["--service", "echo:7", "--www", "/tmp"], "http"),
        (vec!["--service", "http:80", "--www", "/nonexistent-dir-xdpstack"], "/nonexistent-dir-xdpstack"),
        (vec!["--service", "sockperf:7", "--service", "udp-echo:7"], "UDP port 7"),
    ] {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &bed.stack_ns, bin, "serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// The first `n` bytes chargen must send (RFC 864: lines of 72 characters of the
/// 95 printable ones, each line one further, CR LF).
fn chargen_expected(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let mut line = 0u32;
    while v.len() < n {
        for i in 0..72 {
            v.push(b' ' + ((line + i) % 95) as u8);
        }
        v.extend_from_slice(b"\r\n");
        line += 1;
    }
    v.truncate(n);
    v
}

#[test]
fn chargen_and_sockperf() {
    let _serial = serial();
    require_tool("socat");
    require_tool("sockperf");
    let bed = Bed::new(2);
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "chargen:19", "--service", "sockperf:11111"]);
    // chargen read by socat: 500,000 bytes, exactly the pattern (several cycles).
    let (ok, out) = bed.peer(&format!("sh -c 'timeout 10 socat -u TCP:{STACK}:19 - | head -c 500000 | sha256sum'"));
    assert!(ok, "{out}");
    let want = hex(&Sha256::digest(chargen_expected(500_000)));
    assert!(out.starts_with(&want), "chargen bytes differ from RFC 864's pattern: {out}");

    // sockperf ping-pong, TCP then UDP: valid latencies from the real client.
    for tcp in [true, false] {
        let (ok, out) = bed.peer(&format!("timeout 30 sockperf ping-pong {} -i {STACK} -p 11111 -t 2 -m 64", if tcp { "--tcp" } else { "" }));
        assert!(ok, "sockperf (tcp={tcp}): {out}");
        assert!(!out.contains("No messages were received"), "{out}");
        let lat: f64 = out
            .lines()
            .find_map(|l| l.split("Latency is ").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no latency summary: {out}"));
        assert!(lat > 0.0 && lat < 100_000.0, "latency {lat} usec");
        let observations: u64 = out
            .lines()
            .find_map(|l| l.split("Total ").nth(1).filter(|r| r.contains("observations")))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.trim_start_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .unwrap_or_else(|| panic!("no observation count: {out}"));
        assert!(observations > 20, "only {observations} round trips (tcp={tcp}): {out}");
    }
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
