//! Listeners (RFC 9293 §3.10.7.2): the SYN queue and the accept queue of each
//! listening port (seed 001's per-port listeners with a backlog), segments to
//! a listener or to no connection at all, and the RSTs that answer them.

use super::conn::AcceptMark;
use core::num::NonZeroU16;
use super::*;

#[derive(Debug)]
pub(super) struct Listener {
    /// Connections in SYN-RECEIVED (the SYN queue).
    pub(super) pending: usize,
    /// Connections established and not yet taken by the application (the
    /// accept queue).
    pub(super) queued: usize,
    /// Most connections in the accept queue.
    pub(super) backlog: usize,
    /// Until when ACKs to this listener are checked as SYN cookies (it sent one
    /// less than [`cookie::VALIDITY`] ago).
    pub(super) cookies_until: Option<Instant>,
}

impl Listener {
    pub(super) fn new(backlog: usize) -> Listener {
        Listener { pending: 0, queued: 0, backlog, cookies_until: None }
    }

    /// No room in the accept queue: new handshakes are not completed.
    pub(super) fn accept_full(&self) -> bool {
        self.queued >= self.backlog
    }
}

/// The queues of a listener, from [`Tcp::listener_queues`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerQueues {
    /// Handshakes in SYN-RECEIVED (at most [`TcpConfig::syn_backlog`]).
    pub syn_received: usize,
    /// Connections established and not yet taken by the application.
    pub accept_queue: usize,
    /// Most connections the accept queue holds.
    pub backlog: usize,
}

impl Tcp {
    /// Accept connections on `port` (on every local address), with the accept
    /// backlog of [`TcpConfig::accept_backlog`].
    pub fn listen(&mut self, port: u16) -> Result<(), ListenError> {
        self.listen_backlog(port, self.cfg.accept_backlog)
    }

    /// Accept connections on `port` with an accept backlog of `backlog` (at
    /// least 1): at most that many connections established on it and not yet
    /// taken by the application. A connection is taken when
    /// [`Tcp::poll_event`] hands out its `Accepted` event (unless the
    /// application puts it back with [`Tcp::hold_accepted`]). While the queue is
    /// full, new handshakes are not completed, as Linux does: SYNs are dropped
    /// and the final ACK of a handshake in SYN-RECEIVED is dropped (the
    /// connection stays in SYN-RECEIVED and retransmits its SYN-ACK; the client's
    /// next ACK completes it once there is room), each counted in
    /// [`TcpStats::accept_queue_full`].
    pub fn listen_backlog(&mut self, port: u16, backlog: usize) -> Result<(), ListenError> {
        if port == 0 {
            return Err(ListenError::InvalidPort);
        }
        if self.listeners.contains_key(&port) {
            return Err(ListenError::AlreadyListening);
        }
        self.listeners.insert(port, Listener::new(backlog.max(1)));
        Ok(())
    }

    /// The SYN and accept queues of the listener on `port`.
    pub fn listener_queues(&self, port: u16) -> Option<ListenerQueues> {
        self.listeners.get(&port).map(|l| ListenerQueues { syn_received: l.pending, accept_queue: l.queued, backlog: l.backlog })
    }

    /// The application received `Accepted` for `conn` but keeps the connection
    /// waiting in a queue of its own (an async listener's, until `accept()`):
    /// it counts against its listener's accept backlog again until
    /// [`Tcp::take_accepted`] or its end. Returns `false` for a stale handle, an
    /// active open, or a connection already counted.
    pub fn hold_accepted(&mut self, conn: ConnId) -> bool {
        let Some(slot) = self.slots.get_mut(conn.index as usize) else { return false };
        if slot.generation != conn.generation {
            return false;
        }
        let Some(c) = slot.conn.as_mut().filter(|c| c.announced) else { return false };
        let Some(port) = c.listener_port.map(NonZeroU16::get) else { return false };
        if c.accept != AcceptMark::Out {
            return false;
        }
        c.accept = AcceptMark::In;
        if let Some(l) = self.listeners.get_mut(&port) {
            l.queued += 1;
        }
        true
    }

    /// The application took `conn` (held with [`Tcp::hold_accepted`]): it no
    /// longer counts against the accept backlog. Returns whether it did.
    pub fn take_accepted(&mut self, conn: ConnId) -> bool {
        let Some(slot) = self.slots.get_mut(conn.index as usize) else { return false };
        if slot.generation != conn.generation {
            return false;
        }
        let Some(c) = slot.conn.as_mut() else { return false };
        if c.accept != AcceptMark::In {
            return false;
        }
        c.accept = AcceptMark::Out;
        if let Some(l) = c.listener_port.and_then(|p| self.listeners.get_mut(&p.get())) {
            l.queued = l.queued.saturating_sub(1);
        }
        true
    }

    /// Stop accepting on `port`. Existing connections (and handshakes in progress)
    /// are not affected.
    pub fn unlisten(&mut self, port: u16) {
        if self.listeners.remove(&port).is_none() {
            return;
        }
        // Its connections no longer count in any queue (a later listener on the
        // port starts empty). Walks the slots: unlisten is rare.
        for idx in 0..self.slots.len() {
            if let Some(c) = self.slots[idx].conn.as_mut().filter(|c| c.listener_port.map(NonZeroU16::get) == Some(port)) {
                c.in_backlog = false;
                c.accept = AcceptMark::Out;
            }
        }
    }

