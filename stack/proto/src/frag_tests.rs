//! Tests of the reassembler: rules one by one, then a property test against a
//! simple model (any order, duplicates, overlaps) and arbitrary sequences.

use super::*;
use proptest::prelude::*;
use wire::ipv4::Packet;
use wire::ChecksumMode;

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// A fragment: header bytes (20, or `20 + opts`), parsed header, payload.
#[derive(Debug, Clone)]
struct Frag {
    header: Vec<u8>,
    ip: Ipv4Repr,
    payload: Vec<u8>,
}

fn frag_opts(ident: u16, off: usize, data: &[u8], more: bool, opts: usize) -> Frag {
    let ip = Ipv4Repr {
        src: SRC,
        dst: DST,
        protocol: 17,
        payload_len: data.len(),
        ttl: 64,
        ident,
        dont_frag: false,
        more_frags: more,
        frag_offset: off as u16,
        dscp_ecn: 0,
    };
    let mut b = vec![0u8; 20 + opts + data.len()];
    ip.emit(&mut Packet::new_unchecked(&mut b[..]), ChecksumMode::Full);
    // Options: NOPs (RFC 791 §3.1, option type 1); IHL, length and checksum redone.
    b[20..20 + opts].fill(1);
    b[20 + opts..].copy_from_slice(data);
    let mut p = Packet::new_unchecked(&mut b[..]);
    p.set_header_len((20 + opts) as u8);
    p.set_total_len((20 + opts + data.len()) as u16);
    p.fill_checksum();
    let parsed = Ipv4Repr::parse(&Packet::new_checked(&b[..]).unwrap(), ChecksumMode::Full).unwrap();
    Frag { header: b[..20 + opts].to_vec(), ip: parsed, payload: data.to_vec() }
}

fn frag(ident: u16, off: usize, data: &[u8], more: bool) -> Frag {
    frag_opts(ident, off, data, more, 0)
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

/// Cut `d` into fragments of `size` bytes (a multiple of 8).
fn cut(ident: u16, d: &[u8], size: usize) -> Vec<Frag> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < d.len() {
        let n = size.min(d.len() - off);
        v.push(frag(ident, off, &d[off..off + n], off + n < d.len()));
        off += n;
    }
    v
}

fn feed(r: &mut Reassembler, now: Instant, f: &Frag, out: &mut Vec<u8>) -> FragInput {
    r.input(now, &f.header, &f.ip, &f.payload, out)
}

fn out_buf() -> Vec<u8> {
    Vec::with_capacity(MAX_DATAGRAM)
}

/// The reassembled datagram parses as one unfragmented IPv4 packet with the
/// original payload.
fn check_datagram(out: &[u8], want: &[u8]) {
    let p = Packet::new_checked(out).unwrap();
    let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).expect("header checksum and lengths valid");
    assert!(!ip.more_frags && ip.frag_offset == 0);
    assert_eq!((ip.src, ip.dst, ip.protocol), (SRC, DST, 17));
    assert_eq!(p.payload(), want);
}

#[test]
fn in_order_reverse_and_interleaved_reassemble_exactly() {
    let d = data(8000, 3);
    for order in 0..3 {
        let mut r = Reassembler::new(FragConfig::default());
        let mut fs = cut(9, &d, 1480);
        match order {
            1 => fs.reverse(),
            2 => fs.swap(0, 3),
            _ => {}
        }
        let mut out = out_buf();
        let cap = out.capacity();
        let n = fs.len();
        for (k, f) in fs.iter().enumerate() {
            let res = feed(&mut r, Instant::ZERO, f, &mut out);
            assert_eq!(res, if k + 1 == n { FragInput::Complete } else { FragInput::Held }, "order {order} fragment {k}");
        }
        check_datagram(&out, &d);
        assert_eq!(out.capacity(), cap, "the output buffer did not grow");
        assert_eq!((r.in_progress(), r.bytes_held(), r.poll_timeout()), (0, 0, None), "everything given back");
    }
}

