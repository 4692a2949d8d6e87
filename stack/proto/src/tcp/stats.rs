//! TCP counters: traffic, and every drop by its reason.

/// Counters of one [`super::Tcp`]. Plain `u64` fields, only ever incremented.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments handed to `handle_segment`.
    pub segments_in: u64,
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
    /// RSTs sent because no listener or connection matched (RFC 9293 §3.10.7.1).
    pub no_listener_rst: u64,
    /// Segments dropped as not acceptable (RFC 9293 §3.10.7.4 first check).
    pub out_of_window: u64,
    /// Segments dropped for an unacceptable ACK (too old per RFC 5961 §5.2, or a bad
    /// ACK of our SYN).
    pub bad_ack: u64,
    /// Segments dropped because they acknowledge data never sent.
    pub ack_unsent: u64,
    /// Segments dropped because they lack the ACK bit in a synchronized state.
    pub no_ack: u64,
    /// SYNs dropped because the listener's SYN backlog was full.
    pub syn_queue_full: u64,
    /// SYNs or connects refused because every connection slot was taken.
    pub conn_table_full: u64,
    /// Segments dropped by PAWS (RFC 7323 §5).
    pub paws_rejected: u64,
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
    /// Out-of-order segments dropped because the assembler was full.
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
}
