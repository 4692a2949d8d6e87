//! Benchmarks of xdpstack live under `benches/`; this library holds what several
//! of them share.
//!
//! * [`read_pcap`] / [`find`]: the frames of our own captures under `testdata/`.
//! * [`CollectSink`] and [`ScratchSink`]: [`proto::FrameSink`]s for driving
//!   `proto::iface::Interface` without a device.

/// The frames of a little-endian, microsecond classic pcap file (the format of our
/// own captures under `testdata/`, written by `testdata/capture-*.sh`).
///
/// Panics on any other format or on a truncated file: the input is test data
/// checked into the repository, not untrusted bytes.
pub fn read_pcap(bytes: &[u8]) -> Vec<Vec<u8>> {
    let rd = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    assert_eq!(rd(&bytes[0..4]), 0xa1b2_c3d4, "little-endian microsecond pcap expected");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = rd(&bytes[off + 8..off + 12]);
        off += 16;
        out.push(bytes[off..off + incl].to_vec());
        off += incl;
    }
    out
}

/// The first frame for which `pick` holds; panics if there is none (the capture
/// changed under the benchmark).
pub fn find(frames: &[Vec<u8>], pick: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    frames.iter().find(|f| pick(f)).expect("frame in capture").clone()
}

/// A [`proto::FrameSink`] that keeps every frame it is given, in order. For
/// shuttling frames between two interfaces in memory.
///
/// Buffers handed back with [`CollectSink::recycle`] are reused, so a steady
/// exchange of frames does not allocate.
#[derive(Debug, Default)]
pub struct CollectSink {
    /// The frames sent so far (take them to forward them).
    pub frames: Vec<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl CollectSink {
    /// Keep a forwarded frame's buffer for a later frame.
    pub fn recycle(&mut self, frame: Vec<u8>) {
        self.spare.push(frame);
    }
}

impl proto::FrameSink for CollectSink {
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut f = self.spare.pop().unwrap_or_default();
        f.clear();
        f.resize(len, 0);
        fill(&mut f);
        self.frames.push(f);
        true
    }
}

/// A [`proto::FrameSink`] that writes every frame into one reusable buffer (as a
/// device writes into a UMEM frame) and only counts them: no allocation per frame,
/// so a benchmark measures the stack rather than the allocator.
#[derive(Debug)]
pub struct ScratchSink {
    /// The buffer frames are written into; holds the last frame's bytes.
    pub buf: Vec<u8>,
    /// Length of the last frame.
    pub last_len: usize,
    /// Frames sent so far.
    pub sent: u64,
}

impl Default for ScratchSink {
    fn default() -> Self {
        ScratchSink { buf: vec![0u8; 4096], last_len: 0, sent: 0 }
    }
}

impl ScratchSink {
    /// The last frame written.
    pub fn last(&self) -> &[u8] {
        &self.buf[..self.last_len]
    }
}

impl proto::FrameSink for ScratchSink {
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        if len > self.buf.len() {
            self.buf.resize(len, 0);
        }
        fill(&mut self.buf[..len]);
        self.last_len = len;
        self.sent += 1;
        true
    }
}

pub mod units;