#[test]
fn two_datagrams_interleaved_by_ident_and_protocol() {
    let (a, b) = (data(3000, 1), data(2000, 2));
    let mut r = Reassembler::new(FragConfig::default());
    let fa = cut(1, &a, 1480);
    let mut fb = cut(1, &b, 1480);
    for f in &mut fb {
        f.ip.protocol = 1; // same ident, another protocol: another datagram
    }
    let mut out = out_buf();
    assert_eq!(feed(&mut r, Instant::ZERO, &fa[0], &mut out), FragInput::Held);
    assert_eq!(feed(&mut r, Instant::ZERO, &fb[1], &mut out), FragInput::Held);
    assert_eq!(feed(&mut r, Instant::ZERO, &fa[2], &mut out), FragInput::Held);
    assert_eq!(r.in_progress(), 2);
    assert_eq!(feed(&mut r, Instant::ZERO, &fb[0], &mut out), FragInput::Complete);
    assert_eq!(&out[20..], &b[..]);
    assert_eq!(feed(&mut r, Instant::ZERO, &fa[1], &mut out), FragInput::Complete);
    check_datagram(&out, &a);
}

#[test]
fn exact_duplicates_are_dropped_alone_overlaps_drop_the_datagram() {
    let d = data(4000, 5);
    let fs = cut(2, &d, 1480);
    let mut r = Reassembler::new(FragConfig::default());
    let mut out = out_buf();
    feed(&mut r, Instant::ZERO, &fs[0], &mut out);
    assert_eq!(feed(&mut r, Instant::ZERO, &fs[0], &mut out), FragInput::Dropped(DropReason::Ipv4FragDuplicate));
    feed(&mut r, Instant::ZERO, &fs[2], &mut out);
    assert_eq!(feed(&mut r, Instant::ZERO, &fs[2], &mut out), FragInput::Dropped(DropReason::Ipv4FragDuplicate), "last fragment again");
    // A duplicate with other bytes: the first copy's bytes stand.
    let mut evil = fs[0].clone();
    evil.payload.fill(0xee);
    assert_eq!(feed(&mut r, Instant::ZERO, &evil, &mut out), FragInput::Dropped(DropReason::Ipv4FragDuplicate));
    assert_eq!(feed(&mut r, Instant::ZERO, &fs[1], &mut out), FragInput::Complete);
    check_datagram(&out, &d);

    // Overlap: a fragment that straddles received and missing bytes.
    let mut r = Reassembler::new(FragConfig::default());
    feed(&mut r, Instant::ZERO, &fs[0], &mut out);
    let straddle = frag(2, 1472, &d[1472..1480 + 16], true);
    assert_eq!(feed(&mut r, Instant::ZERO, &straddle, &mut out), FragInput::Dropped(DropReason::Ipv4FragOverlap));
    assert_eq!((r.in_progress(), r.bytes_held()), (0, 0), "the whole datagram is gone");
    // The rest then starts a new datagram, which never completes.
    assert_eq!(feed(&mut r, Instant::ZERO, &fs[1], &mut out), FragInput::Held);
    assert_eq!(feed(&mut r, Instant::ZERO, &fs[2], &mut out), FragInput::Held);

    // Overlap across a hole: covers two holes and the data between.
    let mut r = Reassembler::new(FragConfig::default());
    feed(&mut r, Instant::ZERO, &fs[1], &mut out);
    let wide = frag(2, 0, &d[..1480 * 2 + 8], true);
    assert_eq!(feed(&mut r, Instant::ZERO, &wide, &mut out), FragInput::Dropped(DropReason::Ipv4FragOverlap));
}

