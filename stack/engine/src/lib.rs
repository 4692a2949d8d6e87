//! `engine`: the per-core run-to-completion loop of xdpstack.
//!
//! One [`CoreLoop`] owns one device queue (an AF_XDP socket, or an in-memory device
//! in tests), one [`proto::iface::Interface`] (ARP, ICMP, TCP state of that core)
//! and the application services bound to it. Each turn of the loop:
//!
//! 1. receives a burst of frames and hands each, in place, to the interface;
//! 2. delivers the interface's events to the services (echo, discard), which read
//!    and write their connections;
//! 3. lets the interface transmit what is due (data, ACKs, retransmissions) into
//!    the device's transmit frames;
//! 4. flushes the device once for the whole batch, and sleeps in `poll(2)` only
//!    when there was nothing to do.
#![deny(unsafe_code)]

mod clock;
mod core_loop;
pub mod rss;
pub mod service;
mod sink;

pub use clock::Clock;
pub use core_loop::{CoreLoop, LoopStats};
pub use service::{Service, ServiceKind};
pub use sink::TxSink;
