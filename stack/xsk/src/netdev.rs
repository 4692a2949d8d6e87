//! Interface queries: index, MAC, queue count, attached XDP program.
//!
//! Everything here goes through sockets / netlink (not `/sys`), so it answers
//! for the network namespace of the calling *thread* (a thread that did
//! `setns(CLONE_NEWNET)` sees its namespace, while `/sys/class/net` still shows
//! the namespace sysfs was mounted in).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::{DeviceError, MacAddr};

fn ifname_cstring(iface: &str) -> Result<CString, DeviceError> {
    if iface.is_empty() || iface.len() >= libc::IFNAMSIZ {
        return Err(DeviceError::NoSuchInterface(iface.to_string()));
    }
    CString::new(iface).map_err(|_| DeviceError::NoSuchInterface(iface.to_string()))
}

/// The interface index of `iface` (`if_nametoindex`).
pub fn if_index(iface: &str) -> Result<u32, DeviceError> {
    let name = ifname_cstring(iface)?;
    // SAFETY: `name` is a valid NUL-terminated C string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::ENXIO) | None => {
                DeviceError::NoSuchInterface(iface.to_string())
            }
            Some(libc::EPERM) | Some(libc::EACCES) => {
                DeviceError::PermissionDenied(format!("looking up interface {iface}: {err}"))
            }
            _ => DeviceError::NoSuchInterface(iface.to_string()),
        });
    }
    Ok(idx)
}

fn dgram_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_for(iface: &str) -> Result<libc::ifreq, DeviceError> {
    let name = ifname_cstring(iface)?;
    // SAFETY: ifreq is a plain C struct/union; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    Ok(ifr)
}

/// The MAC address of `iface` (`SIOCGIFHWADDR`).
pub fn interface_mac(iface: &str) -> Result<MacAddr, DeviceError> {
    if_index(iface)?;
    let sock = dgram_socket()?;
    let mut ifr = ifreq_for(iface)?;
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr inside `ifr`,
    // which is a valid, exclusively borrowed ifreq for the duration of the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENODEV) => DeviceError::NoSuchInterface(iface.to_string()),
            _ => DeviceError::Io(err),
        });
    }
    // SAFETY: the kernel filled the hwaddr member of the union on success.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}

const ETHTOOL_GCHANNELS: u32 = 0x0000_003c;

#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// Number of RX queues of `iface`: ethtool channels (`combined + rx`), falling
/// back to counting `/sys/class/net/IF/queues/rx-*`, else 1.
pub fn interface_queues(iface: &str) -> Result<u32, DeviceError> {
    if_index(iface)?;
    let sock = dgram_socket()?;
    let mut ifr = ifreq_for(iface)?;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    ifr.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    // SAFETY: SIOCETHTOOL with ETHTOOL_GCHANNELS writes a `struct
    // ethtool_channels` through ifr_data, which points at `ch` (repr(C), same
    // layout) that lives until after the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc == 0 {
        let n = ch.combined_count + ch.rx_count;
        if n > 0 {
            return Ok(n);
        }
    }
    if let Ok(rd) = std::fs::read_dir(format!("/sys/class/net/{iface}/queues")) {
        let n = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
            .count() as u32;
        if n > 0 {
            return Ok(n);
        }
    }
    Ok(1)
}

const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;

