//! `Interface::handle_frame` on arbitrary bytes (one frame per input), then
//! `poll_transmit` and the timers that follow; every frame the interface sends
//! must parse back (Ethernet / ARP / IPv4 / ICMP / TCP, checksums verified).
#![no_main]
use libfuzzer_sys::fuzz_target;
use proto::time::Instant;
use xdpstack_fuzz::{interface, run_timers, CheckSink};

fuzz_target!(|data: &[u8]| {
    let mut sink = CheckSink::default();
    let now = Instant::from_millis(1000);
    let mut ifc = interface(now, &mut sink);
    ifc.handle_frame(now, data, &mut sink);
    ifc.poll_transmit(now, &mut sink);
    run_timers(&mut ifc, now, 8, &mut sink);
    assert_eq!(ifc.stats().rx_frames, 2);
});
