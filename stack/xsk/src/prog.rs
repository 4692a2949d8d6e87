//! Our XDP program (`xdp-prog/xdpstack.bpf.c`): load, fill the address maps,
//! attach, detach.
//!
//! The program is attached through a **BPF link** (`bpf_link_create(BPF_XDP)`),
//! not the legacy netlink call: the kernel detaches it as soon as the link fd is
//! closed, i.e. on `Drop`, on `detach`, on unwinding *and* when the process dies
//! in any way (SIGKILL, abort, `process::exit`). Nothing can be left attached.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use std::sync::Mutex;

use libbpf_rs::{MapCore, MapFlags, MapHandle, ObjectBuilder, PrintLevel};

use crate::netdev::{if_index, xdp_query};
use crate::{DeviceError, XdpMode};

/// The compiled XDP object, built by build.rs.
static XDP_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdpstack.bpf.o"));

const PROG_NAME: &str = "xdpstack_steer";

const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// Most AF_XDP sockets (queues) the program's XSKMAP holds.
pub const MAX_QUEUES: u32 = 64;

/// Flag in the program's `config[0]`: steer router advertisements sent to ff02::1
/// to the stack. Keep in sync with `CFG_STEER_RA_ALLNODES` in xdpstack.bpf.c.
const CFG_STEER_RA_ALLNODES: u32 = 1 << 0;

/// Number of counters in the program's `counters` map (`CNT_MAX`).
const COUNTERS: usize = 9;

/// The mode the XDP program ended up attached in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachedMode {
    /// Driver (native) mode.
    Native,
    /// Generic (SKB) mode.
    Generic,
}

impl fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachedMode::Native => "native",
            AttachedMode::Generic => "generic",
        })
    }
}

/// Counters of the XDP program, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// Frames given to the kernel (not the stack's).
    pub passed: u64,
    /// Frames redirected into an AF_XDP socket.
    pub redirected: u64,
    /// The stack's frames that arrived on a queue without a socket (passed to the kernel).
    pub no_socket: u64,
    /// The stack's ARP frames.
    pub arp: u64,
    /// The stack's IPv4 frames.
    pub ipv4: u64,
    /// The stack's IPv6 frames (by destination).
    pub ipv6: u64,
    /// NDP frames for the stack (by target / solicited-node group).
    pub ndp: u64,
    /// Router advertisements to ff02::1 steered to the stack (it serves IPv6).
    pub ra_all_nodes: u64,
    /// Router advertisements to ff02::1 left to the kernel because the stack serves
    /// no IPv6 (also counted in `passed`).
    pub ra_all_nodes_passed: u64,
}

/// Our XDP program, loaded and attached to one interface.
///
/// Dropping it detaches the program (see the module docs: attachment is a BPF
/// link, so the kernel also detaches it if the process dies).
pub struct XdpProgram {
    iface: String,
    ifindex: u32,
    mode: AttachedMode,
    prog_id: u32,
    link: Option<OwnedFd>,
    xsks: MapHandle,
    v4: MapHandle,
    v6: MapHandle,
    v6_snm: MapHandle,
    config: MapHandle,
    counters: MapHandle,
    // Keeps the program and maps loaded (also referenced by the link / handles).
    _obj: libbpf_rs::Object,
}

impl fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpProgram")
            .field("iface", &self.iface)
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .field("prog_id", &self.prog_id)
            .field("attached", &self.link.is_some())
            .finish()
    }
}

/// libbpf's messages during `attach`: kept off stderr (the CLI promises one
/// clear line per error) and summarised into the error instead.
/// `XDPSTACK_BPF_DEBUG=1` echoes them to stderr as well.
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());

fn capture_libbpf(_level: PrintLevel, msg: String) {
    if std::env::var_os("XDPSTACK_BPF_DEBUG").is_some() {
        eprint!("{msg}");
    }
    let mut log = LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner());
    if log.len() < (1 << 16) {
        log.push_str(&msg);
    }
}

/// The most telling line of what libbpf said (the verifier's last words).
fn libbpf_summary() -> String {
    let log = LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner());
    log.lines()
        .map(str::trim)
        .rfind(|l| {
            !l.is_empty()
                && !l.starts_with("--")
                && !l.contains("failed to load object")
                && !l.contains("RLIMIT_MEMLOCK")
                && !l.contains("processed ")
        })
        .map(|l| format!("; {l} (XDPSTACK_BPF_DEBUG=1 prints libbpf's full log)"))
        .unwrap_or_default()
}

