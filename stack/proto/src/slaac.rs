//! IPv6 link control of one interface: Duplicate Address Detection (RFC 4862
//! §5.4), stateless address autoconfiguration from Router Advertisements (RFC
//! 4862 §5.5) with a link-local address from the MAC (§5.3), router
//! solicitations (RFC 4861 §6.3.7), Router Advertisement processing (RFC 4861
//! §6.3.4: routers, on-link prefixes, MTU, hop limit) and MLDv2 reports for the
//! groups we join (RFC 3810 §6.1: the solicited-node groups of our addresses).
//!
//! On a stack with several cores one interface has `control` set and does the
//! link's DAD, RS and MLD duties (each would otherwise send its own). The
//! others hold the addresses SLAAC forms as tentative until the control
//! interface's verdict reaches them ([`Interface::apply_address_verdict`]); a
//! conflict seen on any interface is a verdict for all.

use crate::iface::Interface;
use crate::ipv6::{Addr6, AddrState, Prefix, Router, MAX_ADDRS, MAX_PREFIXES, MAX_ROUTERS};
use crate::ndp::RETRANS_TIMER;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::FrameSink;
use core::net::Ipv6Addr;
use wire::ip::protocol;
use wire::ipv6::{eui64_interface_id, link_local_from_mac, solicited_node, with_interface_id};
use wire::mld::{AddressRecordRepr, MldRepr, Records, Sources};
use wire::ndp::{NdiscRepr, PrefixFlags};

/// RFC 4862 §5.1 DupAddrDetectTransmits (Linux's default 1).
pub const DUP_ADDR_DETECT_TRANSMITS: u8 = 1;
/// RFC 4861 §10 MAX_RTR_SOLICITATIONS.
pub const MAX_RTR_SOLICITATIONS: u8 = 3;
/// RFC 4861 §10 RTR_SOLICITATION_INTERVAL.
pub const RTR_SOLICITATION_INTERVAL: Duration = Duration::from_secs(4);
/// RFC 3810 §9.1 Robustness Variable: unsolicited reports are sent this often.
pub const MLD_ROBUSTNESS: u8 = 2;
/// RFC 3810 §9.11 Unsolicited Report Interval.
pub const MLD_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// RFC 4862 §5.5.3 (e): the two-hour rule for valid lifetimes from unauthenticated RAs.
const TWO_HOURS: u32 = 2 * 3600;

/// The link-control state (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Control {
    slaac: bool,
    control: bool,
    started: bool,
    rs_left: u8,
    rs_next: Option<Instant>,
    mld_left: u8,
    mld_next: Option<Instant>,
    /// Addresses that became usable (DAD done) and not yet taken by the driver.
    pub(crate) new_addrs: Vec<Ipv6Addr>,
    /// Addresses found duplicate and not yet taken by the driver.
    pub(crate) duplicates: Vec<Ipv6Addr>,
    /// Verdicts of another interface on addresses this one has not formed yet
    /// (its copy of a Router Advertisement is still on its way), newest last,
    /// at most [`MAX_ADDRS`].
    early_verdicts: Vec<(Ipv6Addr, bool)>,
    /// Preferred addresses another node advertised (with its MAC), not yet
    /// taken by the driver.
    conflicts: Vec<(Ipv6Addr, [u8; 6])>,
    /// Addresses whose conflict was reported already (once each).
    conflicts_seen: Vec<Ipv6Addr>,
}

impl Control {
    pub(crate) fn new(slaac: bool, control: bool) -> Control {
        Control { slaac, control, started: false, rs_left: 0, rs_next: None, mld_left: 0, mld_next: None, new_addrs: Vec::new(), duplicates: Vec::new(), early_verdicts: Vec::new(), conflicts: Vec::new(), conflicts_seen: Vec::new() }
    }

    /// Verdicts or conflicts waiting for the driver?
    #[inline]
    pub(crate) fn has_news(&self) -> bool {
        !self.new_addrs.is_empty() || !self.duplicates.is_empty() || !self.conflicts.is_empty()
    }

