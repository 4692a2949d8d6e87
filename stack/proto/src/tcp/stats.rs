//! TCP counters: traffic, and every drop by its reason.

/// Counters of one [`super::Tcp`]. Plain `u64` fields, only ever incremented.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments handed to `handle_segment`.
    pub segments_in: u64,
    /// Segments taken by header prediction ([`super::TcpConfig::header_prediction`]):
    /// in order on an ESTABLISHED connection with no loss recovery running.
    pub predicted: u64,
    /// Segments passed to the sink (including RSTs).
    pub segments_out: u64,
    /// Segments the sink refused (no transmit buffer); retransmission recovers them.
    pub send_failed: u64,
    /// Data bytes received in order.
    pub bytes_in: u64,
    /// Data bytes sent (first transmissions and retransmissions).
    pub bytes_out: u64,
    /// Active opens (connect).
    pub active_opens: u64,
    /// Passive opens (SYN to a listener accepted into the backlog).
    pub passive_opens: u64,
    /// Connections that reached ESTABLISHED.
    pub established: u64,
    /// RSTs sent (any reason).
    pub rst_sent: u64,
    /// RSTs received that reset a connection.
    pub rst_received: u64,
    /// RSTs sent because no listener or connection matched (RFC 9293 §3.10.7.1);
    /// those suppressed by the rate limit are in `rst_rate_limited`.
    pub no_listener_rst: u64,
    /// Segments dropped as not acceptable (RFC 9293 §3.10.7.4 first check).
    pub out_of_window: u64,
    /// Segments dropped for an unacceptable ACK (too old per RFC 5961 §5.2, or a bad
    /// ACK of our SYN).
    pub bad_ack: u64,
    /// ACKs (without SYN) to a listener with no connection: answered with RST
    /// (RFC 9293 §3.10.7.2), e.g. a peer's ACK of a retransmitted FIN that
    /// arrived after the connection was freed.
    pub ack_to_listener: u64,
    /// Segments dropped because they acknowledge data never sent.
    pub ack_unsent: u64,
    /// SYN+FIN segments to a listener, dropped unanswered (as Linux).
    pub syn_fin_dropped: u64,
    /// Answers to unacceptable segments (out of window, ACK of unsent data)
    /// not sent: at most one per 200 ms per connection (Linux's
    /// `tcp_invalid_ratelimit`).
    pub oow_acks_limited: u64,
    /// Segments dropped because they lack the ACK bit in a synchronized state.
    pub no_ack: u64,
    /// SYNs dropped because the listener's SYN backlog was full and SYN cookies
    /// are off ([`super::TcpConfig::syn_cookies`]).
    pub syn_queue_full: u64,
    /// SYNs dropped (not answered: the client's retransmission may find a free
    /// slot) or connects refused because every connection slot was taken.
    pub conn_table_full: u64,
    /// SYNs dropped unanswered (or connects refused) because the buffer memory
    /// bound ([`super::TcpConfig::buffer_memory`]) was nearly reached.
    pub conn_no_memory: u64,
    /// In-window data bytes dropped (not acknowledged; the peer sends them
    /// again) because the buffer memory bound was reached.
    pub rx_no_memory: u64,
    /// Segments dropped by PAWS (RFC 7323 §5.3 R1).
    pub paws_rejected: u64,
    /// ACKs owed to PAWS-rejected segments and held back by the 200 ms rate
    /// limit (the segments are in `paws_rejected`).
    pub paws_acks_limited: u64,
    /// Segments that failed the PAWS test against a TS.Recent idle for more
    /// than 24 days, hence invalid (RFC 7323 §5.5): accepted, TS.Recent reset.
    pub ts_recent_expired: u64,
    /// Non-RST segments without a timestamp on a connection that negotiated
    /// timestamps, dropped silently (RFC 7323 §3.2).
    pub ts_missing: u64,
    /// Challenge ACKs sent (RFC 5961 §3, §4).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// Segments dropped for a bad address or port (port 0, non-unicast source).
    pub bad_address: u64,
    /// Segments ignored for other reasons (no SYN in LISTEN, ...).
    pub ignored: u64,
    /// Segments retransmitted (any reason).
    pub retransmits: u64,
    /// Fast retransmits (three duplicate ACKs, or NewReno partial ACKs).
    pub fast_retransmits: u64,
    /// Retransmission timer expirations.
    pub rto_expired: u64,
    /// Connections that gave up (Closed{Timeout}).
    pub timeouts: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// Segments received out of order (kept in the assembler).
    pub ooo_segments: u64,
    /// Out-of-order segments refused, or out-of-order ranges forgotten to make room
    /// for nearer data, because the assembler held its most ranges
    /// ([`super::buffer::ooo_range_limit`]).
    pub ooo_dropped: u64,
    /// Data bytes dropped because they did not fit in the receive buffer.
    pub rx_overflow: u64,
    /// Pure ACKs sent.
    pub acks_sent: u64,
    /// ACKs sent because the delayed-ACK timer fired.
    pub delayed_acks: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// TIME-WAIT connections replaced by a new SYN.
    pub time_wait_recycled: u64,
    /// TIME-WAIT connections taken over by an active open (`TcpConfig::time_wait_reuse`).
    pub time_wait_reused: u64,
    /// Connections ended by the FIN-WAIT-2 orphan timeout (`TcpConfig::fin_timeout`).
    pub fin_wait2_timeouts: u64,
    /// Keepalive probes sent (RFC 1122 §4.2.3.6).
    pub keepalive_probes: u64,
    /// Connections ended because keepalive probes went unanswered.
    pub keepalive_timeouts: u64,
    /// Connections aborted because sent data stayed unacknowledged longer than
    /// their user timeout (RFC 9293 §3.10.8; also counted in `timeouts`).
    pub user_timeouts: u64,
    /// User Timeout Options of the peer adopted as the connection's user
    /// timeout (RFC 5482 §3.1; `TcpConfig::uto_changeable`).
    pub uto_adopted: u64,
    /// RSTs ignored in TIME-WAIT (RFC 1337 §3 fix F1).
    pub time_wait_rst_ignored: u64,
    /// RSTs not sent to segments for no connection (closed port, ACK to a
    /// listener) because of the rate limit (`TcpConfig::reset_rate`).
    pub rst_rate_limited: u64,
    /// SYN-ACKs sent with a SYN cookie (RFC 4987 §3.6) because the listener's SYN
    /// queue was full.
    pub cookies_sent: u64,
    /// ACKs whose cookie was valid: connections created from a cookie.
    pub cookies_validated: u64,
    /// ACKs to a listener that had sent cookies whose cookie was not valid
    /// (forged, or older than its lifetime), answered by a (rate-limited) RST.
    pub cookies_failed: u64,
    /// SYNs and handshake-completing ACKs dropped because the listener's accept
    /// queue was full (Linux's `ListenOverflows`).
    pub accept_queue_full: u64,
    /// SACK blocks sent in our ACKs (RFC 2018).
    pub sack_blocks_sent: u64,
    /// SACK blocks received (SACK negotiated).
    pub sack_blocks_received: u64,
    /// Received SACK blocks ignored as invalid: outside SND.UNA..SND.MAX,
    /// empty or inverted.
    pub sack_invalid: u64,
    /// D-SACK blocks received (RFC 2883).
    pub dsack_received: u64,
    /// Fast recoveries entered (RFC 6675 §5, by SACK, RACK or duplicate ACKs).
    pub recoveries: u64,
    /// ACKs or reordering timeouts on which RACK marked segments lost (RFC 8985).
    pub rack_marked_lost: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tlp_probes: u64,
    /// Congestion windows restarted after idle (RFC 5681 §4.1).
    pub cwnd_restarts: u64,
    /// Retransmission timeouts that found SACKed data dropped by the peer
    /// (RFC 2018 §8): the scoreboard was cleared.
    pub sack_reneged: u64,
    /// Recoveries found spurious by timestamps (Eifel, RFC 3522) and undone.
    pub spurious_recoveries: u64,
    /// ICMP errors quoting a connection we do not have (RFC 5927 §4.1).
    pub icmp_no_connection: u64,
    /// ICMP errors quoting a sequence number not in flight (RFC 5927 §4.1).
    pub icmp_out_of_window: u64,
    /// Connections whose MSS a lower path MTU cut (RFC 1191 §6.4, RFC 8201).
    pub pmtu_mss_lowered: u64,
    /// Times segments longer than a new path MTU were resent at once.
    pub pmtu_retransmits: u64,
    /// Valid destination unreachable errors about a connection.
    pub icmp_soft_errors: u64,
    /// Connection attempts ended by a destination unreachable (RFC 5461).
    pub icmp_aborts: u64,
    /// Flights sent without loss-recovery state because every one was lent
    /// ([`super::TcpConfig::flight_states`]): recovered by the RTO alone.
    pub flight_state_exhausted: u64,
}

