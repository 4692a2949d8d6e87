//! TCP over IPv4 or IPv6 (addresses from the input's front, see `addrs`): view
//! getters and the option iterator, `TcpRepr::parse` in both checksum modes, and
//! emit∘parse of whatever parses: the emitted bytes must re-parse (checksum
//! verified) to the same `TcpRepr`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::tcp::{TcpPacket, TcpRepr};
use wire::ChecksumMode;
use xdpstack_fuzz::addrs;

fuzz_target!(|data: &[u8]| {
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
});
