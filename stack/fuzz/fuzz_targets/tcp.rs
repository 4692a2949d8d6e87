//! The `tcp` fuzz target; its body is `xdpstack_fuzz::parsers::tcp::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::parsers::tcp::run(data));