    /// Is there a listener on `port`?
    pub fn is_listening(&self, port: u16) -> bool {
        self.listeners.contains_key(&port)
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection and no listener gets a RST
    /// (unless it is one), within the rate limit.
    pub(super) fn closed_input(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, repr: &TcpRepr<'_>, out: &mut impl SegmentSink) {
        if repr.flags.contains(TcpFlags::RST) {
            self.stats.ignored += 1;
            return;
        }
        if self.reset_reply(now, local, remote, repr, out) {
            self.stats.no_listener_rst += 1;
        }
    }

    /// The RST answering `repr`: `<SEQ=SEG.ACK><CTL=RST>` if it has ACK, else
    /// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>` (RFC 9293 §3.10.7.1), unless
    /// the rate limit ([`TcpConfig::reset_rate`]) holds it back. Returns whether it
    /// was sent.
    pub(super) fn reset_reply(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, repr: &TcpRepr<'_>, out: &mut impl SegmentSink) -> bool {
        if !self.reset_limit.allow(now) {
            self.stats.rst_rate_limited += 1;
            return false;
        }
        let (seq, ack) = if repr.flags.contains(TcpFlags::ACK) {
            (repr.ack, None)
        } else {
            let len = repr.payload.len() as u32 + u32::from(repr.flags.contains(TcpFlags::SYN)) + u32::from(repr.flags.contains(TcpFlags::FIN));
            (0, Some(repr.seq.wrapping_add(len)))
        };
        output::emit_reset(&mut self.stats, out, local, remote, seq, ack);
        true
    }

    /// RFC 9293 §3.10.7.2: a segment to a listener. `iss`: the initial
    /// sequence number a SYN that recycled a TIME-WAIT must take (else the
    /// RFC 6528 clock's).
    pub(super) fn listen_input(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, repr: &TcpRepr<'_>, iss: Option<SeqNum>, out: &mut impl SegmentSink) {
        let f = repr.flags;
        if f.contains(TcpFlags::RST) {
            self.stats.ignored += 1;
            return;
        }
        let port = repr.dst_port;
        if f.contains(TcpFlags::ACK) {
            if !f.contains(TcpFlags::SYN) && self.cookies_recent(port, now) {
                // RFC 4987 §3.6: the third segment of a handshake answered by a
                // SYN cookie.
                match self.cookie_ack(now, local, remote, repr, out) {
                    cookie::CookieAck::Established | cookie::CookieAck::Dropped => return,
                    cookie::CookieAck::Invalid => {
                        // Not ours (forged, or older than the cookie's lifetime):
                        // an ACK to a listener, answered below.
                        self.stats.cookies_failed += 1;
                        self.reset_reply(now, local, remote, repr, out);
                        return;
                    }
                }
            }
            // An ACK to a listener (RFC 9293 §3.10.7.2): <SEQ=SEG.ACK><CTL=RST>.
            self.stats.ack_to_listener += 1;
            self.reset_reply(now, local, remote, repr, out);
            return;
        }
        if !f.contains(TcpFlags::SYN) {
            self.stats.ignored += 1;
            return;
        }
        if f.contains(TcpFlags::FIN) {
            // SYN+FIN is no valid opening (a scanner's probe): dropped unanswered,
            // as Linux does (`tcp_rcv_state_process`, LISTEN: "if (th->fin) goto
            // discard"), where RFC 9293 would open the connection and take the FIN.
            self.stats.syn_fin_dropped += 1;
            return;
        }
        let Some(l) = self.listeners.get(&port) else { return };
        if l.accept_full() {
            // No room to complete handshakes: leave the SYN unanswered (Linux).
            self.stats.accept_queue_full += 1;
            return;
        }
        if l.pending >= self.cfg.syn_backlog {
            if self.cfg.syn_cookies {
                self.send_cookie(now, local, remote, repr, out);
            } else {
                self.stats.syn_queue_full += 1;
            }
            return;
        }
        let offer = self.offer(&remote).answer(&repr.options);
        let iss = iss.unwrap_or_else(|| self.isn(&local, &remote, now));
        // A SYN finding no slot or no memory is dropped unanswered (counted in
        // `alloc`): the client's retransmission may find room.
        let Ok(idx) = self.alloc(local, remote, iss, State::SynReceived, offer) else { return };
        if let Some(l) = self.listeners.get_mut(&port) {
            l.pending += 1;
        }
        self.stats.passive_opens += 1;
        let mut env = env!(self);
        let conn = self.slots[idx as usize].conn.as_mut().expect("just allocated");
        conn.listener_port = NonZeroU16::new(port);
        conn.in_backlog = true;
        conn.apply_peer_syn(repr, now, out.path_mtu(remote.ip()));
        // RFC 5482 §3.1: the client's UTO in its SYN (a SYN answered with a
        // cookie is not remembered, nor is its UTO).
        if let Some(u) = repr.options.user_timeout {
            if conn.on_remote_uto(u, env.cfg) {
                env.stats.uto_adopted += 1;
            }
        }
        // The SYN's window is never scaled (RFC 7323 §2.2).
        conn.snd_wnd = u32::from(repr.window);
        conn.max_snd_wnd = conn.snd_wnd;
        conn.snd_wl1 = SeqNum(repr.seq);
        // Data on the SYN is not queued; the peer retransmits it after the handshake.
        conn.send_syn(now, &mut env, out);
        self.after(idx, Outcome::Keep);
    }
}
