//! ICMPv6 (RFC 4443) and Neighbor Discovery input (RFC 4861): echo replies,
//! echo replies for our pings, NS/NA (address resolution, DAD conflicts), RA
//! (handed to `slaac.rs`), and the rate-limited error messages we send.

use crate::icmp_err::{quoted_v6, Report};
use crate::iface::Interface;
use crate::input6::Rx6;
use crate::ipv6::AddrState;
use crate::out::IpOut;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::FrameSink;
use core::net::{IpAddr, Ipv6Addr};
use wire::ethernet::EthernetRepr;
use wire::icmpv6::{message, Icmpv6Repr, Packet as IcmpPacket};
use wire::ipv6::{Ipv6Repr, ALL_NODES};
use wire::ndp::{NdiscRepr, NeighborFlags};
use wire::{ChecksumMode, Error};

/// An ICMPv6 message for us.
pub(crate) fn handle_icmpv6(i: &mut Interface, now: Instant, eth: &EthernetRepr, rx: &Rx6, packet: &[u8], body: &[u8], tx: &mut dyn FrameSink) {
    let Ok(view) = IcmpPacket::new_checked(body) else {
        return i.stats.drop(DropReason::Icmpv6Malformed);
    };
    let ty = view.msg_type();
    let ndp = (message::ROUTER_SOLICIT..=message::REDIRECT).contains(&ty);
    if ndp {
        // RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1: "The IP Hop Limit field
        // has a value of 255", so the message cannot come from off-link.
        if rx.ip.hop_limit != 255 {
            return i.stats.drop(DropReason::NdpBadHopLimit);
        }
        // RFC 4861 §6.1.2: "IP Source Address is a link-local address."
        if ty == message::ROUTER_ADVERT && !wire::ipv6::is_link_local(&rx.ip.src) {
            return i.stats.drop(DropReason::NdpRaNotLinkLocal);
        }
        // Fragmented NDP is not accepted (RFC 6980 §5).
        if rx.reassembled {
            return i.stats.drop(DropReason::NdpMalformed);
        }
    } else if rx.ip.src.is_unspecified() {
        return i.stats.drop(DropReason::Ipv6BadSource);
    }
    let repr = match Icmpv6Repr::parse(&rx.ip.src, &rx.ip.dst, &view, ChecksumMode::Full) {
        Ok(r) => r,
        Err(Error::BadChecksum) => return i.stats.drop(DropReason::Icmpv6BadChecksum),
        // RFC 4443 §2.4 (b): unknown informational messages are dropped.
        Err(Error::Unsupported) => return i.stats.drop(DropReason::IcmpIgnored),
        Err(_) if ndp => return i.stats.drop(DropReason::NdpMalformed),
        Err(_) => return i.stats.drop(DropReason::Icmpv6Malformed),
    };
    match repr {
        // RFC 4443 §4.2: the reply carries the identifier, sequence number and
        // data of the request; to a multicast request, from a unicast address
        // of ours.
        Icmpv6Repr::EchoRequest { ident, seq_no, data } => {
            let src = if rx.ip.dst.is_multicast() {
                match i.addr6.select_source(&rx.ip.src) {
                    Some(s) => s,
                    None => return i.stats.drop(DropReason::TxNoRoute),
                }
            } else {
                if !i.addr6.is_ours(&rx.ip.dst) {
                    return i.stats.drop(DropReason::Ipv6NotForUs);
                }
                rx.ip.dst
            };
            let reply = Icmpv6Repr::EchoReply { ident, seq_no, data };
            let hl = i.addr6.hop_limit;
            let (_, mut out) = i.split(tx, now);
            // The request proves its sender on-link: answer its MAC.
            if out.send_icmpv6(src, rx.ip.src, &reply, Some(eth.src), hl) {
                out.stats.icmp_echo_replies += 1;
            }
        }
        Icmpv6Repr::EchoReply { ident, seq_no, data } => {
            if !i.echo.deliver(IpAddr::V6(rx.ip.src), rx.ip.hop_limit, ident, seq_no, data) {
                i.stats.drop(DropReason::IcmpIgnored);
            }
        }
        Icmpv6Repr::Ndisc(n) => handle_ndisc(i, now, eth, rx, n, tx),
        // RFC 3810 §6.2: a query (general, or for one of our groups) is answered
        // with a report of our groups (we answer at once rather than after a
        // random delay: one listener per link end). Link-local source and hop
        // limit 1 required (RFC 3810 §5.1.14).
        Icmpv6Repr::Mld(wire::mld::MldRepr::Query { mcast_addr, .. }) => {
            if rx.ip.hop_limit != 1 || !wire::ipv6::is_link_local(&rx.ip.src) {
                return i.stats.drop(DropReason::Icmpv6Malformed);
            }
            if mcast_addr.is_unspecified() || i.addr6.in_group(&mcast_addr) {
                i.mld_query(now);
            } else {
                i.stats.drop(DropReason::IcmpIgnored);
            }
        }
        Icmpv6Repr::Mld(_) => i.stats.drop(DropReason::IcmpIgnored),
        // RFC 4443 §3.1, §3.2: errors about packets of ours go to the flow
        // they quote (RFC 8201 §4 packet too big; RFC 4443 §3.1 destination
        // unreachable to the transport layer). §2.4 (c): time exceeded and
        // parameter problem are passed up too; TCP has no use for them.
        Icmpv6Repr::PktTooBig { mtu, data } => icmp6_error(i, now, Report::TooBig(mtu), data, tx),
        Icmpv6Repr::DstUnreachable { code, data } => {
            let r = crate::tcp::Unreachable::from_v6_code(code).map_or(Report::Ignored, Report::Unreachable);
            icmp6_error(i, now, r, data, tx)
        }
        Icmpv6Repr::TimeExceeded { data, .. } | Icmpv6Repr::ParamProblem { data, .. } => icmp6_error(i, now, Report::Ignored, data, tx),
    }
    let _ = packet;
}

