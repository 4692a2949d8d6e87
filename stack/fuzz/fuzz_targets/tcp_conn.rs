//! The `tcp_conn` fuzz target; its body is `xdpstack_fuzz::tcp_conn::run`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xdpstack_fuzz::tcp_conn::run(data));
