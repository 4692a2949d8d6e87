//! The wire-parser fuzz targets, one module each (`fuzz_targets/<name>.rs` calls
//! `<name>::run`): every view getter, `parse` in both checksum modes where there
//! is one, and emit∘parse of whatever parses.

/// The `ethernet` target.
pub mod ethernet {
    use wire::ethernet::{EthernetRepr, Frame};

    /// Ethernet: view getters, `EthernetRepr::parse`, and emit∘parse of the header.
    pub fn run(data: &[u8]) {
        let Ok(f) = Frame::new_checked(data) else { return };
        let _ = (f.dst_addr(), f.src_addr(), f.outer_ethertype(), f.vlan_tci(), f.ethertype(), f.payload().len());
        let Ok(r) = EthernetRepr::parse(&f) else { return };
        assert_eq!(r.header_len(), f.header_len());
        let mut buf = vec![0u8; r.buffer_len(0)];
        r.emit(&mut Frame::new_unchecked(&mut buf[..]));
        let f2 = Frame::new_checked(&buf[..]).expect("emitted header checks");
        assert_eq!(EthernetRepr::parse(&f2), Ok(r));
        assert_eq!(&buf[..], &data[..buf.len()], "header bytes reproduced");
    }
}

/// The `arp` target.
pub mod arp {
    use wire::arp::{ArpRepr, Packet};

    /// ARP: view getters, `ArpRepr::parse`, emit∘parse.
    pub fn run(data: &[u8]) {
        let Ok(p) = Packet::new_checked(data) else { return };
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len(), p.protocol_len(), p.operation());
        let _ = (p.source_hardware_addr(), p.source_protocol_addr(), p.target_hardware_addr(), p.target_protocol_addr());
        let Ok(r) = ArpRepr::parse(&p) else { return };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p2 = Packet::new_checked(&buf[..]).expect("emitted ARP checks");
        assert_eq!(ArpRepr::parse(&p2), Ok(r));
    }
}

/// The `ipv4` target.
pub mod ipv4 {
    use wire::ipv4::{Ipv4Repr, Packet};
    use wire::ChecksumMode;

    /// IPv4: view getters, `Ipv4Repr::parse` in both checksum modes, `parse_quoted`,
    /// and emit∘parse of the header.
    pub fn run(data: &[u8]) {
        let _ = Ipv4Repr::parse_quoted(data);
        let Ok(p) = Packet::new_checked(data) else { return };
        let _ = (p.version(), p.header_len(), p.dscp_ecn(), p.total_len(), p.ident(), p.dont_frag(), p.more_frags());
        let _ = (p.frag_offset(), p.ttl(), p.protocol(), p.checksum(), p.src_addr(), p.dst_addr(), p.options().len());
        let _ = (p.verify_checksum(), p.payload().len());
        let full = Ipv4Repr::parse(&p, ChecksumMode::Full);
        let Ok(r) = Ipv4Repr::parse(&p, ChecksumMode::Ignore) else {
            assert!(full.is_err(), "Full accepted what Ignore refused");
            return;
        };
        if let Ok(f) = full {
            assert_eq!(f, r);
        }
        assert_eq!(r.payload_len, p.payload().len());
        let mut buf = vec![0u8; r.buffer_len()];
        let mut out = Packet::new_unchecked(&mut buf[..]);
        r.emit(&mut out, ChecksumMode::Full);
        out.payload_mut().copy_from_slice(p.payload());
        let p2 = Packet::new_checked(&buf[..]).expect("emitted IPv4 checks");
        assert_eq!(Ipv4Repr::parse(&p2, ChecksumMode::Full), Ok(r));
    }
}

/// The `icmpv4` target.
pub mod icmpv4 {
    use wire::icmpv4::{Icmpv4Repr, Packet};
    use wire::ChecksumMode;

    /// ICMPv4: view getters, `Icmpv4Repr::parse` in both checksum modes, emit∘parse.
    pub fn run(data: &[u8]) {
        let Ok(p) = Packet::new_checked(data) else { return };
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no(), p.next_hop_mtu());
        let _ = (p.rest_of_header(), p.data().len(), p.verify_checksum());
        let full = Icmpv4Repr::parse(&p, ChecksumMode::Full);
        let Ok(r) = Icmpv4Repr::parse(&p, ChecksumMode::Ignore) else {
            assert!(full.is_err(), "Full accepted what Ignore refused");
            return;
        };
        if let Ok(f) = full {
            assert_eq!(f, r);
        }
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), ChecksumMode::Full);
        let p2 = Packet::new_checked(&buf[..]).expect("emitted ICMP checks");
        assert_eq!(Icmpv4Repr::parse(&p2, ChecksumMode::Full), Ok(r));
    }
}

