//! The `iface_ipv4` fuzz target; its body is `xdpstack_fuzz::iface_ipv4::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::iface_ipv4::run(data));