fn load_object() -> Result<libbpf_rs::Object, DeviceError> {
    LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let prev = libbpf_rs::set_print(Some((PrintLevel::Warn, capture_libbpf)));
    let res = ObjectBuilder::default()
        .open_memory(XDP_OBJECT)
        .map_err(|e| bpf_err("opening the XDP object", e))
        .and_then(|open| {
            open.load()
                .map_err(|e| bpf_err("loading the XDP program", e))
        });
    libbpf_rs::set_print(prev);
    res.map_err(|e| match e {
        DeviceError::Bpf(m) => DeviceError::Bpf(format!("{m}{}", libbpf_summary())),
        other => other,
    })
}

fn bpf_err(what: &str, e: libbpf_rs::Error) -> DeviceError {
    if e.kind() == libbpf_rs::ErrorKind::PermissionDenied {
        DeviceError::PermissionDenied(format!("{what}: {e}"))
    } else {
        DeviceError::Bpf(format!("{what}: {e}"))
    }
}

fn find_map(obj: &libbpf_rs::Object, name: &str) -> Result<MapHandle, DeviceError> {
    let map = obj
        .maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| DeviceError::Bpf(format!("map {name} missing from the XDP object")))?;
    MapHandle::try_from(&map).map_err(|e| bpf_err(&format!("map {name}"), e))
}

/// The solicited-node multicast group of `a`: ff02::1:ffXX:XXXX.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

fn link_create(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> Result<OwnedFd, i32> {
    let opts = libbpf_sys::bpf_link_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as libbpf_sys::size_t,
        flags,
        ..Default::default()
    };
    // SAFETY: `prog` is a valid BPF program fd for the duration of the call and
    // `opts` is a correctly sized, zero-initialised options struct that outlives it.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(prog.as_raw_fd(), ifindex as i32, libbpf_sys::BPF_XDP, &opts)
    };
    if fd < 0 {
        return Err(-fd);
    }
    // SAFETY: a non-negative return is a new link fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn errno_str(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

impl XdpProgram {
    /// Load the program, put `ipv4`/`ipv6` into its address maps and attach it
    /// to `iface` in `mode` (Auto: native, falling back to generic). Fails if
    /// another XDP program is already attached.
    ///
    /// Router advertisements to ff02::1 are steered to the stack only when `ipv6`
    /// is not empty (the stack serves IPv6); otherwise the kernel keeps getting
    /// them. [`set_steer_router_advertisements`](Self::set_steer_router_advertisements)
    /// turns it on later (SLAAC).
    pub fn attach(
        iface: &str,
        mode: XdpMode,
        ipv4: &[Ipv4Addr],
        ipv6: &[Ipv6Addr],
    ) -> Result<XdpProgram, DeviceError> {
        let ifindex = if_index(iface)?;

        let obj = load_object()?;

        let prog = obj
            .progs()
            .find(|p| p.name() == PROG_NAME)
            .ok_or_else(|| DeviceError::Bpf(format!("program {PROG_NAME} missing")))?;
        let prog_fd = prog.as_fd();
        let prog_id = libbpf_rs::Program::id_from_fd(prog_fd)
            .map_err(|e| bpf_err("reading the program id", e))?;

        let candidates: &[(u32, AttachedMode)] = match mode {
            XdpMode::Auto => &[
                (XDP_FLAGS_DRV_MODE, AttachedMode::Native),
                (XDP_FLAGS_SKB_MODE, AttachedMode::Generic),
            ],
            XdpMode::Native => &[(XDP_FLAGS_DRV_MODE, AttachedMode::Native)],
            XdpMode::Generic => &[(XDP_FLAGS_SKB_MODE, AttachedMode::Generic)],
        };
        let mut attached = None;
        let mut failures = Vec::new();
        for &(flags, m) in candidates {
            match link_create(prog_fd, ifindex, flags) {
                Ok(fd) => {
                    attached = Some((fd, m));
                    break;
                }
                Err(errno) if errno == libc::EPERM || errno == libc::EACCES => {
                    return Err(DeviceError::PermissionDenied(format!(
                        "attaching XDP to {iface}: {}",
                        errno_str(errno)
                    )));
                }
                Err(errno) if errno == libc::EBUSY || errno == libc::EEXIST => {
                    let prog_id = xdp_query(ifindex).map(|q| q.prog_id).unwrap_or(0);
                    return Err(DeviceError::AlreadyAttached {
                        iface: iface.to_string(),
                        prog_id,
                    });
                }
                Err(errno) if errno == libc::ENODEV => {
                    return Err(DeviceError::NoSuchInterface(iface.to_string()));
                }
                Err(errno) => failures.push(format!("{m} mode: {}", errno_str(errno))),
            }
        }
        let (link, mode) = attached.ok_or_else(|| DeviceError::XdpUnsupported {
            iface: iface.to_string(),
            detail: failures.join("; "),
        })?;

        let xsks = find_map(&obj, "xsks_map")?;
        let v4 = find_map(&obj, "v4_addrs")?;
        let v6 = find_map(&obj, "v6_addrs")?;
        let v6_snm = find_map(&obj, "v6_snm")?;
        let config = find_map(&obj, "config")?;
        let counters = find_map(&obj, "counters")?;

        let p = XdpProgram {
            iface: iface.to_string(),
            ifindex,
            mode,
            prog_id,
            link: Some(link),
            xsks,
            v4,
            v6,
            v6_snm,
            config,
            counters,
            _obj: obj,
        };
        // On error `p` drops here and the link goes with it.
        for a in ipv4 {
            p.add_ipv4(*a)?;
        }
        for a in ipv6 {
            p.add_ipv6(*a)?;
        }
        p.set_steer_router_advertisements(!ipv6.is_empty())?;
        Ok(p)
    }

