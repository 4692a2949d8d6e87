//! Interop: `xdpstack serve` on AF_XDP in one namespace, the Linux kernel in the
//! other (docs/testing.md). Needs root; fails (never skips) without it.

mod common;

use common::{in_netns, payload, Bed};
use sha2::{Digest, Sha256};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const STACK: &str = "198.18.0.2";

fn serve(bed: &Bed) -> common::Stack {
    bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7"])
}

fn ping_ok(bed: &Bed, size: u32) {
    let (ok, out) = bed.peer(&format!("ping -c 3 -i 0.2 -W 2 -s {size} {STACK}"));
    assert!(ok, "ping -s {size} failed:\n{out}");
    assert!(out.contains("3 received"), "ping -s {size}: not all replies:\n{out}");
    let want = format!("{} bytes from {STACK}", size + 8);
    assert!(out.contains(&want), "ping -s {size}: reply size wrong (want {want:?}):\n{out}");
}

/// Send `data` through the echo service from the kernel peer, half-close, read
/// everything back. Returns (received bytes, elapsed).
fn echo_through(ns: &str, addr: SocketAddr, data: Vec<u8>) -> (Vec<u8>, Duration) {
    in_netns(ns, move || {
        let t0 = Instant::now();
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to echo service");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(&data).expect("write to echo service");
            // Half-close: the echo service must send everything back, then close.
            w.shutdown(Shutdown::Write).expect("shutdown(write)");
        });
        let mut got = Vec::with_capacity(10 << 20);
        let mut r = s;
        r.read_to_end(&mut got).expect("read echo until the service closes");
        writer.join().expect("writer");
        (got, t0.elapsed())
    })
}

/// The `drops={...}` object of a `stopped` line, as (reason, count) pairs.
fn stopped_drops(summary: &str) -> serde_json::Map<String, serde_json::Value> {
    let json = summary.split_once("drops=").map(|(_, j)| j).unwrap_or_else(|| panic!("no drops= in {summary}"));
    match serde_json::from_str(json) {
        Ok(serde_json::Value::Object(m)) => m,
        other => panic!("drops= is not a JSON object in {summary}: {other:?}"),
    }
}

/// The value of `key=` in a text `ready` / `stopped` line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('='))).unwrap_or_else(|| panic!("no {key}= in {line}"))
}

/// The frames of a classic little-endian pcap file (`--pcap`), as recorded.
fn pcap_frames(path: &std::path::Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("pcap written");
    assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
    let (mut off, mut frames) = (24, Vec::new());
    while off + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(bytes[off + 12..off + 16].try_into().unwrap()) as usize;
        assert_eq!(incl, orig, "frame recorded whole");
        frames.push(bytes[off + 16..off + 16 + incl].to_vec());
        off += 16 + incl;
    }
    frames
}

#[test]
fn serve_answers_arp_ping_tcp_echo_and_detaches() {
    // The offloads-off bed: full checksums and MTU-sized frames from the kernel, as a
    // real NIC delivers them (the default-offload case is the next test).
    let bed = Bed::new_offloads_off(1);
    let mut stack = serve(&bed);
    let ready = stack.seen.last().unwrap().clone();
    assert!(ready.contains("xdp_mode="), "ready line names the XDP mode: {ready}");

    // ICMP echo, small and MTU-sized (1472 + 8 + 20 = 1500).
    ping_ok(&bed, 56);
    ping_ok(&bed, 1472);

    // The kernel peer resolved the stack's address to the stack's MAC by ARP.
    let mac = bed.stack_mac();
    let (_, neigh) = bed.peer(&format!("ip neigh show {STACK}"));
    assert!(neigh.contains(&mac), "peer's neighbour table lacks the stack's MAC {mac}: {neigh}");
    assert!(!neigh.contains("FAILED") && !neigh.contains("INCOMPLETE"), "neighbour entry not resolved: {neigh}");

    // 10 MB through the echo service with a half-close, byte-exact.
    let data = payload(10 << 20, 0x9e37_79b9);
    let want = Sha256::digest(&data);
    let addr: SocketAddr = format!("{STACK}:7").parse().unwrap();
    let (got, took) = echo_through(&bed.peer_ns, addr, data);
    assert_eq!(got.len(), 10 << 20, "echo returned {} bytes", got.len());
    assert_eq!(Sha256::digest(&got), want, "echoed bytes differ");
    eprintln!("10 MiB echoed through xdpstack in {:.3} s ({:.1} MB/s each way)", took.as_secs_f64(), 10.0 * 1.048576 / took.as_secs_f64());

    // A port with no listener is refused with RST.
    let refused = in_netns(&bed.peer_ns, || {
        let a: SocketAddr = format!("{STACK}:9").parse().unwrap();
        TcpStream::connect_timeout(&a, Duration::from_secs(5)).map(|_| ()).map_err(|e| e.kind())
    });
    assert_eq!(refused, Err(ErrorKind::ConnectionRefused), "connect to a closed port must be refused");

    // SIGTERM: exit 0, XDP program gone.
    assert!(bed.stack_has_xdp(), "an XDP program is attached while serving");
    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0), "exit code after SIGTERM; output: {out:?}");
    assert!(out.iter().any(|l| l.starts_with("stopped")), "summary line printed: {out:?}");
    assert!(!bed.stack_has_xdp(), "XDP program still attached after SIGTERM");
}

