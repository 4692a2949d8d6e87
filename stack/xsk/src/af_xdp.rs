//! AF_XDP device: one UMEM + one socket bound to one (interface, queue).
//!
//! Frame ownership: the UMEM's frames are split once at open time into an RX
//! pool (always owned by the kernel's fill ring, or by us between `rx_burst`
//! peeking them and giving them straight back) and a TX pool (free list ->
//! pending -> TX ring -> completion ring -> free list). Each ring is at least
//! as large as the pool that flows through it, so a produce never finds the
//! ring full. A descriptor lives in exactly one of those places at a time (it
//! is moved between vectors, never duplicated), so no frame is submitted twice.
//!
//! The loop follows libxdp's xdpsock: reap completions, peek an RX batch,
//! process it in place, return the batch to the fill ring, produce TX once per
//! batch, kick the kernel only when it set `needs_wakeup`.

use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::time::Duration;

use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, Umem};

use crate::netdev::{interface_mac, interface_queues};
use crate::{Device, DeviceError, DeviceStats, MacAddr, TxQueue, XdpProgram, XskConfig, ZeroCopy};

/// How the AF_XDP socket ended up bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// `XDP_ZEROCOPY`: the NIC DMAs straight into the UMEM.
    ZeroCopy,
    /// `XDP_COPY`: the kernel copies frames between skbs / driver buffers and the UMEM.
    Copy,
}

impl fmt::Display for BindMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BindMode::ZeroCopy => "zero-copy",
            BindMode::Copy => "copy",
        })
    }
}

/// How long opening a socket waits for a queue that answers EBUSY (a socket of
/// an exited process not yet released by the kernel) before giving up.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Most frames one `rx_burst` handles (also the completion batch size).
pub const MAX_BATCH: usize = 256;

/// The TX side of an [`XskDevice`].
pub struct XskTx {
    umem: Umem,
    txq: xsk_rs::TxQueue,
    cq: CompQueue,
    /// Frames free for `send`.
    free: Vec<FrameDesc>,
    /// Frames written by `send`, to be produced on the TX ring at the next flush.
    pending: Vec<FrameDesc>,
    /// Scratch for completion-ring reaping.
    comp: Vec<FrameDesc>,
    /// Largest frame a TX buffer holds.
    frame_cap: usize,
    /// Frames produced on the TX ring and not yet back from the completion ring.
    outstanding: usize,
    tx_packets: u64,
    tx_bytes: u64,
    tx_no_frame: u64,
    tx_kicks: u64,
}

impl XskTx {
    /// Move completed TX frames back to the free list. Returns how many.
    fn reap(&mut self) -> usize {
        let mut total = 0;
        loop {
            // SAFETY: `comp` holds descriptors of this socket's own UMEM; the
            // completion ring hands back frames the kernel has finished sending,
            // which are ours again.
            let n = unsafe { self.cq.consume(&mut self.comp) };
            self.free.extend_from_slice(&self.comp[..n]);
            self.outstanding = self.outstanding.saturating_sub(n);
            total += n;
            if n < self.comp.len() {
                return total;
            }
        }
    }

    /// Produce the pending frames on the TX ring (all or none) and kick the
    /// kernel if it asks for it.
    fn submit(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            // SAFETY: every pending descriptor belongs to this UMEM and is
            // owned by us alone (taken from `free`, not on any ring); after a
            // successful produce we forget them (clear), so none is submitted
            // twice, and they come back only through the completion ring.
            let n = unsafe { self.txq.produce(&self.pending) };
            self.outstanding += n;
            if n == self.pending.len() {
                self.pending.clear();
            } else if n > 0 {
                // Not expected (produce is all-or-nothing), but keep ownership exact.
                self.pending.drain(..n);
            }
        }
        // Kick only when the kernel has something to send and asked to be woken
        // (copy mode always asks: the sendto is what transmits).
        if self.outstanding > 0 && self.txq.needs_wakeup() {
            self.tx_kicks += 1;
            self.txq.wakeup()?;
        }
        Ok(())
    }

    /// Frames queued and not yet produced.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Frames free for `send` right now.
    pub fn free(&self) -> usize {
        self.free.len()
    }
}

impl TxQueue for XskTx {
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        if len > self.frame_cap {
            self.tx_no_frame += 1;
            return false;
        }
        if self.free.is_empty() {
            self.reap();
        }
        let Some(mut desc) = self.free.pop() else {
            self.tx_no_frame += 1;
            return false;
        };
        {
            // SAFETY: `desc` came from the free list: it belongs to this UMEM and
            // neither the kernel (not on any ring) nor any other descriptor we
            // hold refers to that frame, so this exclusive access is unique.
            let mut data = unsafe { self.umem.data_mut(&mut desc) };
            data.cursor().set_pos(len);
            fill(data.contents_mut());
        }
        self.tx_packets += 1;
        self.tx_bytes += len as u64;
        self.pending.push(desc);
        true
    }
}

