//! ICMPv6 with NDP and MLD (addresses from the input's first 32 bytes):
//! `Icmpv6Repr::parse` in both checksum modes, `NdiscRepr::parse` and
//! `MldRepr::parse` on their own, MLD records / sources and NDP prefixes iterated,
//! and emit∘parse of whatever parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::icmpv6::{Icmpv6Repr, Packet};
use wire::mld::MldRepr;
use wire::ndp::NdiscRepr;
use wire::ChecksumMode;
use xdpstack_fuzz::addrs_v6;

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

fuzz_target!(|data: &[u8]| {
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
});
