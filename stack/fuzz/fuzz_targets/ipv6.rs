//! IPv6: the fixed header (view getters, `Ipv6Repr::parse`, emit∘parse) and the
//! extension-header chain: `ipv6ext::walk` on the payload, plus every header of the
//! chain parsed on its own (`OptionsHeaderRepr`, `RoutingRepr`, `FragmentRepr`),
//! its options iterated, and emit∘parse of each. The first byte also drives a
//! second walk over the raw input with it as the first next-header value.
#![no_main]
use libfuzzer_sys::fuzz_target;
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

fuzz_target!(|data: &[u8]| {
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
});