/// The `udp` target.
pub mod udp {
    use wire::udp::{Packet, UdpRepr};
    use wire::ChecksumMode;
    use crate::addrs;

    /// UDP over IPv4 or IPv6 (addresses from the input's front, see `addrs`):
    /// `UdpRepr::parse` in both checksum modes, emit∘parse.
    pub fn run(data: &[u8]) {
        let Some((src, dst, data)) = addrs(data) else { return };
        let Ok(p) = Packet::new_checked(data) else { return };
        let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload().len());
        let full = UdpRepr::parse(&p, &src, &dst, ChecksumMode::Full);
        let Ok(r) = UdpRepr::parse(&p, &src, &dst, ChecksumMode::Ignore) else {
            assert!(full.is_err(), "Full accepted what Ignore refused");
            return;
        };
        if let Ok(f) = full {
            assert_eq!(f, r);
        }
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &src, &dst, ChecksumMode::Full);
        let p2 = Packet::new_checked(&buf[..]).expect("emitted UDP checks");
        assert_eq!(UdpRepr::parse(&p2, &src, &dst, ChecksumMode::Full), Ok(r));
    }
}

/// The `tcp` target.
pub mod tcp {
    use wire::tcp::{TcpPacket, TcpRepr};
    use wire::ChecksumMode;
    use crate::addrs;

    /// TCP over IPv4 or IPv6 (addresses from the input's front, see `addrs`): view
    /// getters and the option iterator, `TcpRepr::parse` in both checksum modes, and
    /// emit∘parse of whatever parses: the emitted bytes must re-parse (checksum
    /// verified) to the same `TcpRepr`.
    pub fn run(data: &[u8]) {
        let Some((src, dst, data)) = addrs(data) else { return };
        let Ok(p) = TcpPacket::new_checked(data) else { return };
        let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(), p.header_len(), p.flags());
        let _ = (p.window_len(), p.checksum(), p.urgent_at(), p.options().len(), p.payload().len(), p.segment_len());
        for o in p.option_iter() {
            if o.is_err() {
                break;
            }
        }
        let full = TcpRepr::parse(&p, &src, &dst, ChecksumMode::Full);
        let Ok(r) = TcpRepr::parse(&p, &src, &dst, ChecksumMode::Ignore) else {
            assert!(full.is_err(), "Full accepted what Ignore refused");
            return;
        };
        if let Ok(f) = full {
            assert_eq!(f, r);
        }
        assert!(r.header_len() <= 60, "emitted header too long: {r:?}");
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &src, &dst, ChecksumMode::Full);
        let p2 = TcpPacket::new_checked(&buf[..]).expect("emitted TCP checks");
        assert_eq!(TcpRepr::parse(&p2, &src, &dst, ChecksumMode::Full), Ok(r), "round trip of {data:02x?}");
    }
}

/// The `ipv6` target.
pub mod ipv6 {
    use wire::ip::protocol;
    use wire::ipv6::{Ipv6Repr, Packet};
    use wire::ipv6ext::{self, FragmentHeader, FragmentRepr, OptionsHeader, OptionsHeaderRepr, RoutingHeader, RoutingRepr};

    /// Parse every header of the chain on its own and round-trip it; stop where the
    /// walker stops.
    fn headers(mut nh: u8, payload: &[u8], chain: &ipv6ext::Chain) {
        let mut off = 0usize;
        let mut n = 0u8;
        while ipv6ext::is_extension_header(nh) && n < chain.headers {
            let rest = &payload[off..];
            match nh {
                protocol::HOP_BY_HOP | protocol::IPV6_OPTS => {
                    let h = OptionsHeader::new_checked(rest).expect("walked header checks");
                    let r = OptionsHeaderRepr::parse(&h).expect("walked header parses");
                    // The walker validates hop-by-hop options only; destination
                    // options are the upper layer's to act on.
                    for o in r.iter() {
                        match o {
                            Ok(o) => {
                                let _ = (o.router_alert(), o.unknown_action(), o.may_change());
                            }
                            Err(e) => {
                                assert!(nh != protocol::HOP_BY_HOP, "walked hop-by-hop options fail: {e}");
                                break;
                            }
                        }
                    }
                    let mut buf = vec![0u8; r.buffer_len()];
                    r.emit(&mut OptionsHeader::new_unchecked(&mut buf[..]));
                    assert_eq!(&buf[..], &rest[..h.header_len()], "options header bytes reproduced");
                    nh = r.next_header;
                    off += h.header_len();
                }
                protocol::IPV6_ROUTE => {
                    let h = RoutingHeader::new_checked(rest).expect("walked header checks");
                    let r = RoutingRepr::parse(&h).expect("walked header parses");
                    let mut buf = vec![0u8; r.buffer_len()];
                    r.emit(&mut RoutingHeader::new_unchecked(&mut buf[..]));
                    assert_eq!(&buf[..], &rest[..h.header_len()], "routing header bytes reproduced");
                    nh = r.next_header;
                    off += h.header_len();
                }
                protocol::IPV6_FRAG => {
                    let h = FragmentHeader::new_checked(rest).expect("walked header checks");
                    let r = FragmentRepr::parse(&h).expect("walked header parses");
                    assert_eq!(Some(r), chain.fragment);
                    let mut buf = vec![0u8; r.buffer_len()];
                    r.emit(&mut FragmentHeader::new_unchecked(&mut buf[..]));
                    assert_eq!(FragmentRepr::parse(&FragmentHeader::new_checked(&buf[..]).unwrap()), Ok(r));
                    return;
                }
                _ => return,
            }
            n += 1;
        }
        assert_eq!((nh, off), (chain.upper, chain.offset), "walk and per-header parse agree");
    }

