//! TCP (RFC 9293) as a sans-IO core: one [`Tcp`] per core holds the listeners and
//! the connections of that core.
//!
//! CONTRACT (the engine is written against these signatures; the bodies are being
//! written): see the doc comment of each item.

pub mod buffer;
pub mod congestion;
pub mod isn;
pub mod options;
pub mod retransmit;
pub mod seq;
pub mod state;
pub mod window;

#[allow(unused_imports)]
use crate::time::Instant;
#[allow(unused_imports)]
use core::net::{IpAddr, SocketAddr};
use wire::tcp::TcpRepr;

/// Where TCP puts the segments it sends: the IP layer below implements it and
/// writes the segment straight into a transmit frame.
pub trait SegmentSink {
    /// Send `repr` from `local` to `remote`. Returns `false` when no transmit buffer
    /// is free; the segment then counts as lost and retransmission recovers it.
    fn send_segment(&mut self, local: IpAddr, remote: IpAddr, repr: &TcpRepr<'_>) -> bool;
}

/// Configuration of a [`Tcp`] endpoint.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// MSS we announce and the largest payload we send (RFC 9293 §3.7.1).
    pub mss: u16,
    /// Receive buffer per connection, bytes.
    pub rx_buffer: usize,
    /// Send buffer per connection, bytes.
    pub tx_buffer: usize,
    /// Most connections this endpoint holds at once (preallocated).
    pub max_connections: usize,
    /// Secret for initial sequence numbers (RFC 6528).
    pub isn_secret: [u8; 16],
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig { mss: 1460, rx_buffer: 256 * 1024, tx_buffer: 256 * 1024, max_connections: 1024, isn_secret: [0x5a; 16] }
    }
}

/// Handle of one connection. Stale handles (of a connection since freed) are
/// detected by a generation count and get `InvalidConn` errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    /// Slot index.
    pub index: u32,
    /// Generation of the slot.
    pub generation: u32,
}

/// What the application must learn, from [`Tcp::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEvent {
    /// A passive open on `port` completed the handshake (ESTABLISHED).
    Accepted {
        /// The new connection.
        conn: ConnId,
        /// The listening port it arrived on.
        port: u16,
    },
    /// An active open completed.
    Connected(ConnId),
    /// New data (or the peer's FIN) can be read.
    Readable(ConnId),
    /// Send buffer space was freed.
    Writable(ConnId),
    /// The connection is gone (closed both ways, reset, refused or timed out); the
    /// handle is invalid from now on.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both FINs exchanged and acknowledged.
    Normal,
    /// The peer sent RST on an established connection.
    Reset,
    /// The peer refused our SYN with RST.
    Refused,
    /// Retransmissions gave up.
    Timeout,
    /// We aborted it.
    Aborted,
}