impl TcpStats {
    /// The counters (names as in [`TcpStats::fields`]) that count segments dropped,
    /// or answers not sent, by reason: `xdpstack stats` lists them among the drops
    /// (prefixed `tcp_`).
    pub const DROPS: &'static [&'static str] = &[
        "bad_address",
        "out_of_window",
        "bad_ack",
        "ack_to_listener",
        "ack_unsent",
        "syn_fin_dropped",
        "no_ack",
        "syn_queue_full",
        "conn_table_full",
        "conn_no_memory",
        "paws_rejected",
        "ts_missing",
        "ignored",
        "ooo_dropped",
        "rst_rate_limited",
        "time_wait_rst_ignored",
        "cookies_failed",
        "accept_queue_full",
        "sack_invalid",
        "icmp_no_connection",
        "icmp_out_of_window",
    ];

    /// Number of counters in [`TcpStats::fields`].
    pub const COUNT: usize = 72;
    /// Every counter with its stable snake_case name (as `xdpstack stats` prints
    /// them, prefixed `tcp_`).
    pub fn fields(&self) -> [(&'static str, u64); Self::COUNT] {
        [
            ("segments_in", self.segments_in),
            ("predicted", self.predicted),
            ("segments_out", self.segments_out),
            ("send_failed", self.send_failed),
            ("bytes_in", self.bytes_in),
            ("bytes_out", self.bytes_out),
            ("active_opens", self.active_opens),
            ("passive_opens", self.passive_opens),
            ("established", self.established),
            ("rst_sent", self.rst_sent),
            ("rst_received", self.rst_received),
            ("no_listener_rst", self.no_listener_rst),
            ("out_of_window", self.out_of_window),
            ("bad_ack", self.bad_ack),
            ("ack_to_listener", self.ack_to_listener),
            ("ack_unsent", self.ack_unsent),
            ("syn_fin_dropped", self.syn_fin_dropped),
            ("oow_acks_limited", self.oow_acks_limited),
            ("no_ack", self.no_ack),
            ("syn_queue_full", self.syn_queue_full),
            ("conn_table_full", self.conn_table_full),
            ("conn_no_memory", self.conn_no_memory),
            ("rx_no_memory", self.rx_no_memory),
            ("paws_rejected", self.paws_rejected),
            ("paws_acks_limited", self.paws_acks_limited),
            ("ts_recent_expired", self.ts_recent_expired),
            ("ts_missing", self.ts_missing),
            ("challenge_acks", self.challenge_acks),
            ("challenge_acks_limited", self.challenge_acks_limited),
            ("bad_address", self.bad_address),
            ("ignored", self.ignored),
            ("retransmits", self.retransmits),
            ("fast_retransmits", self.fast_retransmits),
            ("rto_expired", self.rto_expired),
            ("timeouts", self.timeouts),
            ("dup_acks", self.dup_acks),
            ("ooo_segments", self.ooo_segments),
            ("ooo_dropped", self.ooo_dropped),
            ("rx_overflow", self.rx_overflow),
            ("acks_sent", self.acks_sent),
            ("delayed_acks", self.delayed_acks),
            ("window_probes", self.window_probes),
            ("time_wait_recycled", self.time_wait_recycled),
            ("time_wait_reused", self.time_wait_reused),
            ("fin_wait2_timeouts", self.fin_wait2_timeouts),
            ("keepalive_probes", self.keepalive_probes),
            ("keepalive_timeouts", self.keepalive_timeouts),
            ("user_timeouts", self.user_timeouts),
            ("uto_adopted", self.uto_adopted),
            ("time_wait_rst_ignored", self.time_wait_rst_ignored),
            ("rst_rate_limited", self.rst_rate_limited),
            ("cookies_sent", self.cookies_sent),
            ("cookies_validated", self.cookies_validated),
            ("cookies_failed", self.cookies_failed),
            ("accept_queue_full", self.accept_queue_full),
            ("sack_blocks_sent", self.sack_blocks_sent),
            ("sack_blocks_received", self.sack_blocks_received),
            ("sack_invalid", self.sack_invalid),
            ("dsack_received", self.dsack_received),
            ("recoveries", self.recoveries),
            ("rack_marked_lost", self.rack_marked_lost),
            ("tlp_probes", self.tlp_probes),
            ("cwnd_restarts", self.cwnd_restarts),
            ("sack_reneged", self.sack_reneged),
            ("spurious_recoveries", self.spurious_recoveries),
            ("icmp_no_connection", self.icmp_no_connection),
            ("icmp_out_of_window", self.icmp_out_of_window),
            ("pmtu_mss_lowered", self.pmtu_mss_lowered),
            ("pmtu_retransmits", self.pmtu_retransmits),
            ("icmp_soft_errors", self.icmp_soft_errors),
            ("icmp_aborts", self.icmp_aborts),
            ("flight_state_exhausted", self.flight_state_exhausted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_names_are_counters() {
        let names = TcpStats::default().fields().map(|(n, _)| n);
        for d in TcpStats::DROPS {
            assert!(names.contains(d), "{d}");
        }
    }
}
