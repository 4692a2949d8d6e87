//! Interop, IPv6: the Linux kernel in the peer namespace (2001:db8::1/64, its
//! default offloads kept, DAD off so it answers at once) against the stack
//! (2001:db8::2/64): `ping -6` at 56, 1452, 1453, 8000 and 65000 bytes (the
//! larger ones fragmented both ways), the kernel's neighbour table learning our
//! MAC through NDP, UDP echo from kernel sockets (1..1452 bytes and 8000-byte
//! fragmented datagrams), TCP echo of 1 MiB, `xdpstack ping` and `xdpstack
//! connect` to the kernel, SLAAC from radvd's advertisements with DAD, and a
//! duplicate address detected. Every frame the stack sent is decoded by tshark
//! with no malformed packet and no checksum error. Needs root, radvd and
//! tshark; fails (never skips) without them.

mod common;

use common::{in_netns, payload, sh_try, Bed};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

const STACK6: &str = "2001:db8::2";
const PEER6: &str = "2001:db8::1";

fn require_tool(tool: &str) {
    let (ok, _) = sh_try(&format!("command -v {tool}"));
    assert!(ok, "{tool} is needed by this test (make test installs it): not found in PATH");
}

/// Every frame of `pcap` sent by `mac` decodes in tshark with checksum
/// validation on: no malformed packet, no checksum error. Returns how many
/// frames were checked.
fn tshark_clean(pcap: &str, mac: &str) -> usize {
    let prefs = "-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE";
    let (ok, all) = sh_try(&format!("tshark -n -r {pcap} {prefs} -Y 'eth.src == {mac}' -T fields -e frame.number 2>/dev/null"));
    assert!(ok, "tshark failed: {all}");
    let n = all.lines().filter(|l| !l.trim().is_empty()).count();
    let bad_filter = "_ws.malformed || _ws.expert.severity == error || ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0 || icmp.checksum.status == 0 || icmpv6.checksum.status == 0";
    let (ok, bad) = sh_try(&format!("tshark -n -r {pcap} {prefs} -Y 'eth.src == {mac} && ({bad_filter})' 2>/dev/null"));
    assert!(ok, "tshark failed: {bad}");
    assert!(bad.trim().is_empty(), "frames the stack sent that tshark finds malformed or with a bad checksum:\n{bad}");
    n
}

