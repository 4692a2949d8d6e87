//! The `iface` fuzz target; its body is `xdpstack_fuzz::iface::raw::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::iface::raw::run(data));
