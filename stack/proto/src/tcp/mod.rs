//! TCP (RFC 9293) as a sans-IO core: one [`Tcp`] per core holds the listeners and
//! the connections of that core.
//!
//! # Driving it
//!
//! * [`Tcp::handle_segment`] for every received, checksum-verified segment. It only
//!   answers what needs no connection (RSTs to closed ports, SYN-ACKs, RSTs for bad
//!   ACKs of a handshake) directly; everything else a connection owes (ACKs, data) is
//!   queued and goes out on the next [`Tcp::poll_transmit`], so a batch of received
//!   segments is answered by one ACK.
//! * [`Tcp::poll_transmit`] after each batch of input, after application calls
//!   (`send`, `close`, `recv` may open the window) and when
//!   [`Tcp::poll_timeout`] has passed. It walks only the connections that have work:
//!   a ready queue of slots with pending output and a timer heap (lazy deletion).
//! * [`Tcp::poll_event`] until `None`.
//!
//! # Files
//!
//! `seq` (sequence space), `state` (RFC 9293 states), `buffer` (the
//! out-of-order assembler), `pool` (buffer memory: chunk pool and chunk queues),
//! `table` (connection slots and the 4-tuple index), `window` (windows, SWS,
//! Nagle), `retransmit` (RFC 6298),
//! `congestion` (the controller trait, NewReno) and `cubic` (CUBIC), `sack`
//! (SACK blocks both ways, the scoreboard), `rack` (segments in flight, RACK),
//! `flight` (the pool of in-flight loss-recovery state),
//! `recovery` (loss detection and recovery, TLP), `options` (MSS, window scale,
//! timestamps, SACK-permitted), `isn` (RFC 6528), `cookie` (SYN cookies, RFC 4987
//! §3.6), `conn` (segment arrival, RFC 9293 §3.10.7), `output` (segment
//! generation and timers) and `timers` (keepalive, FIN-WAIT-2 orphan timeout).
//!
//! # Loss recovery and congestion control
//!
//! Implemented (each rule cited where the code applies it):
//! * SACK (RFC 2018): SACK-permitted offered ([`TcpConfig::sack`], default on)
//!   and answered, kept through SYN cookies with timestamps; our ACKs carry
//!   blocks for the out-of-order data held, the most recent segment's block
//!   first (§4), at most 3 with timestamps, 4 without; D-SACK for duplicates
//!   below RCV.NXT (RFC 2883). Received blocks go to a bounded scoreboard
//!   (16 ranges within SND.UNA..SND.MAX); invalid ones are ignored and counted
//!   (`sack_invalid`); SACKed data the peer dropped (RFC 2018 §8) is noticed at
//!   the RTO and the scoreboard cleared.
//! * RFC 6675: pipe, NextSeg rule 1 (lost segments first) and 2 (new data),
//!   RecoveryPoint, one window reduction per recovery, the first retransmission
//!   at once; IsLost and DupThresh when RACK is off ([`TcpConfig::rack`]) or
//!   without SACK (then each duplicate ACK takes a segment out of the pipe and
//!   partial ACKs retransmit the next segment, RFC 6582).
//! * RACK-TLP (RFC 8985): per-segment send times ([`rack::SentLog`], at most
//!   [`rack::MAX_RECORDS`] segments in flight), time-based loss detection with
//!   a reordering window of min_RTT/4 that grows with D-SACK rounds, its
//!   reordering timer, lost retransmissions found again; the tail loss probe
//!   (PTO = 2·SRTT + 2 ms, or + 200 ms with one segment out, at most the RTO)
//!   sends new data or the last segment again ([`TcpConfig::tail_loss_probe`],
//!   on by default); after an
//!   RTO every segment not SACKed is lost and goes again as cwnd allows.
//! * Limited transmit (RFC 3042); cwnd restart after idle (RFC 5681 §4.1);
//!   spurious recoveries undone by timestamps (Eifel, RFC 3522).
//! * RFC 6298 in full but the 1 s minimum (see [`retransmit`]: 200 ms as Linux,
//!   configurable with [`TcpConfig::min_rto`]), including §5.7.
//! * Congestion control per connection behind [`congestion::CongestionControl`]
//!   (time and RTT passed in): NewReno (RFC 5681 / RFC 6582) and CUBIC
//!   (RFC 9438, the default), chosen by [`TcpConfig::congestion`].
//!
//! Not implemented: NextSeg rules 3 and 4 (RFC 6675 rescue retransmission),
//! TLP's own congestion response (RFC 8985 §7.4), PRR (RFC 6937), F-RTO
//! (RFC 5682), D-SACK-based undo (RFC 3708), HyStart++ (RFC 9406), pacing,
//! ECN.
//!
//! # Listeners: the SYN queue, SYN cookies and the accept queue
//!
//! A SYN to a listener creates a connection in SYN-RECEIVED, counted in the
//! listener's SYN queue (at most [`TcpConfig::syn_backlog`]); RFC 9293's
//! handshake rules apply unchanged. When that queue is full, SYNs are answered
//! with SYN cookies ([`cookie`], RFC 4987 §3.6, Linux's encoding): no state,
//! no retransmission; the returning ACK is validated (SEG.ACK − 1 within two
//! 60 s periods) and the connection created ESTABLISHED. With timestamps the
//! cookie keeps window scale and the peer's SACK-permitted in the low 6 bits
//! of our TSval; **without timestamps only the MSS survives** (one of four
//! values per family, rounded down) and the cookie SYN-ACK offers no window
//! scaling. An ACK that fails validation is answered as any ACK to a listener
//! (RST, rate-limited) and counted (`cookies_failed`); ACKs are checked as
//! cookies only within two minutes of the listener's last cookie. While the
//! SYN queue is more than half full, its entries give up after
//! [`SYN_RETRIES_UNDER_PRESSURE`] SYN-ACK retransmissions (7 s) instead of
//! [`TcpConfig::syn_retries`] (about a minute), as Linux prunes old requests,
//! so a flood's entries do not outlive it by long.
//!
//! A passive open that reaches ESTABLISHED emits `Accepted` and sits in the
//! listener's accept queue until the application takes it: when
//! [`Tcp::poll_event`] hands out the event, or, for a connection put back with
//! [`Tcp::hold_accepted`], at [`Tcp::take_accepted`]. With the accept queue at
//! its backlog ([`Tcp::listen_backlog`], default [`TcpConfig::accept_backlog`])
//! new handshakes are not completed, as in Linux: SYNs (and cookie ACKs) are
//! dropped, and the final ACK of a handshake in SYN-RECEIVED is dropped (the
//! SYN-ACK retransmission draws it again), all counted (`accept_queue_full`).
//!
//! # Memory
//!
//! Connection slots are allocated by pages of 1,024 as connections arrive (up to
//! [`TcpConfig::max_connections`], 131,072 by default); a slot is 488
//! bytes ([`Tcp::memory`] reports the sizes): what loss recovery needs only
//! while data is in flight (SACK scoreboard, send log, RACK-TLP, recovery
//! state) is lent from a per-core pool (`flight`) and given back when
//! everything sent is acknowledged, so an idle established connection costs
//! under 512 bytes with its share of the table. Send and receive queues take 4 KiB
//! chunks from the endpoint's [`pool`] only while they hold bytes, so an idle
//! connection holds no buffer memory. The receive buffer starts at
//! [`TcpConfig::rx_buffer_initial`] and grows towards [`TcpConfig::rx_buffer`]
//! as the application reads quickly (auto-tuning, `Conn::rcv_space_adjust`).
//! All buffers of the endpoint together stay within
//! [`TcpConfig::buffer_memory`]: at the bound, windows shrink to what the pool
//! can back (data beyond is refused, never data already accepted), `send`
//! accepts less, and new connections are dropped and counted
//! ([`TcpStats::conn_no_memory`]) while less than 1/16 of it is free. A
//! connection starved by others reopens its window when it next sends (the
//! peer's window probes draw that); no window update is pushed when another
//! connection frees memory.
//!
//! # Limits and choices (documented deviations)
//!
//! * TIME-WAIT lasts [`TcpConfig::time_wait`] (default 4 s) instead of 2 MSL = 4 min;
//!   a new SYN with a higher sequence number recycles a TIME-WAIT connection
//!   (RFC 9293 §3.10.7.4 note, RFC 6191 with its timestamp rule).
//!   `Closed{Normal}` is emitted as soon as the connection is in TIME-WAIT and the
//!   application has read up to `Eof`: the handle is invalid from then on while the
//!   slot lingers internally until the timer ends (an application that never reads
//!   the `Eof` gets `Closed` when TIME-WAIT ends). RSTs in TIME-WAIT are ignored
//!   and counted (RFC 1337 §3 fix F1) where RFC 9293 §3.10.7.4 would close.
//! * When LAST-ACK ends (our FIN acknowledged) RFC 9293 deletes the TCB; ours stays
//!   in `Closed` while received data is unread, and `Closed{Normal}` follows the
//!   read that empties the receive buffer (data the peer sent is never discarded).
//! * FIN-WAIT-2 ends with `Closed{Timeout}` after [`TcpConfig::fin_timeout`]
//!   (default 60 s, Linux's `tcp_fin_timeout`) without new data from the peer;
//!   RFC 9293 waits forever. Since `close()` is a half-close here (reading goes
//!   on), the timeout restarts with each data segment received, so a peer still
//!   sending is not cut; one that only acknowledges or sends keepalives is.
//!   Keepalive (RFC 1122 §4.2.3.6) is off unless configured ([`Keepalive`]).
//!   A connection ended by either timer with unread data lingers in `Closed`
//!   until the application has read it.
//! * The minimum RTO is 200 ms (RFC 6298 asks for 1 s); see [`retransmit`].
//! * Out-of-order data is held up to the advertised window (the receive ring
//!   reserves its bytes) in at most [`buffer::ooo_range_limit`] ranges (one per
//!   full-sized segment of the buffer); data at RCV.NXT is always taken,
//!   evicting the farthest range if all are in use. With our window closed, a
//!   zero-window probe at RCV.NXT − 1 (Linux's) has its ACK taken and is
//!   answered (RFC 9293 §3.10.7.4's allowance for ACKs).
//! * `close()` in SYN-SENT deletes the connection only when nothing was queued
//!   (RFC 9293 §3.10.4 SYN-SENT: "delete the TCB"). With data `send()` accepted,
//!   it is queued as the RFC says for SYN-RECEIVED ("queue for processing after
//!   entering ESTABLISHED", as Linux does): the data and then the FIN go once the
//!   handshake completes, because accepted data is never dropped while the
//!   connection lives (the RFC would fail the queued SENDs instead, which our
//!   `send` has already reported as accepted).
//! * A SYN that finds every connection slot taken ([`TcpConfig::max_connections`])
//!   is dropped unanswered and counted (`conn_table_full`): no RST, which would
//!   make a passing shortage final for the client and answer spoofed floods;
//!   its retransmitted SYN gets in once a slot frees. (No cookie then: a cookie
//!   connection would find no slot either.) A full SYN queue with
//!   [`TcpConfig::syn_cookies`] off drops the SYN the same way (`syn_queue_full`).
//! * SYN cookies (RFC 4987 §3.6) as Linux's: the MSS is one of four values;
//!   without timestamps there is no window scaling on a cookie connection; a
//!   cookie carries the client's ISN, so an ACK whose SEG.SEQ is not ISN + 1
//!   (the first ACK lost, later data) decodes to another MSS index or fails; the
//!   first RTT sample of a cookie connection comes after the handshake (the
//!   echoed TSval was rounded to carry the options). The peer's SACK-permitted
//!   is kept ([`options::Negotiated::peer_sack_permitted`]) when the client uses
//!   timestamps, and the cookie SYN-ACK offers SACK then.
//! * Connections of a passive open that never reach ESTABLISHED (RST, timeout in
//!   SYN-RECEIVED) vanish silently: the application never saw their handle.
//! * Urgent data is ignored.
//! * Timestamps (RFC 7323): offered in the SYN (TSecr 0), answered in the
//!   SYN-ACK only to a SYN that had them, then on every segment. PAWS (§5.3):
//!   a non-RST segment with a TSval older than TS.Recent is dropped and
//!   answered with an ACK at most every 200 ms (`paws_acks_limited`);
//!   TS.Recent is taken only from acceptable segments with SEG.SEQ <=
//!   Last.ACK.sent (§4.3) and is invalid after 24 days without update (§5.5,
//!   `ts_recent_expired`). With timestamps negotiated, a non-RST segment
//!   without one is dropped silently (§3.2 SHOULD, `ts_missing`); Linux
//!   accepts such segments, FreeBSD drops them.
//! * The user timeout (RFC 9293 §3.8.3, RFC 5482 §2; [`Tcp::set_user_timeout`])
//!   counts from when data went out with nothing outstanding or from the
//!   last ACK of new data; the abort also sends the RST of an ABORT
//!   (§3.10.8 only deletes the TCB).
//! * The TCP User Timeout Option (RFC 5482 §3; [`uto`]): a local user timeout
//!   is advertised (ADV_UTO) in the SYN / SYN-ACK and once on a pure ACK after
//!   [`Tcp::set_user_timeout`] changes it (never by default); a received one
//!   sets the user timeout to `min(uto_max, max(ADV_UTO, REMOTE_UTO, 100 s))`
//!   (§3.1) unless [`TcpConfig::uto_changeable`] is off (§3.2), counted in
//!   `uto_adopted`. A SYN answered with a SYN cookie is not remembered, nor is
//!   its UTO. Linux implements no UTO: kernel peers ignore it.