    /// IPv6: the fixed header (view getters, `Ipv6Repr::parse`, emit∘parse) and the
    /// extension-header chain: `ipv6ext::walk` on the payload, plus every header of the
    /// chain parsed on its own (`OptionsHeaderRepr`, `RoutingRepr`, `FragmentRepr`),
    /// its options iterated, and emit∘parse of each. The first byte also drives a
    /// second walk over the raw input with it as the first next-header value.
    pub fn run(data: &[u8]) {
        if let Some((&nh, rest)) = data.split_first() {
            if let Ok(chain) = ipv6ext::walk(nh, rest) {
                assert!(chain.offset <= rest.len());
                headers(nh, rest, &chain);
            }
        }
        let Ok(p) = Packet::new_checked(data) else { return };
        let _ = (p.version(), p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header(), p.hop_limit());
        let _ = (p.src_addr(), p.dst_addr(), p.total_len(), p.payload().len());
        let Ok(r) = Ipv6Repr::parse(&p) else { return };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &data[..buf.len()], "fixed header bytes reproduced");
        if let Ok(chain) = ipv6ext::walk(r.next_header, p.payload()) {
            assert!(chain.offset <= p.payload().len());
            headers(r.next_header, p.payload(), &chain);
        }
    }
}

/// The `icmpv6` target.
pub mod icmpv6 {
    use wire::icmpv6::{Icmpv6Repr, Packet};
    use wire::mld::MldRepr;
    use wire::ndp::NdiscRepr;
    use wire::ChecksumMode;
    use crate::addrs_v6;

    fn walk(r: &Icmpv6Repr<'_>) -> usize {
        let mut n = r.invoking_packet().map_or(0, <[u8]>::len);
        match r {
            Icmpv6Repr::Mld(MldRepr::Report { records }) => {
                for rec in records.iter() {
                    n += rec.sources.iter().count() + rec.aux_data.len();
                }
            }
            Icmpv6Repr::Mld(MldRepr::Query { v2: Some(q), .. }) => n += q.sources.iter().count(),
            Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert { prefixes, .. }) => n += prefixes.iter().count(),
            _ => {}
        }
        n
    }

    /// ICMPv6 with NDP and MLD (addresses from the input's first 32 bytes):
    /// `Icmpv6Repr::parse` in both checksum modes, `NdiscRepr::parse` and
    /// `MldRepr::parse` on their own, MLD records / sources and NDP prefixes iterated,
    /// and emit∘parse of whatever parses.
    pub fn run(data: &[u8]) {
        let Some((src, dst, data)) = addrs_v6(data) else { return };
        let Ok(p) = Packet::new_checked(data) else { return };
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no(), p.payload().len());
        let _ = (p.pkt_too_big_mtu(), p.param_problem_ptr(), p.verify_checksum(&src, &dst));
        let _ = NdiscRepr::parse(&src, &dst, &p);
        let _ = MldRepr::parse(&p);
        let full = Icmpv6Repr::parse(&src, &dst, &p, ChecksumMode::Full);
        let Ok(r) = Icmpv6Repr::parse(&src, &dst, &p, ChecksumMode::Ignore) else {
            assert!(full.is_err(), "Full accepted what Ignore refused");
            return;
        };
        if let Ok(f) = full {
            assert_eq!(f, r);
        }
        let _ = walk(&r);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&src, &dst, &mut Packet::new_unchecked(&mut buf[..]), ChecksumMode::Full);
        let p2 = Packet::new_checked(&buf[..]).expect("emitted ICMPv6 checks");
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &p2, ChecksumMode::Full), Ok(r), "round trip of {data:02x?}");
    }
}
