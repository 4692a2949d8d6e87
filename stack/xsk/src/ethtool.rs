//! A NIC's RSS configuration (hash key, indirection table, hash function)
//! through the `SIOCETHTOOL` ioctl, as `ethtool -x IF` shows it.
//!
//! Like the queries in `netdev.rs`, this goes through a socket, so it answers
//! for the network namespace of the calling thread.
//!
//! Layouts are those of the kernel UAPI `linux/ethtool.h`:
//!
//! ```text
//! struct ethtool_rxfh {            // ETHTOOL_GRSSH (0x46), 24 bytes + payload
//!     __u32 cmd, rss_context, indir_size, key_size;
//!     __u8  hfunc, input_xfrm, rsvd8[2];   // input_xfrm was rsvd8[0] before Linux 6.8
//!     __u32 rsvd32;
//!     __u32 rss_config[];          // indir_size u32 queue ids, then key_size key bytes
//! };
//! struct ethtool_rxfh_indir {      // ETHTOOL_GRXFHINDIR (0x38), 8 bytes + payload
//!     __u32 cmd, size;
//!     __u32 ring_index[];
//! };
//! ```
//!
//! Devices without RSS ethtool ops (veth, tun, loopback) answer `EOPNOTSUPP`;
//! [`rss_config`] reports them as `Ok(None)`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::DeviceError;

const ETHTOOL_GRXFHINDIR: u32 = 0x0000_0038;
const ETHTOOL_GRSSH: u32 = 0x0000_0046;

/// `hfunc` bit: Toeplitz hash (`ETH_RSS_HASH_TOP`, bit 0), the one NICs use
/// by default and the only one the engine's flow steering predicts.
pub const ETH_RSS_HASH_TOP: u32 = 1 << 0;
/// `hfunc` bit: XOR hash (`ETH_RSS_HASH_XOR`, bit 1).
pub const ETH_RSS_HASH_XOR: u32 = 1 << 1;
/// `hfunc` bit: CRC32 hash (`ETH_RSS_HASH_CRC32`, bit 2).
pub const ETH_RSS_HASH_CRC32: u32 = 1 << 2;

/// Largest indirection table / key we accept from a driver (sanity bound; real
/// tables have 64..2048 entries and keys 40 or 52 bytes).
const MAX_INDIR: u32 = 1 << 16;
const MAX_KEY: u32 = 1 << 10;

/// `struct ethtool_rxfh` without its flexible array.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolRxfh {
    cmd: u32,
    rss_context: u32,
    indir_size: u32,
    key_size: u32,
    hfunc: u8,
    input_xfrm: u8,
    rsvd8: [u8; 2],
    rsvd32: u32,
}

/// `struct ethtool_rxfh_indir` without its flexible array.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolRxfhIndir {
    cmd: u32,
    size: u32,
}

const RXFH_HDR: usize = std::mem::size_of::<EthtoolRxfh>();
const INDIR_HDR: usize = std::mem::size_of::<EthtoolRxfhIndir>();

/// The RSS configuration of a NIC (its default RSS context 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssConfig {
    /// The hash key (usually 40 bytes, 52 on Intel ice/i40e). Empty when the
    /// device reports only its table (`ETHTOOL_GRXFHINDIR` fallback) or has no
    /// readable key.
    pub key: Vec<u8>,
    /// The indirection table: entry `i` is the RX queue that receives packets
    /// whose hash selects slot `i` (`hash % indir.len()`; tables are powers of
    /// two, so this is the hash's low bits). Empty if the device reports none.
    pub indir: Vec<u32>,
    /// Hash function in use, one of the `ETH_RSS_HASH_*` bits:
    /// [`ETH_RSS_HASH_TOP`] (1) Toeplitz, [`ETH_RSS_HASH_XOR`] (2),
    /// [`ETH_RSS_HASH_CRC32`] (4); 0 if the driver did not say (also from the
    /// `ETHTOOL_GRXFHINDIR` fallback).
    pub hfunc: u32,
    /// Input transformation (`RXH_XFRM_*`, Linux 6.8+): 0 none, bit 0
    /// `RXH_XFRM_SYM_XOR` (source and destination XOR-ed before hashing, so
    /// the hash is symmetric), bit 1 `RXH_XFRM_SYM_OR_XOR`. A non-zero value
    /// changes the hash input, so a plain Toeplitz over the tuple no longer
    /// predicts the queue.
    pub input_xfrm: u32,
}