/// Split borrows of a [`Tcp`] into the slot of `idx` and the environment.
macro_rules! env {
    ($self:ident) => {
        $crate::tcp::conn::Env { cfg: &$self.cfg, pool: &mut $self.pool, stats: &mut $self.stats, events: &mut $self.events, challenge: &mut $self.challenge, flights: &mut $self.flights, accept_full: false, syn_pressure: false }
    };
}

pub mod buffer;
mod conn;
mod icmp;
mod listen;
pub use listen::ListenerQueues;
use listen::Listener;
pub use icmp::{IcmpCheck, Unreachable};
pub mod congestion;
pub mod cubic;
pub mod cookie;
mod flight;
pub mod isn;
pub mod options;
pub mod rack;
mod recovery;
pub mod sack;
mod output;
mod predict;
pub mod pool;
mod table;
mod timers;
pub mod uto;
pub mod retransmit;
pub mod seq;
pub mod state;
pub mod stats;
pub mod window;

pub use seq::SeqNum;
pub use state::State;
pub use stats::TcpStats;

use crate::iface::RateLimit;
use crate::time::{Duration, Instant};
use conn::{AcceptMark, Conn, EventQueue, GlobalChallengeCap, NewConn, Outcome};
use core::cmp::Reverse;
use core::net::{IpAddr, SocketAddr};
use hashbrown::HashMap;
use pool::Pool;
use table::{ConnMap, FourTuple, Slot, Slots};
use options::{wscale_for, Negotiated, Offer};
use std::collections::{BinaryHeap, VecDeque};
use wire::tcp::{TcpFlags, TcpRepr};

