//! Test bed for interop tests (docs/testing.md): two network namespaces joined
//! by a veth pair, the Linux kernel on one end (198.18.0.1/24), `xdpstack` on the
//! other. Names are unique per run and everything is removed on drop, also when a
//! test fails. Tests need root: without it they FAIL with a message, never skip.
//!
//! One bed at a time per test binary: a stack without `--cores` takes CPUs no
//! other running stack uses and refuses to start when none is left, so tests
//! whose stacks ran side by side on a 2-CPU host would refuse each other. A
//! test may hold several beds (on its own thread).
#![allow(dead_code)]

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Held by the first live bed of a thread: one test's beds at a time.
static BEDS: Mutex<()> = Mutex::new(());

thread_local! {
    /// Beds alive on this thread.
    static BEDS_HERE: Cell<u32> = const { Cell::new(0) };
}

/// Panic with a clear message unless we are root with the tools the bed needs.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "interop tests need root (network namespaces, veth, XDP): run `make test` as root");
    for tool in ["ip", "ping", "ethtool"] {
        let ok = Command::new("sh").arg("-c").arg(format!("command -v {tool} >/dev/null")).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "interop tests need `{tool}`: run `make setup`");
    }
}

/// Run a command, panic with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("spawn sh");
    assert!(
        out.status.success(),
        "command failed: {cmd}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command, return (success, stdout+stderr).
pub fn sh_try(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("spawn sh");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// Two namespaces and a veth pair.
pub struct Bed {
    /// Namespace of the kernel peer.
    pub peer_ns: String,
    /// Namespace of the stack.
    pub stack_ns: String,
    /// Peer's veth end (198.18.0.1/24).
    pub peer_if: String,
    /// Stack's veth end (no kernel address).
    pub stack_if: String,
    /// The turn of this thread's beds (the first bed holds it).
    _turn: Option<MutexGuard<'static, ()>>,
}

impl Bed {
    /// Build the bed; `queues` rx/tx queues on each veth end. The kernel peer keeps
    /// its default offloads, as any Linux peer on veth does: TCP and UDP leave with
    /// unfinished CHECKSUM_PARTIAL fields (the pseudo-header sum only), which the
    /// stack must accept on veth (`--rx-checksum auto`). With our XDP program
    /// attached natively, veth turns the peer's TSO off (`veth_xdp_set`), so GSO
    /// segments to MTU-sized frames before they reach the XSK.
    pub fn new(queues: u32) -> Bed {
        Bed::build(queues, true)
    }

    /// Like [`Bed::new`], but the kernel peer runs with `tx off tso off gso off`:
    /// real checksums and MTU-sized frames whatever the XDP mode (docs/testing.md
    /// pitfalls). For the tests that want full checksums on the wire.
    pub fn new_offloads_off(queues: u32) -> Bed {
        Bed::build(queues, false)
    }

    fn build(queues: u32, default_offloads: bool) -> Bed {
        require_root();
        let turn = if BEDS_HERE.get() == 0 { Some(BEDS.lock().unwrap_or_else(|e| e.into_inner())) } else { None };
        BEDS_HERE.set(BEDS_HERE.get() + 1);
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{}", std::process::id(), n);
        let bed = Bed {
            peer_ns: format!("xs{id}a"),
            stack_ns: format!("xs{id}b"),
            peer_if: format!("xs{id}p"),
            stack_if: format!("xs{id}s"),
            _turn: turn,
        };
        // From here on, Drop cleans up whatever was created.
        sh(&format!("ip netns add {}", bed.peer_ns));
        sh(&format!("ip netns add {}", bed.stack_ns));
        sh(&format!(
            "ip link add {p} netns {pn} numtxqueues {q} numrxqueues {q} type veth peer name {s} netns {sn} numtxqueues {q} numrxqueues {q}",
            p = bed.peer_if,
            pn = bed.peer_ns,
            s = bed.stack_if,
            sn = bed.stack_ns,
            q = queues
        ));
        sh(&format!("ip -n {} link set lo up", bed.peer_ns));
        sh(&format!("ip -n {} addr add 198.18.0.1/24 dev {}", bed.peer_ns, bed.peer_if));
        // The kernel and the stack share the stack's MAC: keep the kernel's IPv6 off it.
        sh(&format!("ip netns exec {} sysctl -qw net.ipv6.conf.{}.disable_ipv6=1", bed.stack_ns, bed.stack_if));
        if !default_offloads {
            // Real checksums and MTU-sized frames from the kernel peer (docs/testing.md).
            sh(&format!("ip netns exec {} ethtool -K {} tx off tso off gso off >/dev/null", bed.peer_ns, bed.peer_if));
        }
        sh(&format!("ip -n {} link set {} up", bed.peer_ns, bed.peer_if));
        sh(&format!("ip -n {} link set {} up", bed.stack_ns, bed.stack_if));
        bed
    }

    /// Give the kernel peer IPv6: 2001:db8::1/64 without DAD delay (and no DAD
    /// on its link-local address), so it answers at once.
    pub fn enable_ipv6(&self) {
        sh(&format!("ip netns exec {} sysctl -qw net.ipv6.conf.{}.accept_dad=0", self.peer_ns, self.peer_if));
        sh(&format!("ip -n {} addr add 2001:db8::1/64 dev {} nodad", self.peer_ns, self.peer_if));
    }

    /// MAC address of the stack's interface.
    pub fn stack_mac(&self) -> String {
        sh(&format!("ip netns exec {} cat /sys/class/net/{}/address", self.stack_ns, self.stack_if)).trim().to_string()
    }

    /// The peer's offload setting `feature` as `ethtool -k` prints it ("on"/"off").
    pub fn peer_offload(&self, feature: &str) -> String {
        let (ok, out) = self.peer(&format!("ethtool -k {}", self.peer_if));
        assert!(ok, "ethtool -k {}: {out}", self.peer_if);
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{feature}: ")))
            .unwrap_or_else(|| panic!("ethtool -k lacks {feature}: {out}"))
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// Run a shell command in the peer namespace.
    pub fn peer(&self, cmd: &str) -> (bool, String) {
        sh_try(&format!("ip netns exec {} {cmd}", self.peer_ns))
    }

    /// Does the stack's interface have an XDP program attached?
    pub fn stack_has_xdp(&self) -> bool {
        let out = sh(&format!("ip -n {} -d link show {}", self.stack_ns, self.stack_if));
        out.contains("prog/xdp") || out.contains(" xdp")
    }

    /// The last line of `xdpstack stats --json` (the total over every core) of
    /// the stack running in the stack namespace.
    pub fn stats_total(&self) -> serde_json::Value {
        let bin = env!("CARGO_BIN_EXE_xdpstack");
        let out = Command::new("ip").args(["netns", "exec", &self.stack_ns, bin, "stats", "--iface", &self.stack_if, "--json"]).output().expect("run xdpstack stats");
        assert!(out.status.success(), "xdpstack stats failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let total: serde_json::Value = serde_json::from_str(text.lines().last().expect("a total line")).expect("JSON");
        assert_eq!(total["core"], "total", "the last line is the total: {text}");
        total
    }

    /// Start `xdpstack ARGS...` in the stack namespace; waits for its `ready` line.
    pub fn start_stack(&self, args: &[&str]) -> Stack {
        let bin = env!("CARGO_BIN_EXE_xdpstack");
        Stack::spawn_ready(Command::new("ip").args(["netns", "exec", &self.stack_ns, bin]).args(args))
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for ns in [&self.peer_ns, &self.stack_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        BEDS_HERE.set(BEDS_HERE.get() - 1);
    }
}

/// A running `xdpstack` process; killed on drop if still running.
pub struct Stack {
    /// The process (`ip netns exec` execs into xdpstack, so this is its PID).
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Lines seen so far (stdout and `stderr: ` prefixed stderr).
    pub seen: Vec<String>,
}

impl Stack {
    /// Spawn `cmd` (an `xdpstack` command line, e.g. under `ip netns exec`) and
    /// wait up to 30 s for its `ready` line.
    pub fn spawn_ready(cmd: &mut Command) -> Stack {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn xdpstack");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(format!("stderr: {line}"));
            }
        });
        let mut stack = Stack { child, lines: rx, seen: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stack.lines.recv_timeout(left) {
                Ok(l) => {
                    eprintln!("[xdpstack] {l}");
                    let ready = l.starts_with("ready") || l.contains("\"event\":\"ready\"");
                    stack.seen.push(l);
                    if ready {
                        return stack;
                    }
                }
                Err(_) => {
                    let _ = stack.child.kill();
                    panic!("xdpstack did not print `ready` within 30 s; output: {:?}", stack.seen);
                }
            }
        }
    }

    /// Wait (at most `timeout`) for an output line containing `pat` (stderr
    /// lines are prefixed `stderr: `); true if one came.
    pub fn wait_for(&mut self, pat: &str, timeout: Duration) -> bool {
        if self.seen.iter().any(|l| l.contains(pat)) {
            return true;
        }
        let deadline = Instant::now() + timeout;
        while let Ok(l) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            eprintln!("[xdpstack] {l}");
            let hit = l.contains(pat);
            self.seen.push(l);
            if hit {
                return true;
            }
        }
        false
    }

    /// Send `sig` and wait (bounded) for exit; returns the exit code and all output.
    pub fn signal_and_wait(&mut self, sig: i32) -> (Option<i32>, Vec<String>) {
        // SAFETY: kill(2) on the PID of our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            assert!(Instant::now() < deadline, "xdpstack did not exit within 15 s of signal {sig}");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Collect the rest of the output.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(300)) {
            eprintln!("[xdpstack] {l}");
            self.seen.push(l);
        }
        (status.code(), self.seen.clone())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run `f` on a thread that has entered network namespace `ns` (sockets it creates
/// live in that namespace). Returns f's result.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on a valid namespace fd, affecting only this thread
        // (CLONE_NEWNET); the thread ends when f returns.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// Deterministic test payload of `len` bytes (xorshift).
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
