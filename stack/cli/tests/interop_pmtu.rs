//! Interop: ICMP errors from a real Linux router reach the stack's flows.
//!
//! Three namespaces: the stack, a kernel router (the bed's peer, forwarding)
//! and a far kernel host behind it. The router's route to the far network has
//! an MTU of 1300 while every link is 1500 bytes: the far host offers MSS 1460,
//! so the stack's full-sized segments to it leave with DF set, the router drops
//! them and answers "fragmentation needed" (IPv4, RFC 1191) or "packet too
//! big" (IPv6, RFC 8201). Without path MTU discovery the echo back to the far
//! host never completes; with it every byte arrives. A route of type
//! `unreachable` makes the router answer a SYN with destination unreachable:
//! `xdpstack connect` must fail at once with that error (RFC 5461), not after
//! the SYN's retransmissions time out.

mod common;

use common::{payload, sh, sh_try, Bed};
use std::process::Command;
use std::time::Instant;

/// The bed plus the far namespace behind the router.
struct Routed {
    bed: Bed,
    far_ns: String,
}

impl Drop for Routed {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.far_ns]).status();
    }
}

impl Routed {
    fn new() -> Routed {
        let bed = Bed::new(1);
        bed.enable_ipv6();
        let far_ns = format!("{}f", bed.peer_ns);
        let r = Routed { bed, far_ns };
        let (rn, fan) = (&r.bed.peer_ns, &r.far_ns);
        let (rif, fif) = (format!("{}r", r.bed.peer_if), format!("{}f", r.bed.peer_if));
        sh(&format!("ip netns add {fan}"));
        sh(&format!("ip link add {rif} netns {rn} type veth peer name {fif} netns {fan}"));
        sh(&format!("ip -n {fan} link set lo up"));
        sh(&format!("ip netns exec {rn} sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"));
        sh(&format!("ip netns exec {rn} sysctl -qw net.ipv6.conf.{rif}.accept_dad=0"));
        sh(&format!("ip netns exec {fan} sysctl -qw net.ipv6.conf.{fif}.accept_dad=0"));
        sh(&format!("ip -n {rn} addr add 198.19.1.1/24 dev {rif}"));
        sh(&format!("ip -n {rn} addr add 2001:db8:1::1/64 dev {rif} nodad"));
        sh(&format!("ip -n {fan} addr add 198.19.1.2/24 dev {fif}"));
        sh(&format!("ip -n {fan} addr add 2001:db8:1::2/64 dev {fif} nodad"));
        sh(&format!("ip -n {rn} link set {rif} up"));
        sh(&format!("ip -n {fan} link set {fif} up"));
        sh(&format!("ip -n {fan} route add default via 198.19.1.1"));
        sh(&format!("ip -n {fan} -6 route add default via 2001:db8:1::1"));
        // The narrow hop: the router forwards at most 1300 bytes to the far
        // network (a locked route MTU is what forwarding checks), links stay 1500.
        sh(&format!("ip -n {rn} route replace 198.19.1.0/24 dev {rif} mtu lock 1300"));
        sh(&format!("ip -n {rn} -6 route replace 2001:db8:1::/64 dev {rif} metric 256 mtu lock 1300"));
        // Networks the router knows to be unreachable.
        sh(&format!("ip -n {rn} route add unreachable 198.19.3.0/24"));
        sh(&format!("ip -n {rn} -6 route add unreachable 2001:db8:3::/64"));
        r
    }

    fn far(&self, cmd: &str) -> (bool, String) {
        sh_try(&format!("ip netns exec {} {cmd}", self.far_ns))
    }
}

/// The far kernel host sends `data` to the stack's echo service at `addr`
/// (socat, default offloads) and gets back what it reads, within 60 s.
fn echo_from_far(r: &Routed, addr: &str, data: &[u8]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("xdpstack-pmtu-{}", r.far_ns));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, outp) = (dir.join("in"), dir.join("out"));
    std::fs::write(&inp, data).unwrap();
    let started = Instant::now();
    let (ok, log) = r.far(&format!("timeout 60 socat -t 30 -T 30 - TCP:{addr},connect-timeout=5 < {} > {}", inp.display(), outp.display()));
    let got = std::fs::read(&outp).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "socat from the far host to {addr} failed after {:?} ({} of {} bytes back): {log}", started.elapsed(), got.len(), data.len());
    got
}

#[test]
fn echo_through_a_narrow_router_completes_by_path_mtu_discovery_v4_and_v6() {
    let r = Routed::new();
    let b = &r.bed;
    let mut stack = b.start_stack(&[
        "serve", "--iface", &b.stack_if, "--ip", "198.18.0.2/24", "--gw", "198.18.0.1", "--ip6", "2001:db8::2/64", "--gw", "2001:db8::1", "--service", "echo:7", "--queues", "1",
    ]);
    let data = payload(1 << 20, 7);
    for (n, (addr, family)) in [("198.18.0.2:7", "IPv4"), ("[2001:db8::2]:7", "IPv6")].into_iter().enumerate() {
        let got = echo_from_far(&r, addr, &data);
        assert!(got == data, "{family}: echo through a 1300-byte hop differs ({} of {} bytes back)", got.len(), data.len());
        let total = b.stats_total();
        let n = n as u64 + 1;
        assert_eq!(total["pmtu_updates"].as_u64().unwrap(), n, "{family}: the router's error lowered the path MTU: {total}");
        assert_eq!(total["tcp_pmtu_mss_lowered"].as_u64().unwrap(), n, "{family}: the connection cut its MSS: {total}");
    }
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// Run `xdpstack connect` to `to` in the stack namespace, killed after 20 s
/// (the SYN's retransmissions alone would take more than a minute to fail).
fn connect(b: &Bed, to: &str) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    Command::new("timeout")
        .args(["20", "ip", "netns", "exec", &b.stack_ns, bin, "connect", "--iface", &b.stack_if])
        .args(["--ip", "198.18.0.2/24", "--gw", "198.18.0.1", "--ip6", "2001:db8::2/64", "--gw", "2001:db8::1"])
        .args(["--to", to, "--send", "/dev/null", "--recv", "/dev/null"])
        .output()
        .expect("run xdpstack connect")
}

#[test]
fn destination_unreachable_fails_a_connect_at_once_v4_and_v6() {
    let r = Routed::new();
    for to in ["198.19.3.5:80", "[2001:db8:3::5]:80"] {
        let out = connect(&r.bed, to);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "connect to {to} must fail with exit 1, not be killed by the 20-s bound (124): {err}");
        assert!(err.contains("no route to host"), "the router's ICMP error is the reason for {to}: {err}");
    }
}
