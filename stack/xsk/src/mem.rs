//! In-memory device pair for simulation tests (no root, no kernel).
//!
//! Frames sent on one end come out of `rx_burst` on the other, in order. Frame
//! buffers are recycled through a per-direction free list, so steady-state
//! traffic does not allocate. Locks are fine here: this is a test path.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::{Device, DeviceStats, MacAddr, TxQueue};

/// Largest frame a [`MemDevice`] carries by default: the data room of a
/// 2048-byte AF_XDP frame (2048 - 256 bytes of XDP headroom).
pub const MEM_DEFAULT_MAX_FRAME: usize = 1792;

struct PipeState {
    frames: VecDeque<Vec<u8>>,
    free: Vec<Vec<u8>>,
}

/// One direction of the link.
struct Pipe {
    state: Mutex<PipeState>,
    ready: Condvar,
    capacity: usize,
    /// Frames dropped because the receiver's queue held `capacity` frames.
    overflow: AtomicU64,
}

impl Pipe {
    fn new(capacity: usize) -> Pipe {
        Pipe {
            state: Mutex::new(PipeState {
                frames: VecDeque::with_capacity(capacity),
                free: Vec::with_capacity(capacity * 2),
            }),
            ready: Condvar::new(),
            capacity,
            overflow: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PipeState> {
        // A panicking test thread must not poison the other end.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Transmit queue of a [`MemDevice`]: frames wait here until `flush`.
pub struct MemTx {
    out: Arc<Pipe>,
    pending: Vec<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    capacity: usize,
    max_frame: usize,
    tx_packets: u64,
    tx_bytes: u64,
    tx_no_frame: u64,
}

impl MemTx {
    /// Frames queued and not yet flushed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn take_buf(&mut self) -> Vec<u8> {
        if let Some(b) = self.spare.pop() {
            return b;
        }
        // Recycle buffers the receiver has finished with (one lock per refill).
        {
            let mut st = self.out.lock();
            let n = st.free.len().min(64);
            let at = st.free.len() - n;
            self.spare.extend(st.free.drain(at..));
        }
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.max_frame))
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut st = self.out.lock();
        let mut dropped = 0u64;
        for frame in self.pending.drain(..) {
            if st.frames.len() < self.out.capacity {
                st.frames.push_back(frame);
            } else {
                dropped += 1;
                st.free.push(frame);
            }
        }
        drop(st);
        if dropped > 0 {
            self.out.overflow.fetch_add(dropped, Ordering::Relaxed);
        }
        self.out.ready.notify_all();
    }
}

impl TxQueue for MemTx {
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        if len > self.max_frame || self.pending.len() >= self.capacity {
            self.tx_no_frame += 1;
            return false;
        }
        let mut buf = self.take_buf();
        buf.clear();
        buf.resize(len, 0);
        fill(&mut buf);
        self.tx_packets += 1;
        self.tx_bytes += len as u64;
        self.pending.push(buf);
        true
    }
}

/// One end of an in-memory link (see [`mem_pair`]).
pub struct MemDevice {
    mac: MacAddr,
    input: Arc<Pipe>,
    tx: MemTx,
    batch: Vec<Vec<u8>>,
    rx_packets: u64,
    rx_bytes: u64,
}

/// Two connected in-memory devices: frames sent (and flushed) on one come out of
/// `rx_burst` on the other. `capacity` bounds both the frames a device can
/// queue before `flush` (more: `send` returns false) and the frames waiting at
/// the receiver (more: dropped at flush, counted in the receiver's
/// `rx_ring_full`).
pub fn mem_pair(mac_a: MacAddr, mac_b: MacAddr, capacity: usize) -> (MemDevice, MemDevice) {
    let capacity = capacity.max(1);
    let a_to_b = Arc::new(Pipe::new(capacity));
    let b_to_a = Arc::new(Pipe::new(capacity));
    let a = MemDevice::new(mac_a, b_to_a.clone(), a_to_b.clone(), capacity);
    let b = MemDevice::new(mac_b, a_to_b, b_to_a, capacity);
    (a, b)
}

impl MemDevice {
    fn new(mac: MacAddr, input: Arc<Pipe>, out: Arc<Pipe>, capacity: usize) -> MemDevice {
        MemDevice {
            mac,
            input,
            tx: MemTx {
                out,
                pending: Vec::with_capacity(capacity),
                spare: Vec::with_capacity(64),
                capacity,
                max_frame: MEM_DEFAULT_MAX_FRAME,
                tx_packets: 0,
                tx_bytes: 0,
                tx_no_frame: 0,
            },
            batch: Vec::with_capacity(capacity),
            rx_packets: 0,
            rx_bytes: 0,
        }
    }

    /// Change the largest frame `send` accepts (default [`MEM_DEFAULT_MAX_FRAME`]).
    pub fn set_max_frame(&mut self, len: usize) {
        self.tx.max_frame = len;
    }

    /// Largest frame `send` accepts.
    pub fn max_frame(&self) -> usize {
        self.tx.max_frame
    }

    /// Frames waiting to be received on this end.
    pub fn rx_pending(&self) -> usize {
        self.input.lock().frames.len()
    }
}

