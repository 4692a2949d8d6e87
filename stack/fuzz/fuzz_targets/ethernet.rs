//! The `ethernet` fuzz target; its body is `xdpstack_fuzz::parsers::ethernet::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::parsers::ethernet::run(data));
