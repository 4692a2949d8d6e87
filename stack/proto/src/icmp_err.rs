//! ICMP and ICMPv6 errors about packets we sent (RFC 5927, RFC 1122 §3.2.2,
//! §4.2.3.9, RFC 4443 §3, RFC 1191, RFC 8201).
//!
//! An error quotes the start of the packet that caused it. Before acting, the
//! quote is validated (RFC 5927 §4): its source must be one of our addresses,
//! and for TCP it must name a live connection and a sequence number in flight
//! (checked by [`crate::tcp::Tcp::check_icmp_quote`]); for UDP a bound port.
//! Then: "fragmentation needed" / "packet too big" lower the path MTU to the
//! quoted destination (and the connection's MSS, which resends what was
//! dropped); "destination unreachable" ends a TCP connection attempt or is
//! kept as the connection's soft error. Everything else is counted and ignored.
//! The engine hands each error to the core that owns the quoted flow.

use crate::iface::Interface;
use crate::pmtu::{plateau_below, PmtuUpdate};
use crate::stats::DropReason;
use crate::tcp::{IcmpCheck, Unreachable};
use crate::time::Instant;
use crate::FrameSink;
use core::net::{IpAddr, Ipv6Addr, SocketAddr};
use wire::ip::protocol;

/// What an error reports about the quoted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// The path takes packets of at most this many bytes (ICMPv4 type 3 code 4
    /// with the next-hop MTU of RFC 1191 §4, ICMPv6 packet too big).
    TooBig(u32),
    /// Destination unreachable of this kind.
    Unreachable(Unreachable),
    /// Anything else (time exceeded, parameter problem, source route failed):
    /// nothing for us to do (RFC 5927 §5 leaves TCP running).
    Ignored,
}

/// The packet an error quotes: its addresses, upper-layer protocol, the start
/// of its upper-layer header, and its length as the quote says.
pub(crate) struct Quoted<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub transport: &'a [u8],
    pub total_len: usize,
}

/// The quote of an ICMPv4 error: an IPv4 header (a first fragment or a whole
/// datagram: later fragments carry no ports) and at least 8 bytes after it
/// (RFC 792).
pub(crate) fn quoted_v4<'a>(quote: &wire::icmpv4::Quote<'a>) -> Option<Quoted<'a>> {
    let h = quote.header.as_ref()?;
    if h.frag_offset != 0 {
        return None;
    }
    let transport = quote.transport()?;
    Some(Quoted { src: IpAddr::V4(h.src), dst: IpAddr::V4(h.dst), protocol: h.protocol, transport, total_len: wire::ipv4::HEADER_LEN + h.payload_len })
}

/// The quote of an ICMPv6 error (RFC 4443 §3: "as much of invoking packet as
/// possible"): the fixed header, then TCP or UDP directly or after a first
/// fragment's header (the only extension headers we send).
pub(crate) fn quoted_v6(data: &[u8]) -> Option<Quoted<'_>> {
    if data.len() < wire::ipv6::HEADER_LEN || data[0] >> 4 != 6 {
        return None;
    }
    let addr = |at: usize| -> Ipv6Addr { <[u8; 16]>::try_from(&data[at..at + 16]).map(Ipv6Addr::from).unwrap_or(Ipv6Addr::UNSPECIFIED) };
    let (src, dst) = (addr(8), addr(24));
    let total_len = wire::ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([data[4], data[5]]));
    let mut next = data[6];
    let mut rest = &data[wire::ipv6::HEADER_LEN..];
    if next == protocol::IPV6_FRAG {
        // RFC 8200 §4.5: next header, reserved, offset (13 bits) + flags, ident.
        let fh = rest.get(..8)?;
        if u16::from_be_bytes([fh[2], fh[3]]) >> 3 != 0 {
            return None;
        }
        next = fh[0];
        rest = &rest[8..];
    }
    Some(Quoted { src: IpAddr::V6(src), dst: IpAddr::V6(dst), protocol: next, transport: rest, total_len })
}

/// The report of an ICMPv4 destination unreachable `code` (next-hop MTU
/// `mtu`) about a packet of `total_len` bytes.
pub(crate) fn report_v4(code: u8, mtu: u16, total_len: usize) -> Report {
    if code == wire::icmpv4::unreachable::FRAG_NEEDED {
        // RFC 1191 §5: a router of RFC 792's time leaves the field 0; guess
        // the next plateau below the datagram's length.
        let mtu = if mtu == 0 { plateau_below(total_len.min(usize::from(u16::MAX)) as u16) } else { mtu };
        return Report::TooBig(u32::from(mtu));
    }
    Unreachable::from_v4_code(code).map_or(Report::Ignored, Report::Unreachable)
}