#[test]
fn invalid_fragments_drop_the_datagram() {
    let d = data(3000, 6);
    let fs = cut(3, &d, 1480);
    let mut out = out_buf();
    let cases: Vec<(Frag, &str)> = vec![
        (frag(3, 1480, &d[1480..1485], true), "MF with a length not a multiple of 8"),
        (frag(3, 1480, &d[1480..2000], false), "a second last fragment with another end"),
        (frag(3, 2960, &d[..80], true), "data beyond the fixed end"),
    ];
    for (bad, what) in cases {
        let mut r = Reassembler::new(FragConfig::default());
        feed(&mut r, Instant::ZERO, &fs[0], &mut out);
        feed(&mut r, Instant::ZERO, &fs[2], &mut out);
        assert_eq!(feed(&mut r, Instant::ZERO, &bad, &mut out), FragInput::Dropped(DropReason::Ipv4FragInvalid), "{what}");
        assert_eq!(r.in_progress(), 0, "{what}");
    }
    // A last fragment that ends before data already received.
    let mut r = Reassembler::new(FragConfig::default());
    feed(&mut r, Instant::ZERO, &fs[1], &mut out);
    let short_last = frag(3, 0, &d[..800], false);
    assert_eq!(feed(&mut r, Instant::ZERO, &short_last, &mut out), FragInput::Dropped(DropReason::Ipv4FragInvalid));
    // Empty fragments.
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(4, 8, &[], false), &mut out), FragInput::Dropped(DropReason::Ipv4FragInvalid));
}

#[test]
fn datagram_over_65535_bytes_is_dropped() {
    // 40 bytes of options in the first fragment: 60 + 65480 > 65535.
    let mut r = Reassembler::new(FragConfig::default());
    let mut out = out_buf();
    let tail = frag(5, 64000, &data(1480, 1), false);
    assert_eq!(feed(&mut r, Instant::ZERO, &tail, &mut out), FragInput::Held, "65480 bytes + a 20-byte header would fit");
    let first = frag_opts(5, 0, &data(1440, 2), true, 40);
    assert_eq!(first.header.len(), 60);
    assert_eq!(feed(&mut r, Instant::ZERO, &first, &mut out), FragInput::Dropped(DropReason::Ipv4FragTooBig));
    assert_eq!(r.in_progress(), 0);
    // The other order: the header is known when the far fragment arrives.
    assert_eq!(feed(&mut r, Instant::ZERO, &first, &mut out), FragInput::Held);
    assert_eq!(feed(&mut r, Instant::ZERO, &tail, &mut out), FragInput::Dropped(DropReason::Ipv4FragTooBig));
    // Exactly 65535 with a 20-byte header is fine.
    let d = data(65515, 9);
    for f in cut(6, &d, 1480) {
        let _ = feed(&mut r, Instant::ZERO, &f, &mut out);
    }
    check_datagram(&out, &d);
    assert_eq!(out.len(), 65535);
}

#[test]
fn timeout_drops_and_quotes_the_first_fragment() {
    let cfg = FragConfig { timeout: Duration::from_secs(15), ..Default::default() };
    let mut r = Reassembler::new(cfg);
    let d = data(3000, 4);
    let fs = cut(7, &d, 1480);
    let mut out = out_buf();
    let t0 = Instant::from_millis(1000);
    feed(&mut r, t0, &fs[0], &mut out);
    feed(&mut r, t0 + Duration::from_secs(5), &cut(8, &d, 1480)[1], &mut out); // no first fragment
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(15)), "deadline from the first arrival");
    let mut quotes = Vec::new();
    assert_eq!(r.expire(t0 + Duration::from_millis(14_999), |q| quotes.push(q.map(<[u8]>::to_vec))), 0);
    // A later fragment does not refresh the deadline.
    feed(&mut r, t0 + Duration::from_secs(14), &fs[2], &mut out);
    assert_eq!(r.expire(t0 + Duration::from_secs(15), |q| quotes.push(q.map(<[u8]>::to_vec))), 1);
    assert_eq!(quotes.len(), 1);
    let q = quotes[0].as_ref().expect("the first fragment arrived: quote it");
    assert_eq!(&q[..20], &fs[0].header[..], "its header as received");
    assert_eq!(&q[20..], &d[..8], "and the first 64 bits of its data (RFC 792)");
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    assert_eq!(r.expire(t0 + Duration::from_secs(20), |q| quotes.push(q.map(<[u8]>::to_vec))), 1);
    assert_eq!(quotes[1], None, "no first fragment, no quote");
    assert_eq!((r.in_progress(), r.bytes_held(), r.poll_timeout()), (0, 0, None));
    // The rest of datagram 7 alone starts anew and cannot complete.
    assert_eq!(feed(&mut r, t0 + Duration::from_secs(21), &fs[1], &mut out), FragInput::Held);
}

