//! The `ipv6` fuzz target; its body is `xdpstack_fuzz::parsers::ipv6::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::parsers::ipv6::run(data));