    /// Set up the addresses: with SLAAC a tentative link-local address from the
    /// MAC (RFC 4862 §5.3); on the control interface, DAD for every address (a
    /// static one is used meanwhile, RFC 4429 style).
    pub(crate) fn init(&mut self, addr6: &mut crate::ipv6::Addressing6, mac: [u8; 6]) {
        if self.slaac {
            let ll = link_local_from_mac(mac);
            if addr6.find(&ll).is_none() && addr6.addrs.len() < MAX_ADDRS {
                // Tentative everywhere: on the other interfaces until the control
                // interface's verdict (RFC 4862 §5.4: not used before DAD).
                let state = AddrState::Tentative { probes_left: DUP_ADDR_DETECT_TRANSMITS, next: Instant::ZERO, optimistic: false };
                addr6.addrs.push(Addr6 { addr: ll, prefix_len: 64, state, valid_until: None });
            }
            if addr6.hop_limit == 0 {
                addr6.hop_limit = crate::ipv6::DEFAULT_HOP_LIMIT;
            }
        }
        if self.control {
            for a in addr6.addrs.iter_mut() {
                if a.state == AddrState::Preferred {
                    a.state = AddrState::Tentative { probes_left: DUP_ADDR_DETECT_TRANSMITS, next: Instant::ZERO, optimistic: true };
                }
            }
        }
    }

    /// When [`Interface::poll_ipv6`] has control work.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if !self.control {
            return None;
        }
        if !self.started {
            return Some(Instant::ZERO);
        }
        [self.rs_next, self.mld_next].into_iter().flatten().min()
    }
}

impl Interface {
    /// The IPv6 timers: neighbour cache, packets whose neighbour was resolved,
    /// IPv6 reassembly deadlines, and on the control interface DAD, router
    /// solicitations and MLD reports.
    pub(crate) fn poll_ipv6(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        self.expire_fragments6(now, tx);
        self.nd_timers(now, tx);
        if !self.v6ctl.control {
            return;
        }
        if !self.v6ctl.started {
            self.v6ctl.started = true;
            // RFC 3810 §6.1 / RFC 4862 §5.4.2: join the solicited-node groups
            // (report them) before the DAD probes.
            self.v6ctl.mld_left = MLD_ROBUSTNESS;
            self.v6ctl.mld_next = Some(now);
            if self.v6ctl.slaac {
                self.v6ctl.rs_left = MAX_RTR_SOLICITATIONS;
                self.v6ctl.rs_next = Some(now);
            }
        }
        if self.v6ctl.mld_next.is_some_and(|t| t <= now) {
            self.send_mld_report(now, tx);
            self.v6ctl.mld_left = self.v6ctl.mld_left.saturating_sub(1);
            self.v6ctl.mld_next = (self.v6ctl.mld_left > 0).then(|| now + MLD_REPORT_INTERVAL);
        }
        self.dad_timers(now, tx);
        if self.v6ctl.rs_next.is_some_and(|t| t <= now) {
            self.send_rs(now, tx);
            self.v6ctl.rs_left = self.v6ctl.rs_left.saturating_sub(1);
            self.v6ctl.rs_next = (self.v6ctl.rs_left > 0).then(|| now + RTR_SOLICITATION_INTERVAL);
        }
    }

    /// RFC 4862 §5.4.2: send the DAD probes due (Neighbor Solicitations from the
    /// unspecified address to the solicited-node group, no link-layer option);
    /// an address with no conflict RetransTimer after its last probe is unique.
    fn dad_timers(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        let mut probes = [Ipv6Addr::UNSPECIFIED; MAX_ADDRS];
        let mut n = 0;
        for a in self.addr6.addrs.iter_mut() {
            if let AddrState::Tentative { probes_left, next, optimistic } = a.state {
                if next > now {
                    continue;
                }
                if probes_left > 0 {
                    probes[n] = a.addr;
                    n += 1;
                    a.state = AddrState::Tentative { probes_left: probes_left - 1, next: now + RETRANS_TIMER, optimistic };
                } else {
                    a.state = AddrState::Preferred;
                    self.v6ctl.new_addrs.push(a.addr);
                }
            }
        }
        if n > 0 {
            let (_, mut out) = self.split(tx, now);
            for t in &probes[..n] {
                out.send_ns(Ipv6Addr::UNSPECIFIED, *t, None);
            }
        }
    }

