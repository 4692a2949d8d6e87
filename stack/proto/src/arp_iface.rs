//! The interface's ARP duties beyond answering requests: static entries,
//! gratuitous announcements, request retries and the release of the packets
//! that waited for a neighbour.

use crate::arp::{self, Action};
use crate::iface::Interface;
use crate::out::{emit_raw4, send_arp};
use crate::stats::DropReason;
use crate::time::Instant;
use crate::FrameSink;
use core::net::{IpAddr, Ipv4Addr};
use wire::ethernet::EthernetAddress;

impl Interface {
    /// Add a static ARP entry `ip → mac` (`--arp IP=MAC`): it never expires and
    /// no ARP packet changes it; packets waiting for `ip` leave at the next
    /// [`Interface::poll_transmit`]. False when the cache holds only static
    /// entries already.
    pub fn add_static_arp(&mut self, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        self.arp.add_static(ip, mac)
    }

    /// Broadcast a gratuitous ARP for each of our IPv4 addresses (RFC 5227 §3
    /// "ARP Announcement"), so that the hosts of the link learn (or update) our
    /// MAC address without asking. One core of a stack does this at start.
    pub fn announce_ipv4(&mut self, tx: &mut dyn FrameSink) {
        for i in 0..self.addr.ipv4.len() {
            let ip = self.addr.ipv4[i].0;
            self.announce(ip, tx);
        }
    }

    fn announce(&mut self, ip: Ipv4Addr, tx: &mut dyn FrameSink) {
        let a = arp::announcement(self.addr.mac, ip);
        if send_arp(tx, EthernetAddress::BROADCAST, &a) {
            self.stats.tx_frames += 1;
            self.stats.arp_announcements += 1;
        } else {
            self.stats.drop(DropReason::TxNoFrame);
        }
    }

    /// Add the IPv4 address `ip/prefix` (seed 000's `add_ipv4`) and announce it
    /// with a gratuitous ARP (RFC 5227 §3). False if it was ours already or the
    /// prefix is longer than 32.
    pub fn add_ipv4(&mut self, ip: Ipv4Addr, prefix: u8, tx: &mut dyn FrameSink) -> bool {
        if prefix > 32 || self.addr.is_ours(ip) {
            return false;
        }
        self.addr.ipv4.push((ip, prefix));
        self.announce(ip, tx);
        true
    }

    /// ARP timers and queues: retries on the back-off schedule, FAILED
    /// neighbours (their packets dropped and counted), then the packets whose
    /// neighbour was resolved.
    pub(crate) fn arp_timers(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        // At most this many requests a tick; the others stay due.
        let mut retry = [Ipv4Addr::UNSPECIFIED; 16];
        let mut n = 0;
        let stats = &mut self.stats;
        self.arp.tick(now, |a| match a {
            Action::Request(ip) => {
                if n == retry.len() {
                    return false;
                }
                retry[n] = ip;
                n += 1;
                true
            }
            Action::Failed(_, dropped) => {
                for _ in 0..dropped {
                    stats.drop(DropReason::ArpResolveFailed);
                }
                true
            }
        });
        for &hop in &retry[..n] {
            let Some(IpAddr::V4(src)) = self.select_source(IpAddr::V4(hop)) else { continue };
            let (_, mut out) = self.split(tx, now);
            out.send_arp_request(src, hop);
        }
        self.flush_arp(tx);
    }

    /// Send the packets whose neighbour is resolved.
    pub(crate) fn flush_arp(&mut self, tx: &mut dyn FrameSink) {
        if self.arp.has_ready() {
            let (stats, src) = (&mut self.stats, self.addr.mac);
            self.arp.flush_ready(|mac, p| emit_raw4(tx, stats, src, mac, p));
        }
    }
}

#[cfg(test)]
#[path = "arp_tests.rs"]
mod tests;