/// An AF_XDP socket bound to one queue of an interface; implements [`Device`].
pub struct XskDevice {
    umem: Umem,
    fq: FillQueue,
    rx: RxQueue,
    tx: XskTx,
    /// Scratch for RX peeks (len = MAX_BATCH).
    rx_descs: Vec<FrameDesc>,
    /// RX frames that did not fit back on the fill ring (should stay empty).
    fill_backlog: Vec<FrameDesc>,
    mac: MacAddr,
    iface: String,
    queue: u32,
    bind_mode: BindMode,
    rx_packets: u64,
    rx_bytes: u64,
}

impl fmt::Debug for XskDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskDevice")
            .field("iface", &self.iface)
            .field("queue", &self.queue)
            .field("bind_mode", &self.bind_mode)
            .finish()
    }
}

struct Opened {
    umem: Umem,
    frames: Vec<FrameDesc>,
    txq: xsk_rs::TxQueue,
    rx: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
}

fn open_socket(
    cfg: &XskConfig,
    ring: QueueSize,
    bind: BindFlags,
) -> Result<Opened, (DeviceError, Option<i32>)> {
    let sock_err = |detail: String, errno: Option<i32>| {
        (
            DeviceError::Socket {
                iface: cfg.iface.clone(),
                queue: cfg.queue,
                detail,
            },
            errno,
        )
    };
    let frame_size =
        FrameSize::new(cfg.frame_size).map_err(|e| (DeviceError::Config(e.to_string()), None))?;
    let umem_cfg = UmemConfig::builder()
        .frame_size(frame_size)
        .fill_queue_size(ring)
        .comp_queue_size(ring)
        .frame_headroom(0)
        .build()
        .map_err(|e| (DeviceError::Config(e.to_string()), None))?;
    let count = NonZeroU32::new(cfg.frame_count)
        .ok_or_else(|| (DeviceError::Config("frame_count must be > 0".into()), None))?;
    let (umem, frames) = Umem::new(umem_cfg, count, false).map_err(|e| {
        let errno = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .and_then(|io| io.raw_os_error());
        sock_err(format!("creating the UMEM: {}", err_chain(&e)), errno)
    })?;

    let sock_cfg = SocketConfig::builder()
        .rx_queue_size(ring)
        .tx_queue_size(ring)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(bind | BindFlags::XDP_USE_NEED_WAKEUP)
        .build();
    let ifname: Interface = cfg
        .iface
        .parse()
        .map_err(|_| (DeviceError::NoSuchInterface(cfg.iface.clone()), None))?;
    // SAFETY: `umem` is freshly created and not shared with any other socket
    // or thread; its fill/comp rings are handed to this one socket.
    let created = unsafe { Socket::new(sock_cfg, &umem, &ifname, cfg.queue) };
    let (txq, rx, fq_cq) = created.map_err(|e| {
        let errno = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .and_then(|io| io.raw_os_error());
        sock_err(err_chain(&e), errno)
    })?;
    let (fq, cq) =
        fq_cq.ok_or_else(|| sock_err("no fill/completion rings returned".into(), None))?;
    Ok(Opened {
        umem,
        frames,
        txq,
        rx,
        fq,
        cq,
    })
}

