//! Counters of the interface: packets handled and packets dropped, by reason.
//!
//! No bad packet is dropped silently: every drop increments exactly one
//! [`DropReason`] counter, which `xdpstack stats` reports by name.

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $name:ident => $label:literal,)*) => {
        /// Why a received frame was dropped (or an outgoing one could not be sent).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum DropReason {
            $($(#[$doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// Number of reasons.
            pub const COUNT: usize = Self::ALL.len();
            /// Stable snake_case name, as printed by `xdpstack stats`.
            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$name => $label,)* }
            }
        }
    };
}

drop_reasons! {
    /// Frame shorter than an Ethernet header, or a bad VLAN tag.
    EthMalformed => "eth_malformed",
    /// Unicast frame for another MAC address.
    EthNotForUs => "eth_not_for_us",
    /// EtherType we do not handle.
    EthUnsupported => "eth_unsupported",
    /// ARP that is truncated or not Ethernet/IPv4.
    ArpMalformed => "arp_malformed",
    /// ARP whose target is not one of our addresses.
    ArpNotForUs => "arp_not_for_us",
    /// IPv4 header truncated, bad IHL or total length.
    Ipv4Malformed => "ipv4_malformed",
    /// IPv4 header checksum does not verify.
    Ipv4BadChecksum => "ipv4_bad_checksum",
    /// IPv4 destination is not ours.
    Ipv4NotForUs => "ipv4_not_for_us",
    /// A datagram in reassembly dropped: one of its fragments overlapped bytes
    /// already received without being a duplicate of them (RFC 5722 §4's rule,
    /// applied to IPv4 as Linux does since v4.19).
    Ipv4FragOverlap => "ipv4_frag_overlap",
    /// A fragment all of whose bytes were received already (dropped alone).
    Ipv4FragDuplicate => "ipv4_frag_duplicate",
    /// A datagram in reassembly not complete within the time limit (RFC 791 §3.2).
    Ipv4FragTimeout => "ipv4_frag_timeout",
    /// A fragment refused, or a datagram in reassembly dropped, for the
    /// reassembly memory or datagram-count bound.
    Ipv4FragMemory => "ipv4_frag_memory",
    /// A datagram in reassembly longer than 65535 bytes (RFC 791 §3.1).
    Ipv4FragTooBig => "ipv4_frag_too_big",
    /// A datagram in reassembly dropped for an invalid fragment: empty, MF set
    /// with a length not a multiple of 8 (RFC 791 §3.2), beyond the end or with
    /// another end than the last fragment's.
    Ipv4FragInvalid => "ipv4_frag_invalid",
    /// A datagram in reassembly dropped: more holes than the bound (fragment
    /// floods).
    Ipv4FragHoles => "ipv4_frag_holes",
    /// A reassembled TCP segment whose connection another core owns (TCP sets DF
    /// and sizes its segments by path MTU: fragments are rare).
    Ipv4FragTcpOtherCore => "ipv4_frag_tcp_other_core",
    /// IPv4 source address that must not appear as a source (RFC 1122 §3.2.1.3).
    Ipv4BadSource => "ipv4_bad_source",
    /// IP protocol with no handler (answered with ICMP protocol unreachable).
    IpProtoUnsupported => "ip_proto_unsupported",
    /// IPv6 header truncated, wrong version or payload length past the frame.
    Ipv6Malformed => "ipv6_malformed",
    /// IPv6 destination is not one of our addresses or groups.
    Ipv6NotForUs => "ipv6_not_for_us",
    /// IPv6 source that must not appear (multicast, RFC 4291 §2.7; unspecified
    /// outside of NDP, RFC 4291 §2.5.2).
    Ipv6BadSource => "ipv6_bad_source",
    /// Extension-header chain malformed, too long (RFC 8200 §4.1), or with an
    /// option or routing header that asks for the packet to be discarded (RFC
    /// 8200 §4.2, §4.4).
    Ipv6BadExtHeader => "ipv6_bad_ext_header",
    /// An IPv6 datagram in reassembly dropped for overlapping fragments (RFC 5722 §4).
    Ipv6FragOverlap => "ipv6_frag_overlap",
    /// An IPv6 fragment all of whose bytes were received already.
    Ipv6FragDuplicate => "ipv6_frag_duplicate",
    /// An IPv6 datagram not reassembled within the time limit (RFC 8200 §4.5).
    Ipv6FragTimeout => "ipv6_frag_timeout",
    /// An IPv6 fragment refused, or its datagram dropped, for the memory bound.
    Ipv6FragMemory => "ipv6_frag_memory",
    /// An IPv6 fragment that would make the payload longer than 65535 bytes (RFC 8200 §4.5).
    Ipv6FragTooBig => "ipv6_frag_too_big",
    /// An IPv6 fragment invalid (empty, non-last not a multiple of 8, beyond the end).
    Ipv6FragInvalid => "ipv6_frag_invalid",
    /// An IPv6 datagram in reassembly with more holes than the bound.
    Ipv6FragHoles => "ipv6_frag_holes",
    /// A reassembled IPv6 TCP segment whose connection another core owns.
    Ipv6FragTcpOtherCore => "ipv6_frag_tcp_other_core",
    /// ICMPv6 message truncated or malformed.
    Icmpv6Malformed => "icmpv6_malformed",
    /// ICMPv6 checksum does not verify (RFC 4443 §2.3).
    Icmpv6BadChecksum => "icmpv6_bad_checksum",
    /// Neighbor Discovery message whose hop limit is not 255 (RFC 4861 §6.1, §7.1).
    NdpBadHopLimit => "ndp_bad_hop_limit",
    /// Router Advertisement from a source that is not link-local (RFC 4861 §6.1.2).
    NdpRaNotLinkLocal => "ndp_ra_not_link_local",
    /// Neighbor Solicitation for an address that is not ours (RFC 4861 §7.2.3).
    NdpNsNotOurs => "ndp_ns_not_ours",
    /// Neighbor Discovery message failing another validity check of RFC 4861.
    NdpMalformed => "ndp_malformed",
    /// Neighbor Discovery message we do not act on (RS, Redirect, ...).
    NdpIgnored => "ndp_ignored",
    /// A Redirect not from the current first hop for its destination (RFC
    /// 4861 §8.1; its other checks count as `ndp_malformed`).
    NdpRedirectInvalid => "ndp_redirect_invalid",
    /// A packet waiting for address resolution dropped: the queue of its
    /// neighbour (or of all neighbours) was full (RFC 4861 §7.2.2).
    NdpQueueFull => "ndp_queue_full",
    /// Packets waiting for a neighbour that never answered (RFC 4861 §7.2.2:
    /// after MAX_MULTICAST_SOLICIT solicitations).
    NdpResolveFailed => "ndp_resolve_failed",
    /// One of our addresses is used by another node (RFC 4862 §5.4.5): the
    /// address is not used.
    NdpDadDuplicate => "ndp_dad_duplicate",
    /// ICMP message truncated or malformed.
    IcmpMalformed => "icmp_malformed",
    /// ICMP checksum does not verify.
    IcmpBadChecksum => "icmp_bad_checksum",
    /// ICMP type we do not act on (counted, not answered).
    IcmpIgnored => "icmp_ignored",
    /// ICMP error not sent: over the rate limit (RFC 1812 §4.3.2.8).
    IcmpErrorRateLimited => "icmp_error_rate_limited",
    /// ICMP error we do not act on (time exceeded, parameter problem, ...).
    IcmpErrorIgnored => "icmp_error_ignored",
    /// ICMP error quoting a packet whose source is not one of our addresses
    /// (RFC 5927 §4).
    IcmpErrorNotOurs => "icmp_error_not_ours",
    /// ICMP error whose quote is too short or unparsable.
    IcmpErrorMalformed => "icmp_error_malformed",
    /// ICMP error quoting no flow of ours: no TCP connection with that
    /// sequence number in flight, or no bound UDP port (RFC 5927 §4.1).
    IcmpErrorNoFlow => "icmp_error_no_flow",
    /// "Fragmentation needed" / "packet too big" whose MTU is not below the
    /// quoted packet's length (RFC 5927 §7.2).
    IcmpErrorBadMtu => "icmp_error_bad_mtu",
    /// TCP segment truncated or with bad header length/options.
    TcpMalformed => "tcp_malformed",
    /// TCP checksum does not verify.
    TcpBadChecksum => "tcp_bad_checksum",
    /// UDP datagram truncated or malformed.
    UdpMalformed => "udp_malformed",
    /// UDP checksum does not verify.
    UdpBadChecksum => "udp_bad_checksum",
    /// UDP to a port with no service (answered with ICMP port unreachable).
    UdpNoListener => "udp_no_listener",
    /// UDP to a bound port whose receive queue is full.
    UdpRxQueueFull => "udp_rx_queue_full",
    /// A packet waiting for ARP resolution dropped: its neighbour's queue or the
    /// per-core byte bound was full (RFC 1122 §2.3.2.2).
    ArpQueueFull => "arp_queue_full",
    /// A packet dropped because its next hop did not answer ARP (queued ones
    /// when the neighbour becomes FAILED, new ones while it stays so).
    ArpResolveFailed => "arp_resolve_failed",
    /// Outgoing packet dropped: next hop's MAC unknown (ARP request sent instead).
    TxNeighbourMiss => "tx_neighbour_miss",
    /// Outgoing packet dropped: no free transmit frame.
    TxNoFrame => "tx_no_frame",
    /// Outgoing packet dropped: no route to the destination.
    TxNoRoute => "tx_no_route",
}