impl RssConfig {
    /// Whether the NIC hashes with plain Toeplitz over the tuple: `hfunc` is
    /// Toeplitz (or unreported, the common default) and no input transform.
    pub fn is_plain_toeplitz(&self) -> bool {
        (self.hfunc == 0 || self.hfunc == ETH_RSS_HASH_TOP) && self.input_xfrm == 0
    }
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

/// Outcome of one SIOCETHTOOL call: `Err(errno)` on failure.
fn ethtool_ioctl(sock: &OwnedFd, iface: &str, buf: &mut [u32]) -> Result<(), i32> {
    // SAFETY: ifreq is a plain C struct/union; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    // The caller checked the name with if_index (non-empty, < IFNAMSIZ, no NUL),
    // so it fits with its terminating NUL (left zero above).
    for (dst, src) in ifr.ifr_name.iter_mut().zip(iface.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = buf.as_mut_ptr().cast();
    // SAFETY: SIOCETHTOOL reads the command header at ifr_data and writes at
    // most the header plus the payload sizes given in that header, which the
    // callers size `buf` for (header + indir_size u32s + key_size bytes,
    // rounded up to u32s); `buf` is u32-aligned and exclusively borrowed for
    // the whole call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    Ok(())
}

fn os_error(iface: &str, what: &str, errno: i32) -> DeviceError {
    let err = io::Error::from_raw_os_error(errno);
    match errno {
        libc::ENODEV => DeviceError::NoSuchInterface(iface.to_string()),
        libc::EPERM | libc::EACCES => {
            DeviceError::PermissionDenied(format!("reading {what} of {iface}: {err}"))
        }
        _ => DeviceError::Io(io::Error::new(
            err.kind(),
            format!("reading {what} of {iface}: {err}"),
        )),
    }
}

/// Whether an ioctl error means "this driver has no RSS ops".
fn unsupported(errno: i32) -> bool {
    errno == libc::EOPNOTSUPP || errno == libc::EINVAL
}

fn words(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

/// A command header as the native-endian u32 words the kernel reads, followed
/// by zeroed room for a payload of `payload_bytes` (rounded up to words).
trait Header {
    fn words(&self) -> Vec<u32>;

    fn buffer(&self, payload_bytes: usize) -> Vec<u32> {
        let mut buf = self.words();
        buf.resize(buf.len() + words(payload_bytes), 0);
        buf
    }
}

impl Header for EthtoolRxfh {
    fn words(&self) -> Vec<u32> {
        let [r0, r1] = self.rsvd8;
        vec![
            self.cmd,
            self.rss_context,
            self.indir_size,
            self.key_size,
            u32::from_ne_bytes([self.hfunc, self.input_xfrm, r0, r1]),
            self.rsvd32,
        ]
    }
}

impl Header for EthtoolRxfhIndir {
    fn words(&self) -> Vec<u32> {
        vec![self.cmd, self.size]
    }
}

fn as_bytes(buf: &[u32]) -> Vec<u8> {
    buf.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

fn ne_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Decode a `struct ethtool_rxfh` answer (header, table, key) from its bytes
/// in native byte order.
fn decode_rxfh(b: &[u8]) -> io::Result<RssConfig> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if b.len() < RXFH_HDR {
        return Err(bad(format!("ethtool_rxfh answer of {} bytes", b.len())));
    }
    let indir_size = ne_u32(b, 8) as usize;
    let key_size = ne_u32(b, 12) as usize;
    let need = RXFH_HDR + indir_size * 4 + key_size;
    if b.len() < need {
        return Err(bad(format!(
            "ethtool_rxfh with {indir_size} entries and a {key_size}-byte key needs {need} bytes, got {}",
            b.len()
        )));
    }
    let indir = (0..indir_size)
        .map(|i| ne_u32(b, RXFH_HDR + 4 * i))
        .collect();
    let k = RXFH_HDR + indir_size * 4;
    Ok(RssConfig {
        key: b[k..k + key_size].to_vec(),
        indir,
        hfunc: b[16] as u32,
        input_xfrm: b[17] as u32,
    })
}

/// Decode a `struct ethtool_rxfh_indir` answer from its bytes.
fn decode_rxfh_indir(b: &[u8]) -> io::Result<Vec<u32>> {
    let size = if b.len() >= INDIR_HDR {
        ne_u32(b, 4) as usize
    } else {
        usize::MAX
    };
    if size == usize::MAX || b.len() < INDIR_HDR + 4 * size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("short ethtool_rxfh_indir answer ({} bytes)", b.len()),
        ));
    }
    Ok((0..size).map(|i| ne_u32(b, INDIR_HDR + 4 * i)).collect())
}

