//! Interop under loss (issue 13): kernel clients echo through `xdpstack serve`
//! while frames are lost, reordered, duplicated and delayed, and the stack's
//! SACK, RFC 6675 / RACK-TLP recovery and CUBIC must bring every byte back.
//!
//! * `--fault` on the stack's device (both directions, seeded): 8 flows of
//!   500 KB and one of 5 MB at once, byte-exact, within a bound (before the
//!   fix they did not finish in 30 s).
//! * 20 % loss both ways on the *kernel's* veth by a BPF program (tc clsact,
//!   egress and ingress, `TC_ACT_SHOT` on a random 20 %), compiled here with
//!   clang: 10 MB echoed exact. The kernel here has neither netem nor the gact
//!   action, hence BPF.
//!
//! Needs root, clang and tc with cls_bpf; fails (never skips) without them.

mod common;

use common::{in_netns, payload, sh, sh_try, Bed};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const STACK: &str = "198.18.0.2";

/// Echo `data` from the kernel peer through the service with a half-close;
/// `stall` bounds each read and write. Returns the bytes and the time taken.
fn echo_through(ns: &str, data: Vec<u8>, stall: Duration) -> (Vec<u8>, Duration) {
    let addr: SocketAddr = format!("{STACK}:7").parse().unwrap();
    in_netns(ns, move || {
        let t0 = Instant::now();
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect to echo service");
        s.set_read_timeout(Some(stall)).unwrap();
        s.set_write_timeout(Some(stall)).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(&data).expect("write to echo service");
            w.shutdown(Shutdown::Write).expect("shutdown(write)");
        });
        let mut got = Vec::new();
        let mut r = s;
        let res = r.read_to_end(&mut got);
        writer.join().expect("writer");
        res.unwrap_or_else(|e| panic!("read echo after {} bytes: {e}", got.len()));
        (got, t0.elapsed())
    })
}

fn counter(total: &Value, key: &str) -> u64 {
    total[key].as_u64().unwrap_or_else(|| panic!("no counter {key} in {total}"))
}

/// Issue 13's case: under `--fault loss=0.05,reorder=0.25,dup=0.01,delay=10ms,
/// jitter=5ms,seed=7`, 8 kernel flows echoing 500 KB each and one 5 MB flow, all
/// at once, come back byte-exact, each within 180 s (no read or write stalls
/// 30 s; measured: the 500 KB flows in 3-6 s, the 5 MB one in 90-125 s, see
/// docs/results.md). The stack's counters show SACK blocks both ways and
/// recoveries.
#[test]
fn fault_eight_flows_and_one_five_megabyte_flow() {
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
        "loss=0.05,reorder=0.25,dup=0.01,delay=10ms,jitter=5ms,seed=7",
    ]);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..9u64)
        .map(|i| {
            let ns = bed.peer_ns.clone();
            std::thread::spawn(move || {
                let len = if i == 8 { 5_000_000 } else { 500_000 };
                let data = payload(len, 77 + i);
                let want = Sha256::digest(&data);
                let (got, took) = echo_through(&ns, data, Duration::from_secs(30));
                (i, len, got.len(), Sha256::digest(&got) == want, took)
            })
        })
        .collect();
    for h in handles {
        let (i, len, got, same, took) = h.join().expect("client thread");
        assert_eq!(got, len, "flow {i}: length");
        assert!(same, "flow {i}: bytes differ");
        eprintln!("flow {i}: {len} bytes echoed in {:.2} s", took.as_secs_f64());
        assert!(took < Duration::from_secs(180), "flow {i} took {took:?}");
    }
    eprintln!("all 9 flows done in {:.2} s", t0.elapsed().as_secs_f64());
    let total = bed.stats_total();
    eprintln!("stack TCP: {}", ["tcp_retransmits", "tcp_recoveries", "tcp_rto_expired", "tcp_tlp_probes", "tcp_sack_blocks_sent", "tcp_sack_blocks_received"].map(|k| format!("{k}={}", counter(&total, k))).join(" "));
    assert!(counter(&total, "tcp_sack_blocks_sent") > 0, "no SACK blocks sent to the kernel: {total}");
    assert!(counter(&total, "tcp_sack_blocks_received") > 0, "no SACK blocks from the kernel: {total}");
    assert!(counter(&total, "tcp_recoveries") > 0, "{total}");
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// Compile the random-drop BPF program (`permille` of packets) into `dir`.
fn drop_prog(dir: &std::path::Path, permille: u32) -> std::path::PathBuf {
    let (ok, out) = sh_try("command -v clang && command -v tc");
    assert!(ok, "clang and tc are needed for the BPF loss test (make test's TEST_PKGS): {out}");
    let src = dir.join("drop.c");
    std::fs::write(
        &src,
        format!(
            "// Drop {permille} per mille of packets at random (tc clsact, direct action).\n\
             static unsigned int (*bpf_get_prandom_u32)(void) = (void *)7;\n\
             __attribute__((section(\"tc\"), used)) int drop_random(void *skb) {{\n\
             \treturn (bpf_get_prandom_u32() % 1000) < {permille} ? 2 /* TC_ACT_SHOT */ : 0 /* TC_ACT_OK */;\n\
             }}\n\
             char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n"
        ),
    )
    .unwrap();
    let obj = dir.join("drop.o");
    sh(&format!("clang -O2 -target bpf -c {} -o {}", src.display(), obj.display()));
    obj
}

/// 20 % loss both ways on the kernel's veth (BPF on its egress and ingress),
/// the kernel peer with default offloads: 10 MB echoed byte-exact. The
/// kernel's and the stack's recovery both work hard (half the segments of a
/// round trip see a loss).
#[test]
fn twenty_percent_bpf_loss_both_ways_ten_megabytes() {
    let bed = Bed::new(1);
    let dir = std::env::temp_dir().join(format!("xdpstack-loss-{}-{}", std::process::id(), bed.stack_if));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = drop_prog(&dir, 200);
    let mut stack = bed.start_stack(&["serve", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24", "--service", "echo:7"]);
    // Resolve ARP before the loss starts (the test is about TCP).
    let (ok, out) = bed.peer(&format!("ping -c 1 -W 2 {STACK}"));
    assert!(ok, "ping before the loss: {out}");
    for dirn in ["egress", "ingress"] {
        let (ok, out) = bed.peer(&format!("tc qdisc replace dev {} clsact", bed.peer_if));
        assert!(ok || out.contains("exists"), "tc qdisc clsact: {out}");
        let (ok, out) = bed.peer(&format!("tc filter add dev {} {dirn} bpf da obj {} sec tc", bed.peer_if, obj.display()));
        assert!(ok, "tc filter {dirn} bpf: {out}");
    }
    let data = payload(10 << 20, 2020);
    let want = Sha256::digest(&data);
    let (got, took) = echo_through(&bed.peer_ns, data, Duration::from_secs(120));
    assert_eq!(got.len(), 10 << 20);
    assert_eq!(Sha256::digest(&got), want, "echoed bytes differ under 20 % loss");
    eprintln!("10 MiB echoed under 20 % BPF loss both ways in {:.1} s", took.as_secs_f64());
    let total = bed.stats_total();
    eprintln!("stack TCP: {}", ["tcp_retransmits", "tcp_recoveries", "tcp_rto_expired", "tcp_tlp_probes"].map(|k| format!("{k}={}", counter(&total, k))).join(" "));
    let (code, _) = stack.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
