//! `engine`: the multi-core engine of xdpstack and its application API.
//!
//! * [`Stack`] runs the stack on an interface: our XDP program attached once, one
//!   AF_XDP socket and one pinned run-to-completion [`Core`] loop per NIC queue,
//!   one shared clock, a control socket for `xdpstack stats`, clean shutdown.
//! * Flows are owned by cores by RSS ([`rss::Steering`]: Toeplitz with the NIC's
//!   key and indirection table); a frame that lands on another core is handed to
//!   its owner over a bounded lock-free queue ([`mesh`]), and neighbours learned
//!   on one core are published to the others the same way.
//! * Applications run inside the loops. Low level: an [`App`] per core, called
//!   with [`Event`]s and acting through [`Io`]. Async: [`rt`] runs futures on a
//!   per-core executor with `TcpListener` / `TcpStream` (futures-io).
//! * The services of `xdpstack serve` ([`service`]) are ordinary applications.
//!
//! The guide with a complete program is `docs/api.md`.
#![deny(unsafe_code)]

mod app;
mod clock;
pub mod control;
pub mod cpus;
mod core;
mod error;
pub mod http;
pub mod mesh;
pub mod rss;
pub mod rt;
pub mod service;
pub mod sockperf;
mod sink;
mod stack;
pub mod stats;
pub mod steer;

pub use crate::app::{App, Datagram, Event, Io, Net, MAX_UDP_PAYLOAD};
pub use crate::clock::Clock;
pub use crate::core::{Core, LoopStats, SharedPcap, DEFAULT_BUSY_POLL, RX_BURST};
pub use crate::error::{ConnectError, ConnectFailure, ListenError, RecvError, SendError, SpliceError, StackError, UdpError};
pub use crate::service::{Service, ServiceKind, Services};
pub use crate::sink::TxSink;
pub use crate::stack::{rx_checksum_policy, CoreInfo, Queues, Stack, StackConfig, StackInfo};
pub use proto::iface::RxChecksum;
pub use proto::tcp::{CloseReason, ConnId, ListenerQueues, Unreachable};
pub use proto::time::Instant;