/// Where TCP puts the segments it sends: the IP layer below implements it and
/// writes the segment straight into a transmit frame.
pub trait SegmentSink {
    /// Send `repr` from `local` to `remote`. Returns `false` when no transmit buffer
    /// is free; the segment then counts as lost and retransmission recovers it.
    fn send_segment(&mut self, local: IpAddr, remote: IpAddr, repr: &TcpRepr<'_>) -> bool;

    /// The MTU of the path to `remote` (the link MTU, or less where a router
    /// said so, RFC 1191 / RFC 8201), if the sink knows it: the MSS we send is
    /// clamped to fit it when a connection opens.
    fn path_mtu(&self, _remote: IpAddr) -> Option<usize> {
        None
    }
}

/// Configuration of a [`Tcp`] endpoint. Build it with struct update syntax over
/// `TcpConfig::default()` so that new fields keep their defaults.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// MSS we announce and the largest payload we send (RFC 9293 §3.7.1). With
    /// timestamps the payload is 12 bytes smaller (the option is in every segment).
    pub mss: u16,
    /// Receive buffer per connection, bytes: the most the receive window can grow
    /// to (it starts at [`TcpConfig::rx_buffer_initial`] and is auto-tuned, see
    /// "Memory" in the module doc). Memory is taken from the pool only for bytes
    /// actually held. At most [`pool::MAX_QUEUE_BYTES`] (256 MiB; larger values
    /// are clamped, as is `tx_buffer`).
    pub rx_buffer: usize,
    /// Receive buffer a connection starts with (the first windows it advertises),
    /// bytes; at most `rx_buffer`.
    pub rx_buffer_initial: usize,
    /// Send buffer per connection, bytes (memory taken only for queued bytes).
    pub tx_buffer: usize,
    /// Most connections this endpoint holds at once. The table grows page by
    /// page (1,024 slots) as connections arrive; nothing is allocated per
    /// possible connection.
    pub max_connections: usize,
    /// The memory bound of this endpoint's send and receive buffers together,
    /// bytes (the chunk pool, [`pool`]). When it is reached, windows shrink to
    /// what the pool can still give, `send` accepts less, and new connections
    /// are refused (counted in [`TcpStats::conn_no_memory`]) while less than
    /// 1/16 of it is free.
    pub buffer_memory: usize,
    /// Secret for initial sequence numbers and timestamp offsets (RFC 6528 §3).
    /// The default is a fresh random secret per `TcpConfig::default()` call
    /// ([`isn::random_secret`]); set it explicitly for reproducible simulations,
    /// or to share one secret between the cores of a stack.
    pub isn_secret: [u8; 16],
    /// TIME-WAIT duration. RFC 9293 asks for 2 MSL (4 minutes); we default to 4 s,
    /// enough for a lost final ACK to be retransmitted a few times on a LAN, and
    /// short enough for connection-rate benchmarks. ISNs (RFC 6528) and the recycling
    /// rule protect a new incarnation.
    pub time_wait: Duration,
    /// Let an active open take over a 4-tuple still in TIME-WAIT when timestamps
    /// were in use on it and it has waited at least [`TW_REUSE_AFTER`], as Linux
    /// does with `net.ipv4.tcp_tw_reuse=1`: the new connection starts its
    /// sequence numbers above everything the old one sent and its timestamps
    /// above the old ones (same per-tuple clock offset), so the peer's PAWS check
    /// (RFC 7323 §5) and sequence check tell old duplicates from it. Without it a
    /// client opening connections to one server is bounded by its ephemeral
    /// ports divided by [`TcpConfig::time_wait`].
    pub time_wait_reuse: bool,
    /// Most connections in SYN-RECEIVED per listener (the SYN queue). When it is
    /// full, SYNs are answered with SYN cookies ([`TcpConfig::syn_cookies`]).
    pub syn_backlog: usize,
    /// Answer SYNs with SYN cookies (RFC 4987 §3.6, [`cookie`]) when the
    /// listener's SYN queue is full, instead of dropping them (default on, as
    /// Linux's `tcp_syncookies = 1`).
    pub syn_cookies: bool,
    /// Secret keying the SYN cookies, apart from [`TcpConfig::isn_secret`]: a
    /// fresh random one per `TcpConfig::default()` ([`isn::random_secret`]).
    pub cookie_secret: [u8; 16],
    /// Accept backlog of a listener opened with [`Tcp::listen`]: most connections
    /// established on it and not yet taken by the application (see
    /// [`Tcp::listen_backlog`]). Default 4096, Linux's `SOMAXCONN`.
    pub accept_backlog: usize,
    /// Retransmission timeouts (or unanswered window probes) in a row before a
    /// synchronized connection gives up with `Closed{Timeout}`.
    pub max_retries: u32,
    /// SYN / SYN-ACK retransmissions before giving up.
    pub syn_retries: u32,
    /// Delayed-ACK timeout (RFC 9293 §3.8.6.3: at most 0.5 s; 40 ms like Linux).
    pub delayed_ack: Duration,
    /// Lower bound of the RTO (default 200 ms, see [`retransmit`]).
    pub min_rto: Duration,
    /// Upper bound of the RTO (default 60 s).
    pub max_rto: Duration,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Offer SACK-permitted (RFC 2018 §2, default on): when the peer offers it
    /// too, we send SACK blocks for the out-of-order data we hold and recover
    /// losses from the peer's blocks (RFC 6675, [`sack`]). Kept through SYN
    /// cookies when the peer uses timestamps.
    pub sack: bool,
    /// Congestion control of new connections (default CUBIC, RFC 9438, as
    /// Linux).
    pub congestion: congestion::Algorithm,
    /// Tail loss probes (RFC 8985 §7, default on as in Linux): a connection
    /// whose last segments went unacknowledged for two round trips plus 2 ms
    /// (plus 200 ms for a lone segment, which a delayed ACK may hold) sends a
    /// probe instead of waiting for the retransmission timeout.
    pub tail_loss_probe: bool,
    /// RACK time-based loss detection alone when SACK is in use (RFC 8985,
    /// default on, as Linux's `tcp_recovery = 1`): a segment is lost when one
    /// sent after it was delivered more than RTT + min_RTT/4 ago. Off: the
    /// RFC 6675 rules (IsLost, DupThresh of 3) mark losses, RACK only adds to
    /// them. Without SACK the duplicate-ACK rules always apply.
    pub rack: bool,
    /// Header prediction (default on): a segment of the common shape on an
    /// ESTABLISHED connection (in order, ACK without SYN/FIN/RST/URG, no
    /// SACK blocks, timestamps that pass PAWS, no loss recovery running)
    /// skips the checks the general path makes, with the same result
    /// (`predict.rs`; counted in [`TcpStats::predicted`]). Off only to
    /// compare the two paths: the outcome is the same either way.
    pub header_prediction: bool,
    /// Initial value of the per-connection nodelay flag (disables Nagle).
    pub nodelay: bool,
    /// Challenge ACKs per second at most, per connection (RFC 5961 §7; default 2,
    /// Linux's per-socket `tcp_invalid_ratelimit` of 500 ms). Per connection, so
    /// that the budget is no side channel (CVE-2016-5696).
    pub challenge_ack_limit: u32,
    /// An optional cap on the challenge ACKs of the whole endpoint per second,
    /// randomised each second to `ceil(limit/2) + rand(limit)` as Linux does
    /// since 4.7. `None` (the default, as Linux since 6.0 where the host-wide
    /// limit is off by default): the per-connection limit alone applies.
    pub challenge_ack_global_limit: Option<u32>,
    /// How long a connection stays in FIN-WAIT-2 (the application closed its side,
    /// the peer has not) without receiving new data before it ends with
    /// `Closed{Timeout}`: the orphan timeout of Linux's `tcp_fin_timeout`
    /// (default 60 s). RFC 9293 sets no limit; without one a peer that never
    /// closes holds the connection forever.
    pub fin_timeout: Duration,
    /// RSTs per second at most that answer segments for no connection (a closed
    /// port, or an ACK to a listener: RFC 9293 §3.10.7.1, §3.10.7.2); the others
    /// are dropped and counted in [`TcpStats::rst_rate_limited`]. A token bucket as
    /// for ICMP errors (RFC 1122 §3.2.2; FreeBSD limits closed-port RSTs the same
    /// way, `net.inet.icmp.icmplim`): a scan or a spoofed flood cannot turn us into
    /// a reflector at line rate. Default 1000 per second.
    pub reset_rate: u32,
    /// RSTs allowed in a burst above [`TcpConfig::reset_rate`] (default 50).
    pub reset_burst: u32,
    /// Keepalive (RFC 1122 §4.2.3.6) for new connections: `None` (the default, as
    /// the RFC requires) sends no probes. Per connection with
    /// [`Tcp::set_keepalive`].
    pub keepalive: Option<Keepalive>,
    /// Most connections of this endpoint with in-flight loss-recovery state at
    /// once (SACK scoreboard, send log, RACK-TLP, recovery: about 300 bytes
    /// each plus the send log's records, lent from a pool only while data is
    /// unacknowledged, so that idle connections stay small). A connection that
    /// starts sending when all are lent sends that flight without one, counted
    /// in [`TcpStats::flight_state_exhausted`]: its losses are repaired by the
    /// retransmission timer alone (RFC 6298, going back to SND.UNA). Default
    /// 65,536.
    pub flight_states: usize,
    /// The user timeout of new connections (RFC 9293 §3.8.3, RFC 5482): how
    /// long sent data may stay unacknowledged (or a closed window unopened
    /// while we probe it) before the connection is aborted with
    /// [`CloseReason::UserTimeout`]. `None` (the default, as Linux's
    /// `TCP_USER_TIMEOUT` of 0): only [`TcpConfig::max_retries`] decides. Per
    /// connection with [`Tcp::set_user_timeout`]; at most 24 days. When set,
    /// SYN and SYN-ACK advertise it in a User Timeout Option (RFC 5482 §3).
    pub user_timeout: Option<Duration>,
    /// RFC 5482 §3.2 "changeable": a peer's User Timeout Option sets the user
    /// timeout to `min(uto_max, max(ours, theirs, 100 s))` (§3.1, [`uto`]).
    /// Default true; false ignores received options.
    pub uto_changeable: bool,
    /// U_LIMIT of RFC 5482 §3.1: the largest user timeout a peer's option can
    /// set. Default 24 days (the largest user timeout).
    pub uto_max: Duration,
}

impl TcpConfig {
    /// The receive buffer a new connection starts with:
    /// [`TcpConfig::rx_buffer_initial`] within `1..=rx_buffer`.
    pub(crate) fn initial_rx_buffer(&self) -> usize {
        self.rx_buffer_initial.clamp(1, self.rx_buffer.max(1))
    }

    /// Is a SYN queue holding `pending` handshakes under pressure (more than half
    /// of [`TcpConfig::syn_backlog`], at least 8, as Linux's `reqsk_timer_handler`
    /// judges)? Its entries then send at most [`SYN_RETRIES_UNDER_PRESSURE`]
    /// SYN-ACK retransmissions.
    fn under_pressure(&self, pending: usize) -> bool {
        pending * 2 > self.syn_backlog.max(8)
    }
}

/// SYN-ACK retransmissions of a half-open connection whose listener's SYN queue
/// is more than half full (Linux prunes such "old embryos" down to 2): a flood's
/// entries give up after 1 + 2 + 4 s instead of about a minute, so that the
/// queue empties soon after the flood (cookies serve clients meanwhile).
pub const SYN_RETRIES_UNDER_PRESSURE: u32 = 2;

