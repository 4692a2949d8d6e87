//! Interop, load generators: `xdpstack load rr|crr|bulk|udp` on a veth with 2
//! queues (flows on both cores) against kernel servers in the peer namespace
//! (default offloads) and against another xdpstack serving echo, the `--json`
//! summaries parsed and checked against what the servers saw. Needs root; fails
//! (never skips) without it.

mod common;

use common::{Bed, Stack};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;


/// The tests of this file run one at a time: each runs busy-polling stacks and
/// load on a machine that may have only 2 CPUs, and latency figures measured
/// while another test's loops spin would be meaningless.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const PEER: &str = "198.18.0.1";

/// Run `f` on a new thread inside network namespace `ns` (not joined).
fn spawn_in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on a valid namespace fd, affecting only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
        f()
    })
}

/// A kernel TCP echo server in the peer namespace (a thread per connection),
/// counting the connections it accepted and the bytes it echoed.
struct KernelEcho {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl KernelEcho {
    fn start(bed: &Bed, port: u16) -> KernelEcho {
        KernelEcho::start_on(bed, PEER, port)
    }

    fn start_on(bed: &Bed, addr: &'static str, port: u16) -> KernelEcho {
        let (stop, accepted, bytes) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, a, b) = (stop.clone(), accepted.clone(), bytes.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = spawn_in_netns(&bed.peer_ns, move || {
            let l = TcpListener::bind((addr, port)).expect("bind the kernel echo server");
            l.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        a.fetch_add(1, Ordering::Relaxed);
                        c.set_nonblocking(false).unwrap();
                        c.set_nodelay(true).unwrap();
                        let b = b.clone();
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16384];
                            while let Ok(n) = c.read(&mut buf) {
                                if n == 0 || c.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                                b.fetch_add(n as u64, Ordering::Relaxed);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("kernel echo server listening");
        KernelEcho { stop, accepted, bytes, thread: Some(thread) }
    }
}

impl Drop for KernelEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `xdpstack load ARGS` in the stack namespace, bounded in time.
fn load(bed: &Bed, args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let mut cmd = vec!["timeout", "60", "ip", "netns", "exec", &bed.stack_ns, bin, "load"];
    cmd.extend_from_slice(args);
    let out = Command::new(cmd[0]).args(&cmd[1..]).output().expect("run xdpstack load");
    eprintln!("[load {args:?}] exit {:?}\n{}{}", out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// The `--json` summary: the last line of stdout; also returns every line.
fn summary(out: &Output) -> (Value, Vec<Value>) {
    assert!(out.status.success(), "xdpstack load failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let last = lines.last().expect("output lines").clone();
    for k in ["kind", "rate", "unit", "bytes", "errors", "p50_us", "p99_us", "p999_us"] {
        assert!(last.get(k).is_some(), "the summary lacks {k}: {last}");
    }
    (last, lines)
}

fn common_args<'a>(bed: &'a Bed, ip: &'a str) -> Vec<&'a str> {
    vec!["--iface", &bed.stack_if, "--ip", ip, "--json"]
}

#[test]
fn rr_and_crr_against_a_kernel_echo_server() {
    let _serial = serial();
    let bed = Bed::new(2);
    let echo = KernelEcho::start(&bed, 7);
    let to = format!("{PEER}:7");
    let mut args = common_args(&bed, "198.18.0.2/24");
    args.extend(["--to", &to, "--flows", "8", "--duration", "2", "--size", "100", "--verify"]);
    let (s, lines) = summary(&load(&bed, &[&["rr"], &args[..]].concat()));
    assert_eq!(s["kind"], "rr");
    assert_eq!(s["unit"], "trans/s");
    assert_eq!(s["errors"], 0, "{s}");
    let done = s["completed"].as_u64().unwrap();
    assert!(done >= 200, "only {done} transactions in 2 s: {s}");
    assert!(s["rate"].as_f64().unwrap() > 0.0);
    // Every transaction moved 100 bytes each way and the echo saw them all.
    assert_eq!(s["bytes"].as_u64().unwrap(), done * 100, "{s}");
    assert!(echo.bytes.load(Ordering::Relaxed) >= done * 100);
    let (p50, p99, p999) = (s["p50_us"].as_u64().unwrap(), s["p99_us"].as_u64().unwrap(), s["p999_us"].as_u64().unwrap());
    assert!(p50 > 0 && p50 <= p99 && p99 <= p999, "{s}");
    assert!(lines.iter().any(|l| l["event"] == "progress"), "a progress line each second");
    assert_eq!(echo.accepted.load(Ordering::Relaxed), 8, "8 flows, 8 connections");

    // crr: exactly --count connections, each one request/response, over 4 flows.
    let before = echo.accepted.load(Ordering::Relaxed);
    let mut args = common_args(&bed, "198.18.0.2/24");
    args.extend(["--to", &to, "--flows", "4", "--count", "300", "--verify"]);
    let (s, _) = summary(&load(&bed, &[&["crr"], &args[..]].concat()));
    assert_eq!(s["unit"], "conn/s");
    assert_eq!(s["completed"], 300, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert_eq!(s["bytes"], 300 * 64, "{s}");
    assert_eq!(echo.accepted.load(Ordering::Relaxed) - before, 300, "the kernel accepted one connection per transaction");
}

/// The value of `key=` in a text `ready` line.
fn ready_field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace().find_map(|f| f.strip_prefix(key).and_then(|v| v.strip_prefix('='))).unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// The CPUs this process may run on (`Cpus_allowed_list` of /proc/self/status,
/// e.g. `0-3,6`); the stacks it starts inherit them.
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).expect("Cpus_allowed_list").trim().to_string();
    let mut v = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => v.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()),
            None => v.push(part.parse().unwrap()),
        }
    }
    v
}

/// The issue 21 case: `load` on one end of a veth, `serve` on the other, both
/// with default flags. The second stack pins its loop to a CPU the first does
/// not spin on (both name theirs in `ready`: `cpus=N pin=free`).
#[test]
fn rr_between_two_stacks() {
    let _serial = serial();
    let bed = Bed::new(2);
    // The other end of the veth runs xdpstack's echo service (its own address;
    // the peer kernel keeps 198.18.0.1). One loop each: on a 2-CPU host two
    // stacks of 2 loops would find no free CPU for the second.
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let mut server = Stack::spawn_ready(
        Command::new("ip").args(["netns", "exec", &bed.peer_ns, bin, "serve", "--iface", &bed.peer_if, "--ip", "198.18.0.3/24", "--service", "echo:7", "--queues", "1"]),
    );
    let ready = server.seen.last().unwrap().clone();
    assert_eq!(ready_field(&ready, "pin"), "free", "{ready}");
    let server_cpu: u64 = ready_field(&ready, "cpus").parse().unwrap();
    let mut args = common_args(&bed, "198.18.0.2/24");
    args.extend(["--queues", "1", "--to", "198.18.0.3:7", "--flows", "16", "--duration", "2", "--verify"]);
    let (s, lines) = summary(&load(&bed, &[&["rr"], &args[..]].concat()));
    let ready = lines.iter().find(|l| l["event"] == "ready").expect("a ready line");
    assert_eq!(ready["pin"], "free", "{ready}");
    assert_eq!(ready["cpus"].as_array().unwrap().len(), 1, "{ready}");
    assert_ne!(ready["cpus"][0].as_u64(), Some(server_cpu), "load's loop avoids the CPU serve spins on: {ready}");
    assert!(ready["cpus_busy"].as_array().unwrap().iter().any(|c| c.as_u64() == Some(server_cpu)), "{ready}");
    assert_eq!(s["errors"], 0, "{s}");
    let done = s["completed"].as_u64().unwrap();
    assert!(done >= 1000, "{s}");
    assert_eq!(s["bytes"].as_u64().unwrap(), done * 64);
    // crr stack to stack: exactly --count connections, each closed cleanly.
    let mut args = common_args(&bed, "198.18.0.2/24");
    args.extend(["--queues", "1", "--to", "198.18.0.3:7", "--flows", "4", "--count", "200", "--verify"]);
    let (s, _) = summary(&load(&bed, &[&["crr"], &args[..]].concat()));
    assert_eq!(s["completed"], 200, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    let (code, _) = server.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn bulk_both_ways_against_socat() {
    let _serial = serial();
    let bed = Bed::new(2);
    let dir = std::env::temp_dir().join(format!("xdpstack-bulk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("received");
    // A sink that writes what one connection sends into a file, then exits.
    let mut sink = Command::new("ip")
        .args(["netns", "exec", &bed.peer_ns, "socat", "-u", &format!("TCP-LISTEN:5001,bind={PEER},reuseaddr"), &format!("CREATE:{}", file.display())])
        .spawn()
        .expect("socat (make setup installs it)");
    std::thread::sleep(Duration::from_millis(300));
    let mut args = common_args(&bed, "198.18.0.2/24");
    let to = format!("{PEER}:5001");
    args.extend(["--to", &to, "--flows", "1", "--duration", "1", "--direction", "send"]);
    let (s, _) = summary(&load(&bed, &[&["bulk"], &args[..]].concat()));
    assert_eq!(s["unit"], "Gb/s");
    assert_eq!(s["errors"], 0, "{s}");
    let sent = s["bytes"].as_u64().unwrap();
    assert!(sent > 1_000_000, "{s}");
    let _ = sink.wait();
    // Sent means acknowledged: the close completed, socat has every byte.
    assert_eq!(std::fs::metadata(&file).unwrap().len(), sent, "socat received exactly what load reported");

    // recv: socat sends zeros until we reset at the end.
    let mut source = Command::new("ip")
        .args(["netns", "exec", &bed.peer_ns, "socat", "-u", "OPEN:/dev/zero", &format!("TCP-LISTEN:5002,bind={PEER},reuseaddr")])
        .spawn()
        .expect("socat");
    std::thread::sleep(Duration::from_millis(300));
    let mut args = common_args(&bed, "198.18.0.2/24");
    let to = format!("{PEER}:5002");
    args.extend(["--to", &to, "--flows", "1", "--duration", "1", "--direction", "recv"]);
    let (s, _) = summary(&load(&bed, &[&["bulk"], &args[..]].concat()));
    assert!(s["bytes"].as_u64().unwrap() > 1_000_000, "{s}");
    assert!(s["rate"].as_f64().unwrap() > 0.0);
    let _ = source.kill();
    let _ = source.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn udp_against_a_kernel_echo_socket() {
    let _serial = serial();
    let bed = Bed::new(2);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let (st, an) = (stop.clone(), answered.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = spawn_in_netns(&bed.peer_ns, move || {
        let s = UdpSocket::bind((PEER, 9)).expect("bind UDP echo");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 2048];
        while !st.load(Ordering::Relaxed) {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
                an.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let mut args = common_args(&bed, "198.18.0.2/24");
    let to = format!("{PEER}:9");
    args.extend(["--to", &to, "--flows", "8", "--count", "5000", "--size", "200", "--verify"]);
    let (s, _) = summary(&load(&bed, &[&["udp"], &args[..]].concat()));
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert_eq!(s["unit"], "pkt/s");
    let (done, errors) = (s["completed"].as_u64().unwrap(), s["errors"].as_u64().unwrap());
    // veth loses nothing: every datagram answered (a lost one would be an error).
    assert_eq!(errors, 0, "{s}");
    assert_eq!(done, 5000, "{s}");
    assert_eq!(s["bytes"].as_u64().unwrap(), 5000 * 200);
    assert!(answered.load(Ordering::Relaxed) >= 5000);
}

#[test]
fn refused_and_bad_flags() {
    let _serial = serial();
    let bed = Bed::new(1);
    let mut args = common_args(&bed, "198.18.0.2/24");
    args.extend(["--to", "198.18.0.1:9", "--flows", "2", "--duration", "1"]);
    let out = load(&bed, &[&["rr"], &args[..]].concat());
    assert_eq!(out.status.code(), Some(1), "nothing completed: exit 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused"), "says the server refused: {err}");
    let (s, _) = (serde_json::from_str::<Value>(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap(), ());
    assert_eq!(s["errors"], 2, "both flows refused: {s}");

    let out = load(&bed, &["rr", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--to", "198.18.0.1:7", "--duration", "1", "--count", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--count"));
    let out = load(&bed, &["rr", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--to", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!bed.stack_has_xdp(), "nothing left attached");
}

#[test]
fn rr_over_ipv6() {
    let _serial = serial();
    let bed = Bed::new(2);
    bed.enable_ipv6();
    let echo = KernelEcho::start_on(&bed, "2001:db8::1", 7);
    let mut args = vec!["--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--ip6", "2001:db8::2/64", "--json"];
    args.extend(["--to", "[2001:db8::1]:7", "--flows", "4", "--count", "2000", "--verify"]);
    let (s, _) = summary(&load(&bed, &[&["rr"], &args[..]].concat()));
    assert_eq!(s["completed"], 2000, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert_eq!(echo.accepted.load(Ordering::Relaxed), 4);
    assert_eq!(echo.bytes.load(Ordering::Relaxed), 2000 * 64);
}

/// Default CPUs on a host with other stacks: each new stack takes a CPU none
/// of the running ones uses; when every CPU is taken (here by a stack given
/// all of them with `--cores`), a stack without `--cores` refuses in one line
/// naming `--cores`, and one with `--cores` starts (explicit CPUs always win).
#[test]
fn stacks_take_free_cpus_or_refuse() {
    let _serial = serial();
    let allowed = allowed_cpus();
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let bed = Bed::new(1);
    let serve = |ns: &str, iface: &str, ip: &str, extra: &[&str]| {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, bin, "serve", "--iface", iface, "--ip", ip, "--service", "echo:7"]).args(extra);
        cmd
    };
    let a = Stack::spawn_ready(&mut serve(&bed.stack_ns, &bed.stack_if, "198.18.0.2/24", &[]));
    let ready_a = a.seen.last().unwrap().clone();
    let b = Stack::spawn_ready(&mut serve(&bed.peer_ns, &bed.peer_if, "198.18.0.3/24", &[]));
    let ready_b = b.seen.last().unwrap().clone();
    let (cpu_a, cpu_b) = (ready_field(&ready_a, "cpus"), ready_field(&ready_b, "cpus"));
    assert_eq!((ready_field(&ready_a, "pin"), ready_field(&ready_b, "pin")), ("free", "free"));
    if allowed.len() >= 2 {
        assert_ne!(cpu_a, cpu_b, "two stacks, two CPUs: {ready_a} / {ready_b}");
    }
    // A third stack given every CPU (one loop per CPU, up to 8): explicit
    // --cores wins over the others' use.
    let loops = allowed.len().min(8);
    let bed2 = Bed::new(loops as u32);
    let all: Vec<String> = allowed[..loops].iter().map(usize::to_string).collect();
    let all = all.join(",");
    let c = Stack::spawn_ready(&mut serve(&bed2.stack_ns, &bed2.stack_if, "198.18.0.2/24", &["--cores", &all]));
    let ready_c = c.seen.last().unwrap().clone();
    assert_eq!((ready_field(&ready_c, "pin"), ready_field(&ready_c, "cpus")), ("cores", all.as_str()), "{ready_c}");
    if allowed.len() > loops {
        // A big host: the rest are free, and the next stack takes one of them.
        let d = Stack::spawn_ready(&mut serve(&bed2.peer_ns, &bed2.peer_if, "198.18.0.3/24", &["--queues", "1"]));
        let cpu_d: usize = ready_field(d.seen.last().unwrap(), "cpus").parse().unwrap();
        assert!(!allowed[..loops].contains(&cpu_d) && cpu_a != cpu_d.to_string() && cpu_b != cpu_d.to_string(), "{:?}", d.seen);
        return;
    }
    // Now no CPU is free: a fourth without --cores refuses, with one line.
    let out = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &bed2.peer_ns, bin, "serve", "--iface", &bed2.peer_if, "--ip", "198.18.0.3/24", "--service", "echo:7"])
        .output()
        .expect("run xdpstack serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "refused as a usage error: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("no free CPU") && err.contains("--cores"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ready"));
    // With --cores it starts on a CPU the others use.
    let cpu0 = allowed[0].to_string();
    let mut d = Stack::spawn_ready(&mut serve(&bed2.peer_ns, &bed2.peer_if, "198.18.0.3/24", &["--cores", &cpu0, "--queues", "1"]));
    let ready_d = d.seen.last().unwrap().clone();
    assert_eq!((ready_field(&ready_d, "pin"), ready_field(&ready_d, "cpus")), ("cores", cpu0.as_str()), "{ready_d}");
    let (code, _) = d.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    drop((a, b, c));
}
