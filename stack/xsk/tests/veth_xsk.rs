//! Root test: our XDP program + an AF_XDP socket on one end of a veth pair, the
//! Linux kernel on the other end (in another network namespace).
//!
//! Needs root (CAP_NET_ADMIN + CAP_BPF + CAP_SYS_ADMIN for setns): fails, never
//! skips, without it. Every namespace it makes is removed by a guard, also on
//! panic; every wait is bounded.
//!
//! Layout (names unique per process):
//! ```text
//!  ns xs<pid>f (kernel peer)          ns xs<pid>e (the device under test)
//!  xs<pid>p 198.18.0.1/24  <─ veth ─> xs<pid>s: XDP prog + XSK on queue 0
//!                                     steers 198.18.0.2, no kernel address
//! ```

use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use xsk::{
    driver_name, interface_mac, xdp_attached, AttachedMode, Device, DeviceError, MacAddr, TxQueue,
    XdpMode, XdpProgram, XskConfig, XskDevice,
};

const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const STACK_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const OTHER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
const PEER_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const STACK_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const OTHER_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "veth_xsk needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN): run `sudo -E cargo test -p xdpstack-xsk --test veth_xsk` — this test fails rather than skipping"
    );
}

/// Run a command to completion within `timeout` (killed after it).
fn run(args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {args:?}: {e}"));
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("wait_with_output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait_with_output");
            panic!("{args:?} timed out after {timeout:?}: {out:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn must(args: &[&str]) -> String {
    let out = run(args, Duration::from_secs(10));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A background process killed (and reaped) on drop.
struct Bg(Option<Child>);

impl Bg {
    fn spawn(args: &[&str]) -> Bg {
        let c = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {args:?}: {e}"));
        Bg(Some(c))
    }

    /// Wait up to `timeout` for exit; Some(success) or None if still running.
    fn wait(&mut self, timeout: Duration) -> Option<Output> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.0.as_mut()?;
            if c.try_wait().ok()?.is_some() {
                return self.0.take()?.wait_with_output().ok();
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Two namespaces joined by a veth pair; removed on drop (also on panic).
struct Testbed {
    stack_ns: String,
    peer_ns: String,
    stack_if: String,
    peer_if: String,
}

impl Testbed {
    fn new(tag: char, queues: u32) -> Testbed {
        let pid = std::process::id();
        let (e, f) = match tag {
            'a' => ('e', 'f'),
            'b' => ('g', 'h'),
            'c' => ('i', 'j'),
            'd' => ('k', 'l'),
            'f' => ('o', 'p'),
            _ => ('m', 'n'),
        };
        let tb = Testbed {
            stack_ns: format!("xs{pid}{e}"),
            peer_ns: format!("xs{pid}{f}"),
            stack_if: format!("xs{pid}{e}s"),
            peer_if: format!("xs{pid}{f}p"),
        };
        // Guard exists before anything is created, so partial setups are cleaned too.
        must(&["ip", "netns", "add", &tb.stack_ns]);
        must(&["ip", "netns", "add", &tb.peer_ns]);
        let q = queues.to_string();
        must(&[
            "ip",
            "-n",
            &tb.stack_ns,
            "link",
            "add",
            &tb.stack_if,
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            &tb.peer_if,
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
            "netns",
            &tb.peer_ns,
        ]);
        let peer_addr = format!("{PEER_IP}/24");
        must(&[
            "ip",
            "-n",
            &tb.peer_ns,
            "addr",
            "add",
            &peer_addr,
            "dev",
            &tb.peer_if,
        ]);
        let peer6 = format!("{PEER_IP6}/64");
        must(&[
            "ip",
            "-n",
            &tb.peer_ns,
            "-6",
            "addr",
            "add",
            &peer6,
            "dev",
            &tb.peer_if,
            "nodad",
        ]);
        must(&["ip", "-n", &tb.peer_ns, "link", "set", "lo", "up"]);
        must(&["ip", "-n", &tb.peer_ns, "link", "set", &tb.peer_if, "up"]);
        // The kernel on the stack's side must not answer NDP with the shared MAC.
        let knob = format!("net.ipv6.conf.{}.disable_ipv6=1", tb.stack_if);
        must(&["ip", "netns", "exec", &tb.stack_ns, "sysctl", "-qw", &knob]);
        must(&["ip", "-n", &tb.stack_ns, "link", "set", &tb.stack_if, "up"]);
        tb
    }

    /// Run `f` in a thread that has entered the stack's network namespace.
    fn in_stack_ns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_ns(&self.stack_ns, f)
    }
}

/// Run `f` in a thread that has entered network namespace `name`.
fn in_ns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    {
        let path = format!("/var/run/netns/{name}");
        let h = thread::spawn(move || {
            let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: `ns` is an open netns file; setns only changes this thread's
            // network namespace (allowed in a multi-threaded process).
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
            f()
        });
        match h.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

impl Testbed {
    fn peer_neigh(&self, ip: Ipv4Addr) -> String {
        must(&[
            "ip",
            "-n",
            &self.peer_ns,
            "neigh",
            "show",
            &ip.to_string(),
            "dev",
            &self.peer_if,
        ])
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Deleting the namespaces deletes the veth pair with them.
        for ns in [&self.stack_ns, &self.peer_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn mac_str(m: &MacAddr) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An ARP request/reply seen on the wire.
#[derive(Debug, Clone, Copy)]
struct Arp {
    op: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tpa: Ipv4Addr,
}

fn parse_arp(f: &[u8]) -> Option<Arp> {
    if f.len() < 42 || f[12..14] != [0x08, 0x06] {
        return None;
    }
    let a = &f[14..];
    if a[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    Some(Arp {
        op: u16::from_be_bytes([a[6], a[7]]),
        sha: a[8..14].try_into().unwrap(),
        spa: Ipv4Addr::new(a[14], a[15], a[16], a[17]),
        tpa: Ipv4Addr::new(a[24], a[25], a[26], a[27]),
    })
}

fn write_arp_reply(buf: &mut [u8], our_mac: MacAddr, req: &Arp) {
    buf.fill(0);
    buf[0..6].copy_from_slice(&req.sha);
    buf[6..12].copy_from_slice(&our_mac);
    buf[12..14].copy_from_slice(&[0x08, 0x06]);
    let a = &mut buf[14..42];
    a[0..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
    a[6..8].copy_from_slice(&2u16.to_be_bytes());
    a[8..14].copy_from_slice(&our_mac);
    a[14..18].copy_from_slice(&req.tpa.octets());
    a[18..24].copy_from_slice(&req.sha);
    a[24..28].copy_from_slice(&req.spa.octets());
}

fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum()
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn checksum(data: &[u8]) -> u16 {
    fold(sum16(data))
}

/// ICMPv6 checksum of `icmp` (checksum field zeroed) between `src` and `dst`.
fn icmp6_checksum(src: &[u8], dst: &[u8], icmp: &[u8]) -> u16 {
    let len = (icmp.len() as u32).to_be_bytes();
    fold(sum16(src) + sum16(dst) + sum16(&len) + 58 + sum16(icmp))
}

/// If `f` is an ICMPv4 echo request to `to`, the length of the echo reply frame.
fn echo_request_len(f: &[u8], to: Ipv4Addr) -> Option<usize> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[23] != 1 {
        return None;
    }
    let ihl = ((f[14] & 0x0f) as usize) * 4;
    let tot = u16::from_be_bytes([f[16], f[17]]) as usize;
    if f[30..34] != to.octets() || 14 + tot > f.len() || tot < ihl + 8 || f[14 + ihl] != 8 {
        return None;
    }
    Some(14 + tot)
}

fn write_echo_reply(buf: &mut [u8], req: &[u8], our_mac: MacAddr) {
    buf.copy_from_slice(&req[..buf.len()]);
    buf[0..6].copy_from_slice(&req[6..12]);
    buf[6..12].copy_from_slice(&our_mac);
    let ihl = ((buf[14] & 0x0f) as usize) * 4;
    buf[26..30].copy_from_slice(&req[30..34]);
    buf[30..34].copy_from_slice(&req[26..30]);
    buf[22] = 64; // TTL
    buf[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&buf[14..14 + ihl]);
    buf[24..26].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut buf[14 + ihl..];
    icmp[0] = 0; // echo reply
    icmp[2..4].copy_from_slice(&[0, 0]);
    let c = checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Poll the device until `pred` has seen a matching frame or `timeout` passes;
/// `pred` may queue replies on `tx`. Returns whether it matched.
fn rx_until<D: Device>(
    dev: &mut D,
    timeout: Duration,
    mut pred: impl FnMut(&[u8], &mut D::Tx) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut hit = false;
    while !hit && Instant::now() < deadline {
        dev.wait(Duration::from_millis(50)).expect("wait");
        dev.rx_burst(64, |f, tx| {
            if pred(f, tx) {
                hit = true;
            }
        })
        .expect("rx_burst");
        dev.flush().expect("flush");
    }
    hit
}

#[test]
fn arp_and_ping_through_af_xdp() {
    require_root();
    let tb = Testbed::new('a', 1);
    let stack_if = tb.stack_if.clone();
    let peer_ns = tb.peer_ns.clone();

    let (our_mac, modes) = tb.in_stack_ns(move || {
        let prog = XdpProgram::attach(&stack_if, XdpMode::Auto, &[STACK_IP], &[])
            .unwrap_or_else(|e| panic!("attach: {e}"));
        assert!(xdp_attached(&stack_if).unwrap());
        let mut cfg = XskConfig::new(stack_if.clone());
        cfg.ipv4 = vec![STACK_IP];
        let mut dev = XskDevice::open(&cfg, &prog).unwrap_or_else(|e| panic!("open: {e}"));
        let our_mac = dev.mac();
        assert_eq!(our_mac, interface_mac(&stack_if).unwrap());
        eprintln!(
            "veth_xsk: XDP mode {}, bind mode {}, MAC {}",
            prog.mode(),
            dev.bind_mode(),
            mac_str(&our_mac)
        );

        // 1. The peer pings us: its ARP request for 198.18.0.2 must reach the XSK.
        let target = STACK_IP.to_string();
        let mut ping = Bg::spawn(&[
            "ip", "netns", "exec", &peer_ns, "ping", "-n", "-c", "1", "-W", "4", &target,
        ]);
        let mut arp_seen = None;
        let got = rx_until(&mut dev, Duration::from_secs(5), |f, tx| {
            if let Some(arp) = parse_arp(f) {
                if arp.op == 1 && arp.tpa == STACK_IP {
                    assert_eq!(arp.spa, PEER_IP);
                    arp_seen = Some(arp);
                    // Answer it from the same batch.
                    assert!(tx.send(42, &mut |buf| write_arp_reply(buf, our_mac, &arp)));
                    return true;
                }
            }
            false
        });
        assert!(
            got,
            "no ARP request for {STACK_IP} reached the AF_XDP socket in 5 s"
        );
        eprintln!("veth_xsk: got {:?}", arp_seen.unwrap());

        // 2. Resolved, the peer sends its echo request to us; answer it so ping succeeds.
        let got = rx_until(&mut dev, Duration::from_secs(4), |f, tx| {
            if let Some(len) = echo_request_len(f, STACK_IP) {
                assert!(tx.send(len, &mut |buf| write_echo_reply(buf, f, our_mac)));
                return true;
            }
            false
        });
        assert!(
            got,
            "no ICMP echo request for {STACK_IP} reached the AF_XDP socket"
        );
        let out = ping
            .wait(Duration::from_secs(6))
            .expect("ping did not finish");
        assert!(
            out.status.success(),
            "peer ping of {STACK_IP} failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );

        // 3. Not ours: an ARP for 198.18.0.3 goes to the kernel, not to the XSK.
        let before = prog.counters().unwrap();
        let other = OTHER_IP.to_string();
        let mut ping3 = Bg::spawn(&[
            "ip", "netns", "exec", &peer_ns, "ping", "-n", "-c", "1", "-W", "1", &other,
        ]);
        let stolen = rx_until(&mut dev, Duration::from_millis(1500), |f, _| {
            parse_arp(f).is_some_and(|a| a.tpa == OTHER_IP)
        });
        assert!(!stolen, "ARP for {OTHER_IP} was redirected to the XSK");
        let _ = ping3.wait(Duration::from_secs(3));
        let after = prog.counters().unwrap();
        assert!(
            after.passed > before.passed,
            "XDP passed nothing: {before:?} -> {after:?}"
        );
        eprintln!("veth_xsk: XDP counters {after:?}");
        assert!(after.redirected >= 2 && after.arp >= 1 && after.ipv4 >= 1);
        assert_eq!(after.no_socket, 0);

        let st = dev.stats();
        eprintln!("veth_xsk: device stats {st:?}");
        assert!(st.rx_packets >= 2 && st.tx_packets == 2 && st.tx_no_frame == 0);
        assert!(
            st.tx_kicks <= 2,
            "kicked the kernel without anything to send: {st:?}"
        );

        let modes = (prog.mode(), dev.bind_mode());
        drop(dev);
        drop(prog);
        assert!(
            !xdp_attached(&stack_if).unwrap(),
            "XDP program left attached after drop"
        );
        (our_mac, modes)
    });

    // 4. The peer learned our MAC from the reply.
    let neigh = tb.peer_neigh(STACK_IP);
    eprintln!("veth_xsk: peer neigh: {}", neigh.trim());
    assert!(
        neigh.contains(&mac_str(&our_mac)),
        "peer's neighbour entry lacks our MAC: {neigh:?}"
    );
    assert!(
        !neigh.contains("FAILED") && !neigh.contains("INCOMPLETE"),
        "peer's neighbour entry not resolved: {neigh:?}"
    );
    eprintln!("veth_xsk: chose XDP {} / bind {}", modes.0, modes.1);
}

#[test]
fn attach_modes_and_exclusivity() {
    require_root();
    let tb = Testbed::new('b', 1);
    let stack_if = tb.stack_if.clone();
    tb.in_stack_ns(move || {
        assert!(!xdp_attached(&stack_if).unwrap());

        // Generic mode works everywhere.
        let g = XdpProgram::attach(&stack_if, XdpMode::Generic, &[STACK_IP], &[]).unwrap();
        assert_eq!(g.mode(), AttachedMode::Generic);
        assert_eq!(g.mode().to_string(), "generic");
        // A second program must not replace the first.
        match XdpProgram::attach(&stack_if, XdpMode::Auto, &[STACK_IP], &[]) {
            Err(DeviceError::AlreadyAttached { prog_id, .. }) => assert_eq!(prog_id, g.prog_id()),
            other => panic!("second attach: expected AlreadyAttached, got {other:?}"),
        }
        g.detach().unwrap();
        assert!(!xdp_attached(&stack_if).unwrap());

        // veth has native XDP.
        let n = XdpProgram::attach(&stack_if, XdpMode::Native, &[STACK_IP], &[]).unwrap();
        assert_eq!(n.mode(), AttachedMode::Native);
        // Addresses can change at run time.
        n.add_ipv6("2001:db8::2".parse().unwrap()).unwrap();
        n.remove_ipv6("2001:db8::2".parse().unwrap()).unwrap();
        n.remove_ipv4(STACK_IP).unwrap();

        // Unwinding detaches too (resume_unwind: unwinds without the panic hook's noise).
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _n = n;
            std::panic::resume_unwind(Box::new("deliberate unwind"));
        }));
        assert!(r.is_err());
        assert!(
            !xdp_attached(&stack_if).unwrap(),
            "left attached after a panic"
        );

        // Errors are one clear line.
        let e = XdpProgram::attach("nosuchif0", XdpMode::Auto, &[], &[]).unwrap_err();
        assert_eq!(e.to_string(), "interface nosuchif0 not found");
    });
}

/// An ICMPv6 message seen on the wire (no extension headers).
struct Icmp6<'a> {
    src_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    msg: &'a [u8],
}

fn parse_icmp6(f: &[u8]) -> Option<Icmp6<'_>> {
    if f.len() < 14 + 40 + 4 || f[12..14] != [0x86, 0xdd] || f[20] != 58 {
        return None;
    }
    let plen = u16::from_be_bytes([f[18], f[19]]) as usize;
    let msg = f.get(54..54 + plen)?;
    Some(Icmp6 {
        src_mac: f[6..12].try_into().unwrap(),
        src: <[u8; 16]>::try_from(&f[22..38]).unwrap().into(),
        dst: <[u8; 16]>::try_from(&f[38..54]).unwrap().into(),
        msg,
    })
}

fn ns_target(m: &Icmp6<'_>) -> Option<Ipv6Addr> {
    if m.msg.len() >= 24 && m.msg[0] == 135 {
        Some(<[u8; 16]>::try_from(&m.msg[8..24]).unwrap().into())
    } else {
        None
    }
}

/// Write an IPv6 + ICMPv6 frame around `msg` (checksum field is filled in).
fn write_icmp6(
    buf: &mut [u8],
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop: u8,
    msg: &[u8],
) {
    buf[0..6].copy_from_slice(&dst_mac);
    buf[6..12].copy_from_slice(&src_mac);
    buf[12..14].copy_from_slice(&[0x86, 0xdd]);
    buf[14..18].copy_from_slice(&[0x60, 0, 0, 0]);
    buf[18..20].copy_from_slice(&(msg.len() as u16).to_be_bytes());
    buf[20] = 58;
    buf[21] = hop;
    buf[22..38].copy_from_slice(&src.octets());
    buf[38..54].copy_from_slice(&dst.octets());
    let icmp = &mut buf[54..54 + msg.len()];
    icmp.copy_from_slice(msg);
    icmp[2..4].copy_from_slice(&[0, 0]);
    let c = icmp6_checksum(&src.octets(), &dst.octets(), icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Poll every device until `pred` matched or `timeout` passed. Stops at the
/// burst that matched: a frame the answer draws may arrive on another queue
/// at once (the peer's transmit queue follows the CPU or the flow hash, so
/// the NS and the echo request it unblocks often land on different queues)
/// and must be left for the next call, not swept up and discarded here.
fn rx_until_any(
    devs: &mut [XskDevice],
    timeout: Duration,
    mut pred: impl FnMut(usize, &[u8], &mut xsk::XskTx) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for (q, dev) in devs.iter_mut().enumerate() {
            dev.wait(Duration::from_millis(10)).expect("wait");
            let mut hit = false;
            dev.rx_burst(64, |f, tx| {
                if !hit && pred(q, f, tx) {
                    hit = true;
                }
            })
            .expect("rx_burst");
            dev.flush().expect("flush");
            if hit {
                return true;
            }
        }
    }
    false
}

#[test]
fn ndp_and_ping6_on_two_queues() {
    require_root();
    let tb = Testbed::new('c', 2);
    let stack_if = tb.stack_if.clone();
    let peer_ns = tb.peer_ns.clone();
    // The NS and the echo request on different queues, on every machine: the
    // peer sends the NS from ping's CPU (0) and the echo request from the
    // softirq that took our NA, on this thread's CPU (1); XPS maps CPU q to
    // transmit queue q, and veth delivers on the matching receive queue.
    // Without this, the queues follow the kernel's per-boot flow-hash seed, and
    // the harness bug this found (the echo swept up with the NS) showed on some
    // machines only.
    for (q, mask) in [(0, "1"), (1, "2")] {
        let path = format!("/sys/class/net/{}/queues/tx-{q}/xps_cpus", tb.peer_if);
        must(&["ip", "netns", "exec", &tb.peer_ns, "sh", "-c", &format!("echo {mask} > {path}")]);
    }
    tb.in_stack_ns(move || {
        // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it and
        // sched_setaffinity(0, ..) changes this thread's affinity only.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(1, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        assert_eq!(rc, 0, "ndp_and_ping6_on_two_queues needs CPU 1 (2 CPUs): {}", std::io::Error::last_os_error());
        assert_eq!(xsk::interface_queues(&stack_if).unwrap(), 2);
        let prog = XdpProgram::attach(&stack_if, XdpMode::Auto, &[], &[STACK_IP6]).unwrap();
        let mut devs = Vec::new();
        for q in 0..2 {
            let mut cfg = XskConfig::new(stack_if.clone());
            cfg.queue = q;
            cfg.frame_count = 1024;
            devs.push(XskDevice::open(&cfg, &prog).unwrap_or_else(|e| panic!("open q{q}: {e}")));
        }
        let mut cfg = XskConfig::new(stack_if.clone());
        cfg.queue = 2;
        assert!(matches!(
            XskDevice::open(&cfg, &prog),
            Err(DeviceError::NoSuchQueue { count: 2, .. })
        ));
        let our_mac = devs[0].mac();

        // 1. ping -6: the NS for our address (to its solicited-node group) must
        //    reach an XSK; answer with a solicited NA carrying our MAC.
        let mut ping = Bg::spawn(&[
            "ip",
            "netns",
            "exec",
            &peer_ns,
            "taskset",
            "-c",
            "0",
            "ping",
            "-6",
            "-n",
            "-c",
            "1",
            "-W",
            "4",
            &STACK_IP6.to_string(),
        ]);
        let mut queues_seen = [0u32; 2];
        let got = rx_until_any(&mut devs, Duration::from_secs(5), |q, f, tx| {
            let Some(m) = parse_icmp6(f) else {
                return false;
            };
            if ns_target(&m) != Some(STACK_IP6) {
                return false;
            }
            queues_seen[q] += 1;
            assert_eq!(m.dst, "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
            let mut na = [0u8; 32];
            na[0] = 136;
            na[4] = 0x60; // Solicited + Override
            na[8..24].copy_from_slice(&STACK_IP6.octets());
            na[24] = 2; // target link-layer address option
            na[25] = 1;
            na[26..32].copy_from_slice(&our_mac);
            let (dst_mac, dst) = (m.src_mac, m.src);
            assert!(tx.send(14 + 40 + 32, &mut |buf| {
                write_icmp6(buf, dst_mac, our_mac, STACK_IP6, dst, 255, &na)
            }));
            true
        });
        assert!(got, "no NS for {STACK_IP6} reached an AF_XDP socket");

        // 2. The echo request (to our unicast address) comes next; answer it.
        let got = rx_until_any(&mut devs, Duration::from_secs(4), |q, f, tx| {
            let Some(m) = parse_icmp6(f) else {
                return false;
            };
            if m.dst != STACK_IP6 || m.msg[0] != 128 {
                return false;
            }
            queues_seen[q] += 1;
            let mut reply = m.msg.to_vec();
            reply[0] = 129;
            let (dst_mac, dst) = (m.src_mac, m.src);
            assert!(tx.send(54 + reply.len(), &mut |buf| {
                write_icmp6(buf, dst_mac, our_mac, STACK_IP6, dst, 64, &reply)
            }));
            true
        });
        assert!(
            got,
            "no ICMPv6 echo request for {STACK_IP6} reached an AF_XDP socket"
        );
        let out = ping
            .wait(Duration::from_secs(6))
            .expect("ping -6 did not finish");
        assert!(
            out.status.success(),
            "peer ping -6 of {STACK_IP6} failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        eprintln!("veth_xsk: IPv6 frames per queue {queues_seen:?}");

        // 3. An NS for another address goes to the kernel.
        let mut ping3 = Bg::spawn(&[
            "ip",
            "netns",
            "exec",
            &peer_ns,
            "ping",
            "-6",
            "-n",
            "-c",
            "1",
            "-W",
            "1",
            &OTHER_IP6.to_string(),
        ]);
        let stolen = rx_until_any(&mut devs, Duration::from_millis(1500), |_, f, _| {
            parse_icmp6(f).is_some_and(|m| ns_target(&m) == Some(OTHER_IP6))
        });
        assert!(!stolen, "NS for {OTHER_IP6} was redirected to an XSK");
        let _ = ping3.wait(Duration::from_secs(3));
        let c = prog.counters().unwrap();
        eprintln!("veth_xsk: XDP counters {c:?}");
        assert!(c.ndp >= 1 && c.ipv6 >= 1 && c.no_socket == 0);
        drop(devs);
        drop(prog);
        assert!(!xdp_attached(&stack_if).unwrap());
    });
}

const HELPER_ENV: &str = "XDPSTACK_XSK_TEST_HELPER_NS";

/// Not a test on its own: the body of the child process that
/// `sigkill_leaves_nothing_attached` kills. Returns at once unless the parent set
/// the environment variable.
#[test]
fn helper_attach_then_hang() {
    let Ok(ns) = std::env::var(HELPER_ENV) else {
        return;
    };
    let iface = std::env::var("XDPSTACK_XSK_TEST_HELPER_IF").unwrap();
    let f = File::open(format!("/var/run/netns/{ns}")).unwrap();
    // SAFETY: `f` is an open netns file; only this thread's namespace changes.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0);
    let prog = XdpProgram::attach(&iface, XdpMode::Auto, &[STACK_IP], &[]).unwrap();
    let dev = XskDevice::open(&XskConfig::new(iface.clone()), &prog).unwrap();
    println!("XSK_HELPER_READY {} {}", prog.mode(), dev.bind_mode());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    thread::sleep(Duration::from_secs(30));
    panic!("helper was not killed within 30 s");
}

#[test]
fn sigkill_leaves_nothing_attached() {
    use std::io::BufRead;
    require_root();
    let tb = Testbed::new('d', 1);
    let mut child = Bg(Some(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "helper_attach_then_hang",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, &tb.stack_ns)
            .env("XDPSTACK_XSK_TEST_HELPER_IF", &tb.stack_if)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    ));
    let stdout = child.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("XSK_HELPER_READY") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("helper process did not attach within 10 s");
    eprintln!("veth_xsk: helper: {line}");
    let iface = tb.stack_if.clone();
    assert!(tb.in_stack_ns(move || xdp_attached(&iface).unwrap()));

    let pid = child.0.as_ref().unwrap().id() as i32;
    // SAFETY: kill(2) on the pid of our own child process, which is not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let _ = child.0.take().unwrap().wait();

    let iface = tb.stack_if.clone();
    let gone = tb.in_stack_ns(move || {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if !xdp_attached(&iface).unwrap() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    });
    assert!(
        gone,
        "XDP program still attached after its process was SIGKILLed"
    );
}

/// Send raw frames out of `iface` from a thread in namespace `ns` (AF_PACKET).
/// `gap` paces the frames. Returns how many were sent.
fn inject(ns: &str, iface: &str, frames: Vec<Vec<u8>>, gap: Duration) -> thread::JoinHandle<usize> {
    let path = format!("/var/run/netns/{ns}");
    let iface = iface.to_string();
    thread::spawn(move || {
        let nsf = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: `nsf` is an open netns file; setns only changes this thread's namespace.
        let rc = unsafe { libc::setns(nsf.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
        let ifindex = xsk::if_index(&iface).unwrap();
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `fd` is a fresh socket owned by nobody else.
        let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex as i32;
        sll.sll_halen = 6;
        let mut sent = 0;
        for f in &frames {
            sll.sll_addr[..6].copy_from_slice(&f[..6.min(f.len())]);
            // SAFETY: `f` and `sll` are valid for the given lengths during the call.
            let rc = unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    f.as_ptr().cast(),
                    f.len(),
                    0,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if rc == f.len() as isize {
                sent += 1;
            }
            if !gap.is_zero() {
                thread::sleep(gap);
            }
        }
        sent
    })
}

fn eth(dst: MacAddr, idx: u8, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0x5e, idx]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn arp_req(dst: MacAddr, idx: u8, target: Ipv4Addr) -> Vec<u8> {
    let mut f = eth(dst, idx, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0x5e, idx]);
    f.extend_from_slice(&PEER_IP.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

fn ipv4_udp(mut f: Vec<u8>, dst: Ipv4Addr) -> Vec<u8> {
    let mut ip = [0u8; 28];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&28u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&PEER_IP.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip[20..22].copy_from_slice(&9u16.to_be_bytes());
    ip[22..24].copy_from_slice(&9u16.to_be_bytes());
    ip[24..26].copy_from_slice(&8u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f
}

fn ipv6_icmp(idx: u8, dst_mac: MacAddr, dst: Ipv6Addr, msg: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 54 + msg.len()];
    write_icmp6(
        &mut f,
        dst_mac,
        [0x02, 0, 0, 0, 0x5e, idx],
        PEER_IP6,
        dst,
        255,
        msg,
    );
    f
}

fn nd_msg(ty: u8, target: Ipv6Addr) -> Vec<u8> {
    let mut m = vec![0u8; 24];
    m[0] = ty;
    m[8..24].copy_from_slice(&target.octets());
    m
}

#[test]
fn steering_table_and_load() {
    require_root();
    let tb = Testbed::new('e', 1);
    let stack_if = tb.stack_if.clone();
    let peer_ns = tb.peer_ns.clone();
    let peer_if = tb.peer_if.clone();
    tb.in_stack_ns(move || {
        for mode in [XdpMode::Generic, XdpMode::Native] {
            let prog = XdpProgram::attach(&stack_if, mode, &[STACK_IP], &[STACK_IP6]).unwrap();
            let mut dev = XskDevice::open(&XskConfig::new(stack_if.clone()), &prog).unwrap();
            eprintln!("veth_xsk: steering table in {} mode", prog.mode());
            let us = dev.mac();
            let bc = [0xff; 6];
            let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
            let mcast = |a: Ipv6Addr| {
                let o = a.octets();
                [0x33, 0x33, o[12], o[13], o[14], o[15]]
            };

            // (frame, should reach the XSK, what)
            let mut table: Vec<(Vec<u8>, bool, &str)> = Vec::new();
            let mut add =
                |f: Vec<u8>, steer: bool, what: &'static str| table.push((f, steer, what));
            add(arp_req(bc, 1, STACK_IP), true, "ARP for ours");
            add(arp_req(bc, 2, OTHER_IP), false, "ARP for another");
            {
                // 802.1Q-tagged ARP for ours: tag inserted after the MACs.
                let mut f = arp_req(bc, 3, STACK_IP);
                f.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
                add(f, true, "802.1Q ARP for ours");
            }
            {
                let mut f = ipv4_udp(eth(us, 4, 0x0800), STACK_IP);
                f.splice(12..14, [0x88, 0xa8, 0x00, 0x0b, 0x08, 0x00]);
                add(f, true, "802.1ad IPv4 to ours");
            }
            add(ipv4_udp(eth(us, 5, 0x0800), STACK_IP), true, "IPv4 to ours");
            add(
                ipv4_udp(eth(us, 6, 0x0800), OTHER_IP),
                false,
                "IPv4 to another",
            );
            {
                let mut f = arp_req(bc, 7, STACK_IP);
                f.truncate(14 + 20);
                add(f, false, "truncated ARP");
            }
            add(
                eth(us, 8, 0x0800),
                false,
                "bare Ethernet header (IPv4 type)",
            );
            {
                let mut f = eth(us, 9, 0x8100);
                f.extend_from_slice(&[0, 1]);
                add(f, false, "truncated VLAN tag");
            }
            {
                let mut f = arp_req(bc, 10, STACK_IP);
                f[14 + 4] = 8; // hlen 8: not Ethernet/IPv4 ARP
                add(f, false, "ARP with odd hlen");
            }
            let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
            add(ipv6_icmp(11, us, STACK_IP6, &echo), true, "IPv6 to ours");
            add(
                ipv6_icmp(12, us, OTHER_IP6, &echo),
                false,
                "IPv6 to another",
            );
            let snm_ours = v6("ff02::1:ff00:2");
            let snm_other = v6("ff02::1:ff00:3");
            add(
                ipv6_icmp(13, mcast(snm_ours), snm_ours, &nd_msg(135, STACK_IP6)),
                true,
                "NS for ours",
            );
            add(
                ipv6_icmp(14, mcast(snm_other), snm_other, &nd_msg(135, OTHER_IP6)),
                false,
                "NS for another",
            );
            // NS for another address that shares our solicited-node group: the kernel's.
            let twin = v6("2001:db8:1::2");
            add(
                ipv6_icmp(15, mcast(snm_ours), snm_ours, &nd_msg(135, twin)),
                false,
                "NS for a same-group address",
            );
            let all = v6("ff02::1");
            add(
                ipv6_icmp(16, mcast(all), all, &nd_msg(136, STACK_IP6)),
                true,
                "unsolicited NA for ours",
            );
            let mut ra = vec![0u8; 16];
            ra[0] = 134;
            add(ipv6_icmp(17, mcast(all), all, &ra), true, "RA to ff02::1");
            let routers = v6("ff02::2");
            let mut rs = vec![0u8; 8];
            rs[0] = 133;
            add(
                ipv6_icmp(18, mcast(routers), routers, &rs),
                false,
                "RS to ff02::2",
            );
            add(
                ipv6_icmp(19, mcast(all), all, &echo),
                false,
                "echo to ff02::1",
            );
            add(
                ipv6_icmp(20, mcast(snm_ours), snm_ours, &ra),
                true,
                "RA to our solicited-node group",
            );
            {
                let mut f = ipv6_icmp(21, mcast(snm_ours), snm_ours, &nd_msg(135, STACK_IP6));
                f.truncate(54 + 10);
                add(f, false, "truncated NS");
            }

            let before = prog.counters().unwrap();
            let frames: Vec<Vec<u8>> = table.iter().map(|(f, _, _)| f.clone()).collect();
            let sent = inject(&peer_ns, &peer_if, frames, Duration::from_millis(2))
                .join()
                .unwrap();
            assert_eq!(sent, table.len());

            let mut got = vec![false; table.len() + 1];
            let deadline = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < deadline {
                dev.wait(Duration::from_millis(20)).unwrap();
                dev.rx_burst(64, |f, _| {
                    if f.len() >= 12 && f[6..11] == [0x02, 0, 0, 0, 0x5e] {
                        let i = f[11] as usize;
                        let (want, what) = (&table[i - 1].0, table[i - 1].2);
                        assert_eq!(f, &want[..], "{what}: frame altered on the way");
                        got[i] = true;
                    }
                })
                .unwrap();
                dev.flush().unwrap();
            }
            let mut wrong = Vec::new();
            for (i, (_, steer, what)) in table.iter().enumerate() {
                if got[i + 1] != *steer {
                    wrong.push(format!(
                        "{what}: expected {}",
                        if *steer { "XSK" } else { "kernel" }
                    ));
                }
            }
            assert!(wrong.is_empty(), "misdirected frames: {wrong:#?}");
            let after = prog.counters().unwrap();
            let steered = table.iter().filter(|t| t.1).count() as u64;
            assert_eq!(
                after.redirected - before.redirected,
                steered,
                "{before:?} -> {after:?}"
            );
            assert!(after.passed - before.passed >= (table.len() as u64 - steered));
            if mode == XdpMode::Generic {
                continue;
            }

            // Load: many more frames than the RX pool holds, while we drain;
            // recycling through the fill ring must keep up, and everything sent is
            // either received or counted as dropped by the kernel.
            let n = 6000usize;
            let frames: Vec<Vec<u8>> = (0..n)
                .map(|_| ipv4_udp(eth(us, 99, 0x0800), STACK_IP))
                .collect();
            let s0 = dev.stats();
            let injector = inject(&peer_ns, &peer_if, frames, Duration::ZERO);
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut idle_since = Instant::now();
            loop {
                dev.wait(Duration::from_millis(10)).unwrap();
                let k = dev
                    .rx_burst(256, |f, _| assert_eq!(f.len(), 14 + 28))
                    .unwrap();
                dev.flush().unwrap();
                if k > 0 {
                    idle_since = Instant::now();
                }
                if injector.is_finished() && idle_since.elapsed() > Duration::from_millis(300) {
                    break;
                }
                assert!(Instant::now() < deadline, "load phase did not finish");
            }
            let sent = injector.join().unwrap();
            let s1 = dev.stats();
            let rx = s1.rx_packets - s0.rx_packets;
            // The kernel counts a frame dropped for an empty fill ring twice: in
            // rx_dropped and in rx_fill_ring_empty_descs; a full RX ring only in
            // rx_ring_full. So each dropped frame is in rx_dropped + rx_ring_full.
            let dropped = (s1.rx_ring_full + s1.rx_dropped) - (s0.rx_ring_full + s0.rx_dropped);
            eprintln!("veth_xsk: load: sent {sent}, received {rx}, kernel drops {dropped}: {s1:?}");
            assert_eq!(sent, n);
            assert!(rx > 2048, "received {rx}: the RX pool was not recycled");
            assert_eq!(rx + dropped, n as u64, "frames unaccounted for");

            // TX: more frames than the TX pool in one batch. The excess is refused
            // and counted; after a flush every frame comes back to the free list.
            let pool = dev.tx().free();
            let mut ok = 0;
            for i in 0..pool + 100 {
                let sent_ok = dev.tx().send(60, &mut |b| {
                    b.fill(0);
                    b[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0x5e, 0xee]);
                    b[6..12].copy_from_slice(&us);
                    b[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental
                    b[14..18].copy_from_slice(&(i as u32).to_be_bytes());
                });
                ok += sent_ok as usize;
            }
            assert_eq!(ok, pool);
            assert_eq!(dev.stats().tx_no_frame, 100);
            let too_long = dev.max_frame() + 1;
            assert!(!dev.tx().send(too_long, &mut |_| unreachable!()));
            let deadline = Instant::now() + Duration::from_secs(5);
            while dev.tx().free() < pool || dev.tx().pending() > 0 {
                dev.flush().unwrap();
                assert!(
                    Instant::now() < deadline,
                    "TX frames did not come back: free {}",
                    dev.tx().free()
                );
                thread::sleep(Duration::from_millis(1));
            }
            let st = dev.stats();
            eprintln!("veth_xsk: tx burst: {st:?}");
            assert_eq!(st.tx_invalid, 0);
        }
    });
}

/// A raw packet socket on `iface` (AF_PACKET, ETH_P_ALL) in the calling thread's
/// namespace: it sees what the kernel receives there, i.e. what XDP passed.
fn kernel_tap(iface: &str) -> std::os::fd::OwnedFd {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            i32::from(proto),
        )
    };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fd` is a fresh socket owned by nobody else.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = xsk::if_index(iface).unwrap() as i32;
    // SAFETY: `sll` is a valid sockaddr_ll for the length given, alive during the call.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
    sock
}

/// Where an injected frame (source MAC 02:00:00:00:5e:`idx`) ended up within
/// `wait`: (reached the XSK, reached the kernel).
fn landed<D: Device>(
    dev: &mut D,
    tap: &std::os::fd::OwnedFd,
    idx: u8,
    wait: Duration,
) -> (bool, bool) {
    let mac = [0x02, 0, 0, 0, 0x5e, idx];
    let (mut xsk, mut kernel) = (false, false);
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        dev.wait(Duration::from_millis(20)).unwrap();
        dev.rx_burst(64, |f, _| xsk |= f.len() >= 12 && f[6..12] == mac)
            .unwrap();
        dev.flush().unwrap();
        loop {
            // SAFETY: `buf` is valid for writes of its length during the call.
            let n = unsafe {
                libc::recv(
                    tap.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 12 {
                break;
            }
            kernel |= buf[6..12] == mac;
        }
    }
    (xsk, kernel)
}

#[test]
fn router_advertisements_steered_only_when_serving_ipv6() {
    // An RA to ff02::1 is for every node: while the stack serves no IPv6 it must
    // stay with the kernel (its default route and addresses depend on RAs, RFC 4861
    // §6.3.4); once the stack serves IPv6 (addresses, or SLAAC) the stack gets it.
    require_root();
    let tb = Testbed::new('f', 1);
    let stack_if = tb.stack_if.clone();
    let peer_ns = tb.peer_ns.clone();
    let peer_if = tb.peer_if.clone();
    tb.in_stack_ns(move || {
        assert_eq!(driver_name(&stack_if).unwrap(), "veth", "ETHTOOL_GDRVINFO");
        let tap = kernel_tap(&stack_if);
        let all: Ipv6Addr = "ff02::1".parse().unwrap();
        let all_mac = [0x33, 0x33, 0, 0, 0, 1];
        let mut ra = vec![0u8; 16];
        ra[0] = 134;
        ra[4] = 64; // cur hop limit
        ra[6..8].copy_from_slice(&1800u16.to_be_bytes()); // router lifetime
        let send = |idx: u8| {
            let f = ipv6_icmp(idx, all_mac, all, &ra);
            assert_eq!(
                inject(&peer_ns, &peer_if, vec![f], Duration::ZERO)
                    .join()
                    .unwrap(),
                1
            );
        };
        let wait = Duration::from_millis(600);
        for (mode, base) in [(XdpMode::Generic, 40u8), (XdpMode::Native, 50)] {
            eprintln!("veth_xsk: RA steering in {mode:?} mode");

            // 1. IPv4 only: the RA goes to the kernel, counted as passed.
            let prog = XdpProgram::attach(&stack_if, mode, &[STACK_IP], &[]).unwrap();
            let mut dev = XskDevice::open(&XskConfig::new(stack_if.clone()), &prog).unwrap();
            assert!(!prog.steers_router_advertisements().unwrap());
            let c0 = prog.counters().unwrap();
            send(base);
            let (xsk, kernel) = landed(&mut dev, &tap, base, wait);
            let c1 = prog.counters().unwrap();
            assert!(
                !xsk,
                "RA to ff02::1 stolen by the XSK though the stack serves no IPv6 ({} mode)",
                prog.mode()
            );
            assert!(kernel, "RA to ff02::1 did not reach the kernel");
            assert_eq!(
                (
                    c1.ra_all_nodes_passed - c0.ra_all_nodes_passed,
                    c1.ra_all_nodes - c0.ra_all_nodes
                ),
                (1, 0),
                "{c0:?} -> {c1:?}"
            );
            assert!(
                c1.passed > c0.passed && c1.redirected == c0.redirected,
                "{c0:?} -> {c1:?}"
            );

            // 2. Turned on while running (the SLAAC path): now the stack gets it.
            prog.set_steer_router_advertisements(true).unwrap();
            assert!(prog.steers_router_advertisements().unwrap());
            send(base + 1);
            assert_eq!(
                landed(&mut dev, &tap, base + 1, wait),
                (true, false),
                "after set_steer_router_advertisements(true)"
            );
            prog.set_steer_router_advertisements(false).unwrap();
            send(base + 2);
            assert_eq!(
                landed(&mut dev, &tap, base + 2, wait),
                (false, true),
                "after set_steer_router_advertisements(false)"
            );
            drop(dev);
            drop(prog);

            // 3. Attached with an IPv6 address: steered to the XSK from the start.
            let prog = XdpProgram::attach(&stack_if, mode, &[STACK_IP], &[STACK_IP6]).unwrap();
            let mut dev = XskDevice::open(&XskConfig::new(stack_if.clone()), &prog).unwrap();
            assert!(prog.steers_router_advertisements().unwrap());
            let c0 = prog.counters().unwrap();
            send(base + 3);
            let (xsk, kernel) = landed(&mut dev, &tap, base + 3, wait);
            let c1 = prog.counters().unwrap();
            assert!(
                xsk && !kernel,
                "RA to ff02::1 with IPv6 configured: xsk {xsk}, kernel {kernel}"
            );
            assert_eq!(
                (
                    c1.ra_all_nodes - c0.ra_all_nodes,
                    c1.redirected - c0.redirected
                ),
                (1, 1),
                "{c0:?} -> {c1:?}"
            );
            assert_eq!(c1.ra_all_nodes_passed, c0.ra_all_nodes_passed);
            drop(dev);
            drop(prog);
        }
    });
}
