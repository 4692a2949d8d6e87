//! ICMP errors about our connections (RFC 5927, RFC 1122 §4.2.3.9, RFC 1191,
//! RFC 8201): the interface parses the error and its quoted headers, then asks
//! TCP whether the quote names a live connection and a sequence number we sent
//! (RFC 5927 §4.1) before anything is acted upon: a lower path MTU shrinks the
//! MSS and resends what the router dropped; a destination unreachable aborts a
//! connection attempt (RFC 5461) and is otherwise remembered as a soft error.

use super::congestion::CongestionControl;
use super::conn::Outcome;
use super::seq::SeqNum;
use super::state::State;
use super::{CloseReason, SegmentSink, Tcp};
use crate::time::Instant;
use core::net::SocketAddr;

/// The kind of a destination unreachable (ICMPv4 type 3, ICMPv6 type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// No route to the network or the host (v4 codes 0, 1, 6, 7; v6 codes 0, 3).
    Host,
    /// The host does not speak TCP (v4 code 2).
    Protocol,
    /// Nothing listens on the port (v4 code 3, v6 code 4).
    Port,
    /// A firewall refused the packet (v4 codes 9, 10, 13; v6 codes 1, 5, 6).
    Prohibited,
}

impl Unreachable {
    /// The kind of an ICMPv4 destination unreachable code (RFC 792, RFC 1122
    /// §3.2.2.1, RFC 1812 §5.2.7.1); `None` for fragmentation needed (code 4,
    /// path MTU discovery), source route failed and unknown codes.
    pub fn from_v4_code(code: u8) -> Option<Unreachable> {
        match code {
            0 | 1 | 6 | 7 | 11 | 12 => Some(Unreachable::Host),
            2 => Some(Unreachable::Protocol),
            3 => Some(Unreachable::Port),
            9 | 10 | 13 => Some(Unreachable::Prohibited),
            _ => None,
        }
    }

    /// The kind of an ICMPv6 destination unreachable code (RFC 4443 §3.1).
    pub fn from_v6_code(code: u8) -> Option<Unreachable> {
        match code {
            0 | 2 | 3 => Some(Unreachable::Host),
            4 => Some(Unreachable::Port),
            1 | 5 | 6 => Some(Unreachable::Prohibited),
            _ => None,
        }
    }
}

impl core::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Unreachable::Host => "no route to host (ICMP destination unreachable)",
            Unreachable::Protocol => "protocol unreachable (ICMP)",
            Unreachable::Port => "port unreachable (ICMP)",
            Unreachable::Prohibited => "administratively prohibited (ICMP)",
        })
    }
}

/// What TCP made of an ICMP error's quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpCheck {
    /// A live connection and a sequence number in flight: act on it.
    Valid,
    /// No connection has the quoted addresses and ports.
    NoConnection,
    /// The quoted sequence number is not one we have in flight (RFC 5927 §4.1:
    /// "SND.UNA <= SEG.SEQ < SND.NXT"); likely forged or stale.
    OutOfWindow,
}

impl Tcp {
    /// RFC 5927 §4.1: is the quoted segment (`local` → `remote`, sequence
    /// number `seq`) one of ours that is still unacknowledged? Counted.
    pub fn check_icmp_quote(&mut self, local: SocketAddr, remote: SocketAddr, seq: u32) -> IcmpCheck {
        let Some(idx) = self.map.get(&self.slots, &super::FourTuple { local, remote }) else {
            self.stats.icmp_no_connection += 1;
            return IcmpCheck::NoConnection;
        };
        let c = self.slots[idx as usize].conn.as_ref().expect("mapped slot holds a connection");
        let seq = SeqNum(seq);
        // A SYN in flight: SND.UNA = ISS, SND.MAX = ISS + 1.
        let ok = matches!(c.state, State::SynSent | State::SynReceived) && seq == c.iss || (seq >= c.snd_una && seq < c.snd_max);
        if ok {
            IcmpCheck::Valid
        } else {
            self.stats.icmp_out_of_window += 1;
            IcmpCheck::OutOfWindow
        }
    }