/// Kernel `ping -6` at every size, our MAC in the kernel's neighbour table, UDP
/// echo from kernel sockets byte-exact (1..1452 and 8000 bytes), TCP echo of
/// 1 MiB byte-exact, with the peer's default offloads; every frame the stack sent
/// decodes cleanly in tshark.
#[test]
fn kernel_ping6_udp_tcp_echo_and_neighbour_table() {
    require_tool("tshark");
    let bed = Bed::new(1);
    bed.enable_ipv6();
    assert_eq!(bed.peer_offload("tx-checksumming"), "on", "the peer keeps its default offloads");
    let pcap = format!("/tmp/xdpstack-v6-{}.pcap", std::process::id());
    let mut stack = bed.start_stack(&[
        "serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--ip6", "2001:db8::2/64", "--service", "echo:7", "--service", "udp-echo:7",
        "--queues", "1", "--pcap", &pcap,
    ]);
    assert!(stack.seen.iter().any(|l| l.contains("ip6=2001:db8::2/64")), "the ready line shows the IPv6 address: {:?}", stack.seen);
    for size in [56u32, 1452, 1453, 8000, 65000] {
        let (ok, out) = bed.peer(&format!("ping -6 -c 3 -i 0.2 -W 3 -s {size} {STACK6}"));
        assert!(ok && out.contains("3 received"), "ping -6 -s {size} failed:\n{out}");
        let want = format!("{} bytes from {STACK6}", size + 8);
        assert!(out.contains(&want), "ping -6 -s {size}: reply size wrong (want {want:?}):\n{out}");
    }
    // RFC 4861: the kernel resolved us by NDP.
    let mac = bed.stack_mac();
    let (_, neigh) = bed.peer(&format!("ip -6 neigh show {STACK6}"));
    assert!(neigh.contains(&format!("lladdr {mac}")), "the kernel's neighbour table lacks our MAC {mac}:\n{neigh}");

    // UDP echo from a kernel socket: every size up to one frame, then fragmented.
    let udp_res = in_netns(&bed.peer_ns, || {
        let s = UdpSocket::bind("[2001:db8::1]:0").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let to: SocketAddr = "[2001:db8::2]:7".parse().unwrap();
        let mut buf = vec![0u8; 70000];
        let sizes: Vec<usize> = (1..=1452).step_by(7).chain([1452, 1453, 8000, 30000]).collect();
        for n in sizes {
            let d = payload(n, n as u64);
            let mut got = None;
            for _ in 0..3 {
                s.send_to(&d, to).expect("send");
                if let Ok((k, from)) = s.recv_from(&mut buf) {
                    got = Some((buf[..k].to_vec(), from));
                    break;
                }
            }
            let Some((back, from)) = got else { return Err(format!("no echo of {n} bytes")) };
            if back != d || from != to {
                return Err(format!("echo of {n} bytes differs (got {} bytes from {from})", back.len()));
            }
        }
        Ok(())
    });
    udp_res.unwrap();

    // TCP echo of 1 MiB over IPv6, the kernel with its default offloads.
    let data = payload(1 << 20, 6);
    let want = data.clone();
    let got = in_netns(&bed.peer_ns, move || {
        let mut c = TcpStream::connect_timeout(&"[2001:db8::2]:7".parse().unwrap(), Duration::from_secs(5)).expect("connect over IPv6");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = c.try_clone().unwrap();
        let t = std::thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        c.read_to_end(&mut got).expect("read the echo");
        t.join().unwrap();
        got
    });
    assert_eq!(got.len(), want.len(), "TCP echo length");
    assert!(got == want, "TCP echo over IPv6 differs");

    std::thread::sleep(Duration::from_millis(100));
    let total = bed.stats_total();
    assert!(total["ipv6_reassembled"].as_u64().unwrap() > 0, "fragmented requests were reassembled: {total}");
    assert!(total["ipv6_frags_out"].as_u64().unwrap() > 0, "the large replies left fragmented: {total}");
    assert!(total["ndp_adverts"].as_u64().unwrap() > 0, "we answered the kernel's solicitations: {total}");
    for reason in ["ipv6_frag_overlap", "ipv6_frag_timeout", "ipv6_frag_invalid", "ipv6_malformed", "ndp_bad_hop_limit", "icmpv6_bad_checksum"] {
        assert!(total["drops"].get(reason).is_none_or(|v| v == 0), "{reason}: {total}");
    }
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let n = tshark_clean(&pcap, &mac);
    let _ = std::fs::remove_file(&pcap);
    assert!(n > 100, "tshark saw only {n} frames from the stack");
}

/// `xdpstack ping` to the kernel over IPv6 at 56 and 8000 bytes (the 8000-byte
/// requests leave fragmented, the kernel answers in fragments), and `xdpstack
/// connect` to a kernel TCP server at a v6 address, byte-exact.
#[test]
fn xdpstack_ping6_and_connect6_to_the_kernel() {
    let bed = Bed::new(1);
    bed.enable_ipv6();
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    for size in ["56", "8000"] {
        let out = Command::new("timeout")
            .args(["30", "ip", "netns", "exec", &bed.stack_ns, bin, "ping", "--iface", &bed.stack_if, "--ip6", "2001:db8::2/64", "--queues", "1"])
            .args(["-c", "3", "-s", size, PEER6])
            .output()
            .expect("run xdpstack ping");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "xdpstack ping -s {size} {PEER6} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("3 received"), "xdpstack ping -s {size}: not every reply:\n{text}");
        let want = format!("{} bytes from {PEER6}", size.parse::<usize>().unwrap() + 8);
        assert!(text.contains(&want), "xdpstack ping -s {size}: {want:?} missing:\n{text}");
    }

    // A kernel echo server at [2001:db8::1]:9007 for `xdpstack connect`.
    let ns = bed.peer_ns.clone();
    let server = std::thread::spawn(move || {
        in_netns(&ns, || {
            let l = std::net::TcpListener::bind("[2001:db8::1]:9007").expect("bind the kernel server");
            let (mut c, _) = l.accept().expect("accept");
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = vec![0u8; 65536];
            loop {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => c.write_all(&buf[..n]).unwrap(),
                }
            }
        })
    });
    std::thread::sleep(Duration::from_millis(200));
    let dir = std::env::temp_dir();
    let (inp, outp) = (dir.join(format!("xs-v6-in-{}", std::process::id())), dir.join(format!("xs-v6-out-{}", std::process::id())));
    let data = payload(300_000, 11);
    std::fs::write(&inp, &data).unwrap();
    let out = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &bed.stack_ns, bin, "connect", "--iface", &bed.stack_if, "--ip6", "2001:db8::2/64", "--queues", "1"])
        .args(["--to", "[2001:db8::1]:9007", "--send", inp.to_str().unwrap(), "--recv", outp.to_str().unwrap()])
        .output()
        .expect("run xdpstack connect");
    assert!(out.status.success(), "xdpstack connect to [{PEER6}]:9007 failed: {}", String::from_utf8_lossy(&out.stderr));
    server.join().expect("server");
    let back = std::fs::read(&outp).expect("received file");
    let _ = std::fs::remove_file(&inp);
    let _ = std::fs::remove_file(&outp);
    assert!(back == data, "connect over IPv6: {} bytes back of {}", back.len(), data.len());
}

