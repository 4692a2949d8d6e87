//! The transmission control block of one connection and segment arrival
//! processing, step by step as in RFC 9293 §3.10.7.3 (SYN-SENT) and §3.10.7.4
//! (everything else). Output (segments, timers) is in `output.rs`.

use super::buffer::{ooo_range_limit, AddOutcome, Assembler};
use super::congestion::{CongestionControl, Controller};
use super::pool::{ChunkBuf, Pool};
use super::recovery::LossState;
use super::options::{paws_rejects, ts_clock, ts_recent_valid, Negotiated, Offer, Timestamps};
use super::retransmit::Rtt;
use super::seq::SeqNum;
use super::state::State;
use super::stats::TcpStats;
use super::window::{scaled_send_window, should_update_send_window, RecvWindow};
use super::{CloseReason, ConnId, Keepalive, SegmentSink, TcpConfig, TcpEvent};
use crate::time::{Duration, Instant};
use core::net::{IpAddr, SocketAddr};
use wire::tcp::{TcpFlags, TcpRepr};

/// The event queue (preallocated; grows only if the application stops polling).
pub(crate) type EventQueue = std::collections::VecDeque<TcpEvent>;

/// RFC 5961 §7 rate limit of challenge ACKs, per connection: at most `limit` in
/// any one-second window. A budget shared by all connections is the side channel
/// of CVE-2016-5696 (an off-path attacker exhausts it with its own connection and
/// counts the challenge ACKs it still gets to learn whether spoofed segments hit
/// another one); per connection, one connection's challenges say nothing about
/// another's (Linux limits per socket first, `tcp_invalid_ratelimit`).
///
/// The window start is kept in milliseconds modulo 2^32 (8 bytes in all: the
/// per-connection state is kept small); a window that ended more than 49 days
/// ago may be taken as current once, which only delays one challenge ACK.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ChallengeLimiter {
    window_start_ms: u32,
    count: u32,
}

impl ChallengeLimiter {
    /// May one more challenge ACK go out at `now` (at most `limit` per second)?
    pub fn allow(&mut self, now: Instant, limit: u32) -> bool {
        let now_ms = now.millis() as u32;
        if self.count == 0 || now_ms.wrapping_sub(self.window_start_ms) >= 1000 {
            self.window_start_ms = now_ms;
            self.count = 0;
        }
        if self.count < limit {
            self.count += 1;
            true
        } else {
            false
        }
    }
}

/// Keepalive parameters of one connection in 12 bytes ([`Keepalive`] takes 40
/// as an `Option`): idle time and interval in milliseconds (saturating at 49
/// days), probes up to 65,535.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PackedKeepalive {
    idle_ms: u32,
    interval_ms: u32,
    probes: u16,
    on: bool,
}

impl PackedKeepalive {
    pub fn new(ka: Option<Keepalive>) -> PackedKeepalive {
        let ms = |d: Duration| d.as_millis().min(u128::from(u32::MAX)) as u32;
        match ka {
            Some(k) => PackedKeepalive { idle_ms: ms(k.idle), interval_ms: ms(k.interval), probes: k.probes.min(u32::from(u16::MAX)) as u16, on: true },
            None => PackedKeepalive::default(),
        }
    }
    pub fn get(self) -> Option<Keepalive> {
        self.on.then(|| Keepalive {
            idle: Duration::from_millis(u64::from(self.idle_ms)),
            interval: Duration::from_millis(u64::from(self.interval_ms)),
            probes: u32::from(self.probes),
        })
    }
}

/// The optional cap on challenge ACKs of a whole [`super::Tcp`]
/// ([`TcpConfig::challenge_ack_global_limit`]), randomised as Linux does since
/// 4.7 (the CVE-2016-5696 fix, `tcp_send_challenge_ack`): each second's budget is
/// `ceil(limit/2) + rand(limit)`, so an attacker cannot count it down exactly.
/// The random value is SipHash of the endpoint's secret and the window number:
/// unpredictable without the secret, reproducible with it.
#[derive(Debug, Default)]
pub(crate) struct GlobalChallengeCap {
    window_start: Instant,
    window: u64,
    left: u32,
}

impl GlobalChallengeCap {
    /// May one more challenge ACK go out at `now`?
    pub fn allow(&mut self, now: Instant, limit: u32, secret: &[u8; 16]) -> bool {
        if self.window == 0 || now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.window += 1;
            let mut data = *b"challenge-ack\0\0\0\0\0\0\0\0";
            data[13..21].copy_from_slice(&self.window.to_le_bytes());
            let r = super::isn::siphash24(secret, &data);
            self.left = limit.div_ceil(2) + (r % u64::from(limit.max(1))) as u32;
        }
        if self.left > 0 {
            self.left -= 1;
            true
        } else {
            false
        }
    }
}

/// What a connection's processing needs from its [`super::Tcp`].
pub(crate) struct Env<'a> {
    pub cfg: &'a TcpConfig,
    /// Buffer memory of every connection's queues.
    pub pool: &'a mut Pool,
    pub stats: &'a mut TcpStats,
    pub events: &'a mut EventQueue,
    pub challenge: &'a mut GlobalChallengeCap,
    /// In-flight loss-recovery state, lent while data is outstanding.
    pub flights: &'a mut super::flight::FlightPool,
    /// The listener of a passive open in SYN-RECEIVED has no room in its accept
    /// queue: the handshake must not complete now.
    pub accept_full: bool,
    /// The listener of a passive open in SYN-RECEIVED has its SYN queue under
    /// pressure (timers only): fewer SYN-ACK retransmissions.
    pub syn_pressure: bool,
}

/// Where a passive open stands in its listener's accept queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptMark {
    /// Not counted (an active open, not yet established, or taken).
    Out,
    /// Just established; `Tcp::after` counts it.
    Entering,
    /// Counted in the listener's accept queue.
    In,
}

/// A RST to send later (a deferred abort).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingReset {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub seq: u32,
    pub ack: Option<u32>,
}

/// What the owner must do with a connection after an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Keep it.
    Keep,
    /// Free it; emit Closed with this reason if the application knows it.
    Free(CloseReason),
}