fn err_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl XskDevice {
    /// Create a UMEM and an AF_XDP socket bound to (`cfg.iface`, `cfg.queue`),
    /// without libxdp's default program, and register it in `prog`'s XSKMAP.
    ///
    /// Zero-copy per `cfg.zero_copy` (Auto: try zero-copy, fall back to copy).
    /// Half of `cfg.frame_count` frames go to RX (fill ring), half to TX.
    pub fn open(cfg: &XskConfig, prog: &XdpProgram) -> Result<XskDevice, DeviceError> {
        if !cfg.frame_size.is_power_of_two() || cfg.frame_size < 2048 {
            return Err(DeviceError::Config(format!(
                "frame_size {} must be a power of two >= 2048",
                cfg.frame_size
            )));
        }
        if cfg.frame_count < 2 || cfg.frame_count > (1 << 20) {
            return Err(DeviceError::Config(format!(
                "frame_count {} must be in 2..=1048576",
                cfg.frame_count
            )));
        }
        let mac = interface_mac(&cfg.iface)?;
        let nq = interface_queues(&cfg.iface)?;
        if cfg.queue >= nq {
            return Err(DeviceError::NoSuchQueue {
                iface: cfg.iface.clone(),
                queue: cfg.queue,
                count: nq,
            });
        }

        let rx_frames = (cfg.frame_count / 2) as usize;
        let tx_frames = cfg.frame_count as usize - rx_frames;
        let ring_len = (rx_frames.max(tx_frames) as u32).next_power_of_two();
        let ring = QueueSize::new(ring_len).map_err(|e| DeviceError::Config(e.to_string()))?;

        let attempts: &[(BindFlags, BindMode)] = match cfg.zero_copy {
            ZeroCopy::Auto => &[
                (BindFlags::XDP_ZEROCOPY, BindMode::ZeroCopy),
                (BindFlags::XDP_COPY, BindMode::Copy),
            ],
            ZeroCopy::On => &[(BindFlags::XDP_ZEROCOPY, BindMode::ZeroCopy)],
            ZeroCopy::Off => &[(BindFlags::XDP_COPY, BindMode::Copy)],
        };
        let mut last_err = None;
        let mut opened = None;
        // A socket of a process that just exited is released by the kernel a
        // little later (deferred file release): its queue answers EBUSY for a few
        // milliseconds. Wait for that instead of failing a command run right
        // after another one; a queue that stays busy is really taken.
        let busy_deadline = std::time::Instant::now() + BUSY_WAIT;
        for &(flags, mode) in attempts {
            // A failed bind leaves libxdp's UMEM/ctx state half-used; start from a
            // fresh UMEM for each attempt rather than retrying on the same one.
            let result = loop {
                match open_socket(cfg, ring, flags) {
                    Err((_, Some(libc::EBUSY))) if std::time::Instant::now() < busy_deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    r => break r,
                }
            };
            match result {
                Ok(o) => {
                    opened = Some((o, mode));
                    break;
                }
                Err((e, errno)) => {
                    if matches!(errno, Some(libc::EPERM) | Some(libc::EACCES)) {
                        return Err(DeviceError::PermissionDenied(e.to_string()));
                    }
                    if matches!(errno, Some(libc::EBUSY)) {
                        return Err(DeviceError::Socket {
                            iface: cfg.iface.clone(),
                            queue: cfg.queue,
                            detail: format!("queue already in use by another AF_XDP socket (EBUSY for {} s)", BUSY_WAIT.as_secs()),
                        });
                    }
                    if mode == BindMode::ZeroCopy && cfg.zero_copy == ZeroCopy::On {
                        return Err(DeviceError::ZeroCopyUnsupported {
                            iface: cfg.iface.clone(),
                            queue: cfg.queue,
                            detail: e.to_string(),
                        });
                    }
                    last_err = Some(e);
                }
            }
        }
        let Some((o, bind_mode)) = opened else {
            return Err(
                last_err.unwrap_or_else(|| DeviceError::Config("no bind mode to try".into()))
            );
        };
        let Opened {
            umem,
            mut frames,
            txq,
            rx,
            mut fq,
            cq,
        } = o;

        let tx_free: Vec<FrameDesc> = {
            let mut v = Vec::with_capacity(tx_frames);
            v.extend(frames.drain(rx_frames..));
            v
        };
        let rx_pool = frames; // exactly rx_frames descriptors

        // Hand the whole RX pool to the kernel.
        // SAFETY: the RX-pool descriptors belong to this UMEM and are owned by
        // nobody else (fresh from Umem::new, disjoint from the TX pool); the fill
        // ring has room for all of them (ring_len >= rx_frames).
        let n = unsafe { fq.produce(&rx_pool) };
        if n != rx_pool.len() {
            return Err(DeviceError::Socket {
                iface: cfg.iface.clone(),
                queue: cfg.queue,
                detail: format!("fill ring took {n} of {} frames", rx_pool.len()),
            });
        }

        prog.register_xsk(cfg.queue, rx.fd().as_raw_fd())?;

        let frame_cap = (cfg.frame_size - UmemConfig::default().xdp_headroom()) as usize;
        let tx = XskTx {
            umem: umem.clone(),
            txq,
            cq,
            free: tx_free,
            pending: Vec::with_capacity(tx_frames),
            comp: vec![FrameDesc::default(); MAX_BATCH],
            frame_cap,
            outstanding: 0,
            tx_packets: 0,
            tx_bytes: 0,
            tx_no_frame: 0,
            tx_kicks: 0,
        };
        let mut dev = XskDevice {
            umem,
            fq,
            rx,
            tx,
            rx_descs: vec![FrameDesc::default(); MAX_BATCH],
            fill_backlog: Vec::with_capacity(rx_frames),
            mac,
            iface: cfg.iface.clone(),
            queue: cfg.queue,
            bind_mode,
            rx_packets: 0,
            rx_bytes: 0,
        };
        // Let the driver know about the fill ring if it wants a wakeup.
        dev.kick_fill()?;
        Ok(dev)
    }

    /// How the socket is bound.
    pub fn bind_mode(&self) -> BindMode {
        self.bind_mode
    }

    /// The queue this socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The interface this socket is bound to.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Largest frame `send` accepts (frame size minus XDP headroom).
    pub fn max_frame(&self) -> usize {
        self.tx.frame_cap
    }

    fn kick_fill(&mut self) -> io::Result<()> {
        if self.fq.needs_wakeup() {
            self.fq.wakeup(self.rx.fd_mut(), 0)?;
        }
        Ok(())
    }

    /// Put RX frames back on the fill ring (backlog first).
    fn refill(&mut self, n: usize) {
        if !self.fill_backlog.is_empty() {
            // SAFETY: backlog descriptors are RX-pool frames we own (the kernel
            // handed them to us via the RX ring and nothing else refers to them).
            let k = unsafe { self.fq.produce(&self.fill_backlog) };
            if k == self.fill_backlog.len() {
                self.fill_backlog.clear();
            }
        }
        if n == 0 {
            return;
        }
        if self.fill_backlog.is_empty() {
            // SAFETY: `rx_descs[..n]` were just consumed from the RX ring, so they
            // are our RX-pool frames; the callback's borrows of their data ended
            // with the batch, and once produced we never read them again.
            let k = unsafe { self.fq.produce(&self.rx_descs[..n]) };
            if k == n {
                return;
            }
        }
        self.fill_backlog.extend_from_slice(&self.rx_descs[..n]);
    }
}

