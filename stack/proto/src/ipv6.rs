//! IPv6 addressing of an interface (RFC 8200, RFC 4291): our addresses with
//! their prefixes and DAD state, the on-link prefixes and default routers
//! (static `--gw` or learned from Router Advertisements), the next hop of a
//! destination (RFC 4861 §5.2 conceptual sending algorithm) and source address
//! selection (a subset of RFC 6724 §5).
//!
//! Bounded: at most [`MAX_ADDRS`] addresses, [`MAX_PREFIXES`] learned prefixes
//! and [`MAX_ROUTERS`] routers (RFC 6583 §7: state an attacker can create on a
//! link must be limited); what does not fit is ignored.

use crate::time::Instant;
use core::net::Ipv6Addr;
use wire::ipv6::{is_link_local, solicited_node};

/// Most addresses of an interface.
pub const MAX_ADDRS: usize = 16;
/// Most on-link prefixes learned from Router Advertisements.
pub const MAX_PREFIXES: usize = 16;
/// Most default routers (RFC 4861 §6.3.4: the Default Router List).
pub const MAX_ROUTERS: usize = 8;
/// Most destinations redirected at once (RFC 6583 §7: state a node on the
/// link can create is bounded); the redirect that ends first makes room.
pub const MAX_REDIRECTS: usize = 64;
/// How long a redirect is followed: RFC 4861 §8.3 leaves it to the
/// implementation; like a learned path MTU (RFC 8201 §5.3), ten minutes.
pub const REDIRECT_LIFETIME: crate::time::Duration = crate::time::Duration::from_secs(600);
/// Default hop limit of packets we originate (RFC 8200 §3; Linux's 64).
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Duplicate Address Detection state of one address (RFC 4862 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrState {
    /// DAD in progress: `probes_left` more Neighbor Solicitations, the next (or
    /// the verdict) at `next`. A static address is used meanwhile ("optimistic",
    /// RFC 4429); one formed by SLAAC is not.
    Tentative {
        /// Solicitations still to send.
        probes_left: u8,
        /// When to send the next one, or conclude.
        next: Instant,
        /// Used while tentative (static addresses).
        optimistic: bool,
    },
    /// Unique: in use.
    Preferred,
    /// Another node uses it (RFC 4862 §5.4.5): never used.
    Duplicate,
}

/// One of our IPv6 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr6 {
    /// The address.
    pub addr: Ipv6Addr,
    /// Its prefix length (the prefix is on-link, RFC 5942 §4 for configured ones).
    pub prefix_len: u8,
    /// Its DAD state.
    pub state: AddrState,
    /// End of its valid lifetime (SLAAC), `None`: forever.
    pub valid_until: Option<Instant>,
}

impl Addr6 {
    /// True if the address may be used as a source and answered for.
    pub fn usable(&self) -> bool {
        match self.state {
            AddrState::Preferred => true,
            AddrState::Tentative { optimistic, .. } => optimistic,
            AddrState::Duplicate => false,
        }
    }
}

/// A default router (RFC 4861 §6.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Router {
    /// Its link-local address.
    pub addr: Ipv6Addr,
    /// End of its router lifetime, `None` for a static gateway.
    pub until: Option<Instant>,
}

/// A redirect (RFC 4861 §8.3): packets to `dst` go to `target` (a better
/// router, or `dst` itself when it is on-link) until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    /// The redirected destination.
    pub dst: Ipv6Addr,
    /// Its next hop.
    pub target: Ipv6Addr,
    /// When the redirect is forgotten.
    pub until: Instant,
}

/// An on-link prefix (RFC 4861 §6.3.4 Prefix List).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The prefix (bits past `len` are zero).
    pub prefix: Ipv6Addr,
    /// Its length.
    pub len: u8,
    /// End of its valid lifetime, `None` for infinity.
    pub until: Option<Instant>,
}

/// True if `a` and `b` share their first `len` bits.
pub fn same_prefix(a: &Ipv6Addr, b: &Ipv6Addr, len: u8) -> bool {
    let len = u32::from(len.min(128));
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - len);
    u128::from(*a) & mask == u128::from(*b) & mask
}

/// Length of the longest common prefix of `a` and `b` (RFC 6724 §2.2 CommonPrefixLen).
pub fn common_prefix_len(a: &Ipv6Addr, b: &Ipv6Addr) -> u32 {
    (u128::from(*a) ^ u128::from(*b)).leading_zeros()
}

