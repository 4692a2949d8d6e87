//! The `icmpv6` fuzz target; its body is `xdpstack_fuzz::parsers::icmpv6::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::parsers::icmpv6::run(data));
