//! Interop at scale (issue 13): 10,000 concurrent kernel connections to
//! `xdpstack serve --service echo:7`, each echoing a short message byte-exact,
//! all open at once (`stats --json` counts 10,000 flows), then closed by the
//! clients: no flow is left. The resident memory of the stack process is
//! measured before, with all connections open and idle (before and after the
//! echoes) and after closing (figures for docs/results.md; only a generous
//! bound is asserted). Needs root
//! (`make test`); fails, never skips.

mod common;

use common::{in_netns, Bed};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const STACK: &str = "198.18.0.2";
const N: usize = 10_000;

fn counter(total: &Value, key: &str) -> u64 {
    total[key].as_u64().unwrap_or_else(|| panic!("no counter {key} in {total}"))
}

/// Resident set of a process, bytes (`VmRSS` of /proc/PID/status).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"));
    kb * 1024
}

/// Raise this process's open-file limit to at least `n` (root may raise the
/// hard limit).
fn raise_nofile(n: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            lim.rlim_cur = n;
            lim.rlim_max = lim.rlim_max.max(n);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0, "setrlimit(RLIMIT_NOFILE, {n}): {}", std::io::Error::last_os_error());
        }
    }
}

/// Wait (bounded) until `flows` in the stats is `want`; returns the last value.
fn wait_flows(bed: &Bed, want: u64, limit: Duration) -> u64 {
    let end = Instant::now() + limit;
    loop {
        let f = counter(&bed.stats_total(), "flows");
        if f == want || Instant::now() > end {
            return f;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ten_thousand_concurrent_echo_connections() {
    let bed = Bed::new(1);
    raise_nofile(N as u64 + 1024);
    let _ = bed.peer("sysctl -qw net.ipv4.ip_local_port_range='20000 60999'");
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7"]);
    let pid = stack.child.id();
    let rss_start = rss(pid);
    let t0 = Instant::now();
    let addr: SocketAddr = format!("{STACK}:7").parse().unwrap();

    // Open all, then use all: every connection is open at once.
    let (streams, failures) = in_netns(&bed.peer_ns, move || {
        let mut streams = Vec::with_capacity(N);
        let mut failures = Vec::new();
        for i in 0..N {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
                Ok(s) => streams.push((i, s)),
                Err(e) => failures.push(format!("connect {i}: {e}")),
            }
        }
        (streams, failures)
    });
    assert!(failures.is_empty(), "{} connects failed, first: {:?}", failures.len(), failures.first());
    let connected = t0.elapsed();
    // All established and idle, no data yet: the cost of an idle connection.
    let open = wait_flows(&bed, N as u64, Duration::from_secs(10));
    assert_eq!(open, N as u64, "flows once all {N} connections are open");
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = rss(pid);
    let mut bad = Vec::new();
    for (i, s) in &streams {
        let msg = format!("connection {i:05} says hello");
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        if let Err(e) = (&*s).write_all(msg.as_bytes()) {
            bad.push(format!("write {i}: {e}"));
        }
    }
    for (i, s) in &streams {
        let msg = format!("connection {i:05} says hello");
        let mut got = vec![0u8; msg.len()];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        match (&*s).read_exact(&mut got) {
            Ok(()) if got == msg.as_bytes() => {}
            Ok(()) => bad.push(format!("echo {i}: {:?}", String::from_utf8_lossy(&got))),
            Err(e) => bad.push(format!("read {i}: {e}")),
        }
    }
    let echoed = t0.elapsed();
    assert!(bad.is_empty(), "{} connections not echoed exactly, first: {:?}", bad.len(), bad.first());
    assert_eq!(counter(&bed.stats_total(), "flows"), N as u64, "flows after the echoes");
    // Idle again; the buffer chunks the echoes used are back in the pool (which
    // keeps them for reuse).
    std::thread::sleep(Duration::from_millis(500));
    let rss_open = rss(pid);

    // The clients close; the echo service closes its side on Eof.
    drop(streams);
    let left = wait_flows(&bed, 0, Duration::from_secs(30));
    let closed = t0.elapsed();
    let rss_end = rss(pid);
    let total = bed.stats_total();
    let per_idle = rss_idle.saturating_sub(rss_start) as f64 / N as f64;
    let per_conn = rss_open.saturating_sub(rss_start) as f64 / N as f64;
    eprintln!(
        "{N} echo connections: connected in {connected:?}, echoed by {echoed:?}, all closed by {closed:?}; \
         stack RSS {} kB at start, {} kB with {N} idle before any data ({per_idle:.0} B per connection), \
         {} kB after each echoed once ({per_conn:.0} B per connection, pool chunks kept), {} kB after closing; \
         conn_table_full {} conn_no_memory {}",
        rss_start / 1024,
        rss_idle / 1024,
        rss_open / 1024,
        rss_end / 1024,
        counter(&total, "tcp_conn_table_full"),
        counter(&total, "tcp_conn_no_memory"),
    );
    assert_eq!(left, 0, "flows left after every client closed");
    assert_eq!(counter(&total, "tcp_conn_table_full"), 0);
    assert!(rss_open < rss_start + (100 << 20), "RSS grew by more than 100 MB for {N} connections");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}
