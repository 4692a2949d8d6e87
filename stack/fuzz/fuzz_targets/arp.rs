//! The `arp` fuzz target; its body is `xdpstack_fuzz::parsers::arp::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::parsers::arp::run(data));
