//! Connection states (RFC 9293 §3.3.2) and the questions the TCB asks about them.

use core::fmt;

/// The RFC 9293 §3.3.2 connection states. `Listen` belongs to listeners, never to a
/// connection handle; `Closed` is reported for a connection whose protocol exchange
/// is over but whose unread data is still waiting for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a SYN (listeners only).
    Listen,
    /// Our SYN sent, waiting for the SYN-ACK.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for the ACK.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed (FIN sent), waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN was acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting for old segments to die out.
    TimeWait,
}

impl State {
    /// The states after the three-way handshake (RFC 9293 §3.10.7.4 "synchronized").
    #[inline]
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent | State::SynReceived)
    }
    /// States in which data from the peer is still accepted (RFC 9293 §3.10.7.4
    /// seventh step).
    #[inline]
    pub fn can_receive_data(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }
    /// States in which the application may still queue data.
    #[inline]
    pub fn can_queue_data(self) -> bool {
        matches!(self, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
    }
    /// States in which our FIN has been queued (after close()).
    #[inline]
    pub fn fin_queued(self) -> bool {
        matches!(self, State::FinWait1 | State::FinWait2 | State::Closing | State::LastAck | State::TimeWait)
    }
    /// States in which the peer's FIN has been received.
    #[inline]
    pub fn fin_received(self) -> bool {
        matches!(self, State::CloseWait | State::Closing | State::LastAck | State::TimeWait)
    }
    /// The state after the application calls close() (RFC 9293 §3.10.4), or `None`
    /// if close() changes no state here.
    pub fn on_close(self) -> Option<State> {
        match self {
            State::Established => Some(State::FinWait1),
            State::CloseWait => Some(State::LastAck),
            _ => None,
        }
    }
    /// The state after the peer's FIN is accepted (RFC 9293 §3.10.7.4 eighth step);
    /// `our_fin_acked` tells FIN-WAIT-1 whether our FIN was acknowledged too.
    pub fn on_fin(self, our_fin_acked: bool) -> State {
        match self {
            State::SynReceived | State::Established => State::CloseWait,
            State::FinWait1 if our_fin_acked => State::TimeWait,
            State::FinWait1 => State::Closing,
            State::FinWait2 => State::TimeWait,
            s => s,
        }
    }
    /// The state after our FIN is acknowledged (RFC 9293 §3.10.7.4 fifth step).
    pub fn on_fin_acked(self) -> State {
        match self {
            State::FinWait1 => State::FinWait2,
            State::Closing => State::TimeWait,
            State::LastAck => State::Closed,
            s => s,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_paths() {
        // Active close: ESTABLISHED -> FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT.
        let s = State::Established.on_close().unwrap();
        assert_eq!(s, State::FinWait1);
        let s = s.on_fin_acked();
        assert_eq!(s, State::FinWait2);
        assert_eq!(s.on_fin(true), State::TimeWait);
        // Simultaneous close: FIN-WAIT-1 -> CLOSING -> TIME-WAIT.
        let s = State::FinWait1.on_fin(false);
        assert_eq!(s, State::Closing);
        assert_eq!(s.on_fin_acked(), State::TimeWait);
        // Passive close: ESTABLISHED -> CLOSE-WAIT -> LAST-ACK -> CLOSED.
        let s = State::Established.on_fin(false);
        assert_eq!(s, State::CloseWait);
        let s = s.on_close().unwrap();
        assert_eq!(s, State::LastAck);
        assert_eq!(s.on_fin_acked(), State::Closed);
        assert!(State::TimeWait.fin_received() && State::TimeWait.fin_queued());
        assert!(!State::SynReceived.is_synchronized());
    }
}