#[test]
fn memory_and_count_bounds_refuse_new_datagrams() {
    // 4 chunks of 2048 bytes, 3 datagrams.
    let cfg = FragConfig { max_bytes: 4 * CHUNK, max_datagrams: 3, ..Default::default() };
    let mut r = Reassembler::new(cfg);
    assert_eq!(r.capacity_bytes(), 4 * CHUNK);
    let mut out = out_buf();
    let d = data(9000, 1);
    // One datagram takes 3 chunks with its first three fragments ([0, 4440)).
    let fs = cut(1, &d, 1480);
    for f in &fs[..3] {
        assert_eq!(feed(&mut r, Instant::ZERO, f, &mut out), FragInput::Held);
    }
    assert_eq!(r.bytes_held(), 3 * CHUNK);
    // A new datagram whose first fragment spans two chunks is refused; the one in
    // progress is kept.
    let other = frag(2, 1480, &d[..1480], true);
    assert_eq!(feed(&mut r, Instant::ZERO, &other, &mut out), FragInput::Dropped(DropReason::Ipv4FragMemory));
    assert_eq!(r.in_progress(), 1);
    // One that fits the last chunk is taken.
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(3, 0, &d[..1001], true), &mut out), FragInput::Dropped(DropReason::Ipv4FragInvalid));
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(3, 0, &d[..1000 / 8 * 8], true), &mut out), FragInput::Held);
    assert_eq!(r.bytes_held(), 4 * CHUNK);
    // Its fourth fragment stays within chunk 2; the fifth needs a fourth chunk,
    // which is not there: the datagram is dropped.
    assert_eq!(feed(&mut r, Instant::ZERO, &fs[3], &mut out), FragInput::Held);
    assert_eq!(feed(&mut r, Instant::ZERO, &fs[4], &mut out), FragInput::Dropped(DropReason::Ipv4FragMemory));
    assert_eq!((r.in_progress(), r.bytes_held()), (1, CHUNK));
    // The count bound.
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(4, 8, &d[..8], true), &mut out), FragInput::Held);
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(5, 8, &d[..8], true), &mut out), FragInput::Held);
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(6, 8, &d[..8], true), &mut out), FragInput::Dropped(DropReason::Ipv4FragMemory));
    assert_eq!(r.in_progress(), 3);
}

#[test]
fn too_many_holes_drop_the_datagram() {
    let mut r = Reassembler::new(FragConfig::default());
    let mut out = out_buf();
    let d = [7u8; 8];
    // Every other 8-byte unit: each leaves a hole before it.
    for k in 0..MAX_HOLES - 1 {
        assert_eq!(feed(&mut r, Instant::ZERO, &frag(1, 16 + 16 * k, &d, true), &mut out), FragInput::Held, "{k}");
    }
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(1, 16 * MAX_HOLES + 16, &d, true), &mut out), FragInput::Dropped(DropReason::Ipv4FragHoles));
    assert_eq!(r.in_progress(), 0);
}

#[test]
fn dup_of_data_received_as_last_fragment_completes() {
    // [0,8) MF then [8,16) MF then [0,16) as the last: all bytes there, end fixed.
    let mut r = Reassembler::new(FragConfig::default());
    let mut out = out_buf();
    let d = data(16, 1);
    feed(&mut r, Instant::ZERO, &frag(1, 0, &d[..8], true), &mut out);
    feed(&mut r, Instant::ZERO, &frag(1, 8, &d[8..], true), &mut out);
    assert_eq!(feed(&mut r, Instant::ZERO, &frag(1, 8, &d[8..], false), &mut out), FragInput::Complete);
    check_datagram(&out, &d);
}

// ---- The model ----

/// What the model says of one fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Held,
    Complete(Vec<u8>),
    Dropped(DropReason),
}

/// The simplest reassembler that follows the rules: per datagram a byte map of
/// what was received, the bytes, and the end once the last fragment came.
#[derive(Default)]
struct Model {
    dgrams: std::collections::HashMap<u16, (Vec<Option<u8>>, Option<usize>)>,
}

