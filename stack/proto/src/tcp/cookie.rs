//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, a SYN is
//! answered by a SYN-ACK whose initial sequence number encodes what the
//! connection needs, and no state is kept; the returning ACK (SEG.ACK − 1 is
//! the cookie) is validated and the connection created ESTABLISHED.
//!
//! The encoding follows Linux's (`net/ipv4/syncookies.c`), with SipHash-2-4
//! keyed by [`super::TcpConfig::cookie_secret`] (a secret of its own, not the
//! ISN secret):
//!
//! ```text
//! cookie = H(secret, 4-tuple, 0) + SEG.SEQ(SYN) + (count << 24)
//!        + ((H(secret, 4-tuple, count) + mss_index) mod 2^24)
//! ```
//!
//! `count` is a coarse clock ([`PERIOD`], 60 s) and `mss_index` picks one of four
//! MSS values ([`MSS_V4`], [`MSS_V6`]). On the ACK the first hash and the
//! client's ISN (SEG.SEQ − 1) are subtracted, the counter in the top 8 bits
//! must be at most [`MAX_AGE`] − 1 periods old, and after subtracting the second
//! hash for that counter what is left must be a valid MSS index: a forged ACK
//! passes with probability about 2 · 4 / 2^24 per try.
//!
//! Window scale and SACK-permitted do not fit in the ISN. With timestamps
//! (RFC 7323) they ride in the low 6 bits of our TSval, which the client echoes
//! in TSecr (Linux's `cookie_init_timestamp`): bits 0–3 the client's shift
//! (15: none), bit 4 SACK-permitted, bit 5 ECN (we do not do ECN: always 0,
//! and an ACK echoing it is refused). Without timestamps only the MSS
//! survives: the cookie SYN-ACK then offers no window scaling either (both
//! sides use 16-bit windows, at most 64 KiB in flight), as Linux does.
//!
//! A cookie SYN-ACK is sent once and never retransmitted (there is no state to
//! retransmit from): a client whose SYN-ACK is lost retransmits its SYN.

use super::isn::siphash24;
use super::options::{ts_clock, DEFAULT_MSS_V4, DEFAULT_MSS_V6, MAX_WSCALE};
use super::{SegmentSink, SeqNum, State, Tcp};
use crate::time::{Duration, Instant};
use core::net::{IpAddr, SocketAddr};
use wire::tcp::{TcpFlags, TcpOptions, TcpRepr};

/// One step of the cookie's time counter (Linux's `TCP_SYNCOOKIE_PERIOD`).
pub const PERIOD: Duration = Duration::from_secs(60);
/// A cookie is valid while the counter has advanced by less than this (Linux's
/// `MAX_SYNCOOKIE_AGE`): an ACK is accepted 60 to 120 s after its SYN-ACK.
pub const MAX_AGE: u32 = 2;
/// How long after the last cookie a listener still validates ACKs as cookies
/// (afterwards an ACK to a listener is answered by RST without hashing).
pub const VALIDITY: Duration = Duration::from_secs(60 * MAX_AGE as u64);
const COUNT_BITS: u32 = 24;
const HASH_MASK: u32 = (1 << COUNT_BITS) - 1;
/// MSS values a cookie can carry over IPv4 (Linux's `msstab`): the client's
/// MSS is rounded down to one of them.
pub const MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
/// MSS values over IPv6 (Linux's: 1280, 1480, 1500 and 9000 minus 60).
pub const MSS_V6: [u16; 4] = [1220, 1420, 1440, 8940];
const TS_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_BITS) - 1;
const TS_WSCALE_NONE: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;

/// The cookie's time counter at `now`.
#[inline]
pub fn counter(now: Instant) -> u32 {
    (now.micros() / PERIOD.as_micros() as u64) as u32
}

/// The MSS table of an address family.
#[inline]
pub fn mss_table(v6: bool) -> &'static [u16; 4] {
    if v6 {
        &MSS_V6
    } else {
        &MSS_V4
    }
}