/// Per-interface counters.
#[derive(Debug, Clone)]
pub struct IfaceStats {
    /// Frames handed to the interface.
    pub rx_frames: u64,
    /// Frames the interface sent.
    pub tx_frames: u64,
    /// ARP requests answered.
    pub arp_replies: u64,
    /// ARP requests sent (resolution and retries; not announcements).
    pub arp_requests: u64,
    /// Gratuitous ARP announcements sent (RFC 5227 §3).
    pub arp_announcements: u64,
    /// ICMP echo requests answered.
    pub icmp_echo_replies: u64,
    /// ICMP errors sent (port / protocol unreachable).
    pub icmp_errors_sent: u64,
    /// TCP segments and UDP datagrams accepted whose checksum field held only the
    /// pseudo-header sum (unfinished CHECKSUM_PARTIAL, accepted under
    /// [`crate::iface::RxChecksum::AcceptPartial`]).
    pub rx_csum_partial: u64,
    /// IPv4 fragments received (each then reassembled or dropped by reason).
    pub ipv4_frags_in: u64,
    /// IPv4 datagrams reassembled from fragments.
    pub ipv4_reassembled: u64,
    /// IPv4 fragments sent (datagrams larger than the MTU).
    pub ipv4_frags_out: u64,
    /// IPv6 fragments received.
    pub ipv6_frags_in: u64,
    /// IPv6 packets reassembled from fragments.
    pub ipv6_reassembled: u64,
    /// IPv6 fragments sent.
    pub ipv6_frags_out: u64,
    /// Neighbor Solicitations sent (resolution, unreachability detection, DAD).
    pub ndp_solicits: u64,
    /// Neighbor Advertisements sent.
    pub ndp_adverts: u64,
    /// MLDv2 reports sent.
    pub mld_reports: u64,
    /// Redirects followed (RFC 4861 §8.3).
    pub ndp_redirects: u64,
    /// ICMP and ICMPv6 errors received (each acted upon or dropped by reason).
    pub icmp_errors_in: u64,
    /// Path MTUs lowered by "fragmentation needed" / "packet too big".
    pub pmtu_updates: u64,
    /// Valid ICMP errors about a UDP port of ours other than packet too big.
    pub udp_icmp_errors: u64,
    /// Drops by reason, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
}

impl Default for IfaceStats {
    fn default() -> Self {
        IfaceStats {
            rx_frames: 0,
            tx_frames: 0,
            arp_replies: 0,
            arp_requests: 0,
            arp_announcements: 0,
            icmp_echo_replies: 0,
            icmp_errors_sent: 0,
            rx_csum_partial: 0,
            ipv4_frags_in: 0,
            ipv4_reassembled: 0,
            ipv4_frags_out: 0,
            ipv6_frags_in: 0,
            ipv6_reassembled: 0,
            ipv6_frags_out: 0,
            ndp_solicits: 0,
            ndp_adverts: 0,
            mld_reports: 0,
            ndp_redirects: 0,
            icmp_errors_in: 0,
            pmtu_updates: 0,
            udp_icmp_errors: 0,
            drops: [0; DropReason::COUNT],
        }
    }
}

impl IfaceStats {
    /// Count one drop.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }
    /// The counter of one reason.
    pub fn drops_of(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }
    /// Total drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
    /// Non-zero drop counters with their names.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL.iter().filter(|r| self.drops[**r as usize] != 0).map(|r| (r.name(), self.drops[*r as usize]))
    }
}