impl Model {
    fn input(&mut self, ident: u16, off: usize, bytes: &[u8], more: bool) -> Outcome {
        let end = off + bytes.len();
        if bytes.is_empty() || (more && !bytes.len().is_multiple_of(8)) {
            self.dgrams.remove(&ident);
            return Outcome::Dropped(DropReason::Ipv4FragInvalid);
        }
        let (map, total) = self.dgrams.entry(ident).or_insert_with(|| (vec![None; 70_000], None));
        let received_end = map.iter().rposition(Option::is_some).map_or(0, |p| p + 1);
        let invalid = match *total {
            Some(t) => end > t || (!more && end != t),
            None => !more && received_end > end,
        };
        if invalid {
            self.dgrams.remove(&ident);
            return Outcome::Dropped(DropReason::Ipv4FragInvalid);
        }
        if !more {
            *total = Some(end);
        }
        let have = map[off..end].iter().filter(|b| b.is_some()).count();
        let dup = have == bytes.len();
        if !dup && have > 0 {
            self.dgrams.remove(&ident);
            return Outcome::Dropped(DropReason::Ipv4FragOverlap);
        }
        if !dup {
            for (k, b) in bytes.iter().enumerate() {
                map[off + k] = Some(*b);
            }
            // Holes: maximal runs of missing bytes before the end (or before the
            // last byte received + an open one).
            let limit = total.unwrap_or(map.len());
            let mut holes = 0;
            let mut in_hole = false;
            for b in &map[..limit] {
                if b.is_none() && !in_hole {
                    holes += 1;
                }
                in_hole = b.is_none();
            }
            if holes > MAX_HOLES {
                self.dgrams.remove(&ident);
                return Outcome::Dropped(DropReason::Ipv4FragHoles);
            }
        }
        if let Some(t) = *total {
            if map[..t].iter().all(Option::is_some) {
                let whole = map[..t].iter().map(|b| b.unwrap_or(0)).collect();
                self.dgrams.remove(&ident);
                return Outcome::Complete(whole);
            }
        }
        if dup {
            Outcome::Dropped(DropReason::Ipv4FragDuplicate)
        } else {
            Outcome::Held
        }
    }
}

