//! Network devices of xdpstack.
//!
//! * [`Device`] / [`TxQueue`]: the device contract the engine drives, in
//!   batches: [`Device::rx_burst`] hands out frames in place, replies are queued
//!   with [`TxQueue::send`], and [`Device::flush`] submits them once per batch.
//! * [`XdpProgram`]: our XDP program (`xdp-prog/xdpstack.bpf.c`), loaded with
//!   libbpf-rs and attached to an interface; it steers only the stack's own
//!   addresses (and ARP/NDP for them) to the AF_XDP sockets.
//! * [`XskDevice`]: one AF_XDP socket (xsk-rs) bound to one queue.
//! * [`MemDevice`] / [`mem_pair`]: an in-memory link for simulation tests.
//! * [`FaultDevice`]: seeded loss / duplication / reordering / delay on any
//!   device (`--fault`; this kernel has no netem).
//! * [`PcapWriter`]: classic pcap files for `--pcap`.
//!
//! This crate is the only one in the project with `unsafe`; every block carries
//! a `// SAFETY:` comment.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

mod af_xdp;
mod ethtool;
mod fault;
mod mem;
mod netdev;
mod pcap;
mod prog;
mod wake;

pub use af_xdp::{BindMode, XskDevice, XskTx, MAX_BATCH};
pub use ethtool::{rss_config, RssConfig, ETH_RSS_HASH_CRC32, ETH_RSS_HASH_TOP, ETH_RSS_HASH_XOR};
pub use fault::{FaultConfig, FaultDevice, FaultStats, FaultTx};
pub use mem::{mem_pair, MemDevice, MemTx, MEM_DEFAULT_MAX_FRAME};
pub use netdev::{driver_name, if_index, interface_mac, interface_queues, xdp_attached};
pub use pcap::{PcapWriter, PCAP_SNAPLEN};
pub use prog::{solicited_node, AttachedMode, XdpCounters, XdpProgram, MAX_QUEUES};
pub use wake::Waker;

/// An Ethernet MAC address.
pub type MacAddr = [u8; 6];

/// Counters of one device (one queue for AF_XDP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Frames handed to the `rx_burst` callback.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames queued by [`TxQueue::send`] (and later submitted by `flush`).
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// [`TxQueue::send`] found no free TX frame (or the frame was too long).
    pub tx_no_frame: u64,
    /// Kernel: frames dropped because the fill ring was empty (AF_XDP `rx_fill_ring_empty_descs`).
    pub rx_fill_empty: u64,
    /// Kernel: frames dropped because the RX ring was full (AF_XDP `rx_ring_full`).
    pub rx_ring_full: u64,
    /// Kernel: frames dropped for other reasons (AF_XDP `rx_dropped`; for the
    /// in-memory device: frames lost because the peer's queue was full).
    pub rx_dropped: u64,
    /// Kernel: invalid TX descriptors (AF_XDP `tx_invalid_descs`).
    pub tx_invalid: u64,
    /// Number of times `flush` had to kick the kernel (sendto) for TX.
    pub tx_kicks: u64,
}

/// The transmit side of a device: queue frames for the next [`Device::flush`].
pub trait TxQueue {
    /// Reserve a TX frame of exactly `len` bytes, let `fill` write the frame into
    /// it, and queue it for the next flush.
    ///
    /// The buffer handed to `fill` has stale contents: `fill` must write all
    /// `len` bytes. Returns false (nothing queued, counted in
    /// [`DeviceStats::tx_no_frame`]) if no frame is free or `len` is larger than
    /// a frame.
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool;
}

/// A network device driven in batches by one core's loop.
pub trait Device {
    /// The transmit queue type handed to the `rx_burst` callback.
    type Tx: TxQueue;

    /// The device's MAC address.
    fn mac(&self) -> MacAddr;

    /// Receive up to `budget` frames in one batch. For each frame call
    /// `f(frame_bytes, tx)`: `frame_bytes` borrows the frame in place (UMEM for
    /// AF_XDP) and `tx` lets the handler queue replies within the same batch.
    /// Returns the number of frames handled. RX frames go back to the fill ring
    /// after the batch. Never blocks.
    fn rx_burst<F: FnMut(&[u8], &mut Self::Tx)>(
        &mut self,
        budget: usize,
        f: F,
    ) -> std::io::Result<usize>;

    /// May `rx_burst` find frames now? `false` only when the RX side is
    /// certainly empty (a look at the ring's producer index); the loop's idle
    /// turn then skips the burst. The default, `true`, always tries.
    fn rx_ready(&mut self) -> bool {
        true
    }

    /// The transmit queue, for frames sent outside an `rx_burst` (timers, apps).
    fn tx(&mut self) -> &mut Self::Tx;

    /// Submit queued TX frames (one produce per batch, kick only if the kernel
    /// asks for it), reap completions into the free list, refill the fill ring.
    fn flush(&mut self) -> std::io::Result<()>;

    /// Block until frames may be ready to receive or `timeout` passes.
    fn wait(&mut self, timeout: std::time::Duration) -> std::io::Result<()>;

