//! ICMPv4: view getters, `Icmpv4Repr::parse` in both checksum modes, emit∘parse.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::icmpv4::{Icmpv4Repr, Packet};
use wire::ChecksumMode;

fuzz_target!(|data: &[u8]| {
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
});