/// Index of the largest table entry not above the client's MSS (the smallest
/// entry when even that is above it).
pub fn mss_index(peer_mss: u16, v6: bool) -> u32 {
    let t = mss_table(v6);
    (1..t.len()).rev().find(|&i| peer_mss >= t[i]).unwrap_or(0) as u32
}

/// Keyed hash of the 4-tuple and `count`, with a domain byte apart from the ISN's.
fn hash(secret: &[u8; 16], local: &SocketAddr, remote: &SocketAddr, count: u32, which: u8) -> u32 {
    let mut buf = [0u8; 42];
    let mut put = |at: usize, a: &SocketAddr| {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        buf[at..at + 16].copy_from_slice(&ip);
        buf[at + 16..at + 18].copy_from_slice(&a.port().to_be_bytes());
    };
    put(0, local);
    put(18, remote);
    buf[36..40].copy_from_slice(&count.to_le_bytes());
    buf[40] = which;
    buf[41] = 0xc0;
    siphash24(secret, &buf) as u32
}

/// The cookie (our ISN) for a SYN with sequence number `peer_isn` from `remote`
/// to `local` at `now`, carrying `mss_index` (< 4).
pub fn encode(secret: &[u8; 16], local: &SocketAddr, remote: &SocketAddr, peer_isn: u32, now: Instant, mss_index: u32) -> u32 {
    debug_assert!(mss_index < 4);
    let count = counter(now);
    hash(secret, local, remote, 0, 0)
        .wrapping_add(peer_isn)
        .wrapping_add(count << COUNT_BITS)
        .wrapping_add(hash(secret, local, remote, count, 1).wrapping_add(mss_index) & HASH_MASK)
}

/// Validate `cookie` (SEG.ACK − 1 of an ACK to a listener) against the client's
/// ISN (SEG.SEQ − 1) at `now`: the MSS index it carries, or `None` if it was
/// not made by us for this 4-tuple within the last [`MAX_AGE`] periods.
pub fn check(secret: &[u8; 16], local: &SocketAddr, remote: &SocketAddr, peer_isn: u32, cookie: u32, now: Instant) -> Option<u32> {
    let count = counter(now);
    let rest = cookie.wrapping_sub(hash(secret, local, remote, 0, 0).wrapping_add(peer_isn));
    // The counter it was made with, modulo 2^8.
    let age = count.wrapping_sub(rest >> COUNT_BITS) & (u32::MAX >> COUNT_BITS);
    if age >= MAX_AGE {
        return None;
    }
    let made = count.wrapping_sub(age);
    let index = rest.wrapping_sub(hash(secret, local, remote, made, 1)) & HASH_MASK;
    (index < 4).then_some(index)
}

/// The options a cookie SYN-ACK carries in its TSval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsOptions {
    /// The client's window shift (RFC 7323 §2), `None` if it offered none (or we
    /// do not scale).
    pub wscale: Option<u8>,
    /// The client's SYN carried SACK-permitted (RFC 2018 §2).
    pub sack_permitted: bool,
}

/// Our TSval for a cookie SYN-ACK: the timestamp clock `ts_now` with its low 6
/// bits replaced by `opts`, moved back one step of 64 if that would put it in
/// the future (a later TSval of the connection must not be smaller).
pub fn ts_encode(ts_now: u32, opts: TsOptions) -> u32 {
    let mut bits = opts.wscale.map_or(TS_WSCALE_NONE, |w| u32::from(w.min(MAX_WSCALE)));
    if opts.sack_permitted {
        bits |= TS_SACK;
    }
    let mut ts = (ts_now & !TS_MASK) | bits;
    if bits > ts_now & TS_MASK {
        ts = ts.wrapping_sub(1 << TS_BITS);
    }
    ts
}

/// The options in the TSecr of a cookie ACK; `None` if they cannot be ours (the
/// ECN bit: we never set it).
pub fn ts_decode(tsecr: u32) -> Option<TsOptions> {
    let bits = tsecr & TS_MASK;
    if bits & TS_ECN != 0 {
        return None;
    }
    // Four bits: 0..=14 a shift, 15 none.
    let w = bits & 0xf;
    let wscale = if w == TS_WSCALE_NONE { None } else { Some(w as u8) };
    Some(TsOptions { wscale, sack_permitted: bits & TS_SACK != 0 })
}

