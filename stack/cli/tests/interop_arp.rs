//! Interop, ARP: the stack announces its address with a gratuitous ARP at start
//! (RFC 5227 §3), which the kernel peer learns without sending anything, and
//! static entries (`--arp IP=MAC`) let the stack reach the peer without one ARP
//! request (its own capture shows none; without the flag it shows one). Needs
//! root; fails (never skips) without it.

mod common;

use common::Bed;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// The ARP frames of a pcap file (classic format, Ethernet): (operation,
/// sender IP, target IP).
fn arp_frames(path: &str) -> Vec<(u16, [u8; 4], [u8; 4])> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    assert!(b.len() >= 24, "pcap {path} too short");
    let le = b[0..4] == [0xd4, 0xc3, 0xb2, 0xa1] || b[0..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let u32_at = |o: usize| {
        let w = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= b.len() {
        let caplen = u32_at(o + 8) as usize;
        let f = &b[o + 16..(o + 16 + caplen).min(b.len())];
        o += 16 + caplen;
        if f.len() >= 42 && f[12..14] == [0x08, 0x06] {
            let a = &f[14..];
            out.push((u16::from_be_bytes([a[6], a[7]]), [a[14], a[15], a[16], a[17]], [a[24], a[25], a[26], a[27]]));
        }
    }
    out
}

/// At start the stack broadcasts a gratuitous ARP for its address: the kernel
/// peer (which learns from announcements with `arp_accept=1`) shows our MAC for
/// 198.18.0.2 in `ip neigh` without having sent a single packet to the stack;
/// the counters show one announcement and no request.
#[test]
fn gratuitous_arp_at_start_reaches_the_kernel_neighbour_table() {
    let bed = Bed::new(1);
    let (ok, out) = bed.peer(&format!("sysctl -qw net.ipv4.conf.{}.arp_accept=1", bed.peer_if));
    assert!(ok, "sysctl arp_accept: {out}");
    let (_, before) = bed.peer(&format!("ip neigh show 198.18.0.2 dev {}", bed.peer_if));
    assert!(before.trim().is_empty(), "no entry before the stack starts: {before}");
    let mac = bed.stack_mac();
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--queues", "1", "--service", "echo:7"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let neigh = loop {
        let (_, n) = bed.peer(&format!("ip neigh show 198.18.0.2 dev {}", bed.peer_if));
        if n.contains(&mac) || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(neigh.contains(&mac), "the peer learned our MAC {mac} from the announcement: {neigh:?}");
    let total = bed.stats_total();
    assert_eq!(total["arp_announcements"].as_u64(), Some(1), "{total}");
    assert_eq!(total["arp_requests"].as_u64(), Some(0), "{total}");
    assert_eq!(total["arp_replies"].as_u64(), Some(0), "the peer never asked: {total}");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// `xdpstack ping --arp 198.18.0.1=<peer MAC>` gets its replies with no ARP
/// request for the peer in its own capture; the same ping without the flag
/// sends one (so the capture does see requests). The first echo request waits
/// in the ARP queue rather than being lost: every request is answered.
#[test]
fn static_arp_entry_means_no_request() {
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let bed = Bed::new(1);
    let peer_mac = common::sh(&format!("ip netns exec {} cat /sys/class/net/{}/address", bed.peer_ns, bed.peer_if)).trim().to_string();
    let dir = std::env::temp_dir().join(format!("xs-arp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for static_entry in [true, false] {
        let pcap = dir.join(format!("ping-{static_entry}.pcap")).to_string_lossy().into_owned();
        let arp = format!("198.18.0.1={peer_mac}");
        let mut args = vec!["30", "ip", "netns", "exec", &bed.stack_ns, bin, "ping", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--queues", "1"];
        args.extend(["--pcap", &pcap, "-c", "3", "-i", "0.2", "--json"]);
        if static_entry {
            args.extend(["--arp", &arp]);
        }
        args.push("198.18.0.1");
        let out = Command::new("timeout").args(&args).output().expect("run ping");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "static={static_entry}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let summary = lines.iter().find(|v| v["event"] == "summary").expect("summary");
        assert_eq!((summary["transmitted"].as_u64(), summary["received"].as_u64()), (Some(3), Some(3)), "static={static_entry}: {stdout}");
        let frames = arp_frames(&pcap);
        let requests_for_peer = frames.iter().filter(|(op, _, target)| *op == 1 && *target == [198, 18, 0, 1]).count();
        let announcements = frames.iter().filter(|(op, s, t)| *op == 1 && *s == [198, 18, 0, 2] && *t == [198, 18, 0, 2]).count();
        assert_eq!(announcements, 1, "static={static_entry}: one gratuitous ARP at start: {frames:?}");
        if static_entry {
            assert_eq!(requests_for_peer, 0, "no ARP request with --arp: {frames:?}");
        } else {
            assert!(requests_for_peer >= 1, "without --arp the peer is resolved by ARP: {frames:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