/// The TCB (RFC 9293 §3.3.1).
#[derive(Debug)]
pub(crate) struct Conn {
    pub id: ConnId,
    pub state: State,
    /// The 4-tuple, as addresses and ports (38 bytes where two `SocketAddr`
    /// take 64: the per-connection state is kept small); [`Conn::local`] and
    /// [`Conn::remote`] give them back.
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub local_port: u16,
    pub remote_port: u16,
    /// Listening port for passive opens (never 0: a segment to port 0 is
    /// malformed); 2 bytes where an `Option<u16>` takes 4.
    pub listener_port: Option<core::num::NonZeroU16>,
    /// Counted in the listener's SYN backlog (SYN-RECEIVED of a passive open).
    pub in_backlog: bool,
    /// Place in the listener's accept queue.
    pub accept: AcceptMark,
    /// The application knows this handle (Accepted/Connected sent, or connect()).
    pub announced: bool,
    /// The application called close().
    pub app_closed: bool,
    pub nodelay: bool,
    /// Bytes before this sequence number were written with `send_nodelay`: they go
    /// without waiting for Nagle.
    pub push_to: SeqNum,

    // Send sequence space (RFC 9293 §3.3.1).
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// Highest sequence number sent + 1 (SND.NXT goes back on a timeout).
    pub snd_max: SeqNum,
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    /// Sequence number of `tx`'s first byte.
    pub tx_seq: SeqNum,
    pub tx: ChunkBuf,

    // Receive sequence space.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    pub rx: ChunkBuf,
    pub ooo: Assembler,
    /// Receive-buffer auto-tuning (`rcv_space_adjust`): the first byte the
    /// application had not read, and when (ms, modulo 2^32), at the start of
    /// the current measurement.
    pub rcv_space_seq: SeqNum,
    pub rcv_space_ms: u32,
    /// Sequence number of the peer's FIN, once seen (possibly out of order).
    pub peer_fin: Option<SeqNum>,
    /// The peer's FIN was taken in sequence.
    pub fin_received: bool,
    pub rwin: RecvWindow,
    pub last_ack_sent: SeqNum,

    // Options.
    pub offer: Offer,
    pub neg: Negotiated,
    pub ts: Option<Timestamps>,

    // Acknowledgment state.
    pub ack_now: bool,
    pub unacked_bytes: u32,
    pub delack_at: Option<Instant>,
    /// Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) must be sent again.
    pub syn_resend: bool,

    // Timers and retransmission.
    pub rto_at: Option<Instant>,
    pub persist_at: Option<Instant>,
    /// Window probes sent since the window closed (persist backoff exponent).
    pub persist_probes: u16,
    /// Window probes sent since the last ACK (give up after `max_retries`).
    pub probes_unanswered: u16,
    pub timewait_at: Option<Instant>,
    pub rtt: Rtt,
    pub retries: u16,
    pub cc: Controller,
    /// Loss recovery: SACK both ways, the segments in flight, RACK-TLP
    /// (`recovery.rs`).
    pub loss: LossState,

    // Application notifications.
    pub readable_pending: bool,
    pub writable_wanted: bool,
    /// The last transmit stopped because the layer below had no room (no transmit
    /// frame, next hop unresolved): output is waiting and must be retried.
    pub tx_blocked: bool,
    /// recv() has returned Eof to the application.
    pub eof_seen: bool,
    /// Last answer to an unacceptable zero-length segment or a PAWS-rejected
    /// one, ms modulo 2^32 (0: none; after 49 days one answer may be held back
    /// once).
    pub last_oow_ack_ms: u32,
    /// Challenge ACKs of this connection (RFC 5961 §7).
    pub challenge: ChallengeLimiter,

    // Keepalive and the FIN-WAIT-2 orphan timeout (`timers.rs`).
    pub keepalive: PackedKeepalive,
    pub keepalive_at: Option<Instant>,
    /// Keepalive probes sent since the peer was last heard.
    pub keepalive_sent: u16,
    /// When a segment was last accepted from the peer.
    pub last_rx: Instant,
    /// The FIN-WAIT-2 orphan timeout counts from here: entering FIN-WAIT-2, or
    /// the last data received in it.
    pub fin_wait2_from: Instant,
    pub fin_wait2_at: Option<Instant>,
    /// The reason `Closed` reports when a connection lingering in CLOSED (unread
    /// data) is finally freed.
    pub close_reason: CloseReason,
    /// The last ICMP soft error about this connection (RFC 1122 §4.2.3.9),
    /// reported instead of a bare timeout if the connection gives up.
    pub soft_error: Option<super::Unreachable>,
    /// The user timeout (RFC 9293 §3.8.3) in ms in the low 31 bits (0: none; at
    /// most 24 days < 2^31 ms), set locally or adopted from the peer's User
    /// Timeout Option (RFC 5482 §3.1); the top bit: send ADV_UTO on the next
    /// pure ACK (the local user timeout changed on a synchronized connection,
    /// §3: "MAY be included in any segment"). One word, where a separate flag
    /// would grow the slot by 8 bytes. See [`Conn::user_timeout_ms`] and
    /// `uto.rs`.
    pub user_timeout_word: u32,
    /// ADV_UTO (RFC 5482 §3): the User Timeout Option field we advertise, from
    /// the local user timeout; sent on SYN / SYN-ACK. 0: none (a local
    /// timeout is never advertised as 0, see `uto::adv_uto`); 2 bytes where an
    /// `Option<u16>` takes 4 (the per-connection state is kept small).
    pub adv_uto: u16,
    /// Since when sent data is unacknowledged: when data went out with nothing
    /// outstanding, or the last ACK of new data (ms modulo 2^32; compared only
    /// while data is outstanding, within the 24-day bound of the timeout).
    pub una_since_ms: u32,
}

/// A user timeout in ms as a connection keeps it (0: none; at most 24 days,
/// so that elapsed times modulo 2^32 ms compare right).
pub(crate) fn user_timeout_ms(t: Option<Duration>) -> u32 {
    const MAX_MS: u128 = 24 * 24 * 3600 * 1000;
    t.map_or(0, |d| d.as_millis().clamp(1, MAX_MS) as u32)
}

/// Parameters of a new connection.
pub(crate) struct NewConn {
    pub id: ConnId,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub iss: SeqNum,
    pub offer: Offer,
    pub ts_offset: u32,
}