impl Device for XskDevice {
    type Tx = XskTx;

    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn rx_burst<F: FnMut(&[u8], &mut XskTx)>(
        &mut self,
        budget: usize,
        mut f: F,
    ) -> io::Result<usize> {
        let want = budget.min(self.rx_descs.len());
        if want == 0 {
            return Ok(0);
        }
        // SAFETY: `rx_descs` is scratch space of this socket's UMEM; consume
        // overwrites the first n entries with frames the kernel hands us.
        let n = unsafe { self.rx.consume(&mut self.rx_descs[..want]) };
        if n == 0 {
            // Nothing to read: make sure the driver is processing the fill ring.
            self.kick_fill()?;
            return Ok(0);
        }
        for desc in &self.rx_descs[..n] {
            // SAFETY: the kernel gave this frame to us through the RX ring; it is
            // not on the fill ring and the only other access is `tx.send`, which
            // writes TX-pool frames only (disjoint from the RX pool).
            let data = unsafe { self.umem.data(desc) };
            let frame: &[u8] = data.contents();
            self.rx_packets += 1;
            self.rx_bytes += frame.len() as u64;
            f(frame, &mut self.tx);
        }
        self.refill(n);
        Ok(n)
    }

    fn rx_ready(&mut self) -> bool {
        self.rx.nb_avail(1) > 0
    }

    fn tx(&mut self) -> &mut XskTx {
        &mut self.tx
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tx.submit()?;
        self.tx.reap();
        self.refill(0);
        self.kick_fill()
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        self.rx.poll(ms)?;
        Ok(())
    }

    fn wait_or_wake(&mut self, timeout: Duration, waker: &crate::Waker) -> io::Result<()> {
        crate::wake::poll_readable(&[self.rx.fd().as_raw_fd(), waker.fd()], timeout)
    }

    /// Costs one `getsockopt(XDP_STATISTICS)` for the kernel's drop counters.
    fn stats(&self) -> DeviceStats {
        let k = self.rx.fd().xdp_statistics().ok();
        DeviceStats {
            rx_packets: self.rx_packets,
            rx_bytes: self.rx_bytes,
            tx_packets: self.tx.tx_packets,
            tx_bytes: self.tx.tx_bytes,
            tx_no_frame: self.tx.tx_no_frame,
            rx_fill_empty: k.map_or(0, |k| k.rx_fill_ring_empty_descs()),
            rx_ring_full: k.map_or(0, |k| k.rx_ring_full()),
            rx_dropped: k.map_or(0, |k| k.rx_dropped()),
            tx_invalid: k.map_or(0, |k| k.tx_invalid_descs()),
            tx_kicks: self.tx.tx_kicks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsk_device_is_send() {
        fn is_send<T: Send>() {}
        is_send::<XskDevice>();
        is_send::<XdpProgram>();
    }
}
