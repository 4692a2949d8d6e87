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
    /// Neither verify nor compute (the field is left as is on emit).
    Ignore,
}