impl Interface {
    /// Act on an ICMP error `report` about the packet `q` (see the module
    /// documentation). Every error is counted; one not acted upon also counts
    /// a drop reason or a TCP counter saying why.
    pub(crate) fn handle_icmp_error(&mut self, now: Instant, report: Report, q: Quoted<'_>, tx: &mut dyn FrameSink) {
        self.stats.icmp_errors_in += 1;
        if report == Report::Ignored {
            return self.stats.drop(DropReason::IcmpErrorIgnored);
        }
        // RFC 5927 §4: only errors about packets we could have sent.
        let ours = match q.src {
            IpAddr::V4(s) => self.addr.ipv4.iter().any(|(a, _)| *a == s),
            IpAddr::V6(s) => self.addr6.is_ours(&s),
        };
        if !ours || q.src.is_ipv4() != q.dst.is_ipv4() {
            return self.stats.drop(DropReason::IcmpErrorNotOurs);
        }
        let Some(ports) = q.transport.get(..4) else { return self.stats.drop(DropReason::IcmpErrorMalformed) };
        let (sport, dport) = (u16::from_be_bytes([ports[0], ports[1]]), u16::from_be_bytes([ports[2], ports[3]]));
        let link = if q.dst.is_ipv4() { self.mtu } else { self.addr6.link_mtu(self.mtu) };
        match q.protocol {
            protocol::TCP => {
                // RFC 792: at least 8 bytes of the quoted datagram, so the
                // sequence number is there.
                let Some(seq) = q.transport.get(4..8) else { return self.stats.drop(DropReason::IcmpErrorMalformed) };
                let seq = u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]);
                let (local, remote) = (SocketAddr::new(q.src, sport), SocketAddr::new(q.dst, dport));
                if self.tcp.check_icmp_quote(local, remote, seq) != IcmpCheck::Valid {
                    // Counted by TCP (no connection / out of window).
                    return self.stats.drop(DropReason::IcmpErrorNoFlow);
                }
                match report {
                    Report::TooBig(mtu) => {
                        // RFC 5927 §7.2: an MTU not below the quoted packet's
                        // length cannot be why it was dropped.
                        if mtu as usize >= q.total_len {
                            return self.stats.drop(DropReason::IcmpErrorBadMtu);
                        }
                        self.lower_path_mtu(now, q.dst, mtu, link);
                        let path = self.pmtu.get(now, q.dst, link);
                        let (tcp, mut out) = self.split(tx, now);
                        tcp.path_mtu_lowered(now, local, remote, path, &mut out);
                    }
                    Report::Unreachable(kind) => self.tcp.destination_unreachable(local, remote, kind),
                    Report::Ignored => {}
                }
            }
            protocol::UDP => {
                // No sequence number to check: the bound port is all we have
                // (RFC 5927 §4 on connectionless protocols).
                if !self.udp.is_bound(sport) {
                    return self.stats.drop(DropReason::IcmpErrorNoFlow);
                }
                match report {
                    Report::TooBig(mtu) if (mtu as usize) < q.total_len => self.lower_path_mtu(now, q.dst, mtu, link),
                    Report::TooBig(_) => self.stats.drop(DropReason::IcmpErrorBadMtu),
                    // RFC 1122 §4.1.3.3: passed to the application layer; ours has
                    // no error queue on unconnected sockets, so it is counted.
                    _ => self.stats.udp_icmp_errors += 1,
                }
            }
            _ => self.stats.drop(DropReason::IcmpErrorNoFlow),
        }
    }

    /// Record a lower path MTU towards `dst` (RFC 1191 §6.3, RFC 8201 §5.2).
    fn lower_path_mtu(&mut self, now: Instant, dst: IpAddr, mtu: u32, link: usize) {
        let mtu = mtu.min(u32::from(u16::MAX)) as u16;
        if let PmtuUpdate::Lowered(_) = self.pmtu.update(now, dst, mtu, link) {
            self.stats.pmtu_updates += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_quotes_with_and_without_a_fragment_header() {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&1400u16.to_be_bytes());
        p[6] = protocol::TCP;
        p[8..24].copy_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"2001:db8:1::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[0x1f, 0x90, 0, 80, 0, 0, 0, 1]);
        let q = quoted_v6(&p).unwrap();
        assert_eq!((q.protocol, q.total_len, q.transport.len()), (protocol::TCP, 1440, 8));
        assert_eq!(q.dst, "2001:db8:1::2".parse::<IpAddr>().unwrap());
        // A first fragment: the UDP header follows the fragment header.
        let mut f = p[..40].to_vec();
        f[6] = protocol::IPV6_FRAG;
        f.extend_from_slice(&[protocol::UDP, 0, 0, 1, 0, 0, 0, 7]);
        f.extend_from_slice(&[0, 53, 0, 53]);
        let q = quoted_v6(&f).unwrap();
        assert_eq!((q.protocol, &q.transport[..4]), (protocol::UDP, &[0, 53, 0, 53][..]));
        // A later fragment (offset 8) carries no ports.
        f[42..44].copy_from_slice(&(1u16 << 3).to_be_bytes());
        assert!(quoted_v6(&f).is_none());
        assert!(quoted_v6(&p[..39]).is_none());
    }

    #[test]
    fn v4_reports() {
        assert_eq!(report_v4(4, 1300, 1500), Report::TooBig(1300));
        assert_eq!(report_v4(4, 0, 1500), Report::TooBig(1492), "RFC 1191 §5 plateau");
        assert_eq!(report_v4(3, 0, 60), Report::Unreachable(Unreachable::Port));
        assert_eq!(report_v4(5, 0, 60), Report::Ignored);
    }
}

#[cfg(test)]
#[path = "icmp_err_tests.rs"]
mod frame_tests;