    /// The mode the program is attached in.
    pub fn mode(&self) -> AttachedMode {
        self.mode
    }

    /// Interface index it is attached to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Interface name it is attached to.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Kernel id of the loaded program.
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    /// Steer traffic for `a` (IPv4 and ARP) to the stack. Can be called while running.
    pub fn add_ipv4(&self, a: Ipv4Addr) -> Result<(), DeviceError> {
        self.v4
            .update(&a.octets(), &[1], MapFlags::ANY)
            .map_err(|e| bpf_err(&format!("adding {a} to v4_addrs"), e))
    }

    /// Stop steering traffic for `a`.
    pub fn remove_ipv4(&self, a: Ipv4Addr) -> Result<(), DeviceError> {
        self.v4
            .delete(&a.octets())
            .map_err(|e| bpf_err(&format!("removing {a} from v4_addrs"), e))
    }

    /// Steer traffic for `a` (and NDP for it: target, solicited-node group) to
    /// the stack. Can be called while running (e.g. after SLAAC).
    pub fn add_ipv6(&self, a: Ipv6Addr) -> Result<(), DeviceError> {
        self.v6
            .update(&a.octets(), &[1], MapFlags::ANY)
            .map_err(|e| bpf_err(&format!("adding {a} to v6_addrs"), e))?;
        self.v6_snm
            .update(&solicited_node(a).octets(), &[1], MapFlags::ANY)
            .map_err(|e| bpf_err(&format!("adding the solicited-node group of {a}"), e))
    }

    /// Stop steering traffic for `a`. The solicited-node group stays while
    /// another address of the stack still maps to it.
    pub fn remove_ipv6(&self, a: Ipv6Addr) -> Result<(), DeviceError> {
        self.v6
            .delete(&a.octets())
            .map_err(|e| bpf_err(&format!("removing {a} from v6_addrs"), e))?;
        let snm = solicited_node(a);
        let still_used = self
            .v6
            .keys()
            .filter_map(|k| <[u8; 16]>::try_from(k.as_slice()).ok())
            .any(|k| solicited_node(Ipv6Addr::from(k)) == snm);
        if !still_used {
            let _ = self.v6_snm.delete(&snm.octets());
        }
        Ok(())
    }

