//! Adapter from a device's transmit queue to the protocol core's [`FrameSink`],
//! optionally recording every frame into a pcap file (`--pcap`).

use proto::FrameSink;
use xsk::{PcapWriter, TxQueue};

/// Lends a device transmit queue to the protocol core for one call.
pub struct TxSink<'a, T: TxQueue> {
    tx: &'a mut T,
    pcap: Option<&'a mut PcapWriter>,
}

impl<'a, T: TxQueue> TxSink<'a, T> {
    /// A sink over `tx`.
    #[inline]
    pub fn new(tx: &'a mut T) -> TxSink<'a, T> {
        TxSink { tx, pcap: None }
    }

    /// A sink over `tx` that also records each frame it sends into `pcap`.
    #[inline]
    pub fn recording(tx: &'a mut T, pcap: Option<&'a mut PcapWriter>) -> TxSink<'a, T> {
        TxSink { tx, pcap }
    }
}

impl<T: TxQueue> FrameSink for TxSink<'_, T> {
    #[inline]
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        match self.pcap.as_deref_mut() {
            None => self.tx.send(len, fill),
            Some(p) => self.tx.send(len, &mut |buf| {
                fill(buf);
                // A failed capture write must not stop the data path.
                let _ = p.write(std::time::SystemTime::now(), buf);
            }),
        }
    }
}
