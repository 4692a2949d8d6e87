//! The `tcp_conn` harness drives a live connection: scripted operation sequences
//! move data both ways, and the model's checks hold on them.

use xdpstack_fuzz::tcp_conn::{run_ops, Hello, Op, PeerSeg, Rel};

fn hello(isn: u32, ts: bool) -> Hello {
    Hello { isn, mss: Some(1460), window_scale: Some(7), sack: true, ts: ts.then_some(77), window: 65535 }
}

#[test]
fn data_flows_both_ways() {
    // Near the wrap of the sequence space, with and without timestamps.
    for (isn, ts) in [(1000, false), (u32::MAX - 100, true)] {
        let ops = [Op::Write(3000), Op::AckAll, Op::Data(1000), Op::Data(500), Op::Read(4000), Op::Timer, Op::AckAll, Op::Write(100), Op::AckAll];
        let s = run_ops(&hello(isn, ts), &ops);
        assert_eq!((s.written, s.read, s.acked), (3100, 1500, 1500), "{s:?}");
        assert_eq!(s.sent, 3100, "{s:?}");
        assert!(s.open, "{s:?}");
    }
}

#[test]
fn out_of_order_data_is_read_in_order() {
    let seg = |seq: Rel, len| Op::Seg(PeerSeg { seq, ack: Rel::At, flags: 0x10, window: 65535, len, ts: None, sack: vec![], urgent: 0 });
    // 1000 bytes at +1000 first, then the hole at +0.
    let ops = [seg(Rel::Plus(1000), 1000), Op::Read(5000), seg(Rel::At, 1000), Op::Read(5000)];
    let s = run_ops(&hello(5, false), &ops);
    assert_eq!((s.read, s.acked), (2000, 2000), "{s:?}");
}

#[test]
fn both_sides_close() {
    let fin = Op::Seg(PeerSeg { seq: Rel::At, ack: Rel::At, flags: 0x11, window: 65535, len: 10, ts: None, sack: vec![], urgent: 0 });
    let ops = [Op::Write(10), Op::Close, fin, Op::Read(100), Op::Read(100), Op::AckAll, Op::Timer, Op::Timer];
    let s = run_ops(&hello(9, false), &ops);
    assert_eq!((s.written, s.read, s.acked, s.sent), (10, 10, 11, 11), "{s:?}");
}
