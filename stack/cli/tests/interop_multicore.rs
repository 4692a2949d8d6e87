//! Interop, several queues: `xdpstack serve --queues N` and `xdpstack connect
//! --queues 2` on a veth with N queues, against the Linux kernel in the peer
//! namespace. veth puts each of the peer's flows on one of our queues by the
//! kernel's own hash, not by our Toeplitz key: about half the frames land on the
//! core that does not own their flow and must be handed over (never answered
//! with RST, never lost). Needs root; fails (never skips) without it.

mod common;

use common::{in_netns, payload, Bed};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STACK: &str = "198.18.0.2";

/// `xdpstack stats --json` in the stack's namespace: one object per core, then
/// the total.
fn stats_json(bed: &Bed) -> (Vec<Value>, Value) {
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let out = Command::new("ip")
        .args(["netns", "exec", &bed.stack_ns, bin, "stats", "--iface", &bed.stack_if, "--json"])
        .output()
        .expect("run xdpstack stats");
    assert!(out.status.success(), "xdpstack stats failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut objs: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    let total = objs.pop().expect("a total line");
    assert_eq!(total["core"], "total", "the last line is the total");
    (objs, total)
}

/// `n` kernel clients at once, `size` bytes each through the echo service with a
/// half-close; every stream must come back byte-exact.
fn echo_flows(bed: &Bed, n: u64, size: usize) {
    let addr: SocketAddr = format!("{STACK}:7").parse().unwrap();
    let ns = bed.peer_ns.clone();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let ns = ns.clone();
            std::thread::spawn(move || {
                in_netns(&ns, move || {
                    let data = payload(size + i as usize * 13, 500 + i);
                    let want = Sha256::digest(&data);
                    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    let mut w = s.try_clone().unwrap();
                    let len = data.len();
                    let writer = std::thread::spawn(move || {
                        w.write_all(&data).expect("write");
                        w.shutdown(Shutdown::Write).expect("shutdown");
                    });
                    let mut got = Vec::with_capacity(len);
                    let mut r = s;
                    r.read_to_end(&mut got).expect("read the echo until the service closes");
                    writer.join().unwrap();
                    (i, got.len() == len, Sha256::digest(&got) == want)
                })
            })
        })
        .collect();
    for h in handles {
        let (i, len_ok, same) = h.join().expect("client");
        assert!(len_ok && same, "flow {i}: echo not byte-exact");
    }
}

fn serve_n_queues(queues: u32) {
    let bed = Bed::new(queues);
    let q = queues.to_string();
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7", "--queues", &q]);
    let ready = stack.seen.last().unwrap().clone();
    assert!(ready.contains(&format!("queues={queues}")), "{ready}");
    echo_flows(&bed, 64, 64 * 1024);
    // Counters are published every 10 ms; the last ACKs of our FINs too.
    std::thread::sleep(Duration::from_millis(300));
    let (cores, total) = stats_json(&bed);
    assert_eq!(cores.len(), queues as usize, "one object per core");
    for (i, c) in cores.iter().enumerate() {
        assert_eq!(c["core"], i, "core order");
        assert_eq!(c["queue"], i, "core i serves queue i");
        assert!(c["rx_packets"].as_u64().unwrap() > 0, "core {i} received nothing: {c}");
        assert!(c["app_accepted"].as_u64().unwrap() > 0, "core {i} owns no flow: {c}");
    }
    // Per-core counters add up to the total, key by key.
    for (k, v) in total.as_object().unwrap() {
        if let Some(t) = v.as_u64() {
            let sum: u64 = cores.iter().map(|c| c[k].as_u64().unwrap_or(0)).sum();
            assert_eq!(sum, t, "{k}: cores add up to {sum}, total says {t}");
        }
    }
    assert!(total["handoff_in"].as_u64().unwrap() > 0, "veth's own hash must have misplaced some frames: {total}");
    assert_eq!(total["handoff_in"], total["handoff_out"], "every frame handed over arrived");
    assert_eq!(total["handoff_overflow"], 0);
    assert_eq!(total["app_accepted"], 64, "every flow accepted once");
    // No RST for a frame that landed on the wrong core (sim_multicore proves it
    // exactly). Here the only RSTs allowed answer a kernel ACK of a tail loss
    // probe's duplicate FIN that reached a connection already closed: with
    // four busy loops and 64 kernel flows on two CPUs, a kernel ACK can take
    // longer than the probe timeout (RFC 9293 §3.10.7.2, Linux does the same).
    let (rst, probes) = (total["tcp_rst_sent"].as_u64().unwrap(), total["tcp_tlp_probes"].as_u64().unwrap());
    assert!(rst <= probes, "{rst} RSTs sent, only {probes} tail loss probes to explain them: {total}");
    assert!(rst <= total["tcp_ack_to_listener"].as_u64().unwrap(), "every RST answers an ACK to the listener: {total}");
    assert_eq!(total["tcp_bad_ack"], 0, "no bad ACK on a live connection: {total}");
    let sock = Command::new("ip").args(["netns", "exec", &bed.stack_ns, "sh", "-c", "ls /run/xdpstack"]).output().unwrap();
    let listed = String::from_utf8_lossy(&sock.stdout).into_owned();
    assert!(listed.contains(&bed.stack_if), "control socket under /run/xdpstack: {listed}");

    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0), "{out:?}");
    let summary = out.iter().find(|l| l.starts_with("stopped")).expect("summary");
    assert!(summary.contains(&format!("cores={queues}")), "{summary}");
    assert!(summary.contains("flows=0"), "all flows closed: {summary}");
    assert!(!bed.stack_has_xdp(), "SIGTERM leaves nothing attached");
    let sock = Command::new("sh").arg("-c").arg(format!("ls /run/xdpstack | grep -c -- '-{}.sock'", bed.stack_if)).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&sock.stdout).trim(), "0", "control socket removed");
}