/// The IPv6 addressing of an interface.
#[derive(Debug, Clone, Default)]
pub struct Addressing6 {
    /// Our addresses.
    pub addrs: Vec<Addr6>,
    /// On-link prefixes learned from Router Advertisements.
    pub prefixes: Vec<Prefix>,
    /// Default routers: the static gateway first, then learned ones.
    pub routers: Vec<Router>,
    /// Hop limit of packets we originate (RFC 4861 §6.3.4 CurHopLimit).
    pub hop_limit: u8,
    /// Link MTU learned from a Router Advertisement (RFC 4861 §6.3.4), if any.
    pub ra_mtu: Option<usize>,
    /// Destinations redirected (the Destination Cache's next hops, RFC 4861
    /// §5.1, §8.3), at most [`MAX_REDIRECTS`].
    pub redirects: Vec<Redirect>,
}

impl Addressing6 {
    /// The IPv6 link MTU over an interface of `iface_mtu` bytes: a smaller one
    /// a Router Advertisement gave (RFC 4861 §6.3.4), never below 1280 (RFC
    /// 8200 §5).
    pub fn link_mtu(&self, iface_mtu: usize) -> usize {
        self.ra_mtu.map_or(iface_mtu, |m| m.min(iface_mtu)).max(wire::ipv6::MIN_MTU)
    }

    /// Addressing with `addrs` (static, usable at once while their DAD runs if
    /// `dad` is set; else preferred) and an optional static default router.
    pub fn new(addrs: &[(Ipv6Addr, u8)], gateway: Option<Ipv6Addr>) -> Addressing6 {
        let mut a = Addressing6 { hop_limit: DEFAULT_HOP_LIMIT, ..Default::default() };
        for (ip, len) in addrs.iter().take(MAX_ADDRS) {
            a.addrs.push(Addr6 { addr: *ip, prefix_len: (*len).min(128), state: AddrState::Preferred, valid_until: None });
        }
        if let Some(g) = gateway {
            a.routers.push(Router { addr: g, until: None });
        }
        a
    }

    /// True if IPv6 is served (at least one address).
    pub fn enabled(&self) -> bool {
        !self.addrs.is_empty()
    }

    /// Our address `a` in any state.
    pub fn find(&self, a: &Ipv6Addr) -> Option<&Addr6> {
        self.addrs.iter().find(|x| x.addr == *a)
    }

    /// Our address `a` in any state, mutable.
    pub fn find_mut(&mut self, a: &Ipv6Addr) -> Option<&mut Addr6> {
        self.addrs.iter_mut().find(|x| x.addr == *a)
    }

    /// True if `a` is one of our usable addresses.
    pub fn is_ours(&self, a: &Ipv6Addr) -> bool {
        self.find(a).is_some_and(Addr6::usable)
    }

    /// True if we receive packets sent to the multicast group `g`: all-nodes
    /// (RFC 4291 §2.7.1) and the solicited-node group of each of our addresses,
    /// tentative ones included (RFC 4862 §5.4.2).
    pub fn in_group(&self, g: &Ipv6Addr) -> bool {
        *g == wire::ipv6::ALL_NODES || self.addrs.iter().any(|a| a.state != AddrState::Duplicate && solicited_node(&a.addr) == *g)
    }

    /// True if `dst` is on-link (RFC 4861 §5.2): link-local, or inside the
    /// prefix of one of our addresses or a learned on-link prefix.
    pub fn on_link(&self, dst: &Ipv6Addr, now: Instant) -> bool {
        is_link_local(dst)
            || self.addrs.iter().any(|a| a.state != AddrState::Duplicate && same_prefix(&a.addr, dst, a.prefix_len))
            || self.prefixes.iter().any(|p| p.until.is_none_or(|u| u > now) && same_prefix(&p.prefix, dst, p.len))
    }

    /// The next hop towards `dst` (RFC 4861 §5.2): `dst` itself if on-link, else
    /// a default router (the first one whose lifetime has not ended, RFC 4861
    /// §6.3.6 without reachability preference). `None`: no route.
    pub fn next_hop(&self, dst: &Ipv6Addr, now: Instant) -> Option<Ipv6Addr> {
        // RFC 4861 §5.2: the Destination Cache first (a redirect's next hop).
        if let Some(r) = self.redirects.iter().find(|r| r.dst == *dst && r.until > now) {
            return Some(r.target);
        }
        if self.on_link(dst, now) {
            return Some(*dst);
        }
        self.routers.iter().find(|r| r.until.is_none_or(|u| u > now)).map(|r| r.addr)
    }

