//! ICMPv4 answers (RFC 792, RFC 1122 §3.2.2): echo replies, destination
//! unreachable for UDP ports and IP protocols nobody serves, and time exceeded
//! for datagrams whose reassembly timed out (sent by the interface).

use crate::icmp_err::{quoted_v4, report_v4, Quoted, Report};
use crate::out::IpOut;
use crate::stats::DropReason;
use wire::ethernet::EthernetAddress;
use wire::icmpv4::{Icmpv4Repr, Packet as IcmpPacket};
use wire::ip::protocol;
use wire::ipv4::Ipv4Repr;
use wire::{ChecksumMode, Error};

/// Handle an ICMPv4 message addressed to us; answer echo requests. An error
/// about a packet of ours comes back, with what it quotes, for the interface
/// to act on ([`crate::icmp_err`]).
pub(crate) fn handle_icmpv4<'a>(ip: &Ipv4Repr, body: &'a [u8], src_mac: EthernetAddress, out: &mut IpOut<'_>) -> Option<(Report, Quoted<'a>)> {
    let Ok(view) = IcmpPacket::new_checked(body) else {
        out.stats.drop(DropReason::IcmpMalformed);
        return None;
    };
    let drop = |out: &mut IpOut<'_>, r| {
        out.stats.drop(r);
        None
    };
    let repr = match Icmpv4Repr::parse(&view, ChecksumMode::Full) {
        Ok(r) => r,
        Err(Error::BadChecksum) => return drop(out, DropReason::IcmpBadChecksum),
        Err(Error::Unsupported) => return drop(out, DropReason::IcmpIgnored),
        Err(_) => return drop(out, DropReason::IcmpMalformed),
    };
    match repr {
        // RFC 792 "Echo or Echo Reply Message"; RFC 1122 §3.2.2.6: the reply carries
        // the same identifier, sequence number and data; its source is the address
        // the request was sent to.
        Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
            let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
            let len = reply.buffer_len();
            // Answer the link-layer sender directly: the request proves it on-link.
            // A reply larger than the MTU (to a fragmented request) leaves in
            // fragments (RFC 791 §3.2).
            if out.send_datagram(ip.dst, ip.src, protocol::ICMP, len, Some(src_mac), &mut |buf| {
                reply.emit(&mut IcmpPacket::new_unchecked(&mut buf[..len]), ChecksumMode::Full);
            }) {
                out.stats.icmp_echo_replies += 1;
            }
        }
        Icmpv4Repr::EchoReply { ident, seq_no, data } => {
            if !out.echo.deliver(core::net::IpAddr::V4(ip.src), ip.ttl, ident, seq_no, data) {
                out.stats.drop(DropReason::IcmpIgnored);
            }
        }
        // RFC 1122 §3.2.2.1: destination unreachable goes to the transport
        // layer; RFC 1191 §4: code 4 carries the next-hop MTU.
        Icmpv4Repr::DstUnreachable { code, next_hop_mtu, quote } => match quoted_v4(&quote) {
            Some(q) => return Some((report_v4(code, next_hop_mtu, q.total_len), q)),
            None => {
                out.stats.icmp_errors_in += 1;
                out.stats.drop(DropReason::IcmpErrorMalformed);
            }
        },
        // RFC 1122 §3.2.2.4: time exceeded is passed up; TCP has no use for it
        // (RFC 5927 §5).
        Icmpv4Repr::TimeExceeded { .. } => {
            out.stats.icmp_errors_in += 1;
            out.stats.drop(DropReason::IcmpErrorIgnored);
        }
    }
    None
}

/// Bytes of an echo reply's data kept for the application to check.
pub const ECHO_HEAD: usize = 64;
/// Echo replies waiting at most.
pub const ECHO_QUEUE: usize = 1024;

/// An ICMP echo reply for one of our requests (ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    /// Who answered.
    pub from: core::net::IpAddr,
    /// The reply's TTL (hop limit) as received.
    pub ttl: u8,
    /// The identifier of the request.
    pub ident: u16,
    /// Its sequence number.
    pub seq: u16,
    /// Length of the data.
    pub len: usize,
    /// The first [`ECHO_HEAD`] bytes of the data (to compare with what was sent).
    pub head: [u8; ECHO_HEAD],
}

