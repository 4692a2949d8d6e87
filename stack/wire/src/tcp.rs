//! TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018).
//!
//! CONTRACT (fixed; the `proto` crate is written against it): the public types
//! `TcpFlags`, `SackBlocks`, `TcpOptions`, `TcpRepr` below keep these fields and
//! meanings. Implementation of the view and of parse/emit goes here.

/// TCP control bits (RFC 9293 §3.1), as the low byte of the flags field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// True if every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union of two flag sets.
    #[inline]
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// Up to four SACK blocks (RFC 2018 §3), as `(left edge, right edge)` sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SackBlocks {
    /// The blocks; only the first `len` are meaningful.
    pub blocks: [(u32, u32); 4],
    /// How many blocks are present (0..=4).
    pub len: u8,
}

impl SackBlocks {
    /// The meaningful blocks.
    #[inline]
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..(self.len as usize).min(4)]
    }
    /// Append a block; returns false if four are already present.
    pub fn push(&mut self, left: u32, right: u32) -> bool {
        if self.len as usize >= 4 {
            return false;
        }
        self.blocks[self.len as usize] = (left, right);
        self.len += 1;
        true
    }
}

/// The TCP options xdpstack understands. Unknown kinds are skipped by their length
/// on parse and never emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2, RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3, RFC 7323 §2).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4, RFC 2018 §2).
    pub sack_permitted: bool,
    /// SACK blocks (kind 5, RFC 2018 §3).
    pub sack: SackBlocks,
    /// Timestamps `(TSval, TSecr)` (kind 8, RFC 7323 §3).
    pub timestamps: Option<(u32, u32)>,
}

/// A validated TCP segment: header fields, options and a borrowed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags` has ACK).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field as on the wire (not scaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Segment payload.
    pub payload: &'a [u8],
}