impl Conn {
    /// A connection in `state` (SynSent or SynReceived), nothing sent yet.
    pub fn new(p: NewConn, state: State, cfg: &TcpConfig) -> Conn {
        let NewConn { id, local, remote, iss, offer, ts_offset } = p;
        let tx = ChunkBuf::new(cfg.tx_buffer);
        let rx = ChunkBuf::new(cfg.initial_rx_buffer());
        let mss = u32::from(cfg.mss);
        Conn {
            id,
            state,
            local_ip: local.ip(),
            remote_ip: remote.ip(),
            local_port: local.port(),
            remote_port: remote.port(),
            listener_port: None,
            in_backlog: false,
            accept: AcceptMark::Out,
            announced: false,
            app_closed: false,
            nodelay: cfg.nodelay,
            push_to: iss,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            tx_seq: iss + 1,
            tx,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rx,
            ooo: Assembler::new(),
            rcv_space_seq: SeqNum(0),
            rcv_space_ms: 0,
            peer_fin: None,
            fin_received: false,
            rwin: RecvWindow::new(SeqNum(0), 0),
            last_ack_sent: SeqNum(0),
            offer,
            neg: Negotiated { send_mss: cfg.mss.min(super::options::DEFAULT_MSS_V4), snd_wscale: 0, rcv_wscale: 0, timestamps: false, peer_sack_permitted: false, sack: false },
            ts: if offer.timestamps { Some(Timestamps { recent: 0, recent_at: Instant::ZERO, offset: ts_offset }) } else { None },
            ack_now: false,
            unacked_bytes: 0,
            delack_at: None,
            syn_resend: false,
            rto_at: None,
            persist_at: None,
            persist_probes: 0,
            probes_unanswered: 0,
            timewait_at: None,
            rtt: Rtt::new(cfg.min_rto, cfg.max_rto),
            retries: 0,
            cc: Controller::new(cfg.congestion, mss),
            loss: LossState::new(),
            readable_pending: false,
            writable_wanted: false,
            tx_blocked: false,
            eof_seen: false,
            last_oow_ack_ms: 0,
            challenge: ChallengeLimiter::default(),
            keepalive: PackedKeepalive::new(cfg.keepalive),
            keepalive_at: None,
            keepalive_sent: 0,
            last_rx: Instant::ZERO,
            fin_wait2_from: Instant::ZERO,
            fin_wait2_at: None,
            close_reason: CloseReason::Normal,
            soft_error: None,
            user_timeout_word: user_timeout_ms(cfg.user_timeout),
            adv_uto: super::uto::adv_uto(cfg.user_timeout),
            una_since_ms: 0,
        }
    }

    /// Was an unacceptable segment answered less than 200 ms ago (like Linux's
    /// `tcp_invalid_ratelimit`)?
    pub fn oow_ack_limited(&self, now: Instant) -> bool {
        self.last_oow_ack_ms != 0 && (now.millis() as u32).wrapping_sub(self.last_oow_ack_ms) < 200
    }

