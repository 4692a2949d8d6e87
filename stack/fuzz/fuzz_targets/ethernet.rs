//! Ethernet: view getters, `EthernetRepr::parse`, and emit∘parse of the header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::ethernet::{EthernetRepr, Frame};

fuzz_target!(|data: &[u8]| {
    let Ok(f) = Frame::new_checked(data) else { return };
    let _ = (f.dst_addr(), f.src_addr(), f.outer_ethertype(), f.vlan_tci(), f.ethertype(), f.payload().len());
    let Ok(r) = EthernetRepr::parse(&f) else { return };
    assert_eq!(r.header_len(), f.header_len());
    let mut buf = vec![0u8; r.buffer_len(0)];
    r.emit(&mut Frame::new_unchecked(&mut buf[..]));
    let f2 = Frame::new_checked(&buf[..]).expect("emitted header checks");
    assert_eq!(EthernetRepr::parse(&f2), Ok(r));
    assert_eq!(&buf[..], &data[..buf.len()], "header bytes reproduced");
});