    /// The path to `remote` takes packets of at most `path_mtu` bytes (RFC 1191
    /// §6.4, RFC 8201 §5.4), for a quote [`Tcp::check_icmp_quote`] found valid.
    /// If our segments are larger, the MSS drops to fit and every segment in
    /// flight that is longer is resent at once in pieces that fit, without
    /// touching the congestion window (the router dropped it: no congestion).
    /// Returns whether the MSS was lowered.
    pub fn path_mtu_lowered(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, path_mtu: usize, out: &mut impl SegmentSink) -> bool {
        let Some(idx) = self.map.get(&self.slots, &super::FourTuple { local, remote }) else { return false };
        let mut env = env!(self);
        let c = self.slots[idx as usize].conn.as_mut().expect("mapped slot holds a connection");
        let Some(mss) = clamped_mss(c.neg.send_mss, path_mtu, remote.is_ipv6(), c.ts.is_some()) else { return false };
        c.neg.send_mss = mss;
        c.cc.set_mss(u32::from(mss));
        env.stats.pmtu_mss_lowered += 1;
        if !c.state.is_synchronized() || c.snd_una == c.snd_max {
            return true;
        }
        let resend = match c.loss.fl.as_deref_mut() {
            Some(f) => {
                let marked = f.log.mark_longer_lost(u32::from(mss)) > 0;
                f.force_first |= marked;
                marked
            }
            // A flight without loss-recovery state (the pool was exhausted):
            // go back to SND.UNA, as its retransmission timer would.
            None => {
                c.snd_nxt = c.snd_una;
                true
            }
        };
        if resend {
            env.stats.pmtu_retransmits += 1;
            c.transmit(now, &mut env, out);
        }
        true
    }

    /// A destination unreachable about a valid quote (RFC 1122 §4.2.3.9, RFC
    /// 5461): a connection still opening is aborted and reports `kind` (what
    /// Linux and the BSDs do, RFC 5461 §4); an established one keeps going —
    /// hard errors there are treated as soft (RFC 5927 §5.2) — and reports
    /// `kind` only if it later times out.
    pub fn destination_unreachable(&mut self, local: SocketAddr, remote: SocketAddr, kind: Unreachable) {
        let Some(idx) = self.map.get(&self.slots, &super::FourTuple { local, remote }) else { return };
        let c = self.slots[idx as usize].conn.as_mut().expect("mapped slot holds a connection");
        c.soft_error = Some(kind);
        self.stats.icmp_soft_errors += 1;
        if c.state == State::SynSent {
            self.stats.icmp_aborts += 1;
            self.after(idx, Outcome::Free(CloseReason::Unreachable(kind)));
        }
    }
}

/// The MSS that makes our segments to a path of `path_mtu` bytes fit: the path
/// MTU less the IP header, the TCP header and, with timestamps, their option
/// (`send_mss` already excludes it). `None` if `send_mss` already fits.
pub(crate) fn clamped_mss(send_mss: u16, path_mtu: usize, v6: bool, timestamps: bool) -> Option<u16> {
    let ip = if v6 { wire::ipv6::HEADER_LEN } else { wire::ipv4::HEADER_LEN };
    let ts = if timestamps { usize::from(super::options::TS_OPTION_LEN) } else { 0 };
    let fit = path_mtu.saturating_sub(ip + 20 + ts).clamp(64, usize::from(u16::MAX)) as u16;
    (fit < send_mss).then_some(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mss_for_a_path() {
        assert_eq!(clamped_mss(1460, 1300, false, false), Some(1260));
        assert_eq!(clamped_mss(1448, 1300, false, true), Some(1248));
        assert_eq!(clamped_mss(1428, 1280, true, true), Some(1208));
        assert_eq!(clamped_mss(1200, 1300, false, false), None, "already fits");
        assert_eq!(clamped_mss(1460, 1500, false, false), None);
    }

    #[test]
    fn codes() {
        assert_eq!(Unreachable::from_v4_code(3), Some(Unreachable::Port));
        assert_eq!(Unreachable::from_v4_code(4), None, "frag needed is path MTU discovery");
        assert_eq!(Unreachable::from_v4_code(13), Some(Unreachable::Prohibited));
        assert_eq!(Unreachable::from_v6_code(4), Some(Unreachable::Port));
        assert_eq!(Unreachable::from_v6_code(3), Some(Unreachable::Host));
    }
}