    /// Our address and port.
    #[inline]
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(self.local_ip, self.local_port)
    }
    /// The peer's address and port.
    #[inline]
    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.remote_ip, self.remote_port)
    }

    /// Sequence number of our FIN, once close() was called.
    #[inline]
    pub fn fin_seq(&self) -> Option<SeqNum> {
        if self.app_closed && self.state != State::SynSent && self.state != State::SynReceived {
            Some(self.tx_seq + self.tx.len() as u32)
        } else {
            None
        }
    }
    /// Our FIN has been sent (at least once).
    #[inline]
    pub fn fin_sent(&self) -> bool {
        matches!(self.fin_seq(), Some(f) if self.snd_max > f)
    }
    /// Our FIN has been acknowledged.
    #[inline]
    pub fn fin_acked(&self) -> bool {
        matches!(self.fin_seq(), Some(f) if self.snd_una > f)
    }
    /// The protocol exchange is over (only TIME-WAIT's timer, or unread data, remain).
    #[inline]
    pub fn protocol_done(&self) -> bool {
        matches!(self.state, State::TimeWait | State::Closed)
    }
    /// Bytes the application can read now.
    #[inline]
    pub fn readable(&self) -> usize {
        self.rx.len()
    }
    /// Earliest timer deadline.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        // Branch-free: a missing deadline is the latest possible instant.
        let k = |t: Option<Instant>| t.map_or(u64::MAX, Instant::micros);
        let (tlp, rack) = self.loss.fl.as_deref().map_or((None, None), |f| (f.tlp_at, f.rack_at));
        let m = k(self.rto_at).min(k(self.persist_at)).min(k(self.delack_at)).min(k(self.timewait_at));
        let m = m.min(k(tlp)).min(k(rack)).min(k(self.keepalive_at)).min(k(self.fin_wait2_at));
        (m != u64::MAX).then(|| Instant::from_micros(m))
    }

    pub(crate) fn push_event(&self, env: &mut Env<'_>, ev: TcpEvent) {
        if self.announced {
            env.events.push_back(ev);
        }
    }

    fn notify_readable(&mut self, env: &mut Env<'_>) {
        if !self.readable_pending && self.announced {
            self.readable_pending = true;
            env.events.push_back(TcpEvent::Readable(self.id));
        }
    }

    /// Apply the negotiated options of the peer's SYN (RFC 7323 §2.2, §3.2);
    /// the MSS we send also fits the known MTU of the path (RFC 1191 §3,
    /// RFC 8201 §5), which `path_mtu` gives.
    pub fn apply_peer_syn(&mut self, repr: &TcpRepr<'_>, now: Instant, path_mtu: Option<usize>) {
        self.irs = SeqNum(repr.seq);
        self.rcv_nxt = self.irs + 1;
        self.neg = self.offer.negotiate(&repr.options, self.remote_ip.is_ipv6());
        if let Some(mss) = path_mtu.and_then(|m| super::icmp::clamped_mss(self.neg.send_mss, m, self.remote_ip.is_ipv6(), self.neg.timestamps)) {
            self.neg.send_mss = mss;
        }
        if !self.neg.timestamps {
            self.ts = None;
        }
        if let (Some(ts), Some((tsval, _))) = (self.ts.as_mut(), repr.options.timestamps) {
            ts.recent = tsval;
            ts.recent_at = now;
        }
        self.rwin = RecvWindow::new(self.rcv_nxt, self.neg.rcv_wscale);
        self.last_ack_sent = self.rcv_nxt;
        self.rcv_space_seq = self.rcv_nxt;
        self.rcv_space_ms = now.millis() as u32;
        self.cc.set_mss(u32::from(self.neg.send_mss));
    }

    /// Take the send window from a segment (RFC 9293 §3.10.7.4 fifth step).
    pub(crate) fn update_send_window(&mut self, now: Instant, repr: &TcpRepr<'_>) {
        let seq = SeqNum(repr.seq);
        let ack = SeqNum(repr.ack);
        let syn = repr.flags.contains(TcpFlags::SYN);
        if should_update_send_window(self.snd_wl1, self.snd_wl2, seq, ack) {
            let wnd = scaled_send_window(repr.window, self.neg.snd_wscale, syn);
            let was_zero = self.snd_wnd == 0;
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if wnd == 0 {
                // RFC 9293 §3.8.6.1: a closed window is probed by the persist timer,
                // not by retransmission timeouts.
                self.rto_at = None;
            } else if was_zero {
                self.persist_at = None;
                self.persist_probes = 0;
                if self.snd_max != self.snd_una && self.rto_at.is_none() {
                    self.rto_at = Some(self.rto_deadline(now));
                }
            }
        }
    }

    /// Enter ESTABLISHED (from SYN-SENT or SYN-RECEIVED) and tell the application.
    fn establish(&mut self, now: Instant, env: &mut Env<'_>) {
        self.state = if self.app_closed { State::FinWait1 } else { State::Established };
        self.last_rx = now;
        self.arm_keepalive();
        if self.retries > 0 {
            // RFC 6298 §5.7: the SYN (or SYN-ACK) timed out: data starts with
            // an RTO of 3 s until an RTT sample.
            self.rtt.after_syn_timeout();
        }
        self.retries = 0;
        env.stats.established += 1;
        self.announced = true;
        match self.listener_port.map(core::num::NonZeroU16::get) {
            Some(port) => {
                self.accept = AcceptMark::Entering;
                env.events.push_back(TcpEvent::Accepted { conn: self.id, port });
            }
            None => env.events.push_back(TcpEvent::Connected(self.id)),
        }
    }

    /// Segment arrival in SYN-SENT (RFC 9293 §3.10.7.3).
    fn process_syn_sent(&mut self, now: Instant, env: &mut Env<'_>, repr: &TcpRepr<'_>, out: &mut impl SegmentSink) -> Outcome {
        let ack = SeqNum(repr.ack);
        let has_ack = repr.flags.contains(TcpFlags::ACK);
        let rst = repr.flags.contains(TcpFlags::RST);
        // First: check the ACK bit.
        if has_ack && (ack <= self.iss || ack > self.snd_max) {
            env.stats.bad_ack += 1;
            if !rst {
                // <SEQ=SEG.ACK><CTL=RST>
                self.send_reset(env, out, ack, None);
            }
            return Outcome::Keep;
        }
        // Second: the RST bit; acceptable only with an acceptable ACK (RFC 5961 §3.2).
        if rst {
            if has_ack {
                env.stats.rst_received += 1;
                return Outcome::Free(CloseReason::Refused);
            }
            env.stats.ignored += 1;
            return Outcome::Keep;
        }
        // Fourth: the SYN bit.
        if !repr.flags.contains(TcpFlags::SYN) {
            env.stats.ignored += 1;
            return Outcome::Keep;
        }
        self.apply_peer_syn(repr, now, out.path_mtu(self.remote_ip));
        if let Some(u) = repr.options.user_timeout {
            // RFC 5482 §3.1: the server's UTO in its SYN-ACK.
            if self.on_remote_uto(u, env.cfg) {
                env.stats.uto_adopted += 1;
            }
        }
        if has_ack {
            // Our SYN is acknowledged: ESTABLISHED, send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
            self.snd_una = ack;
            self.snd_nxt = self.snd_nxt.max(ack);
            self.rtt.on_ack(ack.get(), now);
            self.rtt.on_progress();
            self.rto_at = None;
            self.snd_wl1 = SeqNum(repr.seq).sub_one();
            self.update_send_window(now, repr);
            self.establish(now, env);
            self.ack_now = true;
            // Data or FIN carried on the SYN-ACK is not queued; the peer retransmits it.
        } else {
            // Simultaneous open: SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
            self.state = State::SynReceived;
            self.snd_wl1 = SeqNum(repr.seq).sub_one();
            self.update_send_window(now, repr);
            self.syn_resend = true;
        }
        Outcome::Keep
    }

    /// RFC 9293 §3.10.7.4 first check: is the segment acceptable?
    fn acceptable(&self, seq: SeqNum, seg_len: u32) -> bool {
        let wnd = self.rwin.current(self.rcv_nxt);
        let nxt = self.rcv_nxt;
        match (seg_len, wnd) {
            (0, 0) => seq == nxt,
            (0, _) => seq.in_range(nxt, nxt + wnd),
            (_, 0) => false,
            (_, _) => seq.in_range(nxt, nxt + wnd) || (seq + seg_len - 1).in_range(nxt, nxt + wnd),
        }
    }

    /// Queue a challenge ACK, rate-limited (RFC 5961 §7): per connection, then by
    /// the endpoint's optional global cap.
    fn challenge_ack(&mut self, now: Instant, env: &mut Env<'_>) {
        let global = |env: &mut Env<'_>| match env.cfg.challenge_ack_global_limit {
            Some(limit) => env.challenge.allow(now, limit, &env.cfg.isn_secret),
            None => true,
        };
        if self.challenge.allow(now, env.cfg.challenge_ack_limit) && global(env) {
            env.stats.challenge_acks += 1;
            self.ack_now = true;
        } else {
            env.stats.challenge_acks_limited += 1;
        }
    }

    /// Segment arrival (RFC 9293 §3.10.7.3 and §3.10.7.4).
    pub fn process(&mut self, now: Instant, env: &mut Env<'_>, repr: &TcpRepr<'_>, out: &mut impl SegmentSink) -> Outcome {
        if env.cfg.header_prediction {
            if let Some(outcome) = self.predicted(now, env, repr) {
                return outcome;
            }
        }
        let flags = repr.flags;
        let rst = flags.contains(TcpFlags::RST);
        let syn = flags.contains(TcpFlags::SYN);
        let seq = SeqNum(repr.seq);
        match self.state {
            State::Closed | State::Listen => {
                env.stats.ignored += 1;
                return Outcome::Keep;
            }
            State::SynSent => return self.process_syn_sent(now, env, repr, out),
            State::SynReceived if syn && !rst && seq == self.irs && flags.contains(TcpFlags::ACK) => {
                // Simultaneous open (RFC 9293 Figure 8): the peer's SYN-ACK repeats the
                // SYN we already took; process the rest of it as a plain ACK.
                let mut rest = *repr;
                rest.seq = repr.seq.wrapping_add(1);
                rest.flags = TcpFlags(repr.flags.0 & !TcpFlags::SYN.0);
                return self.process(now, env, &rest, out);
            }
            State::SynReceived if syn && !rst && seq == self.irs => {
                // The peer retransmitted its SYN: our SYN-ACK was lost. Send it again.
                self.syn_resend = true;
                return Outcome::Keep;
            }
            _ => {}
        }

        // RFC 7323 §3.2: with timestamps negotiated (and only then, else a
        // TSopt is ignored), "if a non-<RST> segment is received without a
        // TSopt, a TCP SHOULD silently drop the segment"; an <RST> is never
        // dropped for it.
        let seg_ts = if self.ts.is_some() { repr.options.timestamps } else { None };
        if self.ts.is_some() && seg_ts.is_none() && !rst {
            env.stats.ts_missing += 1;
            return Outcome::Keep;
        }
        // RFC 7323 §5.3 R1 (PAWS): a non-RST segment whose TSval is older than
        // a valid TS.Recent is an old duplicate: not acceptable, "send an
        // acknowledgment in reply" (RFC 9293 §3.10.7.4), at most one per
        // 200 ms (as Linux's `tcp_oow_rate_limited`: spoofed old segments
        // draw no ACK flood, two confused peers no ACK loop), and drop it.
        // §5.5: TS.Recent idle for more than 24 days is invalid: the segment
        // is not rejected and its TSval becomes TS.Recent (R3 below).
        let mut ts_expired = false;
        if let (Some(ts), Some((tsval, _))) = (self.ts.as_ref(), seg_ts) {
            if !rst && paws_rejects(tsval, ts.recent) {
                if ts_recent_valid(ts, now) {
                    env.stats.paws_rejected += 1;
                    if self.oow_ack_limited(now) {
                        env.stats.paws_acks_limited += 1;
                    } else {
                        self.ack_now = true;
                        self.last_oow_ack_ms = (now.millis() as u32).max(1);
                    }
                    return Outcome::Keep;
                }
                env.stats.ts_recent_expired += 1;
                ts_expired = true;
            }
        }

        // First: sequence number check (RFC 9293 §3.10.7.4, four cases).
        let mut payload = repr.payload;
        let mut fin = flags.contains(TcpFlags::FIN);
        let seg_len = payload.len() as u32 + u32::from(syn) + u32::from(fin);
        if !self.acceptable(seq, seg_len) {
            // RFC 9293 §3.10.7.4: with a zero window, still take the ACK (and RST)
            // fields of a segment at RCV.NXT; its data is dropped.
            // That includes a zero-window probe at RCV.NXT − 1 (Linux probes with
            // SND.UNA − 1): its ACK may acknowledge our data, and while our
            // window stays closed it may be the only ACK the peer sends (an
            // echo whose send side waits for those ACKs would stall until RTOs).
            let zero_window_at_edge = self.rwin.current(self.rcv_nxt) == 0 && (seq == self.rcv_nxt || (seq + 1 == self.rcv_nxt && payload.len() <= 1)) && !syn;
            if !zero_window_at_edge {
                env.stats.out_of_window += 1;
                if syn && !rst {
                    // RFC 5961 §4.2: a SYN "irrespective of the sequence number"
                    // draws a challenge ACK, and those are rate-limited (§7),
                    // as in Linux (`tcp_validate_incoming`: syn_challenge): an
                    // out-of-window SYN must not buy a blind attacker one ACK
                    // each (duplicate ACKs a non-SACK sender takes for loss).
                    self.challenge_ack(now, env);
                    return Outcome::Keep;
                }
                // Answering every unacceptable pure ACK could start an ACK storm with a
                // peer that does the same; those get at most one answer per 200 ms
                // (like Linux's tcp_invalid_ratelimit).
                let limited = seg_len == 0 && self.oow_ack_limited(now);
                if limited && !rst {
                    env.stats.oow_acks_limited += 1;
                }
                if !rst && !limited {
                    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
                    self.ack_now = true;
                    if !payload.is_empty() && seq + payload.len() as u32 <= self.rcv_nxt {
                        // RFC 2883 §4: report the duplicate as a D-SACK block.
                        self.loss.gen.duplicate(seq, seq + payload.len() as u32);
                    }
                    if seg_len == 0 {
                        self.last_oow_ack_ms = (now.millis() as u32).max(1);
                    }
                    if self.state == State::TimeWait && fin {
                        // A retransmitted FIN in TIME-WAIT: restart the 2 MSL timeout.
                        self.timewait_at = Some(now + env.cfg.time_wait);
                    }
                }
                return Outcome::Keep;
            }
            if !payload.is_empty() || fin || seq + 1 == self.rcv_nxt {
                // Data that does not fit, or a window probe: answer with our
                // (closed) window.
                env.stats.rx_overflow += payload.len() as u64;
                self.ack_now = true;
            }
            payload = &[];
            fin = false;
        }
        // The peer is alive (keepalive, RFC 1122 §4.2.3.6).
        self.last_rx = now;
        self.keepalive_sent = 0;
        // Trim to the window: data before RCV.NXT and beyond the right edge.
        let mut data_seq = seq + u32::from(syn);
        if data_seq < self.rcv_nxt {
            let skip = self.rcv_nxt.since(data_seq) as usize;
            if skip > payload.len() {
                // Everything including a FIN at data_seq+len is old.
                fin = fin && skip == payload.len(); // only if FIN is exactly at RCV.NXT
                payload = &[];
            } else {
                payload = &payload[skip..];
            }
            data_seq = self.rcv_nxt;
        }
        let right = self.rcv_nxt + self.rwin.current(self.rcv_nxt);
        let room = right.since(data_seq) as usize;
        if payload.len() > room {
            payload = &payload[..room];
            fin = false;
        }

        // Second: the RST bit (RFC 5961 §3.2).
        if rst {
            if self.state == State::TimeWait {
                // RFC 1337 §3 fix F1: ignore RST in TIME-WAIT, so that an old
                // duplicate or forged RST cannot end it early ("TIME-WAIT
                // assassination"); RFC 9293 §3.10.7.4 would delete the TCB.
                env.stats.time_wait_rst_ignored += 1;
                return Outcome::Keep;
            }
            if seq != self.rcv_nxt {
                // In window but not exact: challenge ACK.
                self.challenge_ack(now, env);
                return Outcome::Keep;
            }
            env.stats.rst_received += 1;
            return match self.state {
                // Passive open: back to LISTEN, i.e. forget this embryonic connection.
                State::SynReceived if self.listener_port.is_some() => Outcome::Free(CloseReason::Reset),
                State::SynReceived => Outcome::Free(CloseReason::Refused),
                _ => Outcome::Free(CloseReason::Reset),
            };
        }

        // Fourth: the SYN bit. RFC 5961 §4: a SYN in a synchronized state (or any SYN
        // we did not expect) gets a challenge ACK and is dropped.
        if syn {
            self.challenge_ack(now, env);
            return Outcome::Keep;
        }

        // Fifth: the ACK field.
        if !flags.contains(TcpFlags::ACK) {
            env.stats.no_ack += 1;
            return Outcome::Keep;
        }
        let ack = SeqNum(repr.ack);
        if self.state == State::SynReceived {
            if self.snd_una < ack && ack <= self.snd_max {
                if env.accept_full {
                    // The listener's accept queue is full: drop the segment and
                    // stay in SYN-RECEIVED (Linux, tcp_abort_on_overflow = 0); the
                    // SYN-ACK retransmission draws the ACK again.
                    env.stats.accept_queue_full += 1;
                    return Outcome::Keep;
                }
                // RFC 9293 §3.10.7.4: enter ESTABLISHED and continue processing, with
                // SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK.
                self.snd_wl1 = seq.sub_one();
                self.snd_wl2 = ack;
                self.establish(now, env);
            } else {
                // <SEQ=SEG.ACK><CTL=RST>
                env.stats.bad_ack += 1;
                self.send_reset(env, out, ack, None);
                return Outcome::Keep;
            }
        }
        if let Some(u) = repr.options.user_timeout {
            // RFC 5482 §3: a UTO "MAY be included in any segment"; adopted
            // from an acceptable one (§3.1).
            if self.on_remote_uto(u, env.cfg) {
                env.stats.uto_adopted += 1;
            }
        }
        let pure = repr.payload.is_empty() && !flags.contains(TcpFlags::FIN);
        // An ACK below SND.UNA (still within RFC 5961 §5.2's bound) is old:
        // its data is taken, its TSval is not (Linux's `old_ack`).
        let ack_not_old = ack >= self.snd_una;
        if let Some(outcome) = self.process_ack(now, env, repr, pure) {
            return outcome;
        }
        // RFC 7323 §5.3 R3 / §4.3: an acceptable segment with SEG.TSval >=
        // TS.Recent and SEG.SEQ <= Last.ACK.sent (it covers the left edge of
        // what our next ACK acknowledges) updates TS.Recent; after §5.5's
        // invalidation any TSval does. "Acceptable" includes its RST, SYN and
        // ACK fields (RFC 5961 §5, RFC 7323 §5.3 note): only here, after they
        // passed, so that a segment dropped for its ACK or its missing ACK bit
        // cannot install a TSval far ahead and make PAWS reject every segment
        // of the real peer (Linux calls tcp_replace_ts_recent from tcp_ack for
        // the same reason).
        if let (Some(ts), Some((tsval, _))) = (self.ts.as_mut(), seg_ts) {
            if ack_not_old && seq <= self.last_ack_sent && (ts_expired || !paws_rejects(tsval, ts.recent)) {
                ts.recent = tsval;
                ts.recent_at = now;
            }
        }

        // Seventh: segment text.
        if !payload.is_empty() && self.state.can_receive_data() {
            self.receive_data(now, env, data_seq, payload);
        }

        // Eighth: the FIN bit.
        if fin && matches!(self.state, State::SynReceived | State::Established | State::FinWait1 | State::FinWait2) {
            self.peer_fin = Some(data_seq + payload.len() as u32);
        }
        self.take_fin(now, env);
        if self.state == State::Closed {
            return Outcome::Free(CloseReason::Normal);
        }
        Outcome::Keep
    }

    /// RFC 9293 §3.10.7.4 fifth step in the synchronized states. Returns `Some` when
    /// the segment must be dropped (or the connection freed) here.
    fn process_ack(&mut self, now: Instant, env: &mut Env<'_>, repr: &TcpRepr<'_>, pure: bool) -> Option<Outcome> {
        let ack = SeqNum(repr.ack);
        // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
        // Either answer is an ACK a blind attacker can draw at will: both go
        // through the challenge-ACK limit (RFC 5961 §7; Linux answers both
        // with `tcp_send_challenge_ack`).
        if ack > self.snd_max {
            env.stats.ack_unsent += 1;
            self.challenge_ack(now, env);
            return Some(Outcome::Keep);
        }
        if ack < self.snd_una - self.max_snd_wnd.max(1) {
            env.stats.bad_ack += 1;
            self.challenge_ack(now, env);
            return Some(Outcome::Keep);
        }
        self.probes_unanswered = 0;
        let new_wnd = scaled_send_window(repr.window, self.neg.snd_wscale, false);
        // RFC 5681 §2: a duplicate ACK does not move the left edge; judged
        // against SND.UNA as it was before this ACK, which may move it below.
        let una_before = self.snd_una;
        if ack > self.snd_una {
            if let Some(outcome) = self.on_new_ack(now, env, repr, ack) {
                return Some(outcome);
            }
        }
        // RFC 5681 §2: a duplicate ACK (RFC 6675 §2 with SACK: one SACKing new
        // data); the SACK blocks and loss detection (recovery.rs).
        let dup = ack == una_before && pure && self.snd_max != self.snd_una && new_wnd == self.snd_wnd && self.snd_wnd != 0;
        self.loss_on_ack(now, env, repr, dup);
        self.update_send_window(now, repr);
        None
    }

    /// The fifth step's work for an ACK that acknowledges new data
    /// (`SND.UNA < ack <= SND.MAX`): free what it covers, sample the RTT, run
    /// loss recovery and congestion control, re-arm the timers, and the
    /// FIN-WAIT-1 / CLOSING / LAST-ACK transitions. `Some` when the connection
    /// is done. Shared by [`Conn::process`] and header prediction
    /// (`predict.rs`).
    pub(crate) fn on_new_ack(&mut self, now: Instant, env: &mut Env<'_>, repr: &TcpRepr<'_>, ack: SeqNum) -> Option<Outcome> {
        let flight = self.snd_max.since(self.snd_una);
        let acked_total = ack.since(self.snd_una);
        let syn_acked = self.snd_una == self.iss;
        let data_acked = (ack.since(self.tx_seq) as usize).min(self.tx.len());
        self.tx.consume(env.pool, data_acked);
        self.tx_seq += data_acked as u32;
        self.snd_una = ack;
        // `push_to` is compared with SND.NXT modulo 2^32: kept within the
        // window, it cannot read as "ahead" 2 GiB after the last
        // `send_nodelay` (which would switch Nagle off for the next 2 GiB).
        if self.push_to < ack {
            self.push_to = ack;
        }
        // The user timeout counts from the last progress (RFC 9293 §3.8.3).
        self.una_since_ms = now.millis() as u32;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        // RTT measurement, in µs of our own clock where it can be: the send
        // time of the oldest newly acknowledged segment never retransmitted
        // (as Linux's `tcp_clean_rtx_queue`); else timestamps (RFC 7323 §4,
        // unambiguous after a retransmission, in ms), else the Karn-timed
        // segment (RFC 6298 §3). Timestamps in ms alone would give SRTT 0
        // on a sub-millisecond path, and RACK a reordering window of 0.
        let log_rtt = self.loss.fl.as_deref().and_then(|f| f.log.rtt_sample_us(ack, now));
        match (log_rtt, self.ts.as_ref(), repr.options.timestamps) {
            (Some(r), _, _) => {
                self.rtt.sample_us(r);
                self.rtt.cancel_timing();
            }
            (None, Some(ts), Some((_, tsecr))) if tsecr != 0 => {
                let ms = ts_clock(now, ts.offset).wrapping_sub(tsecr);
                if ms < 60_000 {
                    self.rtt.sample(Duration::from_millis(u64::from(ms)));
                }
                self.rtt.cancel_timing();
            }
            _ => self.rtt.on_ack(ack.get(), now),
        }
        self.rtt.on_progress();
        self.retries = 0;
        let cc_acked = acked_total - u32::from(syn_acked);
        self.loss_on_cumulative(now, env, cc_acked, flight, repr.options.timestamps.map(|(_, ecr)| ecr));
        // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
        self.rto_at = if self.snd_una == self.snd_max { None } else { Some(self.rto_deadline(now)) };
        // RFC 8985 §7.2: an ACK that advances re-arms the probe timeout.
        self.arm_tlp(now, env.cfg.tail_loss_probe);
        if data_acked > 0 && self.writable_wanted {
            self.writable_wanted = false;
            self.push_event(env, TcpEvent::Writable(self.id));
        }
        if self.fin_acked() {
            // RFC 9293 §3.10.7.4 fifth step, FIN-WAIT-1 / CLOSING / LAST-ACK.
            let next = self.state.on_fin_acked();
            if next != self.state {
                self.state = next;
                if next == State::TimeWait {
                    self.enter_time_wait(now, env);
                }
                if next == State::FinWait2 {
                    self.enter_fin_wait2(now, env);
                }
                if next == State::Closed {
                    // LAST-ACK is over (RFC 9293 §3.10.7.4: "delete the TCB"),
                    // but the peer's data the application has not read yet must
                    // stay readable: the connection lingers in CLOSED until
                    // the receive buffer is empty (`Tcp::after` frees it then,
                    // with Closed{Normal}).
                    return Some(self.linger_or_free(CloseReason::Normal));
                }
            }
        }
        None
    }

    pub(crate) fn enter_time_wait(&mut self, now: Instant, env: &mut Env<'_>) {
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.keepalive_at = None;
        self.fin_wait2_at = None;
        self.timewait_at = Some(now + env.cfg.time_wait);
    }

    /// RFC 9293 §3.10.7.4 seventh step: queue in-order data, keep out-of-order data
    /// in the assembler, decide between an immediate and a delayed ACK
    /// (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
    pub(crate) fn receive_data(&mut self, now: Instant, env: &mut Env<'_>, data_seq: SeqNum, payload: &[u8]) {
        let off = data_seq.since(self.rcv_nxt) as usize;
        let had_gap = !self.ooo.is_empty();
        let fit = payload.len().min(self.rx.free().saturating_sub(off));
        let n = self.rx.write_unqueued(env.pool, off, payload);
        if fit < payload.len() {
            env.stats.rx_overflow += (payload.len() - fit) as u64;
        }
        if n < fit {
            // The buffer memory bound: the bytes are not acknowledged, the peer
            // sends them again (the window we advertise shrinks meanwhile).
            env.stats.rx_no_memory += (fit - n) as u64;
        }
        if n == 0 {
            self.ack_now = true;
            return;
        }
        if self.state == State::FinWait2 {
            // New data: the peer is still at work (the orphan timeout restarts).
            self.fin_wait2_from = now;
        }
        // Data at RCV.NXT is always taken; out-of-order data is held up to the
        // window (the buffer may take its bytes), in at most `ooo_range_limit` ranges.
        let adv = if off == 0 && !had_gap {
            // In order with no gap (the common case): the assembler is not involved.
            n as u32
        } else {
            match self.ooo.add(off as u32, (off + n) as u32, ooo_range_limit(env.cfg.rx_buffer, env.cfg.mss)) {
                AddOutcome::Held => {}
                AddOutcome::Evicted => env.stats.ooo_dropped += 1,
                AddOutcome::Refused => {
                    env.stats.ooo_dropped += 1;
                    self.ack_now = true;
                    return;
                }
            }
            if off > 0 {
                // RFC 5681 §4.2: an out-of-order segment triggers an immediate
                // duplicate ACK; RFC 2018 §4: its block goes first.
                self.loss.gen.note(data_seq);
                env.stats.ooo_segments += 1;
                self.ack_now = true;
                return;
            }
            self.ooo.take_front()
        };
        self.rx.enqueue_unqueued(adv as usize);
        self.rcv_nxt += adv;
        env.stats.bytes_in += u64::from(adv);
        self.rcv_space_adjust(now, env.cfg);
        self.notify_readable(env);
        if had_gap {
            // RFC 5681 §4.2: a segment that fills a gap is acknowledged at once.
            self.ack_now = true;
            return;
        }
        // RFC 9293 §3.8.6.3: ACK at least every second full-sized segment, and
        // within 0.5 s (we use `delayed_ack`, 40 ms by default) otherwise.
        self.unacked_bytes = self.unacked_bytes.saturating_add(adv);
        if self.unacked_bytes >= 2 * u32::from(self.neg.send_mss) {
            self.ack_now = true;
        } else if self.delack_at.is_none() {
            self.delack_at = Some(now + env.cfg.delayed_ack);
        }
    }

    /// Receive-buffer auto-tuning, as Linux's `tcp_rcv_space_adjust` (DRS): once
    /// per RTT, see how many bytes the application read during it (`copied`).
    /// Linux sizes the window `2 * copied + 16` segments; when that exceeds the
    /// buffer, the flow is limited by our window while the application keeps
    /// up, and the buffer (so the window we advertise) grows to that, at least
    /// doubling (Linux adds a term for a sender in slow start), up to
    /// [`TcpConfig::rx_buffer`]. A connection whose application reads slowly,
    /// or whose peer sends little, keeps [`TcpConfig::rx_buffer_initial`]; a
    /// steady flow settles within four times what it moves per RTT. The buffer
    /// never shrinks (the window never retracts, RFC 9293 §3.8.6).
    fn rcv_space_adjust(&mut self, now: Instant, cfg: &TcpConfig) {
        let cap = self.rx.capacity();
        if cap >= cfg.rx_buffer {
            return;
        }
        let now_ms = now.millis() as u32;
        let rtt_ms = self.rtt.srtt().map_or(100, |d| d.as_millis().clamp(1, 60_000) as u32);
        if now_ms.wrapping_sub(self.rcv_space_ms) < rtt_ms {
            return;
        }
        // Bytes the application read since the measurement began (the first
        // unread byte is RCV.NXT minus what is queued).
        let copied_seq = self.rcv_nxt - self.rx.len() as u32;
        let copied = copied_seq.since(self.rcv_space_seq) as usize;
        let want = 2 * copied + 16 * usize::from(self.neg.send_mss);
        // Only a flow that moved a good part of the buffer in an RTT (Linux
        // compares with the previous measurement, which starts at 10 segments).
        if copied * 4 > cap && want > cap {
            self.rx.set_capacity(want.max(2 * cap).min(cfg.rx_buffer));
        }
        self.rcv_space_seq = copied_seq;
        self.rcv_space_ms = now_ms;
    }

    /// The receive window to offer now: the free buffer as far as the pool can
    /// back it. Under the memory bound ([`TcpConfig::buffer_memory`]) the right
    /// edge already advertised may lie beyond what the pool can hold; it is then
    /// pulled back ("shrinking the window", which RFC 9293 §3.8.6 discourages
    /// but allows; RFC 7323 §2.4): data beyond is refused as out of window and
    /// the peer learns the smaller window at once, instead of sending into a
    /// window whose bytes would be dropped until it times out. Accepted data is
    /// never dropped.
    pub(crate) fn rx_window_room(&mut self, pool: &Pool) -> u32 {
        let room = self.rx.room(pool) as u32;
        if (room as usize) < self.rx.free() {
            let edge = self.rcv_nxt + room;
            if self.rwin.adv_edge > edge {
                self.rwin.adv_edge = edge;
            }
        }
        room
    }

    /// Consume the peer's FIN once all data before it arrived (RFC 9293 §3.10.7.4
    /// eighth step).
    pub(crate) fn take_fin(&mut self, now: Instant, env: &mut Env<'_>) {
        if self.fin_received {
            return;
        }
        let Some(f) = self.peer_fin else { return };
        if f != self.rcv_nxt {
            return;
        }
        self.fin_received = true;
        self.rcv_nxt += 1;
        self.ack_now = true;
        self.notify_readable(env);
        let fin_acked = self.fin_acked();
        let next = self.state.on_fin(fin_acked);
        if next != self.state {
            self.state = next;
            if next == State::TimeWait {
                self.enter_time_wait(now, env);
            }
        }
    }
}