/// Fragments of up to three datagrams: a clean cut (sizes multiples of 8), plus
/// duplicates of some pieces and some pieces at other 8-aligned places (which
/// overlap or duplicate), shuffled together.
fn arb_fragments() -> impl Strategy<Value = Vec<(u16, usize, Vec<u8>, bool)>> {
    let one = (1usize..3000, proptest::collection::vec(1usize..64, 1..12), any::<u8>());
    (proptest::collection::vec(one, 1..4), proptest::collection::vec((any::<u16>(), any::<u16>(), 0u8..4), 0..6), any::<u64>()).prop_map(
        |(dgrams, extra, seed)| {
            let mut v = Vec::new();
            for (ident, (len, units, s)) in dgrams.into_iter().enumerate() {
                let d = data(len, s);
                let mut off = 0;
                let mut k = 0;
                while off < len {
                    let n = (units[k % units.len()] * 8).min(len - off);
                    v.push((ident as u16, off, d[off..off + n].to_vec(), off + n < len));
                    off += n;
                    k += 1;
                }
                let pieces = v.len();
                for (a, b, kind) in &extra {
                    let at = usize::from(*a) % pieces;
                    match kind {
                        // An exact duplicate.
                        0 | 1 => {
                            let p = v[at].clone();
                            v.push(p);
                        }
                        // Another 8-aligned range of the same datagram.
                        _ => {
                            let start = (usize::from(*b) % len) / 8 * 8;
                            let n = (usize::from(*a) % 200 + 1) * 8;
                            let end = (start + n).min(len);
                            v.push((ident as u16, start, d[start..end].to_vec(), end < len));
                        }
                    }
                }
            }
            // Shuffle (Fisher-Yates on a splitmix stream).
            let mut x = seed;
            for i in (1..v.len()).rev() {
                x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let z = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                v.swap(i, (z % (i as u64 + 1)) as usize);
            }
            v
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Fragments in any order, with duplicates and overlaps: the reassembler
    /// completes, holds or drops exactly as the model says, byte for byte.
    #[test]
    fn reassembly_matches_the_model(frags in arb_fragments()) {
        let mut r = Reassembler::new(FragConfig::default());
        let mut m = Model::default();
        let mut out = out_buf();
        for (ident, off, bytes, more) in &frags {
            let f = frag(*ident, *off, bytes, *more);
            let got = match feed(&mut r, Instant::ZERO, &f, &mut out) {
                FragInput::Held => Outcome::Held,
                FragInput::Complete => {
                    check_datagram(&out, &out[20..]);
                    Outcome::Complete(out[20..].to_vec())
                }
                FragInput::Dropped(d) => Outcome::Dropped(d),
            };
            let want = m.input(*ident, *off, bytes, *more);
            prop_assert_eq!(got, want, "fragment ident {} off {} len {} mf {}", ident, off, bytes.len(), more);
        }
        prop_assert_eq!(r.in_progress(), m.dgrams.len());
    }

    /// Arbitrary fragment sequences (any offsets, lengths, flags, keys, times)
    /// never panic, and memory and the datagram count stay within their bounds;
    /// once everything expired, everything is given back.
    #[test]
    fn arbitrary_fragments_stay_within_bounds(
        seq in proptest::collection::vec((0u16..6, 0u16..8190, 0usize..3000, any::<bool>(), 0u64..3000, 0usize..3), 1..200)
    ) {
        let cfg = FragConfig { timeout: Duration::from_millis(2000), max_bytes: 10 * CHUNK, max_datagrams: 4 };
        let mut r = Reassembler::new(cfg);
        let mut out = out_buf();
        let mut now = Instant::ZERO;
        let payload = data(3000, 0);
        for (ident, units, len, more, dt, opts) in seq {
            now += Duration::from_millis(dt);
            r.expire(now, |_| {});
            let off = usize::from(units) * 8;
            let len = len.min(65515usize.saturating_sub(off));
            let f = frag_opts(ident, off, &payload[..len], more, opts * 4);
            let _ = feed(&mut r, now, &f, &mut out);
            prop_assert!(r.bytes_held() <= r.capacity_bytes());
            prop_assert!(r.capacity_bytes() <= cfg.max_bytes);
            prop_assert!(r.in_progress() <= cfg.max_datagrams);
            prop_assert!(out.len() <= MAX_DATAGRAM);
        }
        r.expire(now + Duration::from_secs(3), |_| {});
        prop_assert_eq!((r.in_progress(), r.bytes_held(), r.poll_timeout()), (0, 0, None));
    }
}

// ---- IPv6 (RFC 8200 §4.5) ----

const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// The unfragmentable part of a fragment: a fixed header whose next header is
/// already the fragment header's (UDP), and `opts` bytes of destination
/// options before it (next header patched the same way).
fn unfrag6(opts: usize) -> Vec<u8> {
    let ip = wire::ipv6::Ipv6Repr {
        src: SRC6,
        dst: DST6,
        next_header: if opts == 0 { 17 } else { 60 },
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut b = vec![0u8; 40 + opts];
    ip.emit(&mut wire::ipv6::Packet::new_unchecked(&mut b[..]));
    if opts > 0 {
        b[40] = 17;
        b[41] = (opts / 8 - 1) as u8;
        b[42] = 1; // PadN over the rest
        b[43] = (opts - 4) as u8;
    }
    b
}

fn feed6(r: &mut Reassembler, now: Instant, ident: u16, off: usize, bytes: &[u8], more: bool, out: &mut Vec<u8>) -> FragInput {
    let f = wire::ipv6ext::FragmentRepr { next_header: 17, frag_offset: off as u16, more_frags: more, ident: 0x1000_0000 | u32::from(ident) };
    r.input6(now, &unfrag6(0), SRC6, DST6, &f, bytes, out)
}

#[test]
fn v6_reassembles_with_payload_length_and_next_header() {
    let mut r = Reassembler::new_v6(FragConfig::default());
    let mut out = Vec::with_capacity(MAX_DATAGRAM_V6);
    let d = data(3000, 9);
    let f = |off: usize, more: bool| wire::ipv6ext::FragmentRepr { next_header: 17, frag_offset: off as u16, more_frags: more, ident: 77 };
    // Last fragment first, with 8 bytes of destination options in the first.
    assert_eq!(r.input6(Instant::ZERO, &unfrag6(8), SRC6, DST6, &f(1448, false), &d[1448..], &mut out), FragInput::Held);
    assert_eq!(r.input6(Instant::ZERO, &unfrag6(8), SRC6, DST6, &f(0, true), &d[..1448], &mut out), FragInput::Complete);
    let p = wire::ipv6::Packet::new_checked(&out[..]).unwrap();
    assert_eq!(usize::from(p.payload_len()), 8 + 3000);
    assert_eq!((p.next_header(), p.payload()[0]), (60, 17));
    assert_eq!(&p.payload()[8..], &d[..]);
}

#[test]
fn v6_overlap_drops_the_datagram_rfc5722() {
    let mut r = Reassembler::new_v6(FragConfig::default());
    let mut out = Vec::with_capacity(MAX_DATAGRAM_V6);
    let d = data(64, 1);
    assert_eq!(feed6(&mut r, Instant::ZERO, 1, 0, &d[..32], true, &mut out), FragInput::Held);
    assert_eq!(feed6(&mut r, Instant::ZERO, 1, 24, &d[24..], false, &mut out), FragInput::Dropped(DropReason::Ipv6FragOverlap));
    assert_eq!(r.in_progress(), 0, "the whole datagram is gone");
    // Its later fragments start a new datagram that cannot complete alone.
    assert_eq!(feed6(&mut r, Instant::ZERO, 1, 32, &d[32..], false, &mut out), FragInput::Held);
}

#[test]
fn v6_too_big_and_invalid() {
    let mut r = Reassembler::new_v6(FragConfig::default());
    let mut out = Vec::with_capacity(MAX_DATAGRAM_V6);
    let d = data(1000, 1);
    // RFC 8200 §4.5: offset + length past a 65535-byte payload.
    assert_eq!(feed6(&mut r, Instant::ZERO, 2, 65528, &d[..16], false, &mut out), FragInput::Dropped(DropReason::Ipv6FragTooBig));
    // A non-last fragment whose length is not a multiple of 8.
    assert_eq!(feed6(&mut r, Instant::ZERO, 3, 0, &d[..13], true, &mut out), FragInput::Dropped(DropReason::Ipv6FragInvalid));
    // The largest legal packet completes.
    let big = data(65535, 3);
    let mut off = 0;
    let mut last = FragInput::Held;
    while off < big.len() {
        let n = 1448usize.min(big.len() - off);
        last = feed6(&mut r, Instant::ZERO, 4, off, &big[off..off + n], off + n < big.len(), &mut out);
        off += n;
    }
    assert_eq!(last, FragInput::Complete);
    assert_eq!(out.len(), MAX_DATAGRAM_V6);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The IPv6 reassembler against the same model (reasons in their IPv6 names).
    #[test]
    fn v6_reassembly_matches_the_model(frags in arb_fragments()) {
        let mut r = Reassembler::new_v6(FragConfig::default());
        let mut m = Model::default();
        let mut out = Vec::with_capacity(MAX_DATAGRAM_V6);
        for (ident, off, bytes, more) in &frags {
            let got = match feed6(&mut r, Instant::ZERO, *ident, *off, bytes, *more, &mut out) {
                FragInput::Held => Outcome::Held,
                FragInput::Complete => {
                    let p = wire::ipv6::Packet::new_checked(&out[..]).unwrap();
                    prop_assert_eq!(usize::from(p.payload_len()), out.len() - 40);
                    prop_assert_eq!(p.next_header(), 17);
                    Outcome::Complete(out[40..].to_vec())
                }
                FragInput::Dropped(d) => Outcome::Dropped(d),
            };
            let want = match m.input(*ident, *off, bytes, *more) {
                Outcome::Dropped(d) => Outcome::Dropped(r.reason(d)),
                o => o,
            };
            prop_assert_eq!(got, want, "fragment ident {} off {} len {} mf {}", ident, off, bytes.len(), more);
        }
        prop_assert_eq!(r.in_progress(), m.dgrams.len());
    }
}
