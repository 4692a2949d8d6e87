//! Sequence-space state kept across one long flight: values compared with
//! SND.UNA modulo 2^32 go stale unless they follow it. Each case failed before
//! its fix (issue 20): the recovery point (`Flight::point`) read as "ahead"
//! 2 GiB into one flight and kept every later loss out of recovery; cwnd grew
//! without bound while the flow was not cwnd-limited (saturating at 4 GiB,
//! then overflowing in limited transmit); `push_to` switched Nagle off for
//! 2 GiB of every 4 GiB.
//!
//! A drives a real `Tcp`; the peer is a fake that ACKs every segment but the
//! last of each round (so data is always in flight), as a receiver does.

use proto::tcp::{ConnId, SegmentSink, Tcp, TcpConfig};
use proto::time::{Duration, Instant};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use wire::tcp::{SackBlocks, TcpFlags, TcpOptions, TcpRepr};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

#[derive(Clone, Copy, Debug)]
struct S {
    seq: u32,
    len: u32,
    tsval: u32,
}

#[derive(Default)]
struct Sink(Vec<S>);
impl SegmentSink for Sink {
    fn send_segment(&mut self, _l: IpAddr, _r: IpAddr, r: &TcpRepr<'_>) -> bool {
        self.0.push(S { seq: r.seq, len: r.payload.len() as u32 + u32::from(r.flags.contains(TcpFlags::FIN)), tsval: r.options.timestamps.map_or(0, |t| t.0) });
        true
    }
}

struct Peer {
    seq: u32,
    ts: u32,
}

impl Peer {
    fn ack(&mut self, a: &mut Tcp, now: Instant, ack: u32, echo: u32, sack: &[(u32, u32)]) -> Vec<S> {
        let mut blocks = SackBlocks::default();
        for &(l, r) in sack {
            blocks.push(l, r);
        }
        self.ts = self.ts.wrapping_add(1);
        let repr = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: self.seq,
            ack,
            flags: TcpFlags::ACK,
            window: 0xffff,
            urgent: 0,
            options: TcpOptions { timestamps: Some((self.ts, echo)), sack: blocks, ..TcpOptions::default() },
            payload: &[],
        };
        let mut out = Sink::default();
        a.handle_segment(now, B, A, &repr, &mut out);
        out.0
    }
}

fn setup() -> (Tcp, ConnId, Peer, Instant) {
    let cfg = TcpConfig { mss: 9000, isn_secret: [7; 16], ..TcpConfig::default() };
    let mut a = Tcp::new(cfg);
    let mut now = Instant::from_millis(1000);
    let mut out = Sink::default();
    let c = a.connect(now, SocketAddr::new(A, 40000), SocketAddr::new(B, 80), &mut out).unwrap();
    let syn = out.0[0];
    now += Duration::from_micros(100);
    let synack = TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq: 5000,
        ack: syn.seq.wrapping_add(1),
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 0xffff,
        urgent: 0,
        options: TcpOptions { mss: Some(9000), window_scale: Some(7), sack_permitted: true, timestamps: Some((1, syn.tsval)), ..TcpOptions::default() },
        payload: &[],
    };
    let mut out = Sink::default();
    a.handle_segment(now, B, A, &synack, &mut out);
    assert_eq!(a.state(c), Some(proto::tcp::State::Established));
    (a, c, Peer { seq: 5001, ts: 1 }, now)
}