/// radvd in the peer namespace advertises 2001:db8:1::/64: `serve --slaac`
/// forms its link-local address from the MAC and 2001:db8:1::EUI-64 with DAD,
/// and answers `ping -6` on it.
#[test]
fn slaac_from_radvd_with_dad() {
    require_tool("radvd");
    slaac_case(1);
    // On two queues every core learns the prefix (RAs are copied to each core),
    // and DAD runs on core 0 wherever its frames land.
    slaac_case(2);
}

fn slaac_case(queues: u32) {
    let q = queues.to_string();
    let bed = Bed::new(queues);
    bed.enable_ipv6();
    let conf = std::env::temp_dir().join(format!("xs-radvd-{}.conf", bed.peer_ns));
    let pid = std::env::temp_dir().join(format!("xs-radvd-{}.pid", bed.peer_ns));
    std::fs::write(
        &conf,
        format!(
            "interface {} {{\n AdvSendAdvert on;\n MinRtrAdvInterval 3;\n MaxRtrAdvInterval 4;\n prefix 2001:db8:1::/64 {{ AdvOnLink on; AdvAutonomous on; }};\n}};\n",
            bed.peer_if
        ),
    )
    .unwrap();
    // radvd advertises only as a router; the peer reaches the prefix on-link.
    let (ok, out) = bed.peer(&format!("sh -c 'sysctl -qw net.ipv6.conf.all.forwarding=1 && ip addr add 2001:db8:1::1/64 dev {} nodad'", bed.peer_if));
    assert!(ok, "{out}");
    let mut radvd = Command::new("ip")
        .args(["netns", "exec", &bed.peer_ns, "radvd", "-n", "-m", "stderr", "-C", conf.to_str().unwrap(), "-p", pid.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start radvd");
    let mac = bed.stack_mac();
    let m: Vec<u8> = mac.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
    let iid = format!("{:x}:{:x}:{:x}:{:x}", u16::from(m[0] ^ 2) << 8 | u16::from(m[1]), u16::from(m[2]) << 8 | 0xff, 0xfe00 | u16::from(m[3]), u16::from(m[4]) << 8 | u16::from(m[5]));
    let addr: std::net::Ipv6Addr = format!("2001:db8:1::{iid}").parse().unwrap();
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--slaac", "--service", "echo:7", "--queues", &q]);
    let ll: std::net::Ipv6Addr = format!("fe80::{iid}").parse().unwrap();
    assert!(stack.seen.iter().any(|l| l.contains(&format!("ip6={ll}/64"))), "the ready line shows the link-local address {ll}: {:?}", stack.seen);
    let formed = stack.wait_for(&format!("address {addr} usable"), Duration::from_secs(15));
    let _ = radvd.kill();
    let _ = radvd.wait();
    let _ = std::fs::remove_file(&conf);
    assert!(formed, "no SLAAC address {addr} after DAD within 15 s: {:?}", stack.seen);
    let (ok, out) = bed.peer(&format!("ping -6 -c 3 -i 0.2 -W 3 {addr}"));
    assert!(ok && out.contains("3 received"), "{queues} queue(s): ping -6 to the SLAAC address {addr}:\n{out}");
    // TCP to the SLAAC address from the kernel (any core may own the flow).
    let (ok, out) = bed.peer(&format!("sh -c 'echo hello-v6 | timeout 5 nc -N {addr} 7'"));
    assert!(ok && out.contains("hello-v6"), "{queues} queue(s): TCP echo on the SLAAC address:\n{out}");
    let total = bed.stats_total();
    assert!(total["mld_reports"].as_u64().unwrap() > 0, "MLDv2 reports for our groups: {total}");
    assert!(total["ndp_solicits"].as_u64().unwrap() >= 2, "DAD probes for the link-local and the SLAAC address: {total}");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// `--ip6` with the kernel peer's own address: our DAD probe is answered by the
/// kernel defending it, and the stack reports the duplicate (a warning line and
/// the `ndp_dad_duplicate` counter) and stops using it. On two queues the
/// verdict of core 0 reaches core 1 (reported once; withdrawn on both cores,
/// which `stack/engine/tests/sim_dad.rs` checks frame by frame).
#[test]
fn duplicate_address_is_detected() {
    for queues in ["1", "2"] {
        let bed = Bed::new(queues.parse().unwrap());
        bed.enable_ipv6();
        let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip6", "2001:db8::1/64", "--ip6", "2001:db8::2/64", "--service", "echo:7", "--queues", queues]);
        let seen = stack.wait_for("duplicate address detected: 2001:db8::1", Duration::from_secs(10));
        assert!(seen, "{queues} queue(s): no duplicate reported for 2001:db8::1: {:?}", stack.seen);
        let total = bed.stats_total();
        assert_eq!(total["drops"]["ndp_dad_duplicate"].as_u64(), Some(1), "{queues} queue(s): {total}");
        // The other address, unique, still serves.
        let (ok, out) = bed.peer(&format!("ping -6 -c 2 -i 0.2 -W 3 {STACK6}"));
        assert!(ok && out.contains("2 received"), "{queues} queue(s): ping -6 {STACK6}:\n{out}");
        let (code, out) = stack.signal_and_wait(libc::SIGTERM);
        assert_eq!(code, Some(0));
        let reports = out.iter().filter(|l| l.contains("duplicate address detected")).count();
        assert_eq!(reports, 1, "{queues} queue(s): reported once: {out:?}");
    }
}

/// On two queues: the kernel's `ping -6` of 8000 and 65000 bytes (fragments
/// steered by addresses to one core, RFC 8200 §4.5) and of 56 bytes all
/// answered, and UDP echo of an 8000-byte datagram; NDP answered by whichever
/// core receives it.
#[test]
fn kernel_ping6_fragmented_on_two_queues() {
    let bed = Bed::new(2);
    bed.enable_ipv6();
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip6", "2001:db8::2/64", "--service", "udp-echo:7", "--queues", "2"]);
    for size in [56u32, 8000, 65000] {
        let (ok, out) = bed.peer(&format!("ping -6 -c 3 -i 0.2 -W 3 -s {size} {STACK6}"));
        assert!(ok && out.contains("3 received"), "2 queues: ping -6 -s {size} failed:\n{out}");
    }
    let echoed = in_netns(&bed.peer_ns, || {
        let s = UdpSocket::bind("[2001:db8::1]:0").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let d = payload(8000, 3);
        let mut buf = vec![0u8; 9000];
        (0..3).any(|_| {
            s.send_to(&d, "[2001:db8::2]:7").unwrap();
            matches!(s.recv_from(&mut buf), Ok((n, _)) if buf[..n] == d[..])
        })
    });
    assert!(echoed, "2 queues: UDP echo of 8000 bytes over IPv6");
    let total = bed.stats_total();
    assert!(total["ipv6_reassembled"].as_u64().unwrap() >= 6, "{total}");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}
