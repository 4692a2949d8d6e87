//! Initial sequence numbers per RFC 6528 §3: `ISN = M + F(localip, localport,
//! remoteip, remoteport, secretkey)` where `M` is a 4 µs timer and `F` is SipHash-2-4
//! keyed with the endpoint's secret.

use crate::time::Instant;
use core::net::{IpAddr, SocketAddr};

/// SipHash-2-4 (Aumasson & Bernstein), written out so the crate needs no hasher
/// dependency and stays deterministic.
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes([key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7]]);
    let k1 = u64::from_le_bytes([key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15]]);
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    #[inline(always)]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// A fresh secret for [`initial_seq`] (RFC 6528 §3: the secret must not be
/// guessable). It comes from std's `RandomState`, whose keys the standard library
/// draws from the operating system's random source (once per thread, then
/// stepped for every new `RandomState`): each call hashes a process-wide call
/// counter under a new `RandomState`, so no two calls return the same secret and
/// none can be predicted without those keys. This keeps the crate free of I/O of
/// its own; simulations that need reproducible ISNs set
/// [`super::TcpConfig::isn_secret`] explicitly.
pub fn random_secret() -> [u8; 16] {
    use core::sync::atomic::{AtomicU64, Ordering};
    use std::hash::BuildHasher;
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let state = std::collections::hash_map::RandomState::new();
    let mut secret = [0u8; 16];
    secret[..8].copy_from_slice(&state.hash_one((n, 0u8)).to_le_bytes());
    secret[8..].copy_from_slice(&state.hash_one((n, 1u8)).to_le_bytes());
    secret
}

fn put_addr(buf: &mut [u8; 36], at: usize, a: &SocketAddr) -> usize {
    let ip = match a.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    buf[at..at + 16].copy_from_slice(&ip);
    buf[at + 16..at + 18].copy_from_slice(&a.port().to_be_bytes());
    at + 18
}

/// The keyed hash `F` of the connection identifier (RFC 6528 §3).
pub fn tuple_hash(secret: &[u8; 16], local: &SocketAddr, remote: &SocketAddr) -> u64 {
    let mut buf = [0u8; 36];
    let at = put_addr(&mut buf, 0, local);
    put_addr(&mut buf, at, remote);
    siphash24(secret, &buf)
}

/// The initial sequence number for a connection opened at `now` whose 4-tuple
/// hashes to `f` ([`tuple_hash`]): RFC 6528 §3's 4 µs clock `M` plus the low
/// half of `F`.
#[inline]
pub fn initial_seq(f: u64, now: Instant) -> u32 {
    ((now.micros() / 4) as u32).wrapping_add(f as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_reference_vectors() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&key, &[]), 0x726f_db47_dd0e_0e31);
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&key, &msg), 0xa129_ca61_49be_45e5);
    }

    /// Issue 13: `TcpConfig::default().isn_secret` was the constant `[0x5a; 16]`,
    /// so anyone could compute our ISNs (RFC 6528 §3 requires a secret). Each
    /// default configuration now draws its own.
    #[test]
    fn default_secret_is_unpredictable() {
        let (a, b) = (crate::tcp::TcpConfig::default().isn_secret, crate::tcp::TcpConfig::default().isn_secret);
        assert_ne!(a, [0x5a; 16], "the old constant");
        assert_ne!(a, b, "two default configurations share a secret");
        assert_ne!(a, [0; 16]);
        // The same tuple at the same instant gets unrelated ISNs under each.
        let l: SocketAddr = "198.18.0.1:1000".parse().unwrap();
        let r: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let t = Instant::from_micros(400);
        assert_ne!(initial_seq(tuple_hash(&a, &l, &r), t), initial_seq(tuple_hash(&b, &l, &r), t));
        assert_ne!(tuple_hash(&a, &l, &r), tuple_hash(&b, &l, &r));
    }

    #[test]
    fn isn_depends_on_tuple_and_time() {
        let s = [7u8; 16];
        let a: SocketAddr = "198.18.0.1:1000".parse().unwrap();
        let b: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let c: SocketAddr = "198.18.0.2:81".parse().unwrap();
        let t = Instant::from_micros(400);
        assert_ne!(initial_seq(tuple_hash(&s, &a, &b), t), initial_seq(tuple_hash(&s, &a, &c), t));
        assert_eq!(initial_seq(tuple_hash(&s, &a, &b), t).wrapping_add(100), initial_seq(tuple_hash(&s, &a, &b), Instant::from_micros(800)));
        assert_ne!(initial_seq(tuple_hash(&s, &a, &b), t), initial_seq(tuple_hash(&[8u8; 16], &a, &b), t));
    }
}