/// Send bulk data until `bytes` are acknowledged, then lose one segment of
/// the next round (the others SACKed). Returns (recoveries, fast_retransmits,
/// rack_marked_lost, retransmits) caused by that loss.
fn lose_one_after(bytes: u64) -> (u64, u64, u64, u64) {
    let (mut a, c, mut peer, mut now) = setup();
    let buf = vec![0u8; 256 * 1024];
    let (una0, ..) = a.seq_state(c).unwrap();
    let mut acked: u64 = 0;
    let mut held: Option<S> = None;
    loop {
        let _ = a.send(c, &buf);
        let mut out = Sink::default();
        a.poll_transmit(now, &mut out);
        let data: Vec<S> = out.0.iter().copied().filter(|s| s.len > 0).collect();
        now += Duration::from_micros(200);
        if data.is_empty() {
            continue;
        }
        if acked >= bytes && data.len() >= 4 {
            // The loss: the first segment of this round is dropped; its
            // predecessor (held) is acknowledged, every later one SACKed.
            let first = data[0];
            let before = a.stats().clone();
            let echo = data.last().unwrap().tsval;
            for (i, s) in data.iter().enumerate().skip(1) {
                let sack = [(data[1].seq, s.seq.wrapping_add(s.len))];
                let _ = i;
                peer.ack(&mut a, now, first.seq, echo, &sack);
            }
            now += Duration::from_millis(5);
            let mut out = Sink::default();
            a.poll_transmit(now, &mut out);
            let st = a.stats();
            let (una, ..) = a.seq_state(c).unwrap();
            eprintln!(
                "loss after {} MiB acked (SND.UNA - flight start = {:#x}): recoveries +{}, fast_retransmits +{}, rack_marked_lost +{}, retransmits +{}, rto +{}; first retransmission resent: {}",
                acked >> 20,
                una.get().wrapping_sub(una0.get()),
                st.recoveries - before.recoveries,
                st.fast_retransmits - before.fast_retransmits,
                st.rack_marked_lost - before.rack_marked_lost,
                st.retransmits - before.retransmits,
                st.rto_expired - before.rto_expired,
                out.0.iter().any(|s| s.seq == first.seq && s.len > 0)
            );
            return (st.recoveries - before.recoveries, st.fast_retransmits - before.fast_retransmits, st.rack_marked_lost - before.rack_marked_lost, st.retransmits - before.retransmits);
        }
        // ACK all but the last segment of the round; the last one stays in
        // flight until the next round.
        let last = *data.last().unwrap();
        let upto = last.seq;
        let echo = data[data.len().saturating_sub(2)].tsval;
        let _ = peer.ack(&mut a, now, upto, echo, &[]);
        if let Some(h) = held {
            acked += u64::from(h.len);
        }
        acked += data[..data.len() - 1].iter().map(|s| u64::from(s.len)).sum::<u64>();
        held = Some(last);
        assert!(a.stats().rto_expired == 0, "unexpected RTO");
    }
}

#[test]
fn recovery_point_goes_stale_after_2_gib_in_one_flight() {
    let early = lose_one_after(100 << 20);
    let late = lose_one_after((1u64 << 31) + (100 << 20));
    eprintln!("early {early:?}, late {late:?}");
    assert_eq!(early.0, 1, "control: the early loss enters recovery");
    assert_eq!(late.0, 1, "a loss 2 GiB into one flight never enters recovery (no congestion response)");
}