#[test]
fn default_offloads_partial_checksums_accepted_on_veth() {
    // A kernel peer with its default offloads (tx checksumming on) sends TCP whose
    // checksum field holds only the pseudo-header sum; veth never finishes it.
    // `--rx-checksum auto` sees the veth driver and accepts that form.
    let bed = Bed::new(1);
    assert_eq!(bed.peer_offload("tx-checksumming"), "on", "the peer keeps its default offloads");
    assert_eq!(bed.peer_offload("tcp-segmentation-offload"), "on");
    let dir = std::env::temp_dir().join(format!("xdpstack-test-{}-{}", std::process::id(), bed.stack_if));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("frames.pcap");
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7", "--pcap", pcap.to_str().unwrap()]);
    let ready = stack.seen.last().unwrap().clone();
    assert_eq!(field(&ready, "rx_csum"), "partial", "auto on veth: {ready}");
    // veth_xdp_set (drivers/net/veth.c) clears the peer's GSO_SOFTWARE features
    // while a native XDP program is attached: its TSO is off now, GSO segments.
    assert_eq!(field(&ready, "xdp_mode"), "native");
    assert_eq!(bed.peer_offload("tcp-segmentation-offload"), "off", "veth turns the peer's TSO off under native XDP");
    assert_eq!(bed.peer_offload("tx-checksumming"), "on", "but checksums stay partial");

    let data = payload(1 << 20, 0x5eed);
    let want = Sha256::digest(&data);
    let addr: SocketAddr = format!("{STACK}:7").parse().unwrap();
    let (got, took) = echo_through(&bed.peer_ns, addr, data);
    assert_eq!(got.len(), 1 << 20, "echo returned {} bytes", got.len());
    assert_eq!(Sha256::digest(&got), want, "echoed bytes differ");
    eprintln!("1 MiB echoed with the peer's default offloads in {:.3} s", took.as_secs_f64());
    std::thread::sleep(Duration::from_millis(300));

    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0), "{out:?}");
    let summary = out.iter().find(|l| l.starts_with("stopped")).expect("summary");
    let partial: u64 = field(summary, "rx_csum_partial").parse().unwrap();
    // 1 MiB at MSS 1448 is > 724 data segments, every one in the partial form.
    assert!(partial > 724, "segments accepted in the partial form: {summary}");
    assert!(!stopped_drops(summary).contains_key("tcp_bad_checksum"), "{summary}");
    // What reached the XSK from the peer: nothing larger than the MTU (1500 + 14),
    // no TSO/GSO super-frames (they would not fit the 2048-byte UMEM frames).
    let from_peer: Vec<usize> =
        pcap_frames(&pcap).iter().filter(|f| f.len() >= 34 && f[12..14] == [8, 0] && f[26..30] == [198, 18, 0, 1]).map(|f| f.len()).collect();
    let max = from_peer.iter().copied().max().unwrap_or(0);
    eprintln!("IPv4 frames from the kernel peer through the XSK: {}, largest {max} B", from_peer.len());
    assert!(from_peer.len() > 724, "{} frames", from_peer.len());
    assert_eq!(max, 1514, "largest received frame is one full-MSS segment");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forced_full_rx_checksum_refuses_partial_checksums() {
    // The same default-offload peer, with the policy forced to full: every SYN is a
    // bad checksum, the connection never completes, and the drops say why.
    let bed = Bed::new(1);
    let mut stack =
        bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7", "--rx-checksum", "full"]);
    let ready = stack.seen.last().unwrap().clone();
    assert_eq!(field(&ready, "rx_csum"), "full", "{ready}");
    ping_ok(&bed, 56); // ICMP is checksummed in software: unaffected.
    let res = in_netns(&bed.peer_ns, || {
        let a: SocketAddr = format!("{STACK}:7").parse().unwrap();
        TcpStream::connect_timeout(&a, Duration::from_secs(2)).map(|_| ()).map_err(|e| e.kind())
    });
    assert_eq!(res, Err(ErrorKind::TimedOut), "a SYN with a partial checksum must not be answered under --rx-checksum full");
    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0), "{out:?}");
    let summary = out.iter().find(|l| l.starts_with("stopped")).expect("summary");
    let bad = stopped_drops(summary).get("tcp_bad_checksum").and_then(|v| v.as_u64()).unwrap_or(0);
    assert!(bad > 0, "tcp_bad_checksum counted: {summary}");
    assert_eq!(field(summary, "rx_csum_partial"), "0", "{summary}");
}