    /// Follow a redirect (RFC 4861 §8.3, validated by the caller): packets to
    /// `dst` go to `target` from now on, for [`REDIRECT_LIFETIME`].
    pub fn add_redirect(&mut self, dst: Ipv6Addr, target: Ipv6Addr, now: Instant) {
        let r = Redirect { dst, target, until: now + REDIRECT_LIFETIME };
        if let Some(e) = self.redirects.iter_mut().find(|e| e.dst == dst) {
            *e = r;
            return;
        }
        self.redirects.retain(|e| e.until > now);
        if self.redirects.len() >= MAX_REDIRECTS {
            if let Some(k) = self.redirects.iter().enumerate().min_by_key(|(_, e)| e.until).map(|(k, _)| k) {
                self.redirects.swap_remove(k);
            }
        }
        self.redirects.push(r);
    }

    /// The source address for a packet to `dst` (RFC 6724 §5, a subset): rule 1
    /// (the destination itself), rule 2 (a source of the destination's scope:
    /// link-local for link-local and multicast link-scope destinations, global
    /// otherwise), rule 3 (avoid deprecated: only usable addresses are
    /// candidates), rule 8 (longest matching prefix). `None`: no usable address.
    pub fn select_source(&self, dst: &Ipv6Addr) -> Option<Ipv6Addr> {
        let link_scope = is_link_local(dst) || (dst.is_multicast() && dst.segments()[0] & 0x000f <= 2);
        self.addrs
            .iter()
            .filter(|a| a.usable())
            .max_by_key(|a| {
                let rule1 = a.addr == *dst;
                let rule2 = is_link_local(&a.addr) == link_scope;
                (rule1, rule2, common_prefix_len(&a.addr, dst))
            })
            .map(|a| a.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn next_hop_on_link_or_router() {
        let t = Instant::from_millis(1);
        let ad = Addressing6::new(&[(a("2001:db8::2"), 64)], Some(a("fe80::1")));
        assert_eq!(ad.next_hop(&a("2001:db8::9"), t), Some(a("2001:db8::9")));
        assert_eq!(ad.next_hop(&a("fe80::77"), t), Some(a("fe80::77")));
        assert_eq!(ad.next_hop(&a("2001:db8:5::1"), t), Some(a("fe80::1")));
        let no_gw = Addressing6::new(&[(a("2001:db8::2"), 64)], None);
        assert_eq!(no_gw.next_hop(&a("2001:db8:5::1"), t), None);
    }

    #[test]
    fn source_selection_scope_and_prefix() {
        let ad = Addressing6::new(&[(a("fe80::2"), 64), (a("2001:db8::2"), 64), (a("2001:db8:1::2"), 64)], None);
        assert_eq!(ad.select_source(&a("fe80::1")), Some(a("fe80::2")), "rule 2: link-local for link-local");
        assert_eq!(ad.select_source(&a("ff02::1")), Some(a("fe80::2")), "rule 2: link scope multicast");
        assert_eq!(ad.select_source(&a("2001:db8:1::9")), Some(a("2001:db8:1::2")), "rule 8: longest prefix");
        assert_eq!(ad.select_source(&a("2001:db8::9")), Some(a("2001:db8::2")));
        assert_eq!(ad.select_source(&a("2001:db8::2")), Some(a("2001:db8::2")), "rule 1");
        let mut dup = ad.clone();
        dup.find_mut(&a("2001:db8:1::2")).unwrap().state = AddrState::Duplicate;
        assert_eq!(dup.select_source(&a("2001:db8:1::9")), Some(a("2001:db8::2")), "a duplicate address is never chosen");
    }

    #[test]
    fn groups() {
        let ad = Addressing6::new(&[(a("2001:db8::2"), 64)], None);
        assert!(ad.in_group(&a("ff02::1")));
        assert!(ad.in_group(&a("ff02::1:ff00:2")));
        assert!(!ad.in_group(&a("ff02::1:ff00:3")));
        assert!(!ad.in_group(&a("ff02::2")));
    }
}