    /// The earliest DAD deadline, for [`Interface::poll_timeout`].
    pub(crate) fn dad_timeout(&self) -> Option<Instant> {
        if !self.v6ctl.control {
            return None;
        }
        self.addr6
            .addrs
            .iter()
            .filter_map(|a| match a.state {
                AddrState::Tentative { next, .. } => Some(next),
                _ => None,
            })
            .min()
    }

    /// RFC 4862 §5.4.3, §5.4.4: `addr` (tentative, or ours) is used by another
    /// node: it is duplicate, never used again; counted and reported to the driver.
    pub(crate) fn dad_conflict(&mut self, addr: Ipv6Addr) {
        if let Some(a) = self.addr6.find_mut(&addr) {
            if a.state != AddrState::Duplicate {
                a.state = AddrState::Duplicate;
                self.stats.drop(DropReason::NdpDadDuplicate);
                self.v6ctl.duplicates.push(addr);
            }
        }
    }

    /// Apply the verdict of Duplicate Address Detection that another interface
    /// of the stack reached on `addr` (the engine relays them between cores):
    /// `usable`, a tentative address becomes preferred (never a duplicate one);
    /// not `usable`, the address is withdrawn (RFC 4862 §5.4.5: never used
    /// again): no packet is answered for it or sent from it. Not reported again
    /// by [`Interface::take_address_events`]: the interface that reached the
    /// verdict did. A verdict on an address not formed here yet is kept for
    /// when it is.
    pub fn apply_address_verdict(&mut self, addr: Ipv6Addr, usable: bool) {
        match self.addr6.find_mut(&addr) {
            Some(a) if !usable => a.state = AddrState::Duplicate,
            Some(a) => {
                if matches!(a.state, AddrState::Tentative { .. }) {
                    a.state = AddrState::Preferred;
                }
            }
            None => {
                let v = &mut self.v6ctl.early_verdicts;
                v.retain(|(a, _)| *a != addr);
                if v.len() >= MAX_ADDRS {
                    v.remove(0);
                }
                v.push((addr, usable));
            }
        }
    }

    /// Another node (`mac`) advertised `addr`, one of our preferred addresses:
    /// the address is kept (RFC 4862 §5.4.4 leaves this case open; Linux too
    /// only warns), and reported once to the driver.
    pub(crate) fn address_conflict(&mut self, addr: Ipv6Addr, mac: [u8; 6]) {
        let c = &mut self.v6ctl;
        if !c.conflicts_seen.contains(&addr) && c.conflicts_seen.len() < MAX_ADDRS {
            c.conflicts_seen.push(addr);
            c.conflicts.push((addr, mac));
        }
    }

    /// Hand the preferred addresses another node advertised since the last call
    /// (each at most once in the interface's life) with that node's MAC to the
    /// driver, which warns about them.
    #[inline]
    pub fn take_address_conflicts(&mut self, mut f: impl FnMut(Ipv6Addr, [u8; 6])) {
        if self.v6ctl.conflicts.is_empty() {
            return;
        }
        for (a, m) in self.v6ctl.conflicts.drain(..) {
            f(a, m);
        }
    }

    /// Hand the addresses that became usable (DAD done, SLAAC: `true`) and those
    /// found duplicate (`false`) since the last call to the driver (which logs
    /// them and adds new ones to its receive filter).
    #[inline]
    pub fn take_address_events(&mut self, mut f: impl FnMut(Ipv6Addr, bool)) {
        if self.v6ctl.new_addrs.is_empty() && self.v6ctl.duplicates.is_empty() {
            return;
        }
        for a in self.v6ctl.new_addrs.drain(..) {
            f(a, true);
        }
        for a in self.v6ctl.duplicates.drain(..) {
            f(a, false);
        }
    }