#[test]
fn sigint_detaches_too() {
    let bed = Bed::new(1);
    let mut stack = serve(&bed);
    ping_ok(&bed, 56);
    let (code, out) = stack.signal_and_wait(libc::SIGINT);
    assert_eq!(code, Some(0), "exit code after SIGINT; output: {out:?}");
    assert!(!bed.stack_has_xdp(), "XDP program still attached after SIGINT");
}

#[test]
fn clear_errors_exit_2() {
    common::require_root();
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    // No such interface.
    let out = std::process::Command::new(bin)
        .args(["serve", "--iface", "xsnosuch0", "--ip", "198.18.0.2/24", "--service", "echo:7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("xsnosuch0") && err.lines().count() == 1, "one line naming the interface: {err}");
    // Bad flag value.
    let out = std::process::Command::new(bin).args(["serve", "--iface", "lo", "--ip", "198.18.0.2", "--service", "echo:7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(bin)
        .args(["serve", "--iface", "lo", "--ip", "198.18.0.2/24", "--service", "echo:7", "--rx-checksum", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rx-checksum sometimes"), "{out:?}");
    // Not root: drop privileges with setuid in the child.
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(bin)
        .args(["serve", "--iface", "lo", "--ip", "198.18.0.2/24", "--service", "echo:7"])
        .uid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("permission denied"), "names the missing privilege: {err}");
}

#[test]
fn namespaces_are_removed_when_a_test_fails() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let bed = Bed::new(1);
        let _stack = serve(&bed);
        tx.send((bed.peer_ns.clone(), bed.stack_ns.clone())).unwrap();
        panic!("deliberate failure inside a test bed");
    })
    .join();
    assert!(failed.is_err(), "the inner test panicked");
    let (a, b) = rx.recv().unwrap();
    let list = common::sh("ip netns list");
    assert!(!list.contains(&a) && !list.contains(&b), "namespaces {a}, {b} left behind: {list}");
}

#[test]
fn echo_survives_injected_loss_reorder_and_duplication() {
    // --fault drops, reorders and duplicates frames in both directions on the stack's
    // device (seeded): the kernel's and our retransmission must recover every byte.
    let bed = Bed::new(1);
    let mut stack = bed.start_stack(&[
        "serve",
        "--iface",
        &bed.stack_if,
        "--ip",
        "198.18.0.2/24",
        "--service",
        "echo:7",
        "--fault",
        "loss=0.01,reorder=0.05,dup=0.01,seed=42",
    ]);
    let data = payload(2 << 20, 7);
    let want = Sha256::digest(&data);
    let addr: SocketAddr = format!("{STACK}:7").parse().unwrap();
    let (got, took) = echo_through(&bed.peer_ns, addr, data);
    assert_eq!(got.len(), 2 << 20);
    assert_eq!(Sha256::digest(&got), want, "echoed bytes differ under faults");
    eprintln!("2 MiB echoed under 1% loss / 5% reorder / 1% dup in {:.2} s", took.as_secs_f64());
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn many_concurrent_echo_connections() {
    // 16 kernel clients at once, 1 MiB each, every one byte-exact: the loop serves
    // many flows from one queue without mixing their bytes.
    let bed = Bed::new(1);
    let mut stack = serve(&bed);
    let ns = bed.peer_ns.clone();
    let addr: SocketAddr = format!("{STACK}:7").parse().unwrap();
    let handles: Vec<_> = (0..16u64)
        .map(|i| {
            let ns = ns.clone();
            std::thread::spawn(move || {
                let data = payload(1 << 20, 1000 + i);
                let want = Sha256::digest(&data);
                let (got, _) = echo_through(&ns, addr, data);
                (i, got.len(), Sha256::digest(&got) == want)
            })
        })
        .collect();
    for h in handles {
        let (i, len, same) = h.join().expect("client thread");
        assert_eq!(len, 1 << 20, "client {i}: length");
        assert!(same, "client {i}: bytes differ");
    }
    // Let the clients' last ACKs (of our FINs; possibly delayed) arrive.
    std::thread::sleep(Duration::from_millis(500));
    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let summary = out.iter().find(|l| l.starts_with("stopped")).expect("summary");
    assert!(summary.contains("flows=0"), "all flows closed: {summary}");
}

#[test]
fn pcap_json_and_config_file() {
    // --config supplies iface/ip/service, --json and --pcap come from flags: the
    // ready line is JSON, and the pcap holds the ARP and ICMP exchange both ways.
    let bed = Bed::new(1);
    let dir = std::env::temp_dir().join(format!("xdpstack-test-{}-{}", std::process::id(), bed.stack_if));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("serve.toml");
    std::fs::write(&cfg, format!("iface = \"{}\"\nip = [\"198.18.0.2/24\"]\nservice = [\"echo:7\"]\n", bed.stack_if)).unwrap();
    let pcap = dir.join("frames.pcap");
    let mut stack = bed.start_stack(&["serve", "--config", cfg.to_str().unwrap(), "--json", "--pcap", pcap.to_str().unwrap()]);
    let ready = stack.seen.last().unwrap().clone();
    assert!(ready.starts_with("ready") || ready.starts_with('{'), "{ready}");
    ping_ok(&bed, 56);
    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let ready_json = out.iter().find(|l| l.contains("\"event\":\"ready\"")).expect("JSON ready line");
    assert!(ready_json.contains("\"xdp_mode\"") && ready_json.contains("198.18.0.2/24"), "{ready_json}");
    assert!(ready_json.contains("\"rx_csum\":\"partial\""), "auto on veth: {ready_json}");
    assert!(out.iter().any(|l| l.contains("\"event\":\"stopped\"")), "JSON summary: {out:?}");

    // Read the capture: classic pcap, Ethernet.
    let bytes = std::fs::read(&pcap).expect("pcap written");
    assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16;
        frames.push(bytes[off..off + incl].to_vec());
        off += incl;
    }
    let ethertype = |f: &Vec<u8>| u16::from_be_bytes([f[12], f[13]]);
    let icmp_type = |f: &Vec<u8>| (ethertype(f) == 0x0800 && f[23] == 1).then(|| f[34]);
    let arp_op = |f: &Vec<u8>| (ethertype(f) == 0x0806).then(|| u16::from_be_bytes([f[20], f[21]]));
    assert!(frames.iter().any(|f| arp_op(f) == Some(1)), "ARP request received recorded");
    assert!(frames.iter().any(|f| arp_op(f) == Some(2)), "ARP reply sent recorded");
    assert_eq!(frames.iter().filter(|f| icmp_type(f) == Some(8)).count(), 3, "3 echo requests recorded");
    assert_eq!(frames.iter().filter(|f| icmp_type(f) == Some(0)).count(), 3, "3 echo replies recorded");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn discard_service_swallows_and_closes() {
    let bed = Bed::new(1);
    let mut stack =
        bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7", "--service", "discard:9"]);
    let addr: SocketAddr = format!("{STACK}:9").parse().unwrap();
    let (got, _) = echo_through(&bed.peer_ns, addr, payload(1 << 20, 3));
    assert!(got.is_empty(), "discard sends nothing back, then closes ({} bytes came back)", got.len());
    let (code, out) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let summary = out.iter().find(|l| l.starts_with("stopped")).expect("summary");
    let rx: u64 = summary.split_whitespace().find_map(|kv| kv.strip_prefix("rx_bytes=")).unwrap().parse().unwrap();
    assert!(rx > 1 << 20, "the stack received the whole megabyte: {summary}");
}