/// TCP keepalive parameters (RFC 1122 §4.2.3.6; Linux's `tcp_keepalive_time`,
/// `tcp_keepalive_intvl`, `tcp_keepalive_probes`). An ESTABLISHED or CLOSE-WAIT
/// connection that received nothing for `idle` and has nothing in flight sends a
/// probe (`<SEQ=SND.NXT-1><ACK=RCV.NXT><CTL=ACK>`, which the peer must answer
/// with an ACK), then one every `interval`; after `probes` unanswered probes it
/// ends with `Closed{Timeout}`. Anything received resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (RFC 1122: at least two hours by default,
    /// configurable).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead.
    pub probes: u32,
}

impl Default for Keepalive {
    /// Linux's defaults: 7200 s idle, 75 s between probes, 9 probes.
    fn default() -> Self {
        Keepalive { idle: Duration::from_secs(7200), interval: Duration::from_secs(75), probes: 9 }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            rx_buffer: 256 * 1024,
            rx_buffer_initial: 64 * 1024,
            tx_buffer: 256 * 1024,
            max_connections: 131_072,
            buffer_memory: 256 << 20,
            isn_secret: isn::random_secret(),
            time_wait: Duration::from_secs(4),
            time_wait_reuse: true,
            syn_backlog: 128,
            syn_cookies: true,
            cookie_secret: isn::random_secret(),
            accept_backlog: 4096,
            max_retries: 10,
            syn_retries: 5,
            delayed_ack: Duration::from_millis(40),
            min_rto: retransmit::MIN_RTO,
            max_rto: retransmit::MAX_RTO,
            window_scaling: true,
            timestamps: true,
            sack: true,
            congestion: congestion::Algorithm::Cubic,
            tail_loss_probe: true,
            rack: true,
            header_prediction: true,
            nodelay: false,
            challenge_ack_limit: 2,
            challenge_ack_global_limit: None,
            fin_timeout: Duration::from_secs(60),
            reset_rate: 1000,
            reset_burst: 50,
            keepalive: None,
            flight_states: 65_536,
            user_timeout: None,
            uto_changeable: true,
            uto_max: Duration::from_secs(24 * 86_400),
        }
    }
}

/// The memory of one [`Tcp`], from [`Tcp::memory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Connections held.
    pub connections: usize,
    /// Connection slots that exist (allocated page by page, 1,024 at a time).
    pub slots: usize,
    /// Bytes of one slot: the whole per-connection state (the TCB with its
    /// queue descriptors, timers and options).
    pub slot_bytes: usize,
    /// Bytes of the connection table: slot pages, the 4-tuple index, the free
    /// list.
    pub table_bytes: usize,
    /// Bytes of the work queues (timer heap, ready queues, events), sized by the
    /// most work pending at once so far.
    pub queue_bytes: usize,
    /// Bytes of buffer memory held by connections now (whole chunks).
    pub buffer_bytes: usize,
    /// Bytes the buffer pool has allocated (chunks in use and free, links,
    /// gather buffer).
    pub pool_bytes: usize,
    /// The pool's bound ([`TcpConfig::buffer_memory`]).
    pub pool_limit_bytes: usize,
    /// Connections holding in-flight loss-recovery state now
    /// ([`TcpConfig::flight_states`]).
    pub flights_lent: usize,
    /// Bytes of the in-flight state pool (lent and free; the record storage of
    /// free ones included).
    pub flight_bytes: usize,
}

/// How long a TIME-WAIT connection must have waited before an active open may
/// take its 4-tuple over ([`TcpConfig::time_wait_reuse`]; Linux uses 1 s).
pub const TW_REUSE_AFTER: Duration = Duration::from_secs(1);

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
    /// We aborted it (or closed it before the handshake completed).
    Aborted,
    /// An ICMP destination unreachable about our SYN (RFC 5461), or the soft
    /// error last heard when retransmissions gave up (RFC 1122 §4.2.3.9).
    Unreachable(Unreachable),
    /// Sent data stayed unacknowledged longer than the connection's user
    /// timeout (RFC 9293 §3.10.8 "connection aborted due to user timeout",
    /// [`Tcp::set_user_timeout`]); its queues were flushed and a RST sent.
    UserTimeout,
}

/// Error of [`Tcp::listen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenError {
    /// A listener already exists on this port.
    AlreadyListening,
    /// Port 0.
    InvalidPort,
}

/// Error of [`Tcp::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// A connection with this 4-tuple exists.
    AddrInUse,
    /// Every connection slot is taken.
    TooManyConnections,
    /// The buffer memory bound ([`TcpConfig::buffer_memory`]) is nearly reached.
    OutOfMemory,
    /// Port 0, mixed address families, or a non-unicast remote address.
    InvalidAddress,
}

/// Error of [`Tcp::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing to read yet.
    WouldBlock,
    /// The peer sent FIN and everything before it was read.
    Eof,
    /// The connection was reset. (A reset frees the connection at once, so callers
    /// normally see `InvalidConn` after `Closed{Reset}`.)
    Reset,
    /// Stale or unknown handle.
    InvalidConn,
}

/// Error of [`Tcp::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// close() was called, or the connection can no longer send.
    Closed,
    /// The connection was reset.
    Reset,
    /// Stale or unknown handle.
    InvalidConn,
}

/// Error of [`Tcp::close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseError {
    /// Stale or unknown handle.
    InvalidConn,
}

/// Error of [`Tcp::splice`]: which side failed, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpliceError {
    /// The source connection: nothing to read yet, end of stream, stale handle.
    Recv(RecvError),
    /// The destination connection: closed for sending, stale handle.
    Send(SendError),
}

/// One core's TCP: listeners and connections (RFC 9293).
pub struct Tcp {
    cfg: TcpConfig,
    slots: Slots,
    free: Vec<u32>,
    map: ConnMap,
    /// Buffer memory (send and receive queues of every connection).
    pool: Pool,
    /// In-flight loss-recovery state lent to connections (`flight.rs`).
    flights: flight::FlightPool,
    listeners: HashMap<u16, Listener>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    ready: VecDeque<u32>,
    /// Connections whose output found no room below this round (see `Conn::tx_blocked`).
    retry: VecDeque<u32>,
    events: EventQueue,
    /// RSTs of deferred aborts, sent at the next poll_transmit.
    pending_resets: VecDeque<conn::PendingReset>,
    stats: TcpStats,
    challenge: GlobalChallengeCap,
    /// Rate limit of RSTs answering segments for no connection.
    reset_limit: RateLimit,
    /// Slots whose `send` or `splice` found no buffer memory.
    mem_waiters: Vec<u32>,
    count: usize,
    /// The slot the last segment found: checked before the 4-tuple index
    /// (a burst is mostly one connection's). Needs no invalidation: a slot
    /// holding a connection with the segment's 4-tuple holds the one.
    last_slot: u32,
    /// The keyed hash of the last 4-tuple hashed (RFC 6528's `F`), for the
    /// ISN and the timestamp offset of one new connection: one SipHash each
    /// connection, not two.
    tuple_memo: core::cell::Cell<Option<(SocketAddr, SocketAddr, u64)>>,
}

impl core::fmt::Debug for Tcp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tcp").field("connections", &self.count).field("listeners", &self.listeners.len()).finish()
    }
}

/// RFC 6191 §2: may a SYN end this TIME-WAIT and open a new incarnation? With
/// timestamps on the old connection and in the SYN, a TSval newer than
/// TS.Recent says yes whatever the sequence number (an equal one needs a
/// higher sequence number), an older one says no; without them, a sequence
/// number above RCV.NXT says yes (RFC 9293 §3.10.7.4).
fn new_incarnation(conn: &Conn, syn: &TcpRepr<'_>) -> bool {
    let seq_newer = SeqNum(syn.seq) > conn.rcv_nxt;
    match (conn.ts.as_ref(), syn.options.timestamps) {
        (Some(ts), Some((tsval, _))) => {
            let d = tsval.wrapping_sub(ts.recent) as i32;
            d > 0 || (d == 0 && seq_newer)
        }
        _ => seq_newer,
    }
}

fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_multicast() || a.is_broadcast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