/// What became of an ACK validated as a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieAck {
    /// Not a cookie of ours: answer as any ACK to a listener.
    Invalid,
    /// A valid cookie, but no room (accept queue or connection table full):
    /// dropped and counted, unanswered (the client's retransmission may find room
    /// while the cookie is valid).
    Dropped,
    /// The connection exists now.
    Established,
}

impl Tcp {
    /// Answer the SYN `repr` with a cookie SYN-ACK (RFC 4987 §3.6), keeping no
    /// state. Without timestamps only the MSS survives, so no window scaling is
    /// offered.
    pub(crate) fn send_cookie(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, repr: &TcpRepr<'_>, out: &mut impl SegmentSink) {
        if let Some(l) = self.listeners.get_mut(&repr.dst_port) {
            l.cookies_until = Some(now + VALIDITY);
        }
        let v6 = remote.is_ipv6();
        let peer_mss = repr.options.mss.unwrap_or(if v6 { DEFAULT_MSS_V6 } else { DEFAULT_MSS_V4 });
        let index = mss_index(peer_mss, v6);
        let isn = encode(&self.cfg.cookie_secret, &local, &remote, repr.seq, now, index);
        let mut offer = self.offer(&remote).answer(&repr.options);
        if !offer.timestamps {
            // Without timestamps the cookie has no room for window scale or
            // SACK-permitted: offer neither.
            offer.wscale = None;
            offer.sack = false;
        }
        let timestamps = match (offer.timestamps, repr.options.timestamps) {
            (true, Some((peer_tsval, _))) => {
                let opts = TsOptions { wscale: offer.wscale.and(repr.options.window_scale), sack_permitted: repr.options.sack_permitted };
                let ts_now = ts_clock(now, self.ts_offset(&local, &remote));
                Some((ts_encode(ts_now, opts), peer_tsval))
            }
            _ => None,
        };
        // The MSS a queued SYN-ACK announces (the offer's: 20 bytes less over
        // IPv6, RFC 9293 §3.7.1); the cookie encodes the peer's, not ours.
        let options = TcpOptions { mss: Some(offer.mss), window_scale: offer.wscale, sack_permitted: offer.sack, timestamps, ..TcpOptions::default() };
        let synack = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: isn,
            ack: repr.seq.wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            // A SYN's window is never scaled (RFC 7323 §2.2); the same value a
            // queued SYN-ACK announces: the receive buffer the connection the
            // cookie creates starts with, not the one it may grow to (a larger
            // window would shrink at once, RFC 9293 §3.8.6, and the client's
            // first flight into it be dropped as out of window).
            window: self.cfg.initial_rx_buffer().min(0xffff) as u16,
            urgent: 0,
            options,
            payload: &[],
        };
        self.stats.cookies_sent += 1;
        self.stats.segments_out += 1;
        if !out.send_segment(local.ip(), remote.ip(), &synack) {
            self.stats.send_failed += 1;
        }
    }

    /// Does the listener on `port` validate ACKs as cookies now (it sent one
    /// within [`VALIDITY`])?
    pub(crate) fn cookies_recent(&self, port: u16, now: Instant) -> bool {
        self.listeners.get(&port).and_then(|l| l.cookies_until).is_some_and(|t| now < t)
    }

    /// An ACK (no SYN, no RST) to a listener that sent cookies recently: if
    /// SEG.ACK − 1 is a valid cookie, create the connection and process the ACK
    /// in SYN-RECEIVED (RFC 9293 §3.10.7.4: it becomes ESTABLISHED and takes any
    /// data and FIN the segment carries).
    pub(crate) fn cookie_ack(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, repr: &TcpRepr<'_>, out: &mut impl SegmentSink) -> CookieAck {
        let port = repr.dst_port;
        let iss = repr.ack.wrapping_sub(1);
        let irs = repr.seq.wrapping_sub(1);
        let Some(index) = check(&self.cfg.cookie_secret, &local, &remote, irs, iss, now) else { return CookieAck::Invalid };
        // Our timestamps are on only if we offered them; the echo carries the options.
        let ts = if self.cfg.timestamps { repr.options.timestamps } else { None };
        let opts = match ts {
            Some((_, tsecr)) => match ts_decode(tsecr) {
                Some(o) => o,
                None => return CookieAck::Invalid,
            },
            None => TsOptions { wscale: None, sack_permitted: false },
        };
        if self.listeners.get(&port).is_some_and(|l| l.accept_full()) {
            self.stats.accept_queue_full += 1;
            return CookieAck::Dropped;
        }
        // The client's SYN as far as the cookie remembers it.
        let peer = TcpOptions {
            mss: Some(mss_table(remote.is_ipv6())[index as usize]),
            window_scale: opts.wscale,
            sack_permitted: opts.sack_permitted,
            timestamps: ts,
            ..TcpOptions::default()
        };
        let offer = self.offer(&remote).answer(&peer);
        // No slot or no memory: dropped (counted in `alloc`).
        let Ok(idx) = self.alloc(local, remote, SeqNum(iss), State::SynReceived, offer) else {
            return CookieAck::Dropped;
        };
        self.stats.cookies_validated += 1;
        self.stats.passive_opens += 1;
        let mut env = env!(self);
        let conn = self.slots[idx as usize].conn.as_mut().expect("just allocated");
        conn.listener_port = core::num::NonZeroU16::new(port);
        let syn = TcpRepr { seq: irs, ack: 0, flags: TcpFlags::SYN, options: peer, payload: &[], ..*repr };
        conn.apply_peer_syn(&syn, now, out.path_mtu(remote.ip()));
        // What the cookie SYN-ACK did: SYN sent (SND.NXT = ISS + 1), our window
        // announced (unscaled).
        conn.snd_nxt = conn.iss + 1;
        conn.snd_max = conn.iss + 1;
        let (free, cap, mss) = (conn.rx.room(env.pool) as u32, conn.rx.capacity() as u32, u32::from(conn.neg.send_mss));
        conn.rwin.advertise(conn.rcv_nxt, free, cap, mss, true);
        // The echoed TSval was rounded down to carry the options: no RTT sample
        // from it (RFC 7323 §4 measures with exact echoes only).
        let mut ack = *repr;
        ack.options.timestamps = ts.map(|(tsval, _)| (tsval, 0));
        let outcome = conn.process(now, &mut env, &ack, out);
        self.after(idx, outcome);
        let established = self.slots[idx as usize].conn.as_ref().is_some_and(|c| c.state != State::SynReceived);
        if !established {
            // Cannot happen with a valid cookie (the ACK acknowledges ISS + 1 at
            // RCV.NXT); never keep a half-open connection that would retransmit.
            self.release(idx, super::CloseReason::Aborted);
            return CookieAck::Dropped;
        }
        CookieAck::Established
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        ("198.18.0.2:7".parse().unwrap(), "198.19.3.4:40000".parse().unwrap())
    }

    #[test]
    fn round_trip_every_mss_index() {
        let (l, r) = addrs();
        let s = [9u8; 16];
        let t = Instant::from_millis(123_456);
        for index in 0..4 {
            let c = encode(&s, &l, &r, 0xdead_beef, t, index);
            assert_eq!(check(&s, &l, &r, 0xdead_beef, c, t), Some(index));
        }
    }

    /// Valid during the period it was made in and the next; refused after.
    #[test]
    fn time_window() {
        let (l, r) = addrs();
        let s = [3u8; 16];
        let t0 = Instant::from_millis(60_000 * 10 + 59_999); // last ms of a period
        let c = encode(&s, &l, &r, 77, t0, 3);
        assert_eq!(check(&s, &l, &r, 77, c, t0 + Duration::from_millis(1)), Some(3));
        assert_eq!(check(&s, &l, &r, 77, c, t0 + Duration::from_secs(60)), Some(3));
        assert_eq!(check(&s, &l, &r, 77, c, t0 + Duration::from_millis(60_001)), None);
        let t1 = Instant::from_millis(60_000 * 10);
        let c = encode(&s, &l, &r, 77, t1, 3);
        assert_eq!(check(&s, &l, &r, 77, c, t1 + Duration::from_millis(119_999)), Some(3));
        assert_eq!(check(&s, &l, &r, 77, c, t1 + Duration::from_secs(120)), None);
        // The counter wraps modulo 2^8 in the cookie: 256 periods later is not "now".
        assert_eq!(check(&s, &l, &r, 77, c, t1 + Duration::from_secs(60 * 256)), None);
    }

    /// Another tuple, another client ISN, another secret, a flipped bit: refused.
    #[test]
    fn bound_to_tuple_isn_and_secret() {
        let (l, r) = addrs();
        let s = [5u8; 16];
        let t = Instant::from_millis(5_000);
        let c = encode(&s, &l, &r, 1000, t, 2);
        let r2: SocketAddr = "198.19.3.4:40001".parse().unwrap();
        assert_eq!(check(&s, &l, &r2, 1000, c, t), None);
        // (The client's ISN is added, as in Linux: one off shifts the MSS index
        // by one; a valid cookie is still needed.)
        assert_eq!(check(&s, &l, &r, 1001, c, t), Some(1));
        assert_eq!(check(&s, &l, &r, 1100, c, t), None);
        assert_eq!(check(&s, &l, &r, 900, c, t), None);
        assert_eq!(check(&[6u8; 16], &l, &r, 1000, c, t), None);
        let refused = (0..32).filter(|b| check(&s, &l, &r, 1000, c ^ (1 << b), t).is_none()).count();
        // Flipping one of the 2 low bits can land on another valid index.
        assert!(refused >= 30, "{refused}");
    }

    /// Random guesses pass at about 8 in 2^24.
    #[test]
    fn guesses_rarely_pass() {
        let (l, r) = addrs();
        let s = [1u8; 16];
        let t = Instant::from_millis(90_000);
        let mut x = 0x1234_5678_9abc_def1u64;
        let pass = (0..200_000)
            .filter(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                check(&s, &l, &r, 42, x as u32, t).is_some()
            })
            .count();
        assert!(pass <= 2, "{pass} of 200000 random cookies passed");
    }

    #[test]
    fn mss_rounding() {
        assert_eq!(mss_index(1460, false), 3);
        assert_eq!(mss_index(1448, false), 2);
        assert_eq!(mss_index(1300, false), 1);
        assert_eq!(mss_index(536, false), 0);
        assert_eq!(mss_index(100, false), 0);
        assert_eq!(mss_index(65535, false), 3);
        assert_eq!(mss_index(1440, true), 2);
        assert_eq!(mss_index(9000, true), 3);
    }

    #[test]
    fn timestamp_options() {
        for wscale in [None, Some(0), Some(7), Some(14)] {
            for sack_permitted in [false, true] {
                let o = TsOptions { wscale, sack_permitted };
                for now in [1u32, 63, 64, 1000, 1_000_063, u32::MAX] {
                    let ts = ts_encode(now, o);
                    assert_eq!(ts_decode(ts), Some(o));
                    assert!(now.wrapping_sub(ts) < 128, "{ts} vs {now}: not at or just before now");
                }
            }
        }
        // A shift above 14 is clamped (RFC 7323 §2.3); ECN and shifts 15 (none) excepted.
        assert_eq!(ts_decode(ts_encode(100, TsOptions { wscale: Some(15), sack_permitted: false })).unwrap().wscale, Some(14));
        assert_eq!(ts_decode(1 << 5), None);
        assert_eq!(ts_decode(0x0e), Some(TsOptions { wscale: Some(14), sack_permitted: false }));
        assert_eq!(ts_decode(0x0f), Some(TsOptions { wscale: None, sack_permitted: false }));
        assert_eq!(ts_decode(0x1f), Some(TsOptions { wscale: None, sack_permitted: true }));
    }
}
