//! ICMPv4 answers (RFC 792, RFC 1122 §3.2.2): echo replies, and destination
//! unreachable for UDP ports and IP protocols nobody serves (sent by the interface).

use crate::iface::Ipv4Out;
use crate::stats::DropReason;
use wire::ethernet::EthernetAddress;
use wire::icmpv4::{Icmpv4Repr, Packet as IcmpPacket};
use wire::ip::protocol;
use wire::ipv4::Ipv4Repr;
use wire::{ChecksumMode, Error};

/// Handle an ICMPv4 message addressed to us; answer echo requests.
pub(crate) fn handle_icmpv4(ip: &Ipv4Repr, body: &[u8], src_mac: EthernetAddress, out: &mut Ipv4Out<'_>) {
    let Ok(view) = IcmpPacket::new_checked(body) else {
        return out.stats.drop(DropReason::IcmpMalformed);
    };
    let repr = match Icmpv4Repr::parse(&view, ChecksumMode::Full) {
        Ok(r) => r,
        Err(Error::BadChecksum) => return out.stats.drop(DropReason::IcmpBadChecksum),
        Err(Error::Unsupported) => return out.stats.drop(DropReason::IcmpIgnored),
        Err(_) => return out.stats.drop(DropReason::IcmpMalformed),
    };
    match repr {
        // RFC 792 "Echo or Echo Reply Message"; RFC 1122 §3.2.2.6: the reply carries
        // the same identifier, sequence number and data; its source is the address
        // the request was sent to.
        Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
            let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
            let len = reply.buffer_len();
            // Answer the link-layer sender directly: the request proves it on-link.
            if out.send(ip.dst, ip.src, protocol::ICMP, len, Some(src_mac), &mut |buf| {
                reply.emit(&mut IcmpPacket::new_unchecked(&mut buf[..len]), ChecksumMode::Full);
            }) {
                out.stats.icmp_echo_replies += 1;
            }
        }
        _ => out.stats.drop(DropReason::IcmpIgnored),
    }
}

/// Send destination unreachable `code` about the packet `ip_packet` (its IPv4
/// header and the first 8 bytes of its payload are quoted, RFC 792).
pub(crate) fn send_unreachable(ip: &Ipv4Repr, ip_packet: &[u8], code: u8, out: &mut Ipv4Out<'_>) {
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
