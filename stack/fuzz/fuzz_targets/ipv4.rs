//! The `ipv4` fuzz target; its body is `xdpstack_fuzz::parsers::ipv4::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::parsers::ipv4::run(data));