impl Tcp {
    /// A TCP endpoint with `config`. The connection table, timer heap, ready
    /// and event queues start with room for up to 1,024 connections and grow
    /// (amortised, keeping what they took) as more arrive; buffer memory comes
    /// from the chunk pool ([`pool`]), which grows by slabs up to
    /// [`TcpConfig::buffer_memory`].
    pub fn new(config: TcpConfig) -> Tcp {
        let n = config.max_connections.min(1024);
        Tcp {
            slots: Slots::default(),
            free: Vec::with_capacity(n),
            map: ConnMap::with_capacity(n),
            pool: Pool::new(config.buffer_memory, 0),
            flights: flight::FlightPool::new(config.flight_states),
            listeners: HashMap::new(),
            timers: BinaryHeap::with_capacity(4 * n + 16),
            ready: VecDeque::with_capacity(n + 16),
            retry: VecDeque::with_capacity(n + 16),
            events: VecDeque::with_capacity(4 * n + 16),
            pending_resets: VecDeque::with_capacity(16),
            stats: TcpStats::default(),
            challenge: GlobalChallengeCap::default(),
            reset_limit: RateLimit::new(config.reset_rate, config.reset_burst),
            mem_waiters: Vec::new(),
            count: 0,
            last_slot: u32::MAX,
            tuple_memo: core::cell::Cell::new(None),
            cfg: config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// What we offer to `remote`: `cfg.mss` is for IPv4; over IPv6 the fixed
    /// header is 20 bytes longer (RFC 9293 §3.7.1: MSS = MTU − IP − TCP header).
    fn offer(&self, remote: &SocketAddr) -> Offer {
        Offer {
            mss: if remote.is_ipv6() { self.cfg.mss.saturating_sub(20).max(64) } else { self.cfg.mss },
            wscale: if self.cfg.window_scaling { Some(wscale_for(self.cfg.rx_buffer)) } else { None },
            timestamps: self.cfg.timestamps,
            sack: self.cfg.sack,
        }
    }

    /// The keyed hash `F` of a 4-tuple (RFC 6528 §3), remembered for the
    /// last tuple.
    fn tuple_hash(&self, local: &SocketAddr, remote: &SocketAddr) -> u64 {
        if let Some((l, r, h)) = self.tuple_memo.get() {
            if l == *local && r == *remote {
                return h;
            }
        }
        let h = isn::tuple_hash(&self.cfg.isn_secret, local, remote);
        self.tuple_memo.set(Some((*local, *remote, h)));
        h
    }

    /// Our initial sequence number for a connection opened at `now` (RFC 6528
    /// §3: the 4 µs clock plus the low half of `F`).
    fn isn(&self, local: &SocketAddr, remote: &SocketAddr, now: Instant) -> SeqNum {
        SeqNum(isn::initial_seq(self.tuple_hash(local, remote), now))
    }

    /// The offset of our timestamp clock on this 4-tuple (RFC 7323 §5.4): the
    /// high half of the same keyed hash (the halves of a PRF's output are
    /// independent: the ISN tells nothing about the offset).
    fn ts_offset(&self, local: &SocketAddr, remote: &SocketAddr) -> u32 {
        (self.tuple_hash(local, remote) >> 32) as u32
    }

    /// Take a free slot and build a connection in it, with `iss` as our ISS.
    /// Refused (and counted) when every slot is taken
    /// ([`TcpConfig::max_connections`]) or the buffer memory is nearly exhausted
    /// (less than 1/16 of [`TcpConfig::buffer_memory`] free: what is left serves
    /// the connections that exist).
    fn alloc(&mut self, local: SocketAddr, remote: SocketAddr, iss: SeqNum, state: State, offer: Offer) -> Result<u32, ConnectError> {
        if self.pool.available() < self.pool.limit() / 16 {
            self.stats.conn_no_memory += 1;
            return Err(ConnectError::OutOfMemory);
        }
        let ts_offset = self.ts_offset(&local, &remote);
        if self.free.is_empty() && !self.slots.grow(self.cfg.max_connections, &mut self.free) {
            self.stats.conn_table_full += 1;
            return Err(ConnectError::TooManyConnections);
        }
        let idx = self.free.pop().expect("grown");
        let slot = &mut self.slots[idx as usize];
        let id = ConnId { index: idx, generation: slot.generation };
        slot.conn = Some(Conn::new(NewConn { id, local, remote, iss, offer, ts_offset }, state, &self.cfg));
        slot.queued = false;
        self.map.insert(&self.slots, &FourTuple { local, remote }, idx);
        self.count += 1;
        Ok(idx)
    }

    /// Free the connection in slot `idx`, emitting `Closed{reason}` if the
    /// application knows its handle.
    fn release(&mut self, idx: u32, reason: CloseReason) {
        let slot = &mut self.slots[idx as usize];
        let Some(mut conn) = slot.conn.take() else { return };
        if conn.announced {
            self.events.push_back(TcpEvent::Closed { conn: conn.id, reason });
        }
        if let Some(l) = conn.listener_port.and_then(|p| self.listeners.get_mut(&p.get())) {
            if conn.in_backlog {
                l.pending = l.pending.saturating_sub(1);
            }
            if conn.accept == AcceptMark::In {
                l.queued = l.queued.saturating_sub(1);
            }
        }
        self.map.remove(&FourTuple { local: conn.local(), remote: conn.remote() }, idx);
        slot.generation = slot.generation.wrapping_add(1);
        slot.timer_at = None;
        // The buffers go back to the pool.
        conn.tx.free_all(&mut self.pool);
        conn.rx.free_all(&mut self.pool);
        if let Some(f) = conn.loss.fl.take() {
            self.flights.put(f);
        }
        self.free.push(idx);
        self.count -= 1;
    }

    /// After any operation on slot `idx`: apply its outcome, keep the backlog count,
    /// detach finished connections, queue it for output (where its timer is
    /// rescheduled).
    fn after(&mut self, idx: u32, outcome: Outcome) {
        if let Outcome::Free(reason) = outcome {
            self.release(idx, reason);
            return;
        }
        let slot = &mut self.slots[idx as usize];
        let Some(conn) = slot.conn.as_mut() else { return };
        if conn.in_backlog && conn.state != State::SynReceived {
            conn.in_backlog = false;
            if let Some(l) = conn.listener_port.and_then(|p| self.listeners.get_mut(&p.get())) {
                l.pending = l.pending.saturating_sub(1);
            }
        }
        if conn.accept == AcceptMark::Entering {
            // Just established (its Accepted event is queued): in the accept
            // queue until the application takes it (if the listener still exists).
            conn.accept = match conn.listener_port.and_then(|p| self.listeners.get_mut(&p.get())) {
                Some(l) => {
                    l.queued += 1;
                    AcceptMark::In
                }
                None => AcceptMark::Out,
            };
        }
        if conn.protocol_done() && conn.rx.is_empty() {
            if conn.state == State::Closed {
                let reason = conn.close_reason;
                self.release(idx, reason);
                return;
            }
            if conn.announced && conn.eof_seen {
                // TIME-WAIT and the application has read up to Eof: the handle goes
                // stale now and the slot lingers until the timer ends. (If it never
                // reads the Eof, Closed comes when TIME-WAIT ends.)
                self.events.push_back(TcpEvent::Closed { conn: conn.id, reason: CloseReason::Normal });
                conn.announced = false;
                slot.generation = slot.generation.wrapping_add(1);
                conn.id.generation = slot.generation;
            }
        }
        if !slot.queued {
            slot.queued = true;
            self.ready.push_back(idx);
        }
        // No reschedule here: the connection is queued for output, so
        // `poll_timeout` says "now" until `poll_transmit`, whose output loop
        // reschedules it after its transmit (once, however many operations
        // the connection saw since).
    }

    fn reschedule(timers: &mut BinaryHeap<Reverse<(Instant, u32)>>, slot: &mut Slot) {
        let Some(conn) = slot.conn.as_ref() else { return };
        let Some(d) = conn.next_deadline() else { return };
        match slot.timer_at {
            Some(t) if t <= d => {} // an entry at or before `d` exists; it re-arms then
            _ => {
                slot.timer_at = Some(d);
                timers.push(Reverse((d, conn.id.index)));
            }
        }
    }

    /// The connection of a valid handle.
    fn get(&self, id: ConnId) -> Option<&Conn> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_ref().filter(|c| c.announced)
    }

    /// The connection of a valid handle, and the buffer pool.
    fn get_with_pool(&mut self, id: ConnId) -> Option<(&mut Conn, &mut Pool)> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let c = slot.conn.as_mut().filter(|c| c.announced)?;
        Some((c, &mut self.pool))
    }

    /// Slot `idx` found no buffer memory for its data: tell it (`Writable`) at
    /// the next [`Tcp::poll_transmit`] after the pool has chunks again.
    fn wait_for_memory(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        if !slot.mem_wait {
            slot.mem_wait = true;
            self.mem_waiters.push(idx);
        }
    }

    /// Wake the connections waiting for buffer memory if the pool has some.
    #[inline]
    fn wake_memory_waiters(&mut self) {
        if !self.mem_waiters.is_empty() && self.pool.available() > 0 {
            self.wake_memory_waiters_now();
        }
    }

    #[cold]
    fn wake_memory_waiters_now(&mut self) {
        for idx in self.mem_waiters.drain(..) {
            let slot = &mut self.slots[idx as usize];
            slot.mem_wait = false;
            if let Some(c) = slot.conn.as_mut().filter(|c| c.announced && c.writable_wanted) {
                c.writable_wanted = false;
                self.events.push_back(TcpEvent::Writable(c.id));
            }
        }
    }

    fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_mut().filter(|c| c.announced)
    }

    /// Open a connection from `local` to `remote` and send the SYN (RFC 9293
    /// §3.10.1). The engine picks `local` (address and port). `Connected` follows
    /// on success, `Closed{Refused}` or `Closed{Timeout}` on failure.
    pub fn connect(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, out: &mut impl SegmentSink) -> Result<ConnId, ConnectError> {
        let idx = self.open_slot(now, local, remote)?;
        let mut env = env!(self);
        let conn = self.slots[idx as usize].conn.as_mut().expect("just allocated");
        conn.send_syn(now, &mut env, out);
        let id = conn.id;
        self.after(idx, Outcome::Keep);
        Ok(id)
    }

    /// As [`Tcp::connect`], but the SYN goes out at the next
    /// [`Tcp::poll_transmit`] (for callers that hold no [`SegmentSink`], such as an
    /// application running between two turns of the loop).
    pub fn connect_deferred(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) -> Result<ConnId, ConnectError> {
        let idx = self.open_slot(now, local, remote)?;
        let conn = self.slots[idx as usize].conn.as_mut().expect("just allocated");
        conn.syn_resend = true;
        let id = conn.id;
        self.after(idx, Outcome::Keep);
        Ok(id)
    }

    /// Validate an active open and allocate its connection in SYN-SENT.
    fn open_slot(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) -> Result<u32, ConnectError> {
        if local.port() == 0 || remote.port() == 0 || local.is_ipv4() != remote.is_ipv4() || !is_unicast(remote.ip()) || !is_unicast(local.ip()) {
            return Err(ConnectError::InvalidAddress);
        }
        let mut iss = self.isn(&local, &remote, now);
        if self.map.get(&self.slots, &FourTuple { local, remote }).is_some() {
            let Some((old, old_snd_nxt)) = self.reusable_time_wait(now, local, remote) else { return Err(ConnectError::AddrInUse) };
            self.release(old, CloseReason::Normal);
            self.stats.time_wait_reused += 1;
            // As Linux (tcp_twsk_unique): start a window above anything the old
            // incarnation sent, so none of its segments can be taken for ours.
            iss = old_snd_nxt + 65535 + 2;
        }
        let offer = self.offer(&remote);
        let idx = self.alloc(local, remote, iss, State::SynSent, offer)?;
        self.stats.active_opens += 1;
        self.slots[idx as usize].conn.as_mut().expect("just allocated").announced = true;
        Ok(idx)
    }

    /// The slot of the connection with this 4-tuple: the last one found, if
    /// it is that, else the index's.
    #[inline]
    fn find(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<u32> {
        let i = self.last_slot;
        if let Some(c) = self.slots.get(i as usize).and_then(|s| s.conn.as_ref()) {
            if c.remote_port == remote.port() && c.local_port == local.port() && c.remote_ip == remote.ip() && c.local_ip == local.ip() {
                return Some(i);
            }
        }
        let found = self.map.get(&self.slots, &FourTuple { local, remote });
        if let Some(i) = found {
            self.last_slot = i;
        }
        found
    }

    /// Is a connection with this 4-tuple held (in any state, TIME-WAIT included)?
    pub fn is_in_use(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.map.get(&self.slots, &FourTuple { local, remote }).is_some()
    }

    /// May [`Tcp::connect`] open this 4-tuple at `now`? Yes when it is free or
    /// held by a TIME-WAIT that [`TcpConfig::time_wait_reuse`] lets us take over.
    pub fn can_connect(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> bool {
        !self.is_in_use(local, remote) || self.reusable_time_wait(now, local, remote).is_some()
    }

    /// The slot and SND.NXT of a TIME-WAIT connection on this 4-tuple that a new
    /// active open may take over ([`TcpConfig::time_wait_reuse`]).
    fn reusable_time_wait(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> Option<(u32, SeqNum)> {
        if !self.cfg.time_wait_reuse {
            return None;
        }
        let idx = self.map.get(&self.slots, &FourTuple { local, remote })?;
        let conn = self.slots[idx as usize].conn.as_ref()?;
        let ends = conn.timewait_at?;
        let waited = self.cfg.time_wait.saturating_sub(ends.saturating_duration_since(now));
        (conn.state == State::TimeWait && conn.ts.is_some() && waited >= TW_REUSE_AFTER).then_some((idx, conn.snd_nxt))
    }

    /// A received, checksum-verified segment addressed to one of our addresses.
    pub fn handle_segment(&mut self, now: Instant, src: IpAddr, dst: IpAddr, repr: &TcpRepr<'_>, out: &mut impl SegmentSink) {
        self.stats.segments_in += 1;
        if repr.src_port == 0 || repr.dst_port == 0 || !is_unicast(src) || src.is_ipv4() != dst.is_ipv4() {
            self.stats.bad_address += 1;
            return;
        }
        let local = SocketAddr::new(dst, repr.dst_port);
        let remote = SocketAddr::new(src, repr.src_port);
        let mut iss = None;
        if let Some(idx) = self.find(local, remote) {
            let listeners = &self.listeners;
            let conn = self.slots[idx as usize].conn.as_mut().expect("mapped slot holds a connection");
            let syn_only = repr.flags.contains(TcpFlags::SYN) && !repr.flags.contains(TcpFlags::ACK) && !repr.flags.contains(TcpFlags::RST);
            if conn.state == State::TimeWait && syn_only && new_incarnation(conn, repr) && self.listeners.contains_key(&repr.dst_port) {
                // A new incarnation: drop the TIME-WAIT and open anew (RFC 9293
                // §3.10.7.4 TIME-WAIT note, RFC 6191).
                self.stats.time_wait_recycled += 1;
                // RFC 1122 §4.2.2.13 (1), RFC 6191 §2: the new ISS lies above
                // every sequence number of the old incarnation, so none of its
                // delayed segments (seen by the peer) can fall into the new
                // one's window, timestamps or not. Linux (`tcp_timewait_state_process`):
                // the old SND.NXT + 65535 + 2.
                iss = Some(conn.snd_max + 65535 + 2);
                self.release(idx, CloseReason::Normal);
            } else {
                // A passive open in SYN-RECEIVED completes only if its listener's
                // accept queue has room.
                let accept_full = conn.state == State::SynReceived && conn.listener_port.and_then(|p| listeners.get(&p.get())).is_some_and(Listener::accept_full);
                let mut env = env!(self);
                env.accept_full = accept_full;
                let outcome = conn.process(now, &mut env, repr, out);
                self.after(idx, outcome);
                return;
            }
        }
        if self.listeners.contains_key(&repr.dst_port) {
            self.listen_input(now, local, remote, repr, iss, out);
        } else {
            self.closed_input(now, local, remote, repr, out);
        }
    }

    /// Send what is due: new data the windows allow, pure ACKs owed, FIN,
    /// retransmissions whose timer fired (runs every timer whose deadline <= now).
    pub fn poll_transmit(&mut self, now: Instant, out: &mut impl SegmentSink) {
        while let Some(r) = self.pending_resets.pop_front() {
            output::emit_reset(&mut self.stats, out, r.local, r.remote, r.seq, r.ack);
        }
        while let Some(&Reverse((t, idx))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let slot = &mut self.slots[idx as usize];
            if slot.timer_at != Some(t) || slot.conn.is_none() {
                continue; // stale entry (lazy deletion)
            }
            slot.timer_at = None;
            let syn_pressure = slot.conn.as_ref().is_some_and(|c| c.in_backlog)
                && slot.conn.as_ref().and_then(|c| c.listener_port).and_then(|p| self.listeners.get(&p.get())).is_some_and(|l| self.cfg.under_pressure(l.pending));
            let mut env = env!(self);
            env.syn_pressure = syn_pressure;
            let conn = self.slots[idx as usize].conn.as_mut().expect("checked");
            let outcome = conn.on_timer(now, &mut env, out);
            self.after(idx, outcome);
        }
        while let Some(idx) = self.ready.pop_front() {
            let slot = &mut self.slots[idx as usize];
            slot.queued = false;
            let Some(conn) = slot.conn.as_mut() else { continue };
            let mut env = env!(self);
            conn.transmit(now, &mut env, out);
            if conn.tx_blocked {
                // Output waits for room below (a transmit frame, an ARP answer):
                // try again at the next call rather than at a timer.
                slot.queued = true;
                self.retry.push_back(idx);
            }
            Self::reschedule(&mut self.timers, slot);
        }
        self.ready.append(&mut self.retry);
        self.wake_memory_waiters();
    }

    /// A neighbour's link-layer address was just learned: handshakes towards it
    /// (`via(remote)` says whether a remote address is reached through that
    /// neighbour) send their SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) again at the
    /// next [`Tcp::poll_transmit`] instead of waiting for the retransmission timer,
    /// since the first one was most likely dropped for want of that address (the
    /// kernel queues such packets on the neighbour entry instead; a repeated SYN or
    /// SYN-ACK is harmless, RFC 9293 §3.8.1). Only the handshakes through that
    /// neighbour: a flood of new neighbours cannot make every half-open connection
    /// send again. Walks the slots: called on a new resolution only, never per
    /// packet.
    pub fn neighbour_resolved(&mut self, via: impl Fn(IpAddr) -> bool) {
        for idx in 0..self.slots.len() {
            let Some(c) = self.slots[idx].conn.as_mut() else { continue };
            if matches!(c.state, State::SynSent | State::SynReceived) && c.snd_una == c.iss && via(c.remote_ip) {
                c.syn_resend = true;
                self.after(idx as u32, Outcome::Keep);
            }
        }
    }

    /// Earliest instant at which [`Tcp::poll_transmit`] has timer work (RTO, delayed
    /// ACK, TIME-WAIT, persist). May be early (a stale heap entry); never late. If
    /// output is already queued this is a past instant.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.ready.is_empty() || !self.pending_resets.is_empty() {
            return Some(Instant::ZERO);
        }
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Is an event waiting for [`Tcp::poll_event`]?
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event for the application. Handing out an `Accepted` event takes
    /// its connection out of the listener's accept queue.
    pub fn poll_event(&mut self) -> Option<TcpEvent> {
        let ev = self.events.pop_front()?;
        if let TcpEvent::Accepted { conn, .. } = ev {
            self.take_accepted(conn);
        }
        Some(ev)
    }

    /// Copy received bytes into `buf`. `Ok(n>0)` bytes copied (`Ok(0)` only for an
    /// empty `buf`); `Err(WouldBlock)` nothing yet; `Err(Eof)` the peer sent FIN and
    /// all data was read; `Err(InvalidConn)` stale handle.
    pub fn recv(&mut self, conn: ConnId, buf: &mut [u8]) -> Result<usize, RecvError> {
        if buf.is_empty() {
            let c = self.get_mut(conn).ok_or(RecvError::InvalidConn)?;
            c.readable_pending = false;
            return Ok(0);
        }
        // The data may span several chunks: take run after run. Stop once the
        // buffer is empty (going on would report Eof early).
        let mut copied = 0;
        while copied < buf.len() {
            let r = self.recv_with(conn, |run| {
                let k = run.len().min(buf.len() - copied);
                buf[copied..copied + k].copy_from_slice(&run[..k]);
                k
            });
            match r {
                Ok(n) => copied += n,
                Err(e) if copied == 0 => return Err(e),
                Err(_) => break,
            }
            if self.recv_queue(conn) == 0 {
                break;
            }
        }
        Ok(copied)
    }

    /// Read in place, without a copy: `f` borrows the longest contiguous run of
    /// received bytes (the rest of the first buffer chunk, at most
    /// [`pool::CHUNK_SIZE`] bytes; a further call returns what follows) and
    /// returns how many of them it consumed (clamped to the run's length). `Ok(consumed)`; `Err(WouldBlock)` nothing buffered yet (`f` is not
    /// called); `Err(Eof)` the peer sent FIN and all data was read.
    pub fn recv_with(&mut self, conn: ConnId, f: impl FnOnce(&[u8]) -> usize) -> Result<usize, RecvError> {
        let slot = self.slots.get_mut(conn.index as usize).filter(|s| s.generation == conn.generation).ok_or(RecvError::InvalidConn)?;
        let c = slot.conn.as_mut().filter(|c| c.announced).ok_or(RecvError::InvalidConn)?;
        c.readable_pending = false;
        let run = c.rx.front(&self.pool);
        if run.is_empty() {
            return Err(self.recv_empty(conn.index));
        }
        let n = f(run).min(run.len());
        c.rx.consume_front(&mut self.pool, n, !c.ooo.is_empty());
        self.after_read(conn.index, n);
        Ok(n)
    }

    /// Nothing buffered: Eof if the peer's FIN was taken (and tell the connection
    /// the application saw it), else WouldBlock.
    fn recv_empty(&mut self, idx: u32) -> RecvError {
        let Some(c) = self.slots[idx as usize].conn.as_mut() else { return RecvError::InvalidConn };
        if c.fin_received {
            if !c.eof_seen {
                c.eof_seen = true;
                self.after(idx, Outcome::Keep);
            }
            return RecvError::Eof;
        }
        RecvError::WouldBlock
    }

    /// `n` bytes were taken from the receive buffer of slot `idx`.
    fn after_read(&mut self, idx: u32, n: usize) {
        if n == 0 {
            return;
        }
        let Some(c) = self.slots[idx as usize].conn.as_mut() else { return };
        // RFC 9293 §3.8.6.2.2: tell the peer when the window opened enough.
        let free = c.rx.room(&self.pool) as u32;
        let mut wake = c.protocol_done() && c.rx.is_empty();
        if !c.ack_now
            && c.state.can_receive_data()
            && c.rwin.update_worthwhile(c.rcv_nxt, free, c.rx.capacity() as u32, u32::from(c.neg.send_mss))
            && c.rwin.current(c.rcv_nxt) < (c.rx.capacity() as u32) / 2
        {
            c.ack_now = true;
            wake = true;
        }
        if wake {
            self.after(idx, Outcome::Keep);
        }
    }

    /// Move up to `max` received bytes of `from` into the send buffer of `to` (the
    /// same connection for an echo), copying once, chunk to chunk. `Ok(n)` bytes moved
    /// (0 when `to`'s buffer is full: `Writable` follows for `to`); `Err(Recv(..))`
    /// as [`Tcp::recv`] says for `from` (WouldBlock, Eof); `Err(Send(..))` as
    /// [`Tcp::send`] says for `to`.
    pub fn splice(&mut self, from: ConnId, to: ConnId, max: usize) -> Result<usize, SpliceError> {
        if self.get(from).is_none() {
            return Err(SpliceError::Recv(RecvError::InvalidConn));
        }
        match self.get(to) {
            None => return Err(SpliceError::Send(SendError::InvalidConn)),
            Some(t) if t.app_closed || !t.state.can_queue_data() => return Err(SpliceError::Send(SendError::Closed)),
            Some(_) => {}
        }
        let (fi, ti) = (from.index as usize, to.index as usize);
        let pool = &mut self.pool;
        let (rx, tx, keep) = if fi == ti {
            let c = self.slots[fi].conn.as_mut().expect("checked above");
            c.readable_pending = false;
            (&mut c.rx, &mut c.tx, !c.ooo.is_empty())
        } else {
            let (a, b) = self.slots.pair_mut(fi, ti);
            let a = a.conn.as_mut().expect("checked above");
            a.readable_pending = false;
            (&mut a.rx, &mut b.conn.as_mut().expect("checked above").tx, !a.ooo.is_empty())
        };
        let avail = rx.len().min(max);
        let moved = rx.move_to(tx, pool, max, keep);
        let want_writable = moved < avail || tx.room(pool) == 0;
        if want_writable {
            if let Some(t) = self.slots[ti].conn.as_mut() {
                t.writable_wanted = true;
                if t.tx.free() > 0 {
                    self.wait_for_memory(to.index);
                }
            }
        }
        if moved == 0 {
            let empty = self.slots[fi].conn.as_ref().is_some_and(|c| c.rx.is_empty());
            if empty {
                return Err(SpliceError::Recv(self.recv_empty(from.index)));
            }
            return Ok(0);
        }
        self.after_read(from.index, moved);
        self.after(to.index, Outcome::Keep);
        Ok(moved)
    }

    /// Has the peer's FIN been taken in sequence (after the data now buffered, the
    /// stream ends)? False for a stale handle.
    pub fn peer_closed(&self, conn: ConnId) -> bool {
        self.get(conn).is_some_and(|c| c.fin_received)
    }

    /// Bytes [`Tcp::recv`] could return now.
    pub fn recv_queue(&self, conn: ConnId) -> usize {
        self.get(conn).map_or(0, Conn::readable)
    }

    /// Queue `data` for sending. `Ok(n)` bytes accepted (`n < data.len()`, even 0,
    /// when the buffer is full; `Writable` follows when space frees); `Err(Closed)`
    /// after close(); `Err(InvalidConn)` stale handle. Accepted data is never lost
    /// while the connection lives.
    pub fn send(&mut self, conn: ConnId, data: &[u8]) -> Result<usize, SendError> {
        let idx = conn.index;
        let (c, pool) = self.get_with_pool(conn).ok_or(SendError::InvalidConn)?;
        if c.app_closed || !c.state.can_queue_data() {
            return Err(SendError::Closed);
        }
        let n = c.tx.push(pool, data);
        // The application found the buffer full (a short send, or a send that
        // filled it exactly): tell it when ACKs free space.
        if n < data.len() || c.tx.free() == 0 {
            c.writable_wanted = true;
            if c.tx.free() > 0 {
                // Short for want of buffer memory, not for the send buffer
                // size: also wake it when the pool frees chunks.
                self.wait_for_memory(idx);
            }
        }
        if n > 0 {
            self.after(idx, Outcome::Keep);
        }
        Ok(n)
    }

    /// Queue `data` and send it without waiting for Nagle's algorithm (RFC 9293
    /// §3.7.4): a per-write choice (seed 001's `write_nodelay`), whatever the
    /// connection's nodelay flag says. Segments carrying these bytes go at the next
    /// [`Tcp::poll_transmit`] as the windows allow. Returns as [`Tcp::send`].
    pub fn send_nodelay(&mut self, conn: ConnId, data: &[u8]) -> Result<usize, SendError> {
        let n = self.send(conn, data)?;
        if let Some(c) = self.get_mut(conn) {
            let end = c.tx_seq + c.tx.len() as u32;
            if end > c.push_to {
                c.push_to = end;
            }
        }
        Ok(n)
    }

    /// Free space in the send buffer (0 for a closed or stale connection).
    pub fn send_capacity(&self, conn: ConnId) -> usize {
        match self.get(conn) {
            Some(c) if !c.app_closed && c.state.can_queue_data() => c.tx.room(&self.pool),
            _ => 0,
        }
    }

    /// Half-close: FIN after all queued data (RFC 9293 §3.10.4). Reading goes on until
    /// Eof. Idempotent. In SYN-SENT with nothing queued the connection is deleted
    /// (`Closed{Aborted}`); with data queued the close waits for the handshake
    /// (the data, then the FIN, go once ESTABLISHED), since accepted data is never
    /// dropped while the connection lives.
    pub fn close(&mut self, conn: ConnId) -> Result<(), CloseError> {
        let idx = conn.index;
        let c = self.get_mut(conn).ok_or(CloseError::InvalidConn)?;
        if c.app_closed {
            return Ok(());
        }
        c.app_closed = true;
        if c.state == State::SynSent && c.tx.is_empty() {
            // RFC 9293 §3.10.4 SYN-SENT: delete the TCB. (With data queued, the
            // close is queued as in SYN-RECEIVED: `establish` enters FIN-WAIT-1.)
            self.release(idx, CloseReason::Aborted);
            return Ok(());
        }
        if let Some(next) = c.state.on_close() {
            c.state = next;
        }
        self.after(idx, Outcome::Keep);
        Ok(())
    }

    /// Send RST now and free the connection (`Closed{Aborted}` follows).
    pub fn abort(&mut self, conn: ConnId, out: &mut impl SegmentSink) {
        let idx = conn.index;
        let mut env = env!(self);
        let Some(slot) = self.slots.get_mut(idx as usize) else { return };
        if slot.generation != conn.generation {
            return;
        }
        let Some(c) = slot.conn.as_mut().filter(|c| c.announced) else { return };
        c.abort(&mut env, out);
        self.release(idx, CloseReason::Aborted);
    }

    /// As [`Tcp::abort`], but the RST goes out at the next [`Tcp::poll_transmit`]
    /// (for callers that hold no [`SegmentSink`]). The connection is freed now.
    pub fn abort_deferred(&mut self, conn: ConnId) {
        let idx = conn.index;
        let Some(slot) = self.slots.get_mut(idx as usize) else { return };
        if slot.generation != conn.generation {
            return;
        }
        let Some(c) = slot.conn.as_mut().filter(|c| c.announced) else { return };
        if let Some(rst) = c.abort_reset() {
            self.pending_resets.push_back(rst);
        }
        self.release(idx, CloseReason::Aborted);
    }

    /// Disable (`true`) or enable Nagle's algorithm (RFC 9293 §3.7.4) on `conn`.
    /// Returns `false` for a stale handle.
    pub fn set_nodelay(&mut self, conn: ConnId, nodelay: bool) -> bool {
        let idx = conn.index;
        match self.get_mut(conn) {
            Some(c) => {
                c.nodelay = nodelay;
                self.after(idx, Outcome::Keep);
                true
            }
            None => false,
        }
    }

    /// Set the user timeout of `conn` (RFC 9293 §3.8.3 and §3.10.8, RFC 5482
    /// §2): when data it sent stays unacknowledged this long (counted from
    /// when it went out with nothing outstanding, or from the last ACK that
    /// acknowledged new data), or its zero-window probes go unanswered this
    /// long, the connection is aborted: its queues are flushed, a RST goes to
    /// the peer, and `Closed{UserTimeout}` is reported. `None` turns it off
    /// (then [`TcpConfig::max_retries`] alone ends a dead connection). At most
    /// 24 days (longer values are clamped). The retransmission and persist
    /// timers are clamped so that the abort comes on time, also when the
    /// timeout is set while they run (one already past aborts at the next
    /// [`Tcp::poll_transmit`]). Returns `false` for a stale handle.
    pub fn set_user_timeout(&mut self, conn: ConnId, timeout: Option<Duration>) -> bool {
        let idx = conn.index;
        match self.get_mut(conn) {
            Some(c) => {
                c.set_user_timeout_ms(conn::user_timeout_ms(timeout));
                c.reclamp_user_timeout();
                // RFC 5482 §3: advertise the new value (on the SYN if not yet
                // synchronized, else once on a pure ACK).
                c.adv_uto = uto::adv_uto(timeout);
                if c.adv_uto != 0 && c.state.is_synchronized() {
                    c.set_uto_pending(true);
                    c.ack_now = true;
                }
                self.after(idx, Outcome::Keep);
                true
            }
            None => false,
        }
    }

    /// The user timeout of `conn` (`None` when off or for a stale handle).
    pub fn user_timeout(&self, conn: ConnId) -> Option<Duration> {
        self.get(conn).and_then(|c| (c.user_timeout_ms() != 0).then(|| Duration::from_millis(u64::from(c.user_timeout_ms()))))
    }

    /// Turn keepalive (RFC 1122 §4.2.3.6) on with these parameters, or off with
    /// `None`, for `conn` (new connections take [`TcpConfig::keepalive`]).
    /// Returns `false` for a stale handle.
    pub fn set_keepalive(&mut self, conn: ConnId, keepalive: Option<Keepalive>) -> bool {
        let idx = conn.index;
        match self.get_mut(conn) {
            Some(c) => {
                c.set_keepalive(keepalive);
                self.after(idx, Outcome::Keep);
                true
            }
            None => false,
        }
    }

    /// The RFC 9293 state of `conn`, `None` for a stale handle.
    pub fn state(&self, conn: ConnId) -> Option<State> {
        self.get(conn).map(|c| c.state)
    }

    /// The peer's address.
    pub fn remote(&self, conn: ConnId) -> Option<SocketAddr> {
        self.get(conn).map(|c| c.remote())
    }

    /// Our address.
    pub fn local(&self, conn: ConnId) -> Option<SocketAddr> {
        self.get(conn).map(|c| c.local())
    }

    /// Connections held, including handshakes in progress and TIME-WAIT.
    pub fn connection_count(&self) -> usize {
        self.count
    }

    /// What this endpoint's memory holds, from its own structures (capacities
    /// times element sizes): see [`MemoryUsage`].
    pub fn memory(&self) -> MemoryUsage {
        use core::mem::size_of;
        let table_bytes = self.slots.memory_bytes() + self.map.memory_bytes() + self.free.capacity() * 4 + self.mem_waiters.capacity() * 4;
        let queue_bytes = self.timers.capacity() * size_of::<Reverse<(Instant, u32)>>()
            + (self.ready.capacity() + self.retry.capacity()) * 4
            + self.events.capacity() * size_of::<TcpEvent>()
            + self.pending_resets.capacity() * size_of::<conn::PendingReset>();
        MemoryUsage {
            connections: self.count,
            slots: self.slots.len(),
            slot_bytes: size_of::<Slot>(),
            table_bytes,
            queue_bytes,
            buffer_bytes: self.pool.in_use() * pool::CHUNK_SIZE,
            pool_bytes: self.pool.memory_bytes(),
            pool_limit_bytes: self.pool.limit() * pool::CHUNK_SIZE,
            flights_lent: self.flights.lent(),
            flight_bytes: self.flights.memory_bytes(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// What the handshake of `conn` negotiated (MSS, window scale, timestamps,
    /// the peer's SACK-permitted), for tests and diagnostics.
    pub fn negotiated(&self, conn: ConnId) -> Option<Negotiated> {
        self.get(conn).map(|c| c.neg)
    }

    /// Congestion state of a connection, for tests and diagnostics:
    /// `(cwnd, ssthresh)` in bytes (ssthresh `u32::MAX` before the first loss).
    pub fn congestion_state(&self, conn: ConnId) -> Option<(u32, u32)> {
        use congestion::CongestionControl;
        self.get(conn).map(|c| (c.cc.window(), c.cc.ssthresh()))
    }

    /// Sequence state of a connection, for tests and diagnostics:
    /// `(SND.UNA, SND.NXT, RCV.NXT, SND.WND)`.
    pub fn seq_state(&self, conn: ConnId) -> Option<(SeqNum, SeqNum, SeqNum, u32)> {
        self.get(conn).map(|c| (c.snd_una, c.snd_nxt, c.rcv_nxt, c.snd_wnd))
    }
}