/// Slow start has no cwnd validation and saturates cwnd at u32::MAX after
/// ~4 GiB without loss; `Conn::cwnd_room` (recovery.rs) then computes
/// `cwnd + dup_acks.min(2) * mss` in plain u32 arithmetic: the first
/// duplicate ACK overflows (a panic in debug builds, a wrap to ~2 MSS in
/// release, which stops limited transmit).
#[test]
fn cwnd_saturates_and_limited_transmit_overflows() {
    let (mut a, c, mut peer, mut now) = setup();
    let buf = vec![0u8; 256 * 1024];
    let mut acked: u64 = 0;
    let target: u64 = 5 << 30;
    loop {
        let _ = a.send(c, &buf);
        let mut out = Sink::default();
        a.poll_transmit(now, &mut out);
        let data: Vec<S> = out.0.iter().copied().filter(|s| s.len > 0).collect();
        now += Duration::from_millis(2);
        if data.is_empty() {
            continue;
        }
        if acked >= target && data.len() >= 4 {
            eprintln!("{} GiB acked; now one duplicate ACK with a SACK block (recoveries so far {}, rto {}, tlp {}, rack_lost {})", acked >> 30, a.stats().recoveries, a.stats().rto_expired, a.stats().tlp_probes, a.stats().rack_marked_lost);
            let first = data[0];
            let echo = data.last().unwrap().tsval;
            peer.ack(&mut a, now, first.seq, echo, &[]);
            let (cwnd, _) = a.congestion_state(c).unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                peer.ack(&mut a, now, first.seq, echo, &[(data[1].seq, data[1].seq.wrapping_add(data[1].len))]);
                let mut out = Sink::default();
                a.poll_transmit(now, &mut out);
            }));
            eprintln!("duplicate ACK processed: {} (cwnd {cwnd}, dup_acks={}, recoveries={}, sack_blocks_received={} invalid={})", if r.is_ok() { "ok" } else { "PANICKED (arithmetic overflow)" }, a.stats().dup_acks, a.stats().recoveries, a.stats().sack_blocks_received, a.stats().sack_invalid);
            assert!(r.is_ok(), "cwnd_room overflowed");
            // RFC 9438 §4.6 / RFC 7661: cwnd follows what the flow uses (the
            // 256-KiB send buffer here: at most twice the flight in slow
            // start), it does not run up to 4 GiB and saturate.
            assert!(cwnd <= 2 * (256 << 10) + 2 * 9000, "cwnd {cwnd} grew far beyond the flight");
            return;
        }
        // A receiver ACKing every second segment; the last one stays in flight.
        let mut i = 1;
        while i < data.len() - 1 {
            let upto = data[i].seq.wrapping_add(data[i].len);
            peer.ack(&mut a, now, upto, data[i].tsval, &[]);
            i += 2;
        }
        let upto = data.last().unwrap().seq;
        peer.ack(&mut a, now, upto, data[data.len().saturating_sub(2)].tsval, &[]);
        acked += data[..data.len() - 1].iter().map(|s| u64::from(s.len)).sum::<u64>();
    }
}

/// `Conn::push_to` (the end of the last `send_nodelay` write, ISS if none)
/// is compared with SND.NXT modulo 2^32 (output.rs `self.push_to >
/// self.snd_nxt`): 2 GiB after it, the stale value reads as "ahead", and
/// Nagle (RFC 9293 §3.7.4) is off for the next 2 GiB of a connection that
/// never asked for it.
fn small_write_goes_with_data_in_flight_after(bytes: u64) -> bool {
    let (mut a, c, mut peer, mut now) = setup();
    let buf = vec![0u8; 256 * 1024];
    let mut acked: u64 = 0;
    loop {
        if acked < bytes {
            let _ = a.send(c, &buf);
        }
        let mut out = Sink::default();
        a.poll_transmit(now, &mut out);
        let data: Vec<S> = out.0.iter().copied().filter(|s| s.len > 0).collect();
        now += Duration::from_micros(200);
        if acked >= bytes {
            // Drain: ACK all but one byte range so that something stays in flight.
            let (una, nxt, ..) = a.seq_state(c).unwrap();
            if nxt.get().wrapping_sub(una.get()) > 9000 {
                peer.ack(&mut a, now, nxt.get().wrapping_sub(100), 0, &[]);
                continue;
            }
            // Data in flight, nothing queued: a 10-byte write must wait (Nagle).
            assert!(nxt != una);
            a.send(c, b"0123456789").unwrap();
            let mut out = Sink::default();
            a.poll_transmit(now, &mut out);
            return out.0.iter().any(|s| s.len == 10);
        }
        if data.is_empty() {
            continue;
        }
        let last = *data.last().unwrap();
        peer.ack(&mut a, now, last.seq, data[data.len().saturating_sub(2)].tsval, &[]);
        acked += data[..data.len() - 1].iter().map(|s| u64::from(s.len)).sum::<u64>();
    }
}

#[test]
fn nagle_switched_off_by_sequence_wrap_of_push_to() {
    let early = small_write_goes_with_data_in_flight_after(100 << 20);
    let late = small_write_goes_with_data_in_flight_after((1u64 << 31) + (100 << 20));
    eprintln!("small write sent at once with data in flight (Nagle bypassed): after 100 MiB {early}, after 2.1 GiB {late}");
    assert_eq!(early, late, "Nagle's behaviour depends on how many GiB the connection sent");
}
