//! `kernel-echo` and `kernel-rr` against each other on loopback (no root needed):
//! echo of every byte with half-close, a short RR run in text and JSON form, and the
//! exit status when nothing answers. Functional checks only: no speed is asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running kernel-echo on 127.0.0.1 (an ephemeral port); killed on drop.
struct Echo {
    child: Child,
    addr: String,
}

impl Echo {
    fn start() -> Echo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kernel-echo"))
            .args(["--listen", "127.0.0.1:0", "--duration", "60"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn kernel-echo");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("read ready line");
        let addr = line.trim().strip_prefix("ready listen=").unwrap_or_else(|| panic!("no ready line: {line:?}")).to_string();
        Echo { child, addr }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn echo_returns_every_byte_and_closes_after_half_close() {
    let echo = Echo::start();
    let mut s = TcpStream::connect(&echo.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut w = s.try_clone().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    s.read_to_end(&mut back).expect("read until the server's FIN");
    writer.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echoed bytes differ");
}

#[test]
fn rr_reports_transactions_in_text_and_json() {
    let echo = Echo::start();
    let rr = env!("CARGO_BIN_EXE_kernel-rr");
    let out = Command::new(rr)
        .args(["--to", &echo.addr, "--flows", "4", "--threads", "2", "--size", "100", "--duration", "0.3", "--warmup", "0.1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "kernel-rr failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(v["kind"], "rr");
    assert_eq!(v["unit"], "trans/s");
    assert_eq!(v["flows"], 4);
    assert_eq!(v["size"], 100);
    assert_eq!(v["errors"], 0);
    assert!(v["rate"].as_f64().unwrap() > 0.0);
    for k in ["p50_us", "p99_us", "p999_us"] {
        assert!(v[k].as_f64().is_some(), "{k} missing in {line}");
    }

    let out = Command::new(rr).args(["--to", &echo.addr, "--duration", "0.2", "--warmup", "0"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("trans/s") && text.contains("errors 0"), "{text}");
}

#[test]
fn rr_fails_when_nothing_answers() {
    // Bind and drop a listener to get a port that (almost certainly) refuses.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_kernel-rr"))
        .args(["--to", &format!("127.0.0.1:{port}"), "--duration", "0.2", "--connect-timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting flow 0"));
}