impl SeqNum {
    /// `self - 1`, so that the first window update from a segment always applies.
    #[inline]
    pub(crate) fn sub_one(self) -> SeqNum {
        self - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The optional global cap: each one-second window allows between
    /// ceil(limit/2) and ceil(limit/2) + limit - 1 challenge ACKs, a different
    /// number from window to window, depending on the secret.
    #[test]
    fn global_challenge_cap_is_randomised() {
        let budgets = |secret: [u8; 16]| -> Vec<u32> {
            let mut cap = GlobalChallengeCap::default();
            (0..20u64)
                .map(|w| {
                    let now = Instant::from_millis(1000 + 1000 * w);
                    let mut n = 0;
                    while cap.allow(now, 100, &secret) {
                        n += 1;
                    }
                    n
                })
                .collect()
        };
        let a = budgets([1; 16]);
        assert!(a.iter().all(|&n| (50..150).contains(&n)), "{a:?}");
        assert!(a.windows(2).any(|w| w[0] != w[1]), "not randomised: {a:?}");
        assert_ne!(a, budgets([2; 16]));
        assert_eq!(a, budgets([1; 16]));
        let mut per_conn = ChallengeLimiter::default();
        let t = Instant::from_millis(5000);
        assert!(per_conn.allow(t, 2) && per_conn.allow(t, 2) && !per_conn.allow(t, 2));
        assert!(per_conn.allow(t + Duration::from_secs(1), 2));
    }
}

#[cfg(test)]
mod size_tests {
    /// The connection state stays small (issue 13: an idle established
    /// connection in at most 512 bytes with its share of the table). What
    /// matters only in flight is lent from a pool (`flight.rs`).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn connection_slot_is_small() {
        use core::mem::size_of;
        let slot = size_of::<super::super::table::Slot>();
        eprintln!("slot {slot} B, conn {} B, loss state inline {} B, flight {} B", size_of::<super::Conn>(), size_of::<super::LossState>(), size_of::<super::super::flight::Flight>());
        assert!(slot <= 488, "slot of {slot} bytes");
        assert!(size_of::<super::LossState>() <= 56);
    }
}
