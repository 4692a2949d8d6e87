//! Root test: `rss_config` and `interface_queues` on a 4-queue veth pair in a
//! network namespace of its own.
//!
//! veth (like loopback and tun) has no RSS ethtool ops, so `ETHTOOL_GRSSH`
//! fails with EOPNOTSUPP and `rss_config` must answer `Ok(None)` — the case
//! the engine meets on veth, where it falls back to the default key and table.
//! No device available on this machine implements `ETHTOOL_GRSSH` (the
//! kernel has no netdevsim, and host NICs are off limits to tests), so the
//! decoding of a real answer is covered by the unit tests in `ethtool.rs`
//! only.
//!
//! Needs root (CAP_NET_ADMIN for the namespace and veth, CAP_SYS_ADMIN for
//! setns): fails, never skips, without it. The namespace is removed by a guard,
//! also on panic; it touches no interface outside it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::thread;

use xsk::{interface_queues, rss_config, DeviceError};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "ethtool_rss needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): run `sudo -E cargo test -p xdpstack-xsk --test ethtool_rss` — this test fails rather than skipping"
    );
}

fn must(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawning {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace holding a veth pair; deleted (with the pair) on drop.
struct Netns {
    name: String,
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Run `f` in a thread that has entered network namespace `name`.
fn in_ns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
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

#[test]
fn veth_has_no_rss_and_four_queues() {
    require_root();
    let pid = std::process::id();
    // Guard first, so a failure after `netns add` still removes the namespace.
    let ns = Netns {
        name: format!("xr{pid}a"),
    };
    must(&["ip", "netns", "add", &ns.name]);
    let (a, b) = (format!("xr{pid}a0"), format!("xr{pid}a1"));
    must(&[
        "ip",
        "-n",
        &ns.name,
        "link",
        "add",
        &a,
        "numrxqueues",
        "4",
        "numtxqueues",
        "4",
        "type",
        "veth",
        "peer",
        "name",
        &b,
        "numrxqueues",
        "4",
        "numtxqueues",
        "4",
    ]);
    must(&["ip", "-n", &ns.name, "link", "set", &a, "up"]);
    must(&["ip", "-n", &ns.name, "link", "set", &b, "up"]);

    let (a2, b2) = (a.clone(), b.clone());
    let (rss_a, rss_b, rss_lo, q_a, missing) = in_ns(&ns.name, move || {
        (
            rss_config(&a2).map_err(|e| e.to_string()),
            rss_config(&b2).map_err(|e| e.to_string()),
            rss_config("lo").map_err(|e| e.to_string()),
            interface_queues(&a2).map_err(|e| e.to_string()),
            // An interface of the host's namespace is not visible from here.
            matches!(rss_config("xr-none"), Err(DeviceError::NoSuchInterface(_))),
        )
    });
    assert_eq!(rss_a, Ok(None), "rss_config({a}) on veth");
    assert_eq!(rss_b, Ok(None), "rss_config({b}) on veth");
    assert_eq!(rss_lo, Ok(None), "rss_config(lo) in the namespace");
    assert_eq!(q_a, Ok(4), "interface_queues({a})");
    assert!(
        missing,
        "rss_config of a missing interface must be NoSuchInterface"
    );

    // Outside the namespace the veth does not exist.
    assert!(matches!(
        rss_config(&a),
        Err(DeviceError::NoSuchInterface(_))
    ));
}