/// `struct ethtool_drvinfo` (include/uapi/linux/ethtool.h): 196 bytes.
#[repr(C)]
#[derive(Default)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// The name of the driver behind `iface` (`ETHTOOL_GDRVINFO`, what `ethtool -i`
/// prints as `driver:`), e.g. `veth`, `ice`, `mlx5_core`. A device without
/// `get_drvinfo` (the loopback) answers `EOPNOTSUPP`: [`DeviceError::Io`].
///
/// xdpstack uses it to choose its receive checksum policy: a veth peer with its
/// default offloads hands over TCP/UDP with unfinished CHECKSUM_PARTIAL fields.
pub fn driver_name(iface: &str) -> Result<String, DeviceError> {
    if_index(iface)?;
    let sock = dgram_socket()?;
    let mut ifr = ifreq_for(iface)?;
    let mut info = EthtoolDrvinfo {
        cmd: ETHTOOL_GDRVINFO,
        ..Default::default()
    };
    ifr.ifr_ifru.ifru_data = (&mut info as *mut EthtoolDrvinfo).cast();
    // SAFETY: SIOCETHTOOL with ETHTOOL_GDRVINFO reads ifr_name and writes a
    // `struct ethtool_drvinfo` through ifr_data, which points at `info` (repr(C),
    // the same 196-byte layout) that lives, exclusively borrowed, until after the
    // call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENODEV) => DeviceError::NoSuchInterface(iface.to_string()),
            Some(libc::EPERM) | Some(libc::EACCES) => {
                DeviceError::PermissionDenied(format!("reading the driver of {iface}: {err}"))
            }
            _ => DeviceError::Io(err),
        });
    }
    // The kernel NUL-terminates the name (strscpy into a zeroed buffer).
    let len = info
        .driver
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(info.driver.len());
    Ok(String::from_utf8_lossy(&info.driver[..len]).into_owned())
}

/// Which XDP program ids are attached to an interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct XdpQuery {
    pub prog_id: u32,
    pub drv_prog_id: u32,
    pub skb_prog_id: u32,
    pub hw_prog_id: u32,
}

pub(crate) fn xdp_query(ifindex: u32) -> io::Result<XdpQuery> {
    let mut opts = libbpf_sys::bpf_xdp_query_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_xdp_query_opts>() as libbpf_sys::size_t,
        ..Default::default()
    };
    // SAFETY: `opts` is a properly sized, initialised bpf_xdp_query_opts that
    // libbpf fills in; it outlives the call.
    let rc = unsafe { libbpf_sys::bpf_xdp_query(ifindex as i32, 0, &mut opts) };
    if rc < 0 {
        return Err(io::Error::from_raw_os_error(-rc));
    }
    Ok(XdpQuery {
        prog_id: opts.prog_id,
        drv_prog_id: opts.drv_prog_id,
        skb_prog_id: opts.skb_prog_id,
        hw_prog_id: opts.hw_prog_id,
    })
}

/// Whether any XDP program (any mode) is attached to `iface`.
pub fn xdp_attached(iface: &str) -> Result<bool, DeviceError> {
    let idx = if_index(iface)?;
    let q = xdp_query(idx).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            DeviceError::PermissionDenied(format!("querying XDP on {iface}: {e}"))
        }
        _ => DeviceError::Io(e),
    })?;
    Ok(q.prog_id != 0 || q.drv_prog_id != 0 || q.skb_prog_id != 0 || q.hw_prog_id != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_queries() {
        assert!(if_index("lo").unwrap() > 0);
        assert_eq!(interface_mac("lo").unwrap(), [0; 6]);
        assert!(interface_queues("lo").unwrap() >= 1);
    }

    #[test]
    fn driver_of_loopback() {
        // The loopback device has no ethtool get_drvinfo (`ethtool -i lo`:
        // "Operation not supported"). The veth case is in tests/veth_xsk.rs (root).
        match driver_name("lo") {
            Err(DeviceError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}"),
            other => panic!("ETHTOOL_GDRVINFO on lo: {other:?}"),
        }
        assert!(matches!(
            driver_name("nonexistent0"),
            Err(DeviceError::NoSuchInterface(_))
        ));
        assert_eq!(std::mem::size_of::<EthtoolDrvinfo>(), 196);
    }

    #[test]
    fn missing_interface() {
        let e = interface_mac("nonexistent0").unwrap_err();
        assert_eq!(e.to_string(), "interface nonexistent0 not found");
        assert!(matches!(
            if_index("a-name-far-too-long-for-linux"),
            Err(DeviceError::NoSuchInterface(_))
        ));
    }
}