impl Device for MemDevice {
    type Tx = MemTx;

    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn rx_burst<F: FnMut(&[u8], &mut MemTx)>(
        &mut self,
        budget: usize,
        mut f: F,
    ) -> io::Result<usize> {
        if budget == 0 {
            return Ok(0);
        }
        {
            let mut st = self.input.lock();
            let n = budget.min(st.frames.len());
            self.batch.extend(st.frames.drain(..n));
        }
        let n = self.batch.len();
        for frame in &self.batch {
            self.rx_packets += 1;
            self.rx_bytes += frame.len() as u64;
            f(frame, &mut self.tx);
        }
        if n > 0 {
            let mut st = self.input.lock();
            st.free.append(&mut self.batch);
        }
        Ok(n)
    }

    fn rx_ready(&mut self) -> bool {
        !self.input.lock().frames.is_empty()
    }

    fn tx(&mut self) -> &mut MemTx {
        &mut self.tx
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tx.flush();
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let st = self.input.lock();
        if !st.frames.is_empty() || timeout.is_zero() {
            return Ok(());
        }
        let _unused = self
            .input
            .ready
            .wait_timeout_while(st, timeout, |s| s.frames.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        Ok(())
    }

    fn stats(&self) -> DeviceStats {
        DeviceStats {
            rx_packets: self.rx_packets,
            rx_bytes: self.rx_bytes,
            tx_packets: self.tx.tx_packets,
            tx_bytes: self.tx.tx_bytes,
            tx_no_frame: self.tx.tx_no_frame,
            rx_ring_full: self.input.overflow.load(Ordering::Relaxed),
            ..DeviceStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const A: MacAddr = [2, 0, 0, 0, 0, 0xa];
    const B: MacAddr = [2, 0, 0, 0, 0, 0xb];

    fn send_bytes<T: TxQueue>(tx: &mut T, bytes: &[u8]) -> bool {
        tx.send(bytes.len(), &mut |buf| buf.copy_from_slice(bytes))
    }

    #[test]
    fn frames_cross_in_order_after_flush() {
        let (mut a, mut b) = mem_pair(A, B, 16);
        assert_eq!(a.mac(), A);
        assert_eq!(b.mac(), B);
        for i in 0..5u8 {
            assert!(send_bytes(a.tx(), &[i; 60]));
        }
        // Not visible before flush.
        assert_eq!(b.rx_burst(64, |_, _| panic!("no frame yet")).unwrap(), 0);
        a.flush().unwrap();
        let mut seen = Vec::new();
        let n = b.rx_burst(3, |f, _| seen.push(f[0])).unwrap();
        assert_eq!(n, 3);
        let n = b.rx_burst(64, |f, _| seen.push(f[0])).unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        let sa = a.stats();
        assert_eq!((sa.tx_packets, sa.tx_bytes), (5, 300));
        let sb = b.stats();
        assert_eq!((sb.rx_packets, sb.rx_bytes), (5, 300));
    }

    #[test]
    fn reply_within_the_batch() {
        let (mut a, mut b) = mem_pair(A, B, 8);
        send_bytes(a.tx(), b"ping");
        a.flush().unwrap();
        let n = b
            .rx_burst(8, |f, tx| {
                assert_eq!(f, b"ping");
                assert!(send_bytes(tx, b"pong"));
            })
            .unwrap();
        assert_eq!(n, 1);
        b.flush().unwrap();
        let mut got = Vec::new();
        a.rx_burst(8, |f, _| got.extend_from_slice(f)).unwrap();
        assert_eq!(got, b"pong");
    }

    #[test]
    fn limits_are_counted() {
        let (mut a, b) = mem_pair(A, B, 2);
        assert!(!send_bytes(a.tx(), &[0; MEM_DEFAULT_MAX_FRAME + 1]));
        assert!(send_bytes(a.tx(), &[1; 10]));
        assert!(send_bytes(a.tx(), &[2; 10]));
        assert!(
            !send_bytes(a.tx(), &[3; 10]),
            "only `capacity` frames may be pending"
        );
        assert_eq!(a.tx().pending(), 2);
        a.flush().unwrap();
        assert_eq!(a.stats().tx_no_frame, 2);
        // Receiver full: the next flush overflows.
        assert!(send_bytes(a.tx(), &[4; 10]));
        a.flush().unwrap();
        assert_eq!(b.rx_pending(), 2);
        assert_eq!(b.stats().rx_ring_full, 1);
        a.set_max_frame(9000);
        assert!(send_bytes(a.tx(), &[5; 9000]));
    }

    #[test]
    fn buffers_are_recycled() {
        let (mut a, mut b) = mem_pair(A, B, 4);
        for _ in 0..100 {
            send_bytes(a.tx(), &[7; 100]);
            a.flush().unwrap();
            b.rx_burst(4, |_, _| {}).unwrap();
        }
        assert_eq!(b.stats().rx_packets, 100);
        // All buffers but a handful came back through the free list.
        let st = a.tx.out.lock();
        assert!(st.free.len() + a.tx.spare.len() <= 4);
    }

    #[test]
    fn wait_wakes_on_flush_and_times_out() {
        let (mut a, mut b) = mem_pair(A, B, 4);
        let t = Instant::now();
        b.wait(Duration::from_millis(30)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(25));

        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            send_bytes(a.tx(), b"x");
            a.flush().unwrap();
            a
        });
        let t = Instant::now();
        b.wait(Duration::from_secs(5)).unwrap();
        assert!(t.elapsed() < Duration::from_secs(4));
        assert_eq!(b.rx_burst(4, |_, _| {}).unwrap(), 1);
        h.join().unwrap();
    }

    #[test]
    fn devices_are_send() {
        fn is_send<T: Send>() {}
        is_send::<MemDevice>();
    }
}