/// An ICMPv6 error quoting `data`: to the interface's error handling.
fn icmp6_error(i: &mut Interface, now: Instant, report: Report, data: &[u8], tx: &mut dyn FrameSink) {
    match quoted_v6(data) {
        Some(q) => i.handle_icmp_error(now, report, q, tx),
        None => {
            i.stats.icmp_errors_in += 1;
            i.stats.drop(DropReason::IcmpErrorMalformed);
        }
    }
}

fn handle_ndisc(i: &mut Interface, now: Instant, eth: &EthernetRepr, rx: &Rx6, n: NdiscRepr<'_>, tx: &mut dyn FrameSink) {
    match n {
        NdiscRepr::NeighborSolicit { target_addr, lladdr, .. } => {
            // RFC 4861 §7.1.1: "Target Address is not a multicast address" (wire)
            // and it must be one of ours (§7.2.3), tentative ones aside.
            let Some(a) = i.addr6.find(&target_addr).copied() else {
                return i.stats.drop(DropReason::NdpNsNotOurs);
            };
            let dad_probe = rx.ip.src.is_unspecified();
            match a.state {
                // RFC 4862 §5.4.3: a probe for our tentative address from another
                // node doing DAD: the address is duplicate. Other solicitations
                // for a tentative address are not answered.
                AddrState::Tentative { optimistic: false, .. } => {
                    if dad_probe {
                        i.dad_conflict(target_addr);
                    }
                    return i.stats.drop(DropReason::NdpIgnored);
                }
                AddrState::Tentative { optimistic: true, .. } if dad_probe => {
                    i.dad_conflict(target_addr);
                    return i.stats.drop(DropReason::NdpIgnored);
                }
                AddrState::Duplicate => return i.stats.drop(DropReason::NdpNsNotOurs),
                _ => {}
            }
            // RFC 4861 §7.2.3: learn the sender from its link-layer option.
            if let (Some(m), false) = (lladdr, dad_probe) {
                if i.nd.on_lladdr(now, rx.ip.src, m) {
                    i.resolved(now, IpAddr::V6(rx.ip.src));
                }
            }
            // §7.2.4: the advertisement: solicited, override, our MAC; to the
            // sender, or to all-nodes if it was a DAD probe (S clear).
            let (dst, flags, mac) = if dad_probe {
                (ALL_NODES, NeighborFlags::OVERRIDE, None)
            } else {
                (rx.ip.src, NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE, lladdr.or(Some(eth.src.0)))
            };
            let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { flags, target_addr, lladdr: Some(i.addr.mac.0) });
            let (_, mut out) = i.split(tx, now);
            if out.send_icmpv6(target_addr, dst, &na, mac.map(wire::ethernet::EthernetAddress), 255) {
                out.stats.ndp_adverts += 1;
            }
        }
        NdiscRepr::NeighborAdvert { flags, target_addr, lladdr } => {
            if let Some(a) = i.addr6.find(&target_addr) {
                // RFC 4862 §5.4.4: an advertisement for our tentative address:
                // another node has it. For a preferred address we keep it (a
                // real conflict needs an operator; one unauthenticated NA must
                // not take it away) but count it and report it.
                if matches!(a.state, AddrState::Tentative { .. }) {
                    i.dad_conflict(target_addr);
                } else if let Some(m) = lladdr.filter(|m| *m != i.addr.mac.0) {
                    i.stats.drop(DropReason::NdpDadDuplicate);
                    i.address_conflict(target_addr, m);
                }
                return;
            }
            let resolved = i.nd.on_advert(
                now,
                target_addr,
                lladdr,
                flags.contains(NeighborFlags::SOLICITED),
                flags.contains(NeighborFlags::OVERRIDE),
                flags.contains(NeighborFlags::ROUTER),
            );
            if let Some(m) = i.nd.get(&target_addr) {
                if resolved || flags.contains(NeighborFlags::SOLICITED) {
                    i.note_learned(IpAddr::V6(target_addr), m);
                }
            }
            if resolved {
                i.resolved(now, IpAddr::V6(target_addr));
            }
        }
        NdiscRepr::RouterAdvert { hop_limit, router_lifetime, lladdr, mtu, prefixes, .. } => {
            i.handle_ra(now, rx.ip.src, hop_limit, router_lifetime, lladdr, mtu, &prefixes);
        }
        NdiscRepr::Redirect { target_addr, dest_addr, lladdr, .. } => {
            // RFC 4861 §8.1: hop limit 255 and no fragment (checked above), a
            // link-local source, a destination not multicast, a target that
            // is link-local or the destination (checked by wire); here: "the
            // IP source address of the Redirect is the same as the current
            // first-hop router for the specified ICMP Destination Address".
            if i.addr6.next_hop(&dest_addr, now) != Some(rx.ip.src) {
                return i.stats.drop(DropReason::NdpRedirectInvalid);
            }
            // §8.3: the Destination Cache entry, and the target's link-layer
            // address if given (a new entry is STALE).
            i.addr6.add_redirect(dest_addr, target_addr, now);
            i.stats.ndp_redirects += 1;
            if let Some(m) = lladdr {
                if i.nd.on_lladdr(now, target_addr, m) {
                    i.resolved(now, IpAddr::V6(target_addr));
                }
            }
        }
        // We are not a router: solicitations for routers are not ours.
        NdiscRepr::RouterSolicit { .. } => i.stats.drop(DropReason::NdpIgnored),
    }
}

