//! `proto`: the sans-IO protocol state of xdpstack.
//!
//! Nothing here reads a clock, opens a socket or starts a thread: time is passed in
//! as an [`time::Instant`] argument (`now`), received packets are handed in already
//! parsed by [`wire`], and packets to send go out through a sink the driver owns
//! ([`FrameSink`] for whole frames, [`tcp::SegmentSink`] for TCP segments), which
//! writes them straight into the driver's frame (a UMEM frame on AF_XDP).
//!
//! The verbs follow one pattern: `handle_*` for input, `poll_transmit` for output
//! that is due, `poll_timeout` / `handle_timeout` for timers and `poll_event` for
//! what the application must learn.
#![forbid(unsafe_code)]

pub mod time;
pub mod tcp;
pub mod arp;
mod arp_iface;
pub mod icmp;
pub mod frag;
pub mod iface;
pub mod ipv6;
pub mod ndp;
pub mod pmtu;
mod icmp_err;
mod icmpv6;
mod input6;
mod out;
mod slaac;
pub mod stats;
pub mod udp;

/// A place to put whole outgoing frames: the driver provides a buffer of exactly
/// `len` bytes, `fill` writes the frame into it, and the driver queues it for
/// transmission.
pub trait FrameSink {
    /// Send one frame of `len` bytes written by `fill`. Returns `false` (and sends
    /// nothing) when no transmit buffer is free; the caller counts the drop.
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool;
}

/// A [`FrameSink`] that keeps every frame in memory, in order, and never runs
/// out of room: for tests, simulations and replays (`.0` is the list).
#[derive(Debug, Default, Clone)]
pub struct Frames(pub Vec<Vec<u8>>);

impl FrameSink for Frames {
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut b = vec![0u8; len];
        fill(&mut b);
        self.0.push(b);
        true
    }
}
