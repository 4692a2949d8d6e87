//! `wire`: zero-copy views over byte buffers and validated `Repr` forms for every
//! protocol xdpstack speaks.
//!
//! Each protocol module follows one pattern:
//!
//! * a `Packet<T: AsRef<[u8]>>` (or `Frame`) view with a private `mod field` of byte
//!   ranges, `new_unchecked`, `new_checked` / `check_len`, getters and (for
//!   `T: AsMut<[u8]>`) `set_*` setters;
//! * a `Repr` that holds the validated, high-level form with `parse`, `buffer_len`
//!   (or `header_len`) and `emit`.
//!
//! # The no-panic contract
//!
//! This is a promise every module of this crate keeps, and the tests hold it to it
//! (every truncation of every captured packet, plus property tests on arbitrary
//! bytes):
//!
//! * Any byte string handed to any `new_checked` or `Repr::parse` returns either a
//!   value or a typed [`Error`] (`Truncated`, `BadLength`, `BadChecksum`,
//!   `Unsupported`, `Malformed`). It never panics, never reads out of bounds and never
//!   allocates.
//! * Once `check_len` has succeeded on a view, every getter of that view is in bounds
//!   and cannot panic.
//! * `emit` writes exactly `buffer_len()` bytes; it may panic only when handed a
//!   buffer shorter than `buffer_len()`, which is a caller bug, not an input.
//!
//! Nothing in this crate allocates, performs I/O, reads a clock or uses `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod checksum;
pub mod ethernet;
pub mod arp;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod icmpv4;
pub mod icmpv6;
pub mod ndp;
pub mod mld;
pub mod udp;
pub mod tcp;
pub mod segment;
pub mod datagram;
pub mod ip;

#[cfg(test)]
pub(crate) mod testutil;

/// Why a byte string could not be parsed (or a `Repr` could not be formed).
///
/// Small and `Copy`, so the stack can count drops by reason without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header or the length a field announces.
    Truncated,
    /// A length field is inconsistent (too small for the header, or larger than
    /// the packet where that is not allowed).
    BadLength,
    /// The checksum does not verify.
    BadChecksum,
    /// Well formed, but a version, type, hardware kind, or option we do not handle.
    Unsupported,
    /// A field holds a value the protocol forbids (e.g. a zero source port where
    /// that is illegal, an option with a bad length).
    Malformed,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Error::Truncated => "truncated",
            Error::BadLength => "bad length",
            Error::BadChecksum => "bad checksum",
            Error::Unsupported => "unsupported",
            Error::Malformed => "malformed",
        };
        f.write_str(s)
    }
}

/// Result type of the `wire` crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Whether checksums are verified on parse and computed on emit.
///
/// The stack verifies every checksum it receives; tests of frames captured with
/// checksum offload (CHECKSUM_PARTIAL on veth) may choose to skip verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// Verify on parse, compute on emit.
    #[default]
    Full,
    /// Verify on parse; TCP and UDP also accept a checksum field holding exactly
    /// the pseudo-header sum: an unfinished CHECKSUM_PARTIAL from a virtual link
    /// (see [`ChecksumKind::Partial`]). Compute the full checksum on emit.
    ///
    /// Such a segment's bytes are *not* covered by any checksum: use this only on a
    /// link that cannot corrupt them (veth, where the sender's kernel hands over the
    /// buffer it wrote). Formats Linux always checksums in software (the IPv4
    /// header, ICMPv4, ICMPv6) verify exactly as with [`Full`](Self::Full).
    FullOrPartial,
    /// Neither verify nor compute (the field is left as is on emit).
    Ignore,
}

impl ChecksumMode {
    /// True if parse checks the checksum ([`Full`](Self::Full) and
    /// [`FullOrPartial`](Self::FullOrPartial)).
    #[inline]
    pub const fn verifies(self) -> bool {
        !matches!(self, ChecksumMode::Ignore)
    }

    /// True if emit computes the full checksum ([`Full`](Self::Full) and
    /// [`FullOrPartial`](Self::FullOrPartial)).
    #[inline]
    pub const fn computes(self) -> bool {
        !matches!(self, ChecksumMode::Ignore)
    }
}

/// What a received TCP or UDP checksum field holds, as classified by
/// `verify_checksum_kind` of [`tcp::TcpPacket`] and [`udp::Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    /// The checksum over pseudo-header, header and data verifies (RFC 9293 §3.1,
    /// RFC 768). For UDP over IPv4 also: a zero field, "no checksum" (RFC 768).
    Full,
    /// The field holds exactly the folded, non-complemented one's-complement sum of
    /// the pseudo-header: what Linux writes before handing a CHECKSUM_PARTIAL
    /// packet to a device that is meant to finish it (`__tcp_v4_send_check`:
    /// `th->check = ~tcp_v4_check(len, saddr, daddr, 0)`; `udp4_hwcsum`:
    /// `uh->check = ~csum_tcpudp_magic(src, dst, len, IPPROTO_UDP, 0)`; the IPv6
    /// forms `__tcp_v6_send_check` / `udp6_hwcsum_outgoing` likewise). veth never
    /// finishes it, so an AF_XDP socket on veth receives this form.
    Partial,
    /// Neither.
    Bad,
}