/// The echo replies for the identifiers the application registered (RFC 792:
/// the identifier matches replies to requests), in a bounded queue; replies for
/// other identifiers are counted as ignored.
#[derive(Debug, Default)]
pub struct EchoSockets {
    idents: hashbrown::HashSet<u16>,
    replies: std::collections::VecDeque<EchoReply>,
    /// Replies dropped because the queue was full.
    pub overflow: u64,
}

impl EchoSockets {
    /// Receive replies carrying `ident`.
    pub fn register(&mut self, ident: u16) {
        self.idents.insert(ident);
    }
    /// Stop receiving replies for `ident`.
    pub fn unregister(&mut self, ident: u16) {
        self.idents.remove(&ident);
    }
    pub(crate) fn deliver(&mut self, from: core::net::IpAddr, ttl: u8, ident: u16, seq: u16, data: &[u8]) -> bool {
        if !self.idents.contains(&ident) {
            return false;
        }
        if self.replies.len() >= ECHO_QUEUE {
            self.overflow += 1;
            return true;
        }
        let mut head = [0u8; ECHO_HEAD];
        let n = data.len().min(ECHO_HEAD);
        head[..n].copy_from_slice(&data[..n]);
        self.replies.push_back(EchoReply { from, ttl, ident, seq, len: data.len(), head });
        true
    }
    /// The oldest reply not yet taken.
    pub fn take(&mut self) -> Option<EchoReply> {
        self.replies.pop_front()
    }
    /// Replies waiting.
    pub fn pending(&self) -> usize {
        self.replies.len()
    }
}

/// Send destination unreachable `code` about the packet `ip_packet` (its IPv4
/// header and the first 8 bytes of its payload are quoted, RFC 792).
pub(crate) fn send_unreachable(ip: &Ipv4Repr, ip_packet: &[u8], code: u8, out: &mut IpOut<'_>) {
    // RFC 1812 §4.3.2.8: a flood of bad packets must not become a flood of errors.
    let now = out.now();
    if !out.icmp_limit.allow(now) {
        return out.stats.drop(DropReason::IcmpErrorRateLimited);
    }
    let header_len = ip_packet.len() - ip.payload_len;
    let quoted_len = (header_len + 8).min(ip_packet.len());
    let quoted = &ip_packet[..quoted_len];
    let repr = Icmpv4Repr::DstUnreachable { code, next_hop_mtu: 0, quote: wire::icmpv4::Quote::new(quoted) };
    let len = repr.buffer_len();
    if out.send(ip.dst, ip.src, protocol::ICMP, len, None, &mut |buf| {
        repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..len]), ChecksumMode::Full);
    }) {
        out.stats.icmp_errors_sent += 1;
    }
}

/// Send time exceeded, code 1 "fragment reassembly time exceeded" (RFC 792), to
/// the source of a datagram whose reassembly timed out (RFC 1122 §3.2.1.4: only
/// when its first fragment arrived). `quote` is that fragment's header and the
/// first 8 bytes of its data. Rate-limited like every ICMP error (RFC 1812
/// §4.3.2.8).
pub(crate) fn send_reassembly_timeout(quote: &[u8], out: &mut IpOut<'_>) {
    let Ok((ip, _)) = Ipv4Repr::parse_quoted(quote) else { return };
    // RFC 1122 §3.2.2: never about a datagram from a broadcast or multicast source.
    if ip.src.is_broadcast() || ip.src.is_multicast() || ip.src.is_unspecified() {
        return;
    }
    if !out.icmp_limit.allow(out.now()) {
        return out.stats.drop(DropReason::IcmpErrorRateLimited);
    }
    let repr = Icmpv4Repr::TimeExceeded { code: wire::icmpv4::time_exceeded::REASSEMBLY, quote: wire::icmpv4::Quote::new(quote) };
    let len = repr.buffer_len();
    if out.send(ip.dst, ip.src, protocol::ICMP, len, None, &mut |buf| {
        repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..len]), ChecksumMode::Full);
    }) {
        out.stats.icmp_errors_sent += 1;
    }
}