    /// As [`Device::wait`], but also return as soon as `waker` is signalled (another
    /// core handed this loop work). The default waits in slices of at most 1 ms and
    /// checks the waker between them; AF_XDP polls both fds at once.
    fn wait_or_wake(&mut self, timeout: std::time::Duration, waker: &Waker) -> std::io::Result<()> {
        let _ = waker;
        self.wait(timeout.min(std::time::Duration::from_millis(1)))
    }

    /// Current counters.
    fn stats(&self) -> DeviceStats;
}

/// How to attach the XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// Native (driver) mode if the driver supports it, else generic.
    #[default]
    Auto,
    /// Native (driver) mode only (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// Generic (SKB) mode only (`XDP_FLAGS_SKB_MODE`).
    Generic,
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        })
    }
}

impl std::str::FromStr for XdpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "native" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => Err(format!("bad XDP mode {s:?} (auto, native or generic)")),
        }
    }
}

/// Whether to bind the AF_XDP socket in zero-copy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// Zero-copy if the driver supports it, else copy.
    #[default]
    Auto,
    /// Zero-copy only (`XDP_ZEROCOPY`).
    On,
    /// Copy mode only (`XDP_COPY`).
    Off,
}

impl fmt::Display for ZeroCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ZeroCopy::Auto => "auto",
            ZeroCopy::On => "on",
            ZeroCopy::Off => "off",
        })
    }
}

impl std::str::FromStr for ZeroCopy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ZeroCopy::Auto),
            "on" => Ok(ZeroCopy::On),
            "off" => Ok(ZeroCopy::Off),
            _ => Err(format!("bad zero-copy setting {s:?} (auto, on or off)")),
        }
    }
}

/// Configuration of one [`XskDevice`].
#[derive(Debug, Clone)]
pub struct XskConfig {
    /// Interface name.
    pub iface: String,
    /// RX/TX queue to bind.
    pub queue: u32,
    /// XDP attach mode (used by the caller for [`XdpProgram::attach`]; kept here
    /// so one config describes the data path).
    pub xdp_mode: XdpMode,
    /// Zero-copy bind setting.
    pub zero_copy: ZeroCopy,
    /// UMEM frame size in bytes: a power of two, at least 2048.
    pub frame_size: u32,
    /// Number of UMEM frames: half are used for RX (fill ring), half for TX.
    pub frame_count: u32,
    /// IPv4 addresses the stack owns.
    pub ipv4: Vec<Ipv4Addr>,
    /// IPv6 addresses the stack owns.
    pub ipv6: Vec<Ipv6Addr>,
}

impl XskConfig {
    /// Defaults: queue 0, auto modes, 2048-byte frames, 4096 frames, no addresses.
    pub fn new(iface: impl Into<String>) -> XskConfig {
        XskConfig {
            iface: iface.into(),
            queue: 0,
            xdp_mode: XdpMode::Auto,
            zero_copy: ZeroCopy::Auto,
            frame_size: 2048,
            frame_count: 4096,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
        }
    }
}

/// Errors of device setup. Each message is one line, fit for the CLI to print
/// before exiting with status 2.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No interface of that name (in this network namespace).
    #[error("interface {0} not found")]
    NoSuchInterface(String),
    /// Missing privileges.
    #[error("permission denied: {0} (run as root / CAP_NET_ADMIN+CAP_BPF)")]
    PermissionDenied(String),
    /// The interface (driver) refused the XDP program in the asked mode.
    #[error("XDP not supported on {iface}: {detail}")]
    XdpUnsupported {
        /// Interface name.
        iface: String,
        /// What failed.
        detail: String,
    },
    /// Another XDP program is already attached.
    #[error("an XDP program is already attached to {iface} (prog id {prog_id}); detach it first (ip link set dev {iface} xdp off)")]
    AlreadyAttached {
        /// Interface name.
        iface: String,
        /// The program id found attached.
        prog_id: u32,
    },
    /// Zero-copy was asked for (`--zero-copy on`) but the driver refused it.
    #[error("zero-copy AF_XDP not supported on {iface} queue {queue}: {detail}")]
    ZeroCopyUnsupported {
        /// Interface name.
        iface: String,
        /// Queue id.
        queue: u32,
        /// What failed.
        detail: String,
    },
    /// The queue does not exist on the interface.
    #[error("queue {queue} out of range on {iface} ({count} rx queues)")]
    NoSuchQueue {
        /// Interface name.
        iface: String,
        /// Asked queue.
        queue: u32,
        /// Queues the interface has.
        count: u32,
    },
    /// Bad configuration value.
    #[error("invalid device configuration: {0}")]
    Config(String),
    /// libbpf failed to load the program or touch a map.
    #[error("BPF: {0}")]
    Bpf(String),
    /// Creating the UMEM or the AF_XDP socket failed.
    #[error("AF_XDP socket on {iface} queue {queue}: {detail}")]
    Socket {
        /// Interface name.
        iface: String,
        /// Queue id.
        queue: u32,
        /// What failed (with the OS error).
        detail: String,
    },
    /// Other OS error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
