//! Tests of the neighbour cache: every state transition of RFC 4861 §7.3.3
//! (Appendix C), the packet queue and the bounds.

use super::*;

const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC2: [u8; 6] = [2, 0, 0, 0, 0, 9];

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn tick(c: &mut NeighbourCache, now: Instant) -> Vec<Action> {
    let mut v = Vec::new();
    c.tick(now, |a| v.push(a));
    v
}

#[test]
fn incomplete_retransmits_then_fails_and_drops_the_queue() {
    let mut c = NeighbourCache::new(8);
    assert_eq!(c.lookup(t(0), A), Lookup::Solicit);
    assert_eq!(c.lookup(t(10), A), Lookup::Pending, "one solicitation at a time");
    assert!(c.enqueue(&A, vec![1; 100]));
    assert!(c.enqueue(&A, vec![2; 100]));
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Incomplete);
    assert!(tick(&mut c, t(999)).is_empty(), "nothing before RetransTimer");
    assert_eq!(tick(&mut c, t(1000)), vec![Action::Solicit { target: A, unicast: None }]);
    assert_eq!(tick(&mut c, t(2000)), vec![Action::Solicit { target: A, unicast: None }]);
    // MAX_MULTICAST_SOLICIT (3) sent: the entry fails, its packets are dropped.
    assert_eq!(tick(&mut c, t(3000)), vec![Action::Failed { target: A, dropped: 2 }]);
    assert!(c.state(&A).is_none());
    assert_eq!(c.queued_bytes(), 0);
}

#[test]
fn solicited_advert_resolves_and_releases_the_queue() {
    let mut c = NeighbourCache::new(8);
    c.lookup(t(0), A);
    assert!(c.enqueue(&A, vec![7; 60]));
    // An advertisement without the target link-layer option is ignored while INCOMPLETE.
    assert!(!c.on_advert(t(5), A, None, true, true, false));
    assert!(c.on_advert(t(5), A, Some(MAC), true, false, false));
    assert_eq!(c.state(&A), Some((NeighbourState::Reachable, Some(MAC))));
    assert!(c.has_ready());
    assert_eq!(c.poll_timeout(), Some(Instant::ZERO));
    let mut sent = Vec::new();
    c.flush_ready(|m, p| sent.push((m, p.to_vec())));
    assert_eq!(sent, vec![(MAC, vec![7; 60])]);
    assert!(!c.has_ready());
    assert_eq!(c.queued_bytes(), 0);
    assert_eq!(c.lookup(t(6), A), Lookup::Found(MAC));
}

#[test]
fn unsolicited_advert_leaves_incomplete_stale() {
    let mut c = NeighbourCache::new(8);
    c.lookup(t(0), A);
    assert!(c.on_advert(t(1), A, Some(MAC), false, true, false));
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Stale);
}

#[test]
fn reachable_stale_delay_probe_and_deletion() {
    let mut c = NeighbourCache::new(8);
    c.lookup(t(0), A);
    c.on_advert(t(0), A, Some(MAC), true, true, false);
    // ReachableTime passes: STALE.
    tick(&mut c, t(30_000));
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Stale);
    // Sending to a STALE entry: used at once, DELAY.
    assert_eq!(c.lookup(t(31_000), A), Lookup::Found(MAC));
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Delay);
    assert!(tick(&mut c, t(35_999)).is_empty());
    // DELAY_FIRST_PROBE_TIME: PROBE with a unicast solicitation.
    assert_eq!(tick(&mut c, t(36_000)), vec![Action::Solicit { target: A, unicast: Some(MAC) }]);
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Probe);
    assert_eq!(c.lookup(t(36_100), A), Lookup::Found(MAC), "still used while probing");
    assert_eq!(tick(&mut c, t(37_000)), vec![Action::Solicit { target: A, unicast: Some(MAC) }]);
    assert_eq!(tick(&mut c, t(38_000)), vec![Action::Solicit { target: A, unicast: Some(MAC) }]);
    // MAX_UNICAST_SOLICIT without an answer: deleted.
    assert_eq!(tick(&mut c, t(39_000)), vec![Action::Failed { target: A, dropped: 0 }]);
    assert!(c.state(&A).is_none());
}

#[test]
fn probe_answered_returns_to_reachable() {
    let mut c = NeighbourCache::new(8);
    c.on_lladdr(t(0), A, MAC);
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Stale, "learned from a solicitation: STALE (RFC 4861 §7.2.3)");
    c.lookup(t(1), A);
    tick(&mut c, t(5001));
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Probe);
    c.on_advert(t(5100), A, Some(MAC), true, false, false);
    assert_eq!(c.state(&A).unwrap().0, NeighbourState::Reachable);
}

#[test]
fn advert_without_override_does_not_change_the_mac() {
    let mut c = NeighbourCache::new(8);
    c.lookup(t(0), A);
    c.on_advert(t(0), A, Some(MAC), true, true, false);
    // RFC 4861 §7.2.5: O clear and another address: REACHABLE becomes STALE, MAC kept.
    c.on_advert(t(1), A, Some(MAC2), false, false, false);
    assert_eq!(c.state(&A), Some((NeighbourState::Stale, Some(MAC))));
    // O set: the new address is taken.
    c.on_advert(t(2), A, Some(MAC2), false, true, false);
    assert_eq!(c.state(&A), Some((NeighbourState::Stale, Some(MAC2))));
}

#[test]
fn bounded_entries_prefer_keeping_resolved_ones() {
    let mut c = NeighbourCache::new(4);
    let r = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    c.lookup(t(0), r);
    c.on_advert(t(0), r, Some(MAC), true, true, false);
    // A scan of the /64 (RFC 6583): many INCOMPLETE entries.
    for k in 0..1000u16 {
        c.lookup(t(1), Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, k));
        assert!(c.len() <= 4);
    }
    assert_eq!(c.state(&r).unwrap().0, NeighbourState::Reachable, "the resolved neighbour survived the scan");
}

#[test]
fn queue_is_bounded_per_neighbour_and_in_bytes() {
    let mut c = NeighbourCache::new(8);
    c.lookup(t(0), A);
    for k in 0..(QUEUE_PER_NEIGHBOUR + 10) {
        assert!(c.enqueue(&A, vec![k as u8; 100]));
    }
    assert_eq!(c.queued_bytes(), QUEUE_PER_NEIGHBOUR * 100, "older packets gave way");
    let b = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    c.lookup(t(0), b);
    for _ in 0..200 {
        c.enqueue(&b, vec![0; 4000]);
        assert!(c.queued_bytes() <= QUEUE_BYTES);
    }
    assert!(!c.enqueue(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3), vec![0; 10]), "no entry, no queue");
    c.on_advert(t(1), A, Some(MAC), true, true, false);
    let mut first = None;
    c.flush_ready(|_, p| {
        first.get_or_insert(p[0]);
    });
    assert_eq!(first, Some(10), "the oldest ones were dropped, order kept");
}