fn too_big(iface: &str, what: &str, n: u32) -> DeviceError {
    DeviceError::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{iface} reports an RSS {what} of {n}, beyond any real NIC"),
    ))
}

/// The RSS configuration of `iface` (RSS context 0), as `ethtool -x` shows it.
///
/// Uses `ETHTOOL_GRSSH` (key + table + hash function): one call with zero
/// sizes to learn the sizes, one with a buffer of that size (retried if the
/// sizes changed in between). Falls back to `ETHTOOL_GRXFHINDIR` (table only,
/// `key` empty, `hfunc` 0) if the kernel lacks `ETHTOOL_GRSSH`.
///
/// Returns `Ok(None)` when the driver has no RSS ethtool ops (the ioctl fails
/// with `EOPNOTSUPP`/`EINVAL`, as on veth, tun and loopback) or reports neither
/// a table nor a key. Errors: [`DeviceError::NoSuchInterface`],
/// [`DeviceError::PermissionDenied`], [`DeviceError::Io`].
pub fn rss_config(iface: &str) -> Result<Option<RssConfig>, DeviceError> {
    crate::if_index(iface)?;
    let sock = dgram_socket()?;
    for _attempt in 0..3 {
        let mut q = EthtoolRxfh {
            cmd: ETHTOOL_GRSSH,
            ..Default::default()
        }
        .buffer(0);
        match ethtool_ioctl(&sock, iface, &mut q) {
            Ok(()) => {}
            Err(e) if unsupported(e) => return rss_indir_only(&sock, iface),
            Err(e) => return Err(os_error(iface, "the RSS configuration", e)),
        }
        // The kernel wrote the device's sizes into the header.
        let (indir_size, key_size) = (q[2], q[3]);
        if indir_size > MAX_INDIR {
            return Err(too_big(iface, "indirection table size", indir_size));
        }
        if key_size > MAX_KEY {
            return Err(too_big(iface, "key size", key_size));
        }
        if indir_size == 0 && key_size == 0 {
            return Ok(None);
        }
        let mut buf = EthtoolRxfh {
            cmd: ETHTOOL_GRSSH,
            indir_size,
            key_size,
            ..Default::default()
        }
        .buffer(4 * indir_size as usize + key_size as usize);
        match ethtool_ioctl(&sock, iface, &mut buf) {
            Ok(()) => {
                return decode_rxfh(&as_bytes(&buf))
                    .map(Some)
                    .map_err(DeviceError::Io)
            }
            // EINVAL here: the sizes changed since the first call (channels
            // reconfigured); ask again.
            Err(libc::EINVAL) => continue,
            Err(e) => return Err(os_error(iface, "the RSS configuration", e)),
        }
    }
    Err(DeviceError::Io(io::Error::other(format!(
        "the RSS table size of {iface} kept changing while reading it"
    ))))
}