    /// A Router Solicitation to all-routers (RFC 4861 §6.3.7): from a usable
    /// link-local address with our link-layer address, else from `::` without.
    fn send_rs(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        let src = self.addr6.addrs.iter().find(|a| a.usable() && wire::ipv6::is_link_local(&a.addr)).map_or(Ipv6Addr::UNSPECIFIED, |a| a.addr);
        let lladdr = (!src.is_unspecified()).then_some(self.addr.mac.0);
        let rs = wire::icmpv6::Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit { lladdr });
        let (_, mut out) = self.split(tx, now);
        out.send_icmpv6(src, wire::ipv6::ALL_ROUTERS, &rs, None, 255);
    }

    /// An MLDv2 report (RFC 3810 §5.2) of the solicited-node groups of our
    /// addresses (MODE_IS_EXCLUDE with no sources: "join"), to ff02::16 with
    /// hop limit 1 and a Router Alert (RFC 3810 §5), from a link-local source
    /// or `::` while none is usable (RFC 3810 §5.2.13).
    fn send_mld_report(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        let mut groups = [Ipv6Addr::UNSPECIFIED; MAX_ADDRS];
        let mut n = 0;
        for a in self.addr6.addrs.iter().filter(|a| a.state != AddrState::Duplicate) {
            let g = solicited_node(&a.addr);
            if !groups[..n].contains(&g) {
                groups[n] = g;
                n += 1;
            }
        }
        let recs: Vec<AddressRecordRepr<'_>> = groups[..n]
            .iter()
            .map(|g| AddressRecordRepr { record_type: wire::mld::record_type::CHANGE_TO_EXCLUDE, mcast_addr: *g, sources: Sources::EMPTY, aux_data: &[] })
            .collect();
        let report = wire::icmpv6::Icmpv6Repr::Mld(MldRepr::Report { records: Records::Slice(&recs) });
        let src = self.addr6.addrs.iter().find(|a| a.usable() && wire::ipv6::is_link_local(&a.addr)).map_or(Ipv6Addr::UNSPECIFIED, |a| a.addr);
        let dst = wire::ipv6::ALL_MLDV2_ROUTERS;
        let icmp_len = report.buffer_len();
        let hbh = wire::ipv6ext::MLD_HOP_BY_HOP_OPTIONS;
        let len = 2 + hbh.len() + icmp_len;
        let (_, mut out) = self.split(tx, now);
        if out.send6(src, dst, protocol::HOP_BY_HOP, len, None, 1, &mut |buf| {
            buf[0] = protocol::ICMPV6;
            buf[1] = 0;
            buf[2..8].copy_from_slice(&hbh);
            report.emit(&src, &dst, &mut wire::icmpv6::Packet::new_unchecked(&mut buf[8..8 + icmp_len]), wire::ChecksumMode::Full);
        }) {
            out.stats.mld_reports += 1;
        }
    }

    /// An MLD query for our groups: report them at the next poll (on the
    /// control interface, which reports for the link end).
    pub(crate) fn mld_query(&mut self, now: Instant) {
        if self.v6ctl.control {
            self.v6ctl.mld_left = self.v6ctl.mld_left.max(1);
            self.v6ctl.mld_next = Some(self.v6ctl.mld_next.map_or(now, |t| t.min(now)));
        }
    }

    /// A valid Router Advertisement (RFC 4861 §6.3.4) from `src`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_ra(&mut self, now: Instant, src: Ipv6Addr, hop_limit: u8, router_lifetime: u16, lladdr: Option<[u8; 6]>, mtu: Option<u32>, prefixes: &wire::ndp::Prefixes) {
        if hop_limit != 0 {
            self.addr6.hop_limit = hop_limit;
        }
        // Default Router List.
        let until = now + Duration::from_secs(u64::from(router_lifetime));
        // A static gateway (no lifetime) is never changed by advertisements.
        match self.addr6.routers.iter().position(|r| r.addr == src) {
            Some(i) if self.addr6.routers[i].until.is_none() => {}
            Some(i) if router_lifetime == 0 => {
                self.addr6.routers.remove(i);
            }
            Some(i) => self.addr6.routers[i].until = Some(until),
            None if router_lifetime != 0 && self.addr6.routers.len() < MAX_ROUTERS => self.addr6.routers.push(Router { addr: src, until: Some(until) }),
            None => {}
        }
        // "If the MTU option is present, hosts SHOULD copy the option's value
        // into LinkMTU so long as the value is greater than or equal to the
        // minimum link MTU and does not exceed the maximum LinkMTU value".
        if let Some(m) = mtu {
            let m = m as usize;
            if m >= wire::ipv6::MIN_MTU {
                self.addr6.ra_mtu = Some(m);
            }
        }
        if let Some(m) = lladdr {
            if self.nd.on_lladdr(now, src, m) {
                self.resolved(now, core::net::IpAddr::V6(src));
            }
        }
        for p in prefixes.iter() {
            // RFC 4861 §6.3.4 / RFC 4862 §5.5.3 (a)-(c): ignore link-local prefixes
            // and preferred > valid; multicast ones too (no unicast address or
            // on-link range can come from them; Linux's addrconf_prefix_rcv).
            if wire::ipv6::is_link_local(&p.prefix) || p.prefix.is_multicast() || p.preferred_lifetime > p.valid_lifetime {
                continue;
            }
            let until = (p.valid_lifetime != u32::MAX).then(|| now + Duration::from_secs(u64::from(p.valid_lifetime)));
            if p.flags.contains(PrefixFlags::ON_LINK) {
                match self.addr6.prefixes.iter().position(|x| x.prefix == p.prefix && x.len == p.prefix_len) {
                    Some(i) if p.valid_lifetime == 0 => {
                        self.addr6.prefixes.remove(i);
                    }
                    Some(i) => self.addr6.prefixes[i].until = until,
                    None if p.valid_lifetime != 0 && self.addr6.prefixes.len() < MAX_PREFIXES => {
                        self.addr6.prefixes.push(Prefix { prefix: p.prefix, len: p.prefix_len, until })
                    }
                    None => {}
                }
            }
            if self.v6ctl.slaac && p.flags.contains(PrefixFlags::ADDRCONF) {
                self.slaac_prefix(now, p);
            }
        }
    }

    /// RFC 4862 §5.5.3 (d)-(e): form an address from a /64 prefix with the A
    /// flag and our modified EUI-64 interface identifier, or refresh its lifetime.
    fn slaac_prefix(&mut self, now: Instant, p: &wire::ndp::PrefixInfo) {
        if p.prefix_len != 64 || p.valid_lifetime == 0 {
            return;
        }
        let addr = with_interface_id(&p.prefix, eui64_interface_id(self.addr.mac.0));
        let valid = |secs: u32| (secs != u32::MAX).then(|| now + Duration::from_secs(u64::from(secs)));
        if let Some(a) = self.addr6.find_mut(&addr) {
            // (e): the valid lifetime is not cut below two hours by an
            // unauthenticated advertisement.
            let remaining = a.valid_until.map(|u| u.micros().saturating_sub(now.micros()) / 1_000_000);
            if p.valid_lifetime > TWO_HOURS || remaining.is_some_and(|r| u64::from(p.valid_lifetime) > r) {
                a.valid_until = valid(p.valid_lifetime);
            } else if remaining.is_some_and(|r| r > u64::from(TWO_HOURS)) {
                a.valid_until = valid(TWO_HOURS);
            }
            return;
        }
        if self.addr6.addrs.len() >= MAX_ADDRS {
            return;
        }
        // Tentative (RFC 4862 §5.4); on an interface without the link's DAD
        // duty, until the verdict of the one with it, which may have come first.
        let early = self.v6ctl.early_verdicts.iter().position(|(a, _)| *a == addr).map(|i| self.v6ctl.early_verdicts.remove(i).1);
        let state = match early {
            Some(true) if !self.v6ctl.control => AddrState::Preferred,
            Some(false) => AddrState::Duplicate,
            _ => AddrState::Tentative { probes_left: DUP_ADDR_DETECT_TRANSMITS, next: now, optimistic: false },
        };
        self.addr6.addrs.push(Addr6 { addr, prefix_len: 64, state, valid_until: valid(p.valid_lifetime) });
        // The new address's solicited-node group is reported before its probe.
        self.v6ctl.mld_left = MLD_ROBUSTNESS;
        self.v6ctl.mld_next = Some(now);
    }
}
