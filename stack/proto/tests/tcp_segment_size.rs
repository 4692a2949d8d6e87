//! Found by the `tcp_conn` fuzz target (stack/fuzz, docs/fuzzing.md): a data
//! segment sent while out-of-order data is held carries SACK blocks, and their
//! bytes were not taken off the payload, so a full-sized segment was larger than
//! the peer's MSS allows and than the link MTU (a 1526-byte frame on a 1500-byte
//! link: 1448 bytes of data, timestamps and one SACK block). RFC 9293 §3.7.1 /
//! RFC 6691: the sender reduces the data by the bytes of options it sends beyond
//! those the MSS already accounts for.

mod sim;

use proto::time::Duration;
use sim::*;
use wire::tcp::options_len;

/// Both ways at once under loss (so each side holds out-of-order data while it
/// sends full segments): every segment's TCP header plus data fits the 1460-byte
/// MSS plus the 20-byte TCP header, and the transfer still completes.
#[test]
fn data_segments_with_sack_blocks_fit_the_mss() {
    for seed in 1..=5u64 {
        let mut s = Sim::new(seed, proto::tcp::TcpConfig::default(), proto::tcp::TcpConfig::default());
        let (c, sc) = s.handshake(80);
        s.loss = 50;
        let mut up = Flow::new(pattern(300_000, 0x31), true);
        let mut down = Flow::new(pattern(300_000, 0x57), true);
        let ok = transfer(&mut s, c, sc, &mut up, &mut down, Duration::from_secs(60));
        assert!(ok, "seed {seed}: transfer did not complete");
        check_same(seed, "up", &up.got, &up.data);
        check_same(seed, "down", &down.got, &down.data);
        let mut with_sack = 0;
        for (_, g) in &s.log {
            let opts = options_len(&g.options, g.has(wire::tcp::TcpFlags::SYN));
            assert!(opts + g.payload.len() <= 1460, "seed {seed}: {} bytes of data and {opts} of options exceed the MSS: {:?}", g.payload.len(), g.options);
            if !g.payload.is_empty() && g.options.sack.len > 0 {
                with_sack += 1;
            }
        }
        assert!(with_sack > 0, "seed {seed}: no data segment carried SACK blocks");
    }
}