/// An ICMPv6 error to send.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorKind {
    /// Destination Unreachable with this code (RFC 4443 §3.1).
    Unreachable(u8),
    /// Parameter Problem (RFC 4443 §3.4).
    ParamProblem {
        /// Code.
        code: u8,
        /// Offset of the problem in the invoking packet.
        pointer: u32,
    },
}

/// Send an ICMPv6 error about `packet` (its header `ip`) back to its source
/// (RFC 4443 §2.4): as much of the invoking packet as fits in 1280 bytes
/// (§2.4 (c)), never about an error or to a multicast or unspecified source
/// (§2.4 (e)), rate-limited (§2.4 (f)). About a packet sent to a multicast
/// group only for an unrecognized option whose action bits ask for it (§2.4
/// (e.3), RFC 8200 §4.2), from our address for that source.
pub(crate) fn send_error(ip: &Ipv6Repr, packet: &[u8], kind: ErrorKind, out: &mut IpOut<'_>) {
    let option_problem = matches!(kind, ErrorKind::ParamProblem { code: wire::icmpv6::param_problem::UNRECOGNIZED_OPTION, .. });
    if ip.src.is_unspecified() || ip.src.is_multicast() || (ip.dst.is_multicast() && !option_problem) {
        return;
    }
    let from = if ip.dst.is_multicast() {
        match out.addr6.select_source(&ip.src) {
            Some(s) => s,
            None => return out.stats.drop(DropReason::TxNoRoute),
        }
    } else {
        ip.dst
    };
    if !out.icmp_limit.allow(out.now()) {
        return out.stats.drop(DropReason::IcmpErrorRateLimited);
    }
    let data = &packet[..packet.len().min(wire::icmpv6::MAX_ERROR_DATA)];
    let repr = match kind {
        ErrorKind::Unreachable(code) => Icmpv6Repr::DstUnreachable { code, data },
        ErrorKind::ParamProblem { code, pointer } => Icmpv6Repr::ParamProblem { code, pointer, data },
    };
    let hl = out.addr6.hop_limit;
    if out.send_icmpv6(from, ip.src, &repr, None, hl) {
        out.stats.icmp_errors_sent += 1;
    }
}

/// Time Exceeded code 1, "fragment reassembly time exceeded" (RFC 4443 §3.3,
/// RFC 8200 §4.5) quoting the first fragment's unfragmentable part and the
/// first 8 bytes of its data; rate-limited.
pub(crate) fn send_reassembly_timeout(quote: &[u8], out: &mut IpOut<'_>) {
    if quote.len() < wire::ipv6::HEADER_LEN {
        return;
    }
    let view = wire::ipv6::Packet::new_unchecked(quote);
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (view.src_addr(), view.dst_addr());
    if src.is_unspecified() || src.is_multicast() || !out.addr6.is_ours(&dst) {
        return;
    }
    if !out.icmp_limit.allow(out.now()) {
        return out.stats.drop(DropReason::IcmpErrorRateLimited);
    }
    let repr = Icmpv6Repr::TimeExceeded { code: wire::icmpv6::time_exceeded::FRAG_REASSEMBLY, data: quote };
    let hl = out.addr6.hop_limit;
    if out.send_icmpv6(dst, src, &repr, None, hl) {
        out.stats.icmp_errors_sent += 1;
    }
}
