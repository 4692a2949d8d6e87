//! IPv4: view getters, `Ipv4Repr::parse` in both checksum modes, `parse_quoted`,
//! and emit∘parse of the header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::ipv4::{Ipv4Repr, Packet};
use wire::ChecksumMode;

fuzz_target!(|data: &[u8]| {
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
});
