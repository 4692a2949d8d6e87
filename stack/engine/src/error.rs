//! Typed errors of the engine and of its application API.

use std::net::SocketAddr;

/// Error of reading a connection ([`crate::Io::recv`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// Nothing buffered yet; `Readable` follows when data arrives.
    #[error("no data yet (would block)")]
    WouldBlock,
    /// The peer closed its side (FIN) and every byte before it was read.
    #[error("end of stream")]
    Eof,
    /// The connection was reset.
    #[error("connection reset")]
    Reset,
    /// The handle is stale (the connection is gone) or was never valid.
    #[error("invalid or stale connection handle")]
    InvalidConn,
}

impl From<proto::tcp::RecvError> for RecvError {
    fn from(e: proto::tcp::RecvError) -> Self {
        match e {
            proto::tcp::RecvError::WouldBlock => RecvError::WouldBlock,
            proto::tcp::RecvError::Eof => RecvError::Eof,
            proto::tcp::RecvError::Reset => RecvError::Reset,
            proto::tcp::RecvError::InvalidConn => RecvError::InvalidConn,
        }
    }
}

/// Error of writing to a connection ([`crate::Io::send`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// `close` was called, or the connection can no longer send.
    #[error("connection closed for sending")]
    Closed,
    /// The connection was reset.
    #[error("connection reset")]
    Reset,
    /// The handle is stale or was never valid.
    #[error("invalid or stale connection handle")]
    InvalidConn,
}

impl From<proto::tcp::SendError> for SendError {
    fn from(e: proto::tcp::SendError) -> Self {
        match e {
            proto::tcp::SendError::Closed => SendError::Closed,
            proto::tcp::SendError::Reset => SendError::Reset,
            proto::tcp::SendError::InvalidConn => SendError::InvalidConn,
        }
    }
}

/// Error of [`crate::Io::splice`]: the reading or the writing side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    /// Reading the source failed (or it is at its end).
    #[error("source: {0}")]
    Recv(RecvError),
    /// Writing the destination failed.
    #[error("destination: {0}")]
    Send(SendError),
}

/// Error of starting an active open ([`crate::Io::connect`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// None of the stack's addresses can reach that destination (no address of
    /// its family).
    #[error("no local address to reach {0}")]
    NoSourceAddress(SocketAddr),
    /// Every ephemeral port that maps to this core is in use towards that peer.
    #[error("no free local port towards {0} on this core")]
    NoPortAvailable(SocketAddr),
    /// Every connection slot of this core is taken.
    #[error("too many connections on this core")]
    TooManyConnections,
    /// The buffer memory bound of this core (`TcpConfig::buffer_memory`) is
    /// nearly reached.
    #[error("buffer memory of this core exhausted")]
    OutOfMemory,
    /// Port 0, a non-unicast address or mixed address families.
    #[error("invalid destination {0}")]
    InvalidAddress(SocketAddr),
}

/// How an active open or a connection ended, as the application learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFailure {
    /// The peer answered the SYN with RST (seed 001's `Refused`).
    #[error("connection refused")]
    Refused,
    /// No answer to the SYN and its retransmissions (seed 001's `Timeout`).
    #[error("connection timed out")]
    Timeout,
    /// An ICMP destination unreachable about the SYN (RFC 5461), or the soft
    /// error last heard when the SYN's retransmissions gave up.
    #[error("{0}")]
    Unreachable(proto::tcp::Unreachable),
}

/// Error of [`crate::Io::listen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    /// Port 0.
    #[error("port 0 cannot be listened on")]
    InvalidPort,
    /// A listener exists on that port (on this core).
    #[error("port {0} is already listened on")]
    AlreadyListening(u16),
}

/// Error of building or running a [`crate::Stack`].
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The device layer (interface, XDP program, AF_XDP socket) refused.
    #[error(transparent)]
    Device(#[from] xsk::DeviceError),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A core could not be pinned.
    #[error("cannot pin the loop of queue {queue} to core {core}")]
    Pin {
        /// Queue.
        queue: u32,
        /// CPU.
        core: usize,
    },
    /// An I/O error of a loop or of the control socket.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A loop's thread panicked.
    #[error("the loop of core {0} panicked")]
    Panicked(usize),
}

impl StackError {
    /// An I/O error with its context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> StackError {
        StackError::Io { context: context.into(), source }
    }
}

/// Error of the UDP calls ([`crate::Io::udp_bind`], `recv_from`, `send_to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Port 0.
    #[error("port 0 cannot be bound")]
    InvalidPort,
    /// The port is already bound on this core.
    #[error("UDP port already bound")]
    AddrInUse,
    /// The port is not bound.
    #[error("UDP port not bound")]
    NotBound,
    /// Every UDP socket slot of this core is taken.
    #[error("too many UDP sockets on this core")]
    TooManySockets,
    /// Nothing queued (receive), or no room to stage the datagram (send).
    #[error("would block")]
    WouldBlock,
    /// Larger than an IPv4 datagram can carry (65507 bytes of UDP data).
    #[error("datagram too long (at most 65507 bytes)")]
    MessageTooLong,
    /// No route or no local address of the destination's family.
    #[error("no route to the destination")]
    NoRoute,
    /// The next hop is not resolved yet; an ARP request went out.
    #[error("next hop not resolved yet (ARP request sent)")]
    NeighbourUnresolved,
    /// No transmit frame was free.
    #[error("no transmit buffer")]
    NoBuffer,
    /// The next hop did not answer ARP requests: unreachable for a while.
    #[error("host unreachable (no answer to ARP)")]
    HostUnreachable,
    /// No free ephemeral port maps to this core ([`crate::Io::udp_bind_ephemeral`]).
    #[error("no free ephemeral UDP port for this core")]
    NoPortAvailable,
}

impl From<proto::udp::UdpError> for UdpError {
    fn from(e: proto::udp::UdpError) -> Self {
        use proto::udp::UdpError as P;
        match e {
            P::InvalidPort => UdpError::InvalidPort,
            P::AddrInUse => UdpError::AddrInUse,
            P::NotBound => UdpError::NotBound,
            P::TooManySockets => UdpError::TooManySockets,
            P::WouldBlock => UdpError::WouldBlock,
            P::MessageTooLong => UdpError::MessageTooLong,
            P::NoRoute => UdpError::NoRoute,
            P::NeighbourUnresolved => UdpError::NeighbourUnresolved,
            P::NoBuffer => UdpError::NoBuffer,
            P::HostUnreachable => UdpError::HostUnreachable,
        }
    }
}
