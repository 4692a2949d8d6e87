//! UDP over IPv4 or IPv6 (addresses from the input's front, see `addrs`):
//! `UdpRepr::parse` in both checksum modes, emit∘parse.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::udp::{Packet, UdpRepr};
use wire::ChecksumMode;
use xdpstack_fuzz::addrs;

fuzz_target!(|data: &[u8]| {
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
});