/// `ETHTOOL_GRXFHINDIR`: the indirection table alone.
fn rss_indir_only(sock: &OwnedFd, iface: &str) -> Result<Option<RssConfig>, DeviceError> {
    for _attempt in 0..3 {
        let mut q = EthtoolRxfhIndir {
            cmd: ETHTOOL_GRXFHINDIR,
            size: 0,
        }
        .buffer(0);
        match ethtool_ioctl(sock, iface, &mut q) {
            Ok(()) => {}
            Err(e) if unsupported(e) => return Ok(None),
            Err(e) => return Err(os_error(iface, "the RSS indirection table", e)),
        }
        let size = q[1];
        if size > MAX_INDIR {
            return Err(too_big(iface, "indirection table size", size));
        }
        if size == 0 {
            return Ok(None);
        }
        let mut buf = EthtoolRxfhIndir {
            cmd: ETHTOOL_GRXFHINDIR,
            size,
        }
        .buffer(4 * size as usize);
        match ethtool_ioctl(sock, iface, &mut buf) {
            Ok(()) => {
                let indir = decode_rxfh_indir(&as_bytes(&buf)).map_err(DeviceError::Io)?;
                return Ok(Some(RssConfig {
                    key: Vec::new(),
                    indir,
                    hfunc: 0,
                    input_xfrm: 0,
                }));
            }
            Err(libc::EINVAL) => continue,
            Err(e) => return Err(os_error(iface, "the RSS indirection table", e)),
        }
    }
    Err(DeviceError::Io(io::Error::other(format!(
        "the RSS table size of {iface} kept changing while reading it"
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uapi_struct_sizes() {
        // sizeof(struct ethtool_rxfh) == 24 and sizeof(struct ethtool_rxfh_indir)
        // == 8 in linux/ethtool.h; the payload starts right after.
        assert_eq!(RXFH_HDR, 24);
        assert_eq!(INDIR_HDR, 8);
        assert_eq!(std::mem::align_of::<EthtoolRxfh>(), 4);
        assert_eq!(std::mem::offset_of!(EthtoolRxfh, key_size), 12);
        assert_eq!(std::mem::offset_of!(EthtoolRxfh, hfunc), 16);
        assert_eq!(std::mem::offset_of!(EthtoolRxfh, input_xfrm), 17);
        assert_eq!(std::mem::offset_of!(EthtoolRxfh, rsvd32), 20);
        assert_eq!(std::mem::offset_of!(EthtoolRxfhIndir, size), 4);
    }

    /// What the kernel writes for a 4-entry table over queues 0..2, a 40-byte
    /// key 0x00..0x27, Toeplitz, no input transform.
    fn sample_answer(key_size: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [ETHTOOL_GRSSH, 0, 4, key_size as u32] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b.extend_from_slice(&[1, 0, 0, 0]); // hfunc TOP, input_xfrm 0, rsvd8
        b.extend_from_slice(&0u32.to_ne_bytes()); // rsvd32
        for q in [0u32, 1, 2, 0] {
            b.extend_from_slice(&q.to_ne_bytes());
        }
        b.extend((0..key_size).map(|i| i as u8));
        b
    }

    #[test]
    fn decodes_rxfh_answer() {
        let cfg = decode_rxfh(&sample_answer(40)).unwrap();
        assert_eq!(cfg.indir, vec![0, 1, 2, 0]);
        assert_eq!(cfg.key, (0u8..40).collect::<Vec<_>>());
        assert_eq!(cfg.hfunc, ETH_RSS_HASH_TOP);
        assert_eq!(cfg.input_xfrm, 0);
        assert!(cfg.is_plain_toeplitz());

        // Through the u32 buffer the ioctl really uses (padding to whole words).
        let mut bytes = sample_answer(52);
        let words: Vec<u32> = {
            bytes.resize(bytes.len().div_ceil(4) * 4, 0);
            bytes
                .chunks(4)
                .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
                .collect()
        };
        let cfg = decode_rxfh(&as_bytes(&words)).unwrap();
        assert_eq!(cfg.key.len(), 52);
        assert_eq!(cfg.key[51], 51);
    }

    #[test]
    fn rejects_truncated_answers_and_flags_other_hashes() {
        let b = sample_answer(40);
        assert!(decode_rxfh(&b[..b.len() - 1]).is_err());
        assert!(decode_rxfh(&b[..RXFH_HDR - 1]).is_err());
        let mut xor = b.clone();
        xor[16] = ETH_RSS_HASH_XOR as u8;
        assert!(!decode_rxfh(&xor).unwrap().is_plain_toeplitz());
        let mut sym = b;
        sym[17] = 1; // RXH_XFRM_SYM_XOR
        let cfg = decode_rxfh(&sym).unwrap();
        assert_eq!(cfg.input_xfrm, 1);
        assert!(!cfg.is_plain_toeplitz());
    }

    #[test]
    fn decodes_rxfh_indir_answer() {
        let mut b = Vec::new();
        for w in [ETHTOOL_GRXFHINDIR, 3, 1, 0, 1] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        assert_eq!(decode_rxfh_indir(&b).unwrap(), vec![1, 0, 1]);
        assert!(decode_rxfh_indir(&b[..b.len() - 4]).is_err());
        assert!(decode_rxfh_indir(&b[..4]).is_err());
    }

    #[test]
    fn header_words_follow_the_uapi_layout() {
        let hdr = EthtoolRxfh {
            cmd: ETHTOOL_GRSSH,
            rss_context: 7,
            indir_size: 128,
            key_size: 40,
            hfunc: 0x11,
            input_xfrm: 0x22,
            rsvd8: [0x33, 0x44],
            rsvd32: 9,
        };
        let buf = hdr.buffer(4 * 128 + 40);
        assert_eq!(buf.len(), (24 + 512 + 40) / 4);
        assert!(buf[6..].iter().all(|&w| w == 0));
        // The words, as bytes, are the struct's bytes at the UAPI offsets.
        let b = as_bytes(&buf[..6]);
        assert_eq!(b.len(), RXFH_HDR);
        assert_eq!(ne_u32(&b, 0), ETHTOOL_GRSSH);
        assert_eq!(
            ne_u32(&b, std::mem::offset_of!(EthtoolRxfh, rss_context)),
            7
        );
        assert_eq!(
            ne_u32(&b, std::mem::offset_of!(EthtoolRxfh, indir_size)),
            128
        );
        assert_eq!(ne_u32(&b, std::mem::offset_of!(EthtoolRxfh, key_size)), 40);
        assert_eq!(b[std::mem::offset_of!(EthtoolRxfh, hfunc)], 0x11);
        assert_eq!(b[std::mem::offset_of!(EthtoolRxfh, input_xfrm)], 0x22);
        assert_eq!(
            b[std::mem::offset_of!(EthtoolRxfh, rsvd8)..][..2],
            [0x33, 0x44]
        );
        assert_eq!(ne_u32(&b, std::mem::offset_of!(EthtoolRxfh, rsvd32)), 9);
        let cfg = decode_rxfh(&as_bytes(&buf)).unwrap();
        assert_eq!((cfg.indir.len(), cfg.key.len()), (128, 40));
        assert_eq!((cfg.hfunc, cfg.input_xfrm), (0x11, 0x22));

        let ind = EthtoolRxfhIndir {
            cmd: ETHTOOL_GRXFHINDIR,
            size: 3,
        }
        .buffer(12);
        assert_eq!(ind, vec![ETHTOOL_GRXFHINDIR, 3, 0, 0, 0]);
        assert_eq!(ind.len() * 4, INDIR_HDR + 12);
    }

    #[test]
    fn missing_interface_is_an_error() {
        assert!(matches!(
            rss_config("nonexistent0"),
            Err(DeviceError::NoSuchInterface(_))
        ));
    }
}
