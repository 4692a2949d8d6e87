//! Header prediction (`TcpConfig::header_prediction`, `tcp/predict.rs`) changes
//! how a segment is processed, never what comes of it: every run here is made
//! twice in the pair simulator, prediction on and off, and the two must put the
//! same segments on the wire at the same instants, count the same (except
//! `predicted`) and deliver the same bytes. The links cover what sends a
//! segment off the predicted path: loss and recovery (SACK and not), reordering,
//! duplication, jitter, windows a slow reader closes, a transmit ring that
//! runs out of frames, FINs, and connections without timestamps.

mod sim;

use proto::tcp::{ConnId, TcpConfig, TcpStats};
use proto::time::Duration;
use sim::{check_same, pattern, Flow, Seg, Sim};

/// A link and an endpoint configuration for one pair of runs.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    /// Per mille.
    loss: u64,
    reorder: u64,
    dup: u64,
    jitter_us: u64,
    /// Bytes the receiving application reads per round.
    read_limit: usize,
    tx_room: Option<usize>,
    timestamps: bool,
    sack: bool,
    bytes: usize,
}

const BASE: Case = Case { name: "clean", loss: 0, reorder: 0, dup: 0, jitter_us: 0, read_limit: usize::MAX, tx_room: None, timestamps: true, sack: true, bytes: 1_500_000 };

/// What one run leaves: every segment put on the wire with its instant (as
/// text: `Seg` holds options without `PartialEq`), both endpoints' counters,
/// and the bytes each side received.
struct Run {
    log: Vec<String>,
    stats: (TcpStats, TcpStats),
    got: (Vec<u8>, Vec<u8>),
    done: bool,
}

fn run(case: Case, seed: u64, predict: bool) -> Run {
    let cfg = TcpConfig { header_prediction: predict, timestamps: case.timestamps, sack: case.sack, ..TcpConfig::default() };
    let mut s = Sim::new(seed, cfg.clone(), cfg);
    s.loss = case.loss;
    s.reorder = case.reorder;
    s.dup = case.dup;
    s.jitter = Duration::from_micros(case.jitter_us);
    s.tx_room = case.tx_room;
    s.b.listen(80).unwrap();
    let c: ConnId = s.connect(80);
    let mut sc = None;
    let ok = s.run(Duration::from_secs(10), |s| {
        sc = s.accepted();
        sc.is_some() && s.a.state(c).is_some_and(|st| st.is_synchronized())
    });
    assert!(ok, "{}: seed {seed}: no connection", case.name);
    let sc = sc.unwrap();
    let mut up = Flow::new(pattern(case.bytes, 1), true);
    let mut down = Flow::new(pattern(case.bytes / 2, 2), true);
    let limit = case.read_limit;
    let done = if limit == usize::MAX {
        s.run(Duration::from_secs(600), |s| {
            up.pump(&mut s.a, c, &mut s.b, sc, limit);
            down.pump(&mut s.b, sc, &mut s.a, c, limit);
            up.done() && down.done()
        })
    } else {
        // A slow reader reads every millisecond (`Sim::run` would jump to
        // the next timer, past the reads that open the window).
        let end = s.now + Duration::from_secs(600);
        while !(up.done() && down.done()) && s.now < end {
            s.sleep(Duration::from_millis(1));
            up.pump(&mut s.a, c, &mut s.b, sc, limit);
            down.pump(&mut s.b, sc, &mut s.a, c, limit);
        }
        s.round();
        up.done() && down.done()
    };
    let log = s.log.iter().map(|(t, seg): &(_, Seg)| format!("{t:?} {seg:?}")).collect();
    Run { log, stats: (s.a.stats().clone(), s.b.stats().clone()), got: (up.got, down.got), done }
}

/// Both runs of `case` over `seeds`: the same wire, counters and bytes.
/// Returns the predicted share of the segments received (prediction on).
fn same_outcome(case: Case, seeds: std::ops::Range<u64>) -> f64 {
    let (mut predicted, mut segments) = (0u64, 0u64);
    for seed in seeds {
        let on = run(case, seed, true);
        let off = run(case, seed, false);
        assert!(on.done && off.done, "{}: seed {seed}: transfer did not finish (on {}, off {})", case.name, on.done, off.done);
        check_same(seed, "a -> b (prediction on)", &on.got.0, &pattern(case.bytes, 1));
        check_same(seed, "b -> a (prediction on)", &on.got.1, &pattern(case.bytes / 2, 2));
        if let Some(i) = on.log.iter().zip(&off.log).position(|(x, y)| x != y) {
            panic!("{}: seed {seed}: segment {i} differs\n  on:  {}\n  off: {}", case.name, on.log[i], off.log[i]);
        }
        assert_eq!(on.log.len(), off.log.len(), "{}: seed {seed}: segment count", case.name);
        for (side, (x, y)) in [("a", (&on.stats.0, &off.stats.0)), ("b", (&on.stats.1, &off.stats.1))] {
            assert_eq!(y.predicted, 0, "{}: prediction off predicted", case.name);
            let x = TcpStats { predicted: 0, ..x.clone() };
            assert_eq!(&x, y, "{}: seed {seed}: counters of {side} differ", case.name);
        }
        predicted += on.stats.0.predicted + on.stats.1.predicted;
        segments += on.stats.0.segments_in + on.stats.1.segments_in;
    }
    predicted as f64 / segments as f64
}

#[test]
fn clean_link_is_mostly_predicted() {
    let share = same_outcome(BASE, 1..3);
    // Every data segment and every ACK of new data, in order: all but the
    // handshake, the FINs and their ACKs.
    assert!(share > 0.9, "only {:.1} % of segments predicted on a clean link", share * 100.0);
}

#[test]
fn loss_and_recovery_with_sack() {
    let share = same_outcome(Case { name: "loss 3 % + SACK", loss: 30, ..BASE }, 1..5);
    assert!(share > 0.3, "only {:.1} % predicted", share * 100.0);
}

#[test]
fn loss_without_sack_or_timestamps() {
    same_outcome(Case { name: "loss 3 %, no SACK, no timestamps", loss: 30, sack: false, timestamps: false, ..BASE }, 1..5);
}

#[test]
fn reordering_duplication_and_jitter() {
    same_outcome(Case { name: "reorder 5 %, dup 1 %, jitter 300 us", reorder: 50, dup: 10, jitter_us: 300, ..BASE }, 1..5);
}

#[test]
fn slow_reader_and_closing_windows() {
    let case = Case { name: "slow reader", read_limit: 500, bytes: 150_000, ..BASE };
    same_outcome(case, 1..3);
    let windows: Vec<u16> = run(case, 1, true).log.iter().filter_map(|l| l.split("window: ").nth(1)?.split(',').next()?.parse().ok()).collect();
    let (min, max) = (windows.iter().min().copied().unwrap_or(0), windows.iter().max().copied().unwrap_or(0));
    assert!(u32::from(min) * 20 < u32::from(max), "the reader never closed the window (announced {min}..={max})");
}

#[test]
fn transmit_ring_running_out() {
    same_outcome(Case { name: "tx room 3", tx_room: Some(3), loss: 10, ..BASE }, 1..3);
}


