//! Adapter from a device's transmit queue to the protocol core's [`FrameSink`].

use proto::FrameSink;
use xsk::TxQueue;

/// Lends a device transmit queue to the protocol core for one call.
pub struct TxSink<'a, T: TxQueue>(pub &'a mut T);

impl<T: TxQueue> FrameSink for TxSink<'_, T> {
    #[inline]
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        self.0.send(len, fill)
    }
}