#[test]
fn serve_two_queues_64_kernel_flows_byte_exact_with_handoff() {
    serve_n_queues(2);
}

#[test]
fn serve_four_queues_64_kernel_flows_byte_exact_with_handoff() {
    serve_n_queues(4);
}

#[test]
fn binding_fewer_queues_warns_about_the_others() {
    let bed = Bed::new(4);
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7", "--queues", "2"]);
    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let warn: Vec<_> = out.iter().filter(|l| l.contains("warning")).collect();
    assert_eq!(warn.len(), 1, "one warning line: {out:?}");
    assert!(warn[0].contains("queue(s) 2,3") && warn[0].contains("kernel"), "names the unbound queues: {}", warn[0]);
}

#[test]
fn default_binds_every_queue() {
    let bed = Bed::new(3);
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7", "--json"]);
    let ready: Value = serde_json::from_str(stack.seen.last().unwrap()).expect("JSON ready");
    assert_eq!(ready["queues"], 3);
    assert_eq!(ready["queue_ids"], serde_json::json!([0, 1, 2]));
    assert_eq!(ready["unbound_queues"], serde_json::json!([]));
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn connect_with_two_queues_twenty_times() {
    let bed = Bed::new(2);
    // A kernel echo server that serves one connection after another.
    let mut server = Command::new("ip")
        .args(["netns", "exec", &bed.peer_ns, "socat", "-b", "65536", "TCP-LISTEN:7008,bind=198.18.0.1,reuseaddr,fork", "EXEC:cat"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (make setup installs it)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !bed.peer("ss -ltnH 'sport = :7008'").1.contains("LISTEN") {
        assert!(Instant::now() < deadline, "socat did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = std::env::temp_dir().join(format!("xdpstack-mc-{}", bed.stack_if));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let mut handed_over = 0u64;
    for i in 0..20u64 {
        let data = payload(200_000 + i as usize * 1000, 77 + i);
        let (inp, outp) = (dir.join(format!("in{i}")), dir.join(format!("out{i}")));
        std::fs::write(&inp, &data).unwrap();
        let out = Command::new("timeout")
            .args(["30", "ip", "netns", "exec", &bed.stack_ns, bin, "connect", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--queues", "2"])
            .args(["--to", "198.18.0.1:7008", "--json", "--send", inp.to_str().unwrap(), "--recv", outp.to_str().unwrap()])
            .output()
            .expect("run connect");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "run {i}: stdout {stdout} stderr {}", String::from_utf8_lossy(&out.stderr));
        assert!(std::fs::read(&outp).unwrap() == data, "run {i}: echo differs");
        let stopped: Value = stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| v["event"] == "stopped").expect("stopped line");
        assert_eq!(stopped["cores"].as_array().unwrap().len(), 2);
        handed_over += stopped["handoff_in"].as_u64().unwrap();
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("20 connects over 2 queues: {handed_over} frames handed between cores");
}

/// UDP echo (`--service udp-echo:7`) on 2 queues, from kernel UDP sockets with
/// their default offloads: every size from 1 to 1472 bytes comes back byte-exact
/// from the address it was sent to; a datagram to a port nobody bound gets ICMP
/// port unreachable (the kernel's connected socket reports ConnectionRefused).
#[test]
fn udp_echo_from_kernel_sockets_on_two_queues() {
    use std::net::UdpSocket;
    let bed = Bed::new(2);
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "udp-echo:7", "--service", "echo:7", "--queues", "2"]);
    let results = common::in_netns(&bed.peer_ns, || {
        let mut bad = Vec::new();
        // Several sockets (source ports): their flows spread over both cores.
        for sock_no in 0..8u16 {
            let s = UdpSocket::bind(("198.18.0.1", 0)).unwrap();
            s.connect((STACK, 7)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let sizes: Vec<usize> = (0..40).map(|k| 1 + (k * 37 + sock_no as usize * 11) % 1472).chain([1, 1472]).collect();
            for (k, len) in sizes.into_iter().enumerate() {
                let data = payload(len, u64::from(sock_no) * 1000 + k as u64);
                s.send(&data).unwrap();
                let mut buf = [0u8; 2048];
                let got = s.recv(&mut buf).ok().map(|n| buf[..n].to_vec());
                if got.as_deref() != Some(&data[..]) {
                    bad.push(format!("socket {sock_no} size {len}: {:?} bytes back", got.map(|g| g.len())));
                }
            }
        }
        // Nobody bound UDP port 9: ICMP port unreachable.
        let s = UdpSocket::bind(("198.18.0.1", 0)).unwrap();
        s.connect((STACK, 9)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send(b"anyone?").unwrap();
        let mut buf = [0u8; 16];
        let refused = matches!(s.recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused);
        (bad, refused)
    });
    let (bad, refused) = results;
    assert!(bad.is_empty(), "UDP echo failures: {bad:?}");
    assert!(refused, "a datagram to an unbound port gets port unreachable");
    std::thread::sleep(Duration::from_millis(200));
    let (cores, total) = stats_json(&bed);
    for c in &cores {
        assert!(c["rx_packets"].as_u64().unwrap() > 0, "both cores received traffic: {c}");
    }
    assert_eq!(total["drops"]["udp_no_listener"], 1, "{total}");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// `xdpstack ping` from a stack with 2 queues to the kernel peer: every request
/// answered (the replies land on either queue and reach the pinging core), 56 and
/// 1472 bytes; an address nobody answers exits 1 naming it.
#[test]
fn ping_from_the_stack_on_two_queues() {
    let bed = Bed::new(2);
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    for size in ["56", "1472"] {
        let out = Command::new("timeout")
            .args(["30", "ip", "netns", "exec", &bed.stack_ns, bin, "ping", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--queues", "2"])
            .args(["-c", "8", "-i", "0.05", "-s", size, "--json", "198.18.0.1"])
            .output()
            .expect("run ping");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "ping -s {size}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let replies: Vec<&Value> = lines.iter().filter(|v| v["event"] == "reply").collect();
        assert_eq!(replies.len(), 8, "every request answered: {stdout}");
        let want_bytes: u64 = size.parse::<u64>().unwrap() + 8;
        for r in &replies {
            assert_eq!(r["bytes"], want_bytes);
            assert_eq!(r["from"], "198.18.0.1");
        }
        let summary = lines.iter().find(|v| v["event"] == "summary").expect("summary");
        assert_eq!((summary["transmitted"].as_u64(), summary["received"].as_u64(), summary["corrupt"].as_u64()), (Some(8), Some(8), Some(0)));
        assert!(summary["rtt_max_ms"].as_f64().unwrap() >= summary["rtt_min_ms"].as_f64().unwrap());
    }
    let out = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &bed.stack_ns, bin, "ping", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "-c", "2", "198.18.0.77"])
        .output()
        .expect("run ping");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("198.18.0.77"), "{}", String::from_utf8_lossy(&out.stderr));
}