    fn config_flags(&self) -> Result<u32, DeviceError> {
        let v = self
            .config
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| bpf_err("reading the XDP config", e))?
            .unwrap_or_default();
        Ok(<[u8; 4]>::try_from(v.as_slice())
            .map(u32::from_ne_bytes)
            .unwrap_or(0))
    }

    /// Steer router advertisements sent to ff02::1 to the stack (`on`), or leave
    /// them to the kernel. `attach` turns it on when the stack has IPv6 addresses;
    /// the SLAAC path turns it on before it listens for RAs. RAs sent to one of the
    /// stack's solicited-node groups are steered regardless (they are addressed to
    /// it). Can be called while running.
    pub fn set_steer_router_advertisements(&self, on: bool) -> Result<(), DeviceError> {
        let old = self.config_flags()?;
        let new = if on {
            old | CFG_STEER_RA_ALLNODES
        } else {
            old & !CFG_STEER_RA_ALLNODES
        };
        self.config
            .update(&0u32.to_ne_bytes(), &new.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| bpf_err("writing the XDP config", e))
    }

    /// Whether router advertisements to ff02::1 are steered to the stack.
    pub fn steers_router_advertisements(&self) -> Result<bool, DeviceError> {
        Ok(self.config_flags()? & CFG_STEER_RA_ALLNODES != 0)
    }

    /// Register an AF_XDP socket fd for `queue` in the XSKMAP.
    pub(crate) fn register_xsk(&self, queue: u32, fd: i32) -> Result<(), DeviceError> {
        if queue >= MAX_QUEUES {
            return Err(DeviceError::Config(format!(
                "queue {queue} too large (the XDP program handles queues 0..{MAX_QUEUES})"
            )));
        }
        self.xsks
            .update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| {
                bpf_err(
                    &format!("registering the AF_XDP socket of queue {queue}"),
                    e,
                )
            })
    }

    /// The program's counters, summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters, DeviceError> {
        let mut v = [0u64; COUNTERS];
        for (i, slot) in v.iter_mut().enumerate() {
            let per_cpu = self
                .counters
                .lookup_percpu(&(i as u32).to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| bpf_err("reading XDP counters", e))?
                .unwrap_or_default();
            *slot = per_cpu
                .iter()
                .filter_map(|b| <[u8; 8]>::try_from(&b[..8.min(b.len())]).ok())
                .map(u64::from_ne_bytes)
                .sum();
        }
        Ok(XdpCounters {
            passed: v[0],
            redirected: v[1],
            no_socket: v[2],
            arp: v[3],
            ipv4: v[4],
            ipv6: v[5],
            ndp: v[6],
            ra_all_nodes: v[7],
            ra_all_nodes_passed: v[8],
        })
    }

    /// Detach the program now, reporting whether it is really gone.
    pub fn detach(mut self) -> Result<(), DeviceError> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<(), DeviceError> {
        let Some(link) = self.link.take() else {
            return Ok(());
        };
        // Closing the last reference to the link detaches the program. Since Linux
        // 6.x the kernel releases a link from a workqueue (bpf_link_put defers
        // bpf_link_free), so the detach completes shortly after the close: poll for
        // it (seen: still attached right after the close on a loaded machine).
        drop(link);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match xdp_query(self.ifindex) {
                Ok(q) if [q.prog_id, q.drv_prog_id, q.skb_prog_id].contains(&self.prog_id) => {
                    if std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        continue;
                    }
                    return Err(DeviceError::Bpf(format!(
                        "XDP program {} still attached to {} 2 s after closing its link",
                        self.prog_id, self.iface
                    )));
                }
                // Gone, or the interface is gone (e.g. its namespace was deleted).
                _ => return Ok(()),
            }
        }
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        if let Err(e) = self.detach_inner() {
            eprintln!("xdpstack: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_group() {
        let a: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap()
        );
        let b: Ipv6Addr = "fe80::a8bb:ccff:fedd:eeff".parse().unwrap();
        assert_eq!(
            solicited_node(b),
            "ff02::1:ffdd:eeff".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn object_is_embedded() {
        // ELF magic, BPF machine (EM_BPF = 247).
        assert_eq!(&XDP_OBJECT[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([XDP_OBJECT[18], XDP_OBJECT[19]]), 247);
    }

    #[test]
    fn object_opens_without_root() {
        // Parsing (not loading) needs no privileges: the maps and program are there.
        let open = ObjectBuilder::default().open_memory(XDP_OBJECT).unwrap();
        let names: Vec<String> = open
            .maps()
            .map(|m| m.name().to_string_lossy().into_owned())
            .collect();
        for want in [
            "xsks_map", "v4_addrs", "v6_addrs", "v6_snm", "config", "counters",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing in {names:?}"
            );
        }
        assert!(open.progs().any(|p| p.name() == PROG_NAME));
        // The counter and config maps have the sizes this file assumes.
        let size = |name: &str| {
            open.maps()
                .find(|m| m.name() == name)
                .map(|m| m.max_entries())
        };
        assert_eq!(
            size("counters"),
            Some(COUNTERS as u32),
            "CNT_MAX in xdpstack.bpf.c"
        );
        assert_eq!(size("config"), Some(1));
    }
}
