//! Adapter from a device's transmit queue to the protocol core's [`FrameSink`],
//! optionally recording every frame into a pcap file (`--pcap`).

use crate::core::SharedPcap;
use proto::FrameSink;
use xsk::{PcapWriter, TxQueue};

enum Tap<'a> {
    None,
    Own(&'a mut PcapWriter),
    Shared(&'a SharedPcap),
}

/// Lends a device transmit queue to the protocol core for one call.
pub struct TxSink<'a, T: TxQueue> {
    tx: &'a mut T,
    pcap: Tap<'a>,
}

impl<'a, T: TxQueue> TxSink<'a, T> {
    /// A sink over `tx`.
    #[inline]
    pub fn new(tx: &'a mut T) -> TxSink<'a, T> {
        TxSink { tx, pcap: Tap::None }
    }

    /// A sink over `tx` that also records each frame it sends into `pcap`.
    #[inline]
    pub fn recording(tx: &'a mut T, pcap: Option<&'a mut PcapWriter>) -> TxSink<'a, T> {
        TxSink { tx, pcap: pcap.map_or(Tap::None, Tap::Own) }
    }

    /// A sink over `tx` that records into a pcap file shared by several cores.
    #[inline]
    pub fn recording_shared(tx: &'a mut T, pcap: Option<&'a SharedPcap>) -> TxSink<'a, T> {
        TxSink { tx, pcap: pcap.map_or(Tap::None, Tap::Shared) }
    }
}

impl<T: TxQueue> FrameSink for TxSink<'_, T> {
    #[inline]
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        // A failed capture write must not stop the data path.
        match &mut self.pcap {
            Tap::None => self.tx.send(len, fill),
            Tap::Own(p) => self.tx.send(len, &mut |buf| {
                fill(buf);
                let _ = p.write(std::time::SystemTime::now(), buf);
            }),
            Tap::Shared(p) => self.tx.send(len, &mut |buf| {
                fill(buf);
                let _ = p.lock().unwrap_or_else(|e| e.into_inner()).write(std::time::SystemTime::now(), buf);
            }),
        }
    }
}
