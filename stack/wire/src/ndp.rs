//! Neighbor Discovery for IPv6 (RFC 4861 §4): Router Solicitation and
//! Advertisement, Neighbor Solicitation and Advertisement, Redirect, and the NDP
//! options (RFC 4861 §4.6) plus the nonce option (RFC 3971 §5.3.2, used by
//! RFC 7527 enhanced DAD, which Linux sends in its DAD probes).
//!
//! The message fields are read through extra getters on [`icmpv6::Packet`]; the
//! options through [`NdiscOption`] / [`NdiscOptions`]. Link-layer addresses are
//! Ethernet MACs as `[u8; 6]`.
//!
//! [`NdiscRepr::parse`] enforces the pure-format validity checks of RFC 4861
//! §6.1.1, §6.1.2, §7.1.1, §7.1.2 and §8.1: ICMP code 0, the minimum length,
//! option lengths above zero, no source link-layer option from the unspecified
//! address, targets that are not multicast, and so on. The checks it cannot make
//! are the proto layer's: **the IPv6 hop limit must be 255** (all five
//! messages), and the checksum (verified by [`crate::icmpv6::Icmpv6Repr::parse`]).

use core::net::Ipv6Addr;

use crate::icmpv6::{self, message};
use crate::ipv6;
use crate::{Error, Result};

mod field {
    // RFC 4861 §4.2: Router Advertisement.
    pub const CUR_HOP_LIMIT: usize = 4;
    pub const ROUTER_FLAGS: usize = 5;
    pub const ROUTER_LIFETIME: usize = 6;
    pub const REACHABLE_TIME: usize = 8;
    pub const RETRANS_TIME: usize = 12;
    // RFC 4861 §4.4: Neighbor Advertisement flags.
    pub const NEIGHBOR_FLAGS: usize = 4;
    // RFC 4861 §4.3-§4.5: target address; §4.5: destination address.
    pub const TARGET_ADDR: usize = 8;
    pub const DEST_ADDR: usize = 24;

    // Where the options start, per message type (RFC 4861 §4.1-§4.5).
    pub const RS_OPTIONS: usize = 8;
    pub const RA_OPTIONS: usize = 16;
    pub const NS_OPTIONS: usize = 24;
    pub const NA_OPTIONS: usize = 24;
    pub const REDIRECT_OPTIONS: usize = 40;

    // Options (RFC 4861 §4.6).
    pub const OPT_TYPE: usize = 0;
    pub const OPT_LEN: usize = 1;
    pub const OPT_LLADDR: core::ops::Range<usize> = 2..8;
    pub const OPT_PREFIX_LEN: usize = 2;
    pub const OPT_PREFIX_FLAGS: usize = 3;
    pub const OPT_VALID_LIFETIME: usize = 4;
    pub const OPT_PREFERRED_LIFETIME: usize = 8;
    pub const OPT_PREFIX: core::ops::Range<usize> = 16..32;
    pub const OPT_MTU: usize = 4;
    pub const OPT_REDIRECTED_DATA: usize = 8;
}

/// NDP option types (RFC 4861 §4.6, RFC 3971 §5.3.2).
pub mod option_kind {
    /// Source link-layer address (RFC 4861 §4.6.1).
    pub const SOURCE_LL_ADDR: u8 = 1;
    /// Target link-layer address (RFC 4861 §4.6.1).
    pub const TARGET_LL_ADDR: u8 = 2;
    /// Prefix information (RFC 4861 §4.6.2).
    pub const PREFIX_INFO: u8 = 3;
    /// Redirected header (RFC 4861 §4.6.3).
    pub const REDIRECTED_HEADER: u8 = 4;
    /// MTU (RFC 4861 §4.6.4).
    pub const MTU: u8 = 5;
    /// Nonce (RFC 3971 §5.3.2; RFC 7527 §4.1).
    pub const NONCE: u8 = 14;
}

/// Router Advertisement flags byte (RFC 4861 §4.2, RFC 4191 §2.2, RFC 5175), kept
/// whole so that every bit round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RouterFlags(pub u8);

impl RouterFlags {
    /// M: addresses are available via DHCPv6.
    pub const MANAGED: RouterFlags = RouterFlags(0x80);
    /// O: other configuration is available via DHCPv6.
    pub const OTHER: RouterFlags = RouterFlags(0x40);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: RouterFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Default router preference bits (RFC 4191 §2.2): 1 high, 0 medium, 3 low.
    pub const fn preference(self) -> u8 {
        (self.0 >> 3) & 0x3
    }
}

/// Neighbor Advertisement flags (RFC 4861 §4.4), the high bits of the first
/// byte after the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NeighborFlags(pub u8);

impl NeighborFlags {
    /// R: the sender is a router.
    pub const ROUTER: NeighborFlags = NeighborFlags(0x80);
    /// S: sent in response to a Neighbor Solicitation.
    pub const SOLICITED: NeighborFlags = NeighborFlags(0x40);
    /// O: override an existing cache entry.
    pub const OVERRIDE: NeighborFlags = NeighborFlags(0x20);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: NeighborFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for NeighborFlags {
    type Output = NeighborFlags;
    fn bitor(self, rhs: NeighborFlags) -> NeighborFlags {
        NeighborFlags(self.0 | rhs.0)
    }
}

/// Prefix information flags (RFC 4861 §4.6.2; R from RFC 6275 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PrefixFlags(pub u8);

impl PrefixFlags {
    /// L: the prefix is on-link.
    pub const ON_LINK: PrefixFlags = PrefixFlags(0x80);
    /// A: the prefix may be used for stateless address autoconfiguration.
    pub const ADDRCONF: PrefixFlags = PrefixFlags(0x40);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: PrefixFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for PrefixFlags {
    type Output = PrefixFlags;
    fn bitor(self, rhs: PrefixFlags) -> PrefixFlags {
        PrefixFlags(self.0 | rhs.0)
    }
}

/// The NDP-specific fields of an ICMPv6 message (RFC 4861 §4.1–§4.5). Meaningful
/// for the matching message type; [`icmpv6::Packet::check_len`] guarantees they
/// are present, and a field beyond a shorter buffer reads as 0 (never panics).
impl<T: AsRef<[u8]>> icmpv6::Packet<T> {
    /// RA: current hop limit.
    #[inline]
    pub fn current_hop_limit(&self) -> u8 {
        self.byte_at(field::CUR_HOP_LIMIT)
    }

    /// RA: flags.
    #[inline]
    pub fn router_flags(&self) -> RouterFlags {
        RouterFlags(self.byte_at(field::ROUTER_FLAGS))
    }

    /// RA: router lifetime in seconds (0: not a default router).
    #[inline]
    pub fn router_lifetime(&self) -> u16 {
        self.u16_at(field::ROUTER_LIFETIME)
    }

    /// RA: reachable time in milliseconds (0: unspecified).
    #[inline]
    pub fn reachable_time(&self) -> u32 {
        self.u32_at(field::REACHABLE_TIME)
    }

    /// RA: retransmission timer in milliseconds (0: unspecified).
    #[inline]
    pub fn retrans_time(&self) -> u32 {
        self.u32_at(field::RETRANS_TIME)
    }

    /// NA: flags.
    #[inline]
    pub fn neighbor_flags(&self) -> NeighborFlags {
        NeighborFlags(self.byte_at(field::NEIGHBOR_FLAGS) & 0xe0)
    }

    /// NS, NA, Redirect: the target address.
    #[inline]
    pub fn target_addr(&self) -> Ipv6Addr {
        self.addr_at(field::TARGET_ADDR)
    }

    /// Redirect: the destination address.
    #[inline]
    pub fn dest_addr(&self) -> Ipv6Addr {
        self.addr_at(field::DEST_ADDR)
    }

    /// The options area of an NDP message (empty for other types or a short
    /// buffer).
    pub fn ndisc_options(&self) -> &[u8] {
        let start = match self.msg_type() {
            message::ROUTER_SOLICIT => field::RS_OPTIONS,
            message::ROUTER_ADVERT => field::RA_OPTIONS,
            message::NEIGHBOR_SOLICIT => field::NS_OPTIONS,
            message::NEIGHBOR_ADVERT => field::NA_OPTIONS,
            message::REDIRECT => field::REDIRECT_OPTIONS,
            _ => return &[],
        };
        self.bytes().get(start..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> icmpv6::Packet<T> {
    /// RA: set the current hop limit.
    #[inline]
    pub fn set_current_hop_limit(&mut self, v: u8) {
        self.bytes_mut()[field::CUR_HOP_LIMIT] = v;
    }

    /// RA: set the flags.
    #[inline]
    pub fn set_router_flags(&mut self, v: RouterFlags) {
        self.bytes_mut()[field::ROUTER_FLAGS] = v.0;
    }

    /// RA: set the router lifetime (seconds).
    #[inline]
    pub fn set_router_lifetime(&mut self, v: u16) {
        self.set_u16_at(field::ROUTER_LIFETIME, v);
    }

    /// RA: set the reachable time (milliseconds).
    #[inline]
    pub fn set_reachable_time(&mut self, v: u32) {
        self.set_u32_at(field::REACHABLE_TIME, v);
    }

    /// RA: set the retransmission timer (milliseconds).
    #[inline]
    pub fn set_retrans_time(&mut self, v: u32) {
        self.set_u32_at(field::RETRANS_TIME, v);
    }

    /// NA: set the flags and zero the reserved bits after them.
    #[inline]
    pub fn set_neighbor_flags(&mut self, v: NeighborFlags) {
        self.set_u32_at(field::NEIGHBOR_FLAGS, u32::from(v.0 & 0xe0) << 24);
    }

    /// NS, NA, Redirect: set the target address.
    #[inline]
    pub fn set_target_addr(&mut self, a: Ipv6Addr) {
        self.set_addr_at(field::TARGET_ADDR, &a);
    }

    /// Redirect: set the destination address.
    #[inline]
    pub fn set_dest_addr(&mut self, a: Ipv6Addr) {
        self.set_addr_at(field::DEST_ADDR, &a);
    }
}

// ---------------------------------------------------------------------------
// Options

/// A view of one NDP option (RFC 4861 §4.6): type, length in 8-octet units, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdiscOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NdiscOption<T> {
    /// Wrap a buffer without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        NdiscOption { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let o = Self::new_unchecked(buffer);
        o.check_len()?;
        Ok(o)
    }

    /// `Truncated` if the buffer cannot hold the type and length bytes or the
    /// length the option announces; `Malformed` for a length of 0 (RFC 4861 §4.6);
    /// `Malformed` if a known option has a length its format forbids (prefix
    /// information must be 4, MTU 1, link-layer addresses 1 on Ethernet).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < 2 {
            return Err(Error::Truncated);
        }
        if b[field::OPT_LEN] == 0 {
            return Err(Error::Malformed);
        }
        if b.len() < self.option_len() {
            return Err(Error::Truncated);
        }
        let units = b[field::OPT_LEN];
        let ok = match b[field::OPT_TYPE] {
            option_kind::SOURCE_LL_ADDR | option_kind::TARGET_LL_ADDR | option_kind::MTU => units == 1,
            option_kind::PREFIX_INFO => units == 4,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Malformed)
        }
    }

    /// The option type ([`option_kind`]).
    #[inline]
    pub fn kind(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_TYPE]
    }

    /// The option's length in bytes (the length field times 8).
    #[inline]
    pub fn option_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OPT_LEN]) * 8
    }

    /// The bytes after the type and length bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.option_len()]
    }

    /// Source/target link-layer address: the MAC.
    #[inline]
    pub fn link_layer_addr(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::OPT_LLADDR]);
        m
    }

    /// Prefix information: the prefix length in bits.
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_PREFIX_LEN]
    }

    /// Prefix information: the L/A flags.
    #[inline]
    pub fn prefix_flags(&self) -> PrefixFlags {
        PrefixFlags(self.buffer.as_ref()[field::OPT_PREFIX_FLAGS])
    }

    #[inline]
    fn u32_at(&self, at: usize) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// Prefix information: valid lifetime in seconds (`u32::MAX`: infinity).
    #[inline]
    pub fn valid_lifetime(&self) -> u32 {
        self.u32_at(field::OPT_VALID_LIFETIME)
    }

    /// Prefix information: preferred lifetime in seconds (`u32::MAX`: infinity).
    #[inline]
    pub fn preferred_lifetime(&self) -> u32 {
        self.u32_at(field::OPT_PREFERRED_LIFETIME)
    }

    /// Prefix information: the prefix.
    #[inline]
    pub fn prefix(&self) -> Ipv6Addr {
        let mut o = [0u8; 16];
        o.copy_from_slice(&self.buffer.as_ref()[field::OPT_PREFIX]);
        Ipv6Addr::from(o)
    }

    /// MTU option: the MTU.
    #[inline]
    pub fn mtu(&self) -> u32 {
        self.u32_at(field::OPT_MTU)
    }

    /// Redirected header: the contained (truncated) IP packet and any padding.
    #[inline]
    pub fn redirected_data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPT_REDIRECTED_DATA..self.option_len()]
    }
}

/// Prefix information (RFC 4861 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixInfo {
    /// Number of leading bits of `prefix` that are valid.
    pub prefix_len: u8,
    /// L and A flags.
    pub flags: PrefixFlags,
    /// Valid lifetime in seconds (`u32::MAX`: infinity).
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds (`u32::MAX`: infinity).
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

/// One parsed NDP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscOptionRepr<'a> {
    /// Source link-layer address (type 1).
    SourceLinkLayerAddr([u8; 6]),
    /// Target link-layer address (type 2).
    TargetLinkLayerAddr([u8; 6]),
    /// Prefix information (type 3).
    PrefixInformation(PrefixInfo),
    /// Redirected header (type 4): the contained bytes, padding included.
    RedirectedHeader(&'a [u8]),
    /// MTU (type 5).
    Mtu(u32),
    /// A 6-byte nonce (type 14 with length 1, as RFC 7527 DAD uses it).
    Nonce([u8; 6]),
    /// Any other option, or a nonce of another length: type and data.
    Unknown {
        /// Option type.
        kind: u8,
        /// The bytes after type and length.
        data: &'a [u8],
    },
}

impl<'a> NdiscOptionRepr<'a> {
    /// Parse one option.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(opt: &NdiscOption<&'a T>) -> Result<Self> {
        opt.check_len()?;
        let b: &'a [u8] = opt.buffer.as_ref();
        Ok(match opt.kind() {
            option_kind::SOURCE_LL_ADDR => NdiscOptionRepr::SourceLinkLayerAddr(opt.link_layer_addr()),
            option_kind::TARGET_LL_ADDR => NdiscOptionRepr::TargetLinkLayerAddr(opt.link_layer_addr()),
            option_kind::PREFIX_INFO => NdiscOptionRepr::PrefixInformation(PrefixInfo {
                prefix_len: opt.prefix_len(),
                flags: opt.prefix_flags(),
                valid_lifetime: opt.valid_lifetime(),
                preferred_lifetime: opt.preferred_lifetime(),
                prefix: opt.prefix(),
            }),
            option_kind::REDIRECTED_HEADER => {
                NdiscOptionRepr::RedirectedHeader(&b[field::OPT_REDIRECTED_DATA..opt.option_len()])
            }
            option_kind::MTU => NdiscOptionRepr::Mtu(opt.mtu()),
            option_kind::NONCE if opt.option_len() == 8 => NdiscOptionRepr::Nonce(opt.link_layer_addr()),
            kind => NdiscOptionRepr::Unknown { kind, data: &b[2..opt.option_len()] },
        })
    }

    /// The option's length in bytes (a multiple of 8).
    pub fn buffer_len(&self) -> usize {
        match self {
            NdiscOptionRepr::SourceLinkLayerAddr(_)
            | NdiscOptionRepr::TargetLinkLayerAddr(_)
            | NdiscOptionRepr::Mtu(_)
            | NdiscOptionRepr::Nonce(_) => 8,
            NdiscOptionRepr::PrefixInformation(_) => 32,
            NdiscOptionRepr::RedirectedHeader(d) => (8 + d.len()).div_ceil(8) * 8,
            NdiscOptionRepr::Unknown { data, .. } => (2 + data.len()).div_ceil(8) * 8,
        }
    }

    /// Write the option at the start of `buf` (reserved bytes and padding zero).
    /// Panics if `buf` is shorter than [`buffer_len`](Self::buffer_len) or the
    /// option would be longer than 2040 bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let b = &mut buf[..len];
        b.fill(0);
        b[field::OPT_LEN] = u8::try_from(len / 8).expect("NDP option longer than 2040 bytes");
        match *self {
            NdiscOptionRepr::SourceLinkLayerAddr(m) => {
                b[0] = option_kind::SOURCE_LL_ADDR;
                b[field::OPT_LLADDR].copy_from_slice(&m);
            }
            NdiscOptionRepr::TargetLinkLayerAddr(m) => {
                b[0] = option_kind::TARGET_LL_ADDR;
                b[field::OPT_LLADDR].copy_from_slice(&m);
            }
            NdiscOptionRepr::Nonce(n) => {
                b[0] = option_kind::NONCE;
                b[field::OPT_LLADDR].copy_from_slice(&n);
            }
            NdiscOptionRepr::PrefixInformation(p) => {
                b[0] = option_kind::PREFIX_INFO;
                b[field::OPT_PREFIX_LEN] = p.prefix_len;
                b[field::OPT_PREFIX_FLAGS] = p.flags.0;
                b[4..8].copy_from_slice(&p.valid_lifetime.to_be_bytes());
                b[8..12].copy_from_slice(&p.preferred_lifetime.to_be_bytes());
                b[field::OPT_PREFIX].copy_from_slice(&p.prefix.octets());
            }
            NdiscOptionRepr::RedirectedHeader(d) => {
                b[0] = option_kind::REDIRECTED_HEADER;
                b[8..8 + d.len()].copy_from_slice(d);
            }
            NdiscOptionRepr::Mtu(m) => {
                b[0] = option_kind::MTU;
                b[4..8].copy_from_slice(&m.to_be_bytes());
            }
            NdiscOptionRepr::Unknown { kind, data } => {
                b[0] = kind;
                b[2..2 + data.len()].copy_from_slice(data);
            }
        }
    }
}

/// Iterator over the options of an NDP message. Yields an error once (and then
/// stops) for an option with length 0 or one that runs past the end.
#[derive(Debug, Clone)]
pub struct NdiscOptions<'a> {
    bytes: &'a [u8],
}

impl<'a> NdiscOptions<'a> {
    /// Iterate over the options in `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        NdiscOptions { bytes }
    }
}

impl<'a> Iterator for NdiscOptions<'a> {
    type Item = Result<NdiscOptionRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes.is_empty() {
            return None;
        }
        let opt = NdiscOption::new_unchecked(self.bytes);
        match NdiscOptionRepr::parse(&opt) {
            Ok(r) => {
                self.bytes = &self.bytes[opt.option_len()..];
                Some(Ok(r))
            }
            Err(e) => {
                self.bytes = &[];
                Some(Err(e))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Messages

/// At most this many prefix-information options of one Router Advertisement are
/// kept; further ones are ignored.
pub const MAX_PREFIXES: usize = 4;

/// The prefix-information options of a Router Advertisement, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Prefixes {
    items: [Option<PrefixInfo>; MAX_PREFIXES],
}

impl Prefixes {
    /// No prefixes.
    pub const EMPTY: Prefixes = Prefixes { items: [None; MAX_PREFIXES] };

    /// Append a prefix; returns false (and drops it) if [`MAX_PREFIXES`] are
    /// already present.
    pub fn push(&mut self, p: PrefixInfo) -> bool {
        for slot in &mut self.items {
            if slot.is_none() {
                *slot = Some(p);
                return true;
            }
        }
        false
    }

    /// The prefixes present.
    pub fn iter(&self) -> impl Iterator<Item = &PrefixInfo> + '_ {
        self.items.iter().map_while(|p| p.as_ref())
    }

    /// Number of prefixes present.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.items[0].is_none()
    }
}

impl FromIterator<PrefixInfo> for Prefixes {
    fn from_iter<I: IntoIterator<Item = PrefixInfo>>(iter: I) -> Self {
        let mut p = Prefixes::EMPTY;
        for i in iter {
            p.push(i);
        }
        p
    }
}

/// A validated Neighbor Discovery message (RFC 4861 §4).
///
/// Options a message type does not define are ignored on parse (RFC 4861 §4.1–
/// §4.5: "future versions ... receivers MUST silently ignore"); a repeated option
/// keeps its first occurrence. Emit writes the options in the order of the
/// fields below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscRepr<'a> {
    /// Router Solicitation (RFC 4861 §4.1).
    RouterSolicit {
        /// Source link-layer address option.
        lladdr: Option<[u8; 6]>,
    },
    /// Router Advertisement (RFC 4861 §4.2).
    RouterAdvert {
        /// Current hop limit to use (0: unspecified).
        hop_limit: u8,
        /// M/O flags (and the other bits of that byte).
        flags: RouterFlags,
        /// Router lifetime in seconds (0: not a default router).
        router_lifetime: u16,
        /// Reachable time in milliseconds (0: unspecified).
        reachable_time: u32,
        /// Retransmission timer in milliseconds (0: unspecified).
        retrans_time: u32,
        /// Source link-layer address option.
        lladdr: Option<[u8; 6]>,
        /// MTU option.
        mtu: Option<u32>,
        /// Prefix information options (at most [`MAX_PREFIXES`]).
        prefixes: Prefixes,
    },
    /// Neighbor Solicitation (RFC 4861 §4.3).
    NeighborSolicit {
        /// The address being resolved or checked.
        target_addr: Ipv6Addr,
        /// Source link-layer address option.
        lladdr: Option<[u8; 6]>,
        /// Nonce option of a DAD probe (RFC 7527).
        nonce: Option<[u8; 6]>,
    },
    /// Neighbor Advertisement (RFC 4861 §4.4).
    NeighborAdvert {
        /// R/S/O flags.
        flags: NeighborFlags,
        /// The address whose link-layer address is advertised.
        target_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<[u8; 6]>,
    },
    /// Redirect (RFC 4861 §4.5).
    Redirect {
        /// The better first hop.
        target_addr: Ipv6Addr,
        /// The destination being redirected.
        dest_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<[u8; 6]>,
        /// Redirected header option contents (padding included).
        redirected_hdr: Option<&'a [u8]>,
    },
}

impl<'a> NdiscRepr<'a> {
    /// Parse an NDP message sent from `src` to `dst` (needed for the RFC 4861
    /// validity checks). The checksum is not checked here; use
    /// [`crate::icmpv6::Icmpv6Repr::parse`] for that.
    ///
    /// Errors: `Unsupported` for a non-NDP type; `Truncated` below the minimum
    /// length of the type (8/16/24/24/40 bytes) or for an option past the end;
    /// `Malformed` for code ≠ 0, an option of length 0, a multicast target,
    /// a source link-layer option from the unspecified address (RS, NS), an NS
    /// from the unspecified address not to a solicited-node address, a solicited
    /// NA to a multicast address, an RA or Redirect from a non-link-local source,
    /// a multicast Redirect destination, or a Redirect target that is neither
    /// link-local nor the destination.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &icmpv6::Packet<&'a T>,
    ) -> Result<NdiscRepr<'a>> {
        packet.check_len()?;
        let bytes = packet.bytes_ref();
        let min = match packet.msg_type() {
            message::ROUTER_SOLICIT => field::RS_OPTIONS,
            message::ROUTER_ADVERT => field::RA_OPTIONS,
            message::NEIGHBOR_SOLICIT => field::NS_OPTIONS,
            message::NEIGHBOR_ADVERT => field::NA_OPTIONS,
            message::REDIRECT => field::REDIRECT_OPTIONS,
            _ => return Err(Error::Unsupported),
        };
        if bytes.len() < min {
            return Err(Error::Truncated);
        }
        // RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1: ICMP code is 0.
        if packet.msg_code() != 0 {
            return Err(Error::Malformed);
        }
        let mut src_ll = None;
        let mut tgt_ll = None;
        let mut mtu = None;
        let mut nonce = None;
        let mut redirected = None;
        let mut prefixes = Prefixes::EMPTY;
        for opt in NdiscOptions::new(&bytes[min..]) {
            match opt? {
                NdiscOptionRepr::SourceLinkLayerAddr(m) => {
                    src_ll.get_or_insert(m);
                }
                NdiscOptionRepr::TargetLinkLayerAddr(m) => {
                    tgt_ll.get_or_insert(m);
                }
                NdiscOptionRepr::Mtu(m) => {
                    mtu.get_or_insert(m);
                }
                NdiscOptionRepr::Nonce(n) => {
                    nonce.get_or_insert(n);
                }
                NdiscOptionRepr::RedirectedHeader(d) => {
                    redirected.get_or_insert(d);
                }
                NdiscOptionRepr::PrefixInformation(p) => {
                    prefixes.push(p);
                }
                NdiscOptionRepr::Unknown { .. } => {}
            }
        }
        let unspecified = src.is_unspecified();
        match packet.msg_type() {
            message::ROUTER_SOLICIT => {
                // RFC 4861 §6.1.1: no source link-layer option from ::.
                if unspecified && src_ll.is_some() {
                    return Err(Error::Malformed);
                }
                Ok(NdiscRepr::RouterSolicit { lladdr: src_ll })
            }
            message::ROUTER_ADVERT => {
                // RFC 4861 §6.1.2: the source is link-local.
                if !ipv6::is_link_local(src) {
                    return Err(Error::Malformed);
                }
                Ok(NdiscRepr::RouterAdvert {
                    hop_limit: packet.current_hop_limit(),
                    flags: packet.router_flags(),
                    router_lifetime: packet.router_lifetime(),
                    reachable_time: packet.reachable_time(),
                    retrans_time: packet.retrans_time(),
                    lladdr: src_ll,
                    mtu,
                    prefixes,
                })
            }
            message::NEIGHBOR_SOLICIT => {
                let target_addr = packet.target_addr();
                // RFC 4861 §7.1.1: target not multicast; from :: only to a
                // solicited-node address and without a source link-layer option.
                if target_addr.is_multicast()
                    || (unspecified && (!ipv6::is_solicited_node(dst) || src_ll.is_some()))
                {
                    return Err(Error::Malformed);
                }
                Ok(NdiscRepr::NeighborSolicit { target_addr, lladdr: src_ll, nonce })
            }
            message::NEIGHBOR_ADVERT => {
                let target_addr = packet.target_addr();
                let flags = packet.neighbor_flags();
                // RFC 4861 §7.1.2: target not multicast; no S flag to multicast.
                if target_addr.is_multicast() || (dst.is_multicast() && flags.contains(NeighborFlags::SOLICITED)) {
                    return Err(Error::Malformed);
                }
                Ok(NdiscRepr::NeighborAdvert { flags, target_addr, lladdr: tgt_ll })
            }
            _ => {
                let target_addr = packet.target_addr();
                let dest_addr = packet.dest_addr();
                // RFC 4861 §8.1: link-local source; destination not multicast;
                // target link-local or equal to the destination.
                if !ipv6::is_link_local(src)
                    || dest_addr.is_multicast()
                    || !(ipv6::is_link_local(&target_addr) || target_addr == dest_addr)
                {
                    return Err(Error::Malformed);
                }
                Ok(NdiscRepr::Redirect { target_addr, dest_addr, lladdr: tgt_ll, redirected_hdr: redirected })
            }
        }
    }

    /// The ICMPv6 message type of this message.
    pub const fn msg_type(&self) -> u8 {
        match self {
            NdiscRepr::RouterSolicit { .. } => message::ROUTER_SOLICIT,
            NdiscRepr::RouterAdvert { .. } => message::ROUTER_ADVERT,
            NdiscRepr::NeighborSolicit { .. } => message::NEIGHBOR_SOLICIT,
            NdiscRepr::NeighborAdvert { .. } => message::NEIGHBOR_ADVERT,
            NdiscRepr::Redirect { .. } => message::REDIRECT,
        }
    }

    /// Visit the options in emit order.
    fn for_each_option(&self, mut f: impl FnMut(NdiscOptionRepr<'a>)) {
        match *self {
            NdiscRepr::RouterSolicit { lladdr } => {
                if let Some(m) = lladdr {
                    f(NdiscOptionRepr::SourceLinkLayerAddr(m));
                }
            }
            NdiscRepr::RouterAdvert { lladdr, mtu, prefixes, .. } => {
                if let Some(m) = lladdr {
                    f(NdiscOptionRepr::SourceLinkLayerAddr(m));
                }
                if let Some(m) = mtu {
                    f(NdiscOptionRepr::Mtu(m));
                }
                for p in prefixes.iter() {
                    f(NdiscOptionRepr::PrefixInformation(*p));
                }
            }
            NdiscRepr::NeighborSolicit { lladdr, nonce, .. } => {
                if let Some(m) = lladdr {
                    f(NdiscOptionRepr::SourceLinkLayerAddr(m));
                }
                if let Some(n) = nonce {
                    f(NdiscOptionRepr::Nonce(n));
                }
            }
            NdiscRepr::NeighborAdvert { lladdr, .. } => {
                if let Some(m) = lladdr {
                    f(NdiscOptionRepr::TargetLinkLayerAddr(m));
                }
            }
            NdiscRepr::Redirect { lladdr, redirected_hdr, .. } => {
                if let Some(m) = lladdr {
                    f(NdiscOptionRepr::TargetLinkLayerAddr(m));
                }
                if let Some(d) = redirected_hdr {
                    f(NdiscOptionRepr::RedirectedHeader(d));
                }
            }
        }
    }

    fn fixed_len(&self) -> usize {
        match self {
            NdiscRepr::RouterSolicit { .. } => field::RS_OPTIONS,
            NdiscRepr::RouterAdvert { .. } => field::RA_OPTIONS,
            NdiscRepr::NeighborSolicit { .. } => field::NS_OPTIONS,
            NdiscRepr::NeighborAdvert { .. } => field::NA_OPTIONS,
            NdiscRepr::Redirect { .. } => field::REDIRECT_OPTIONS,
        }
    }

    /// The message's length in bytes, options included.
    pub fn buffer_len(&self) -> usize {
        let mut len = self.fixed_len();
        self.for_each_option(|o| len += o.buffer_len());
        len
    }

    /// Write the message (type, code, fields, options; reserved bytes zero). The
    /// checksum is left to [`crate::icmpv6::Icmpv6Repr::emit`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut icmpv6::Packet<T>) {
        packet.set_msg_type(self.msg_type());
        packet.set_msg_code(0);
        let fixed = self.fixed_len();
        packet.bytes_mut()[4..fixed].fill(0);
        match *self {
            NdiscRepr::RouterSolicit { .. } => {}
            NdiscRepr::RouterAdvert { hop_limit, flags, router_lifetime, reachable_time, retrans_time, .. } => {
                packet.set_current_hop_limit(hop_limit);
                packet.set_router_flags(flags);
                packet.set_router_lifetime(router_lifetime);
                packet.set_reachable_time(reachable_time);
                packet.set_retrans_time(retrans_time);
            }
            NdiscRepr::NeighborSolicit { target_addr, .. } => packet.set_target_addr(target_addr),
            NdiscRepr::NeighborAdvert { flags, target_addr, .. } => {
                packet.set_neighbor_flags(flags);
                packet.set_target_addr(target_addr);
            }
            NdiscRepr::Redirect { target_addr, dest_addr, .. } => {
                packet.set_target_addr(target_addr);
                packet.set_dest_addr(dest_addr);
            }
        }
        let mut at = fixed;
        let buf = packet.bytes_mut();
        self.for_each_option(|o| {
            o.emit(&mut buf[at..]);
            at += o.buffer_len();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icmpv6::tests::{messages, parse_round_trip};
    use crate::icmpv6::Icmpv6Repr;
    use crate::ChecksumMode;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn captured_ndp_messages() {
        let msgs = messages();
        let mut seen = [0usize; 5];
        let mut dad_targets = Vec::new();
        for c in &msgs {
            let Icmpv6Repr::Ndisc(n) = parse_round_trip(c) else { continue };
            // The proto layer's check; every captured NDP message passes it.
            assert_eq!(c.hop_limit, 255);
            seen[usize::from(n.msg_type() - 133)] += 1;
            match n {
                NdiscRepr::RouterSolicit { lladdr } => {
                    // Linux: from its link-local, with its MAC as source LL.
                    assert!(ipv6::is_link_local(&c.src));
                    assert_eq!(c.dst, ipv6::ALL_ROUTERS);
                    assert_eq!(lladdr, Some(c.eth_src));
                }
                NdiscRepr::RouterAdvert { hop_limit, flags, router_lifetime, reachable_time, retrans_time, lladdr, mtu, prefixes } => {
                    // scapy's RA.
                    assert_eq!((hop_limit, router_lifetime, reachable_time, retrans_time), (64, 1800, 30000, 1000));
                    assert!(flags.contains(RouterFlags::OTHER) && !flags.contains(RouterFlags::MANAGED));
                    assert_eq!(lladdr, Some(c.eth_src));
                    assert_eq!(mtu, Some(1500));
                    assert_eq!(prefixes.len(), 1);
                    let p = prefixes.iter().next().unwrap();
                    assert_eq!(p.prefix_len, 64);
                    assert_eq!(p.prefix, addr("2001:db8::"));
                    assert_eq!(p.flags, PrefixFlags::ON_LINK | PrefixFlags::ADDRCONF);
                    assert_eq!((p.valid_lifetime, p.preferred_lifetime), (86400, 14400));
                }
                NdiscRepr::NeighborSolicit { target_addr, lladdr, nonce } => {
                    assert_eq!(c.dst, if c.src.is_unspecified() { ipv6::solicited_node(&target_addr) } else { c.dst });
                    if c.src.is_unspecified() {
                        // DAD probe (RFC 4862 §5.4.2) with an RFC 7527 nonce.
                        assert_eq!(lladdr, None);
                        assert!(nonce.is_some());
                        dad_targets.push(target_addr);
                    } else {
                        assert_eq!(lladdr, Some(c.eth_src));
                    }
                }
                NdiscRepr::NeighborAdvert { flags, target_addr, lladdr } => {
                    assert!(flags.contains(NeighborFlags::SOLICITED));
                    if target_addr == addr("2001:db8::2") && lladdr.is_some() {
                        // Router namespace (forwarding on): R, S and O.
                        assert_eq!(flags, NeighborFlags::ROUTER | NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE);
                        assert_eq!(lladdr, Some(c.eth_src));
                    }
                }
                NdiscRepr::Redirect { target_addr, dest_addr, lladdr, redirected_hdr } => {
                    // scapy's redirect.
                    assert_eq!(dest_addr, addr("2001:db8:1::9"));
                    assert_eq!(target_addr, c.src);
                    assert_eq!(lladdr, Some(c.eth_src));
                    let inner = crate::ipv6::Packet::new_unchecked(redirected_hdr.unwrap());
                    assert_eq!(inner.dst_addr(), dest_addr);
                }
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        // DAD for both global and both link-local addresses.
        assert!(dad_targets.contains(&addr("2001:db8::1")) && dad_targets.contains(&addr("2001:db8::2")));
        assert_eq!(dad_targets.iter().filter(|a| ipv6::is_link_local(a)).count(), 2);
    }

    #[test]
    fn unknown_options_skipped_and_zero_length_malformed() {
        let src = addr("fe80::1");
        let dst = ipv6::ALL_ROUTERS;
        // RS with an unknown option (type 200, 16 bytes) then source LL.
        let mut m = vec![133u8, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[200, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        m.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 1]);
        let r = NdiscRepr::parse(&src, &dst, &icmpv6::Packet::new_checked(&m[..]).unwrap()).unwrap();
        assert_eq!(r, NdiscRepr::RouterSolicit { lladdr: Some([2, 0, 0, 0, 0, 1]) });
        let mut z = m.clone();
        z[9] = 0;
        assert_eq!(NdiscRepr::parse(&src, &dst, &icmpv6::Packet::new_checked(&z[..]).unwrap()), Err(Error::Malformed));
        // Code 1 is malformed.
        let mut c1 = m.clone();
        c1[1] = 1;
        assert_eq!(NdiscRepr::parse(&src, &dst, &icmpv6::Packet::new_checked(&c1[..]).unwrap()), Err(Error::Malformed));
        // Option past the end.
        assert_eq!(
            NdiscRepr::parse(&src, &dst, &icmpv6::Packet::new_checked(&m[..m.len() - 1]).unwrap()),
            Err(Error::Truncated)
        );
        // Source LL from the unspecified address.
        assert_eq!(
            NdiscRepr::parse(&Ipv6Addr::UNSPECIFIED, &dst, &icmpv6::Packet::new_checked(&m[..]).unwrap()),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn ns_na_validity() {
        let target = addr("2001:db8::2");
        let ns = NdiscRepr::NeighborSolicit { target_addr: target, lladdr: Some([2; 6]), nonce: None };
        let mut b = vec![0u8; ns.buffer_len()];
        ns.emit(&mut icmpv6::Packet::new_unchecked(&mut b[..]));
        let p = icmpv6::Packet::new_checked(&b[..]).unwrap();
        let sn = ipv6::solicited_node(&target);
        assert_eq!(NdiscRepr::parse(&addr("2001:db8::1"), &sn, &p), Ok(ns));
        // From :: with a source LL option: malformed (RFC 4861 §7.1.1).
        assert_eq!(NdiscRepr::parse(&Ipv6Addr::UNSPECIFIED, &sn, &p), Err(Error::Malformed));
        // Multicast target.
        let bad = NdiscRepr::NeighborSolicit { target_addr: ipv6::ALL_NODES, lladdr: None, nonce: None };
        let mut b = vec![0u8; bad.buffer_len()];
        bad.emit(&mut icmpv6::Packet::new_unchecked(&mut b[..]));
        assert_eq!(NdiscRepr::parse(&addr("2001:db8::1"), &sn, &icmpv6::Packet::new_checked(&b[..]).unwrap()), Err(Error::Malformed));
        // Solicited NA to all-nodes.
        let na = NdiscRepr::NeighborAdvert { flags: NeighborFlags::SOLICITED, target_addr: target, lladdr: None };
        let mut b = vec![0u8; na.buffer_len()];
        na.emit(&mut icmpv6::Packet::new_unchecked(&mut b[..]));
        let p = icmpv6::Packet::new_checked(&b[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&target, &ipv6::ALL_NODES, &p), Err(Error::Malformed));
        assert_eq!(NdiscRepr::parse(&target, &addr("2001:db8::1"), &p), Ok(na));
    }

    fn arb_mac() -> impl Strategy<Value = Option<[u8; 6]>> {
        proptest::option::of(any::<[u8; 6]>())
    }

    fn arb_prefix() -> impl Strategy<Value = PrefixInfo> {
        (any::<u8>(), any::<u8>(), any::<u32>(), any::<u32>(), any::<u128>()).prop_map(|(l, f, v, p, a)| PrefixInfo {
            prefix_len: l,
            flags: PrefixFlags(f),
            valid_lifetime: v,
            preferred_lifetime: p,
            prefix: Ipv6Addr::from(a),
        })
    }

    fn arb_ucast() -> impl Strategy<Value = Ipv6Addr> {
        any::<u128>().prop_map(|a| Ipv6Addr::from(a & !(0xffu128 << 120)))
    }

    fn arb_ndisc(redirected: &[u8]) -> impl Strategy<Value = NdiscRepr<'_>> {
        prop_oneof![
            arb_mac().prop_map(|lladdr| NdiscRepr::RouterSolicit { lladdr }),
            (any::<u8>(), any::<u8>(), any::<u16>(), any::<u32>(), any::<u32>(), arb_mac(), proptest::option::of(any::<u32>()),
             proptest::collection::vec(arb_prefix(), 0..=MAX_PREFIXES))
                .prop_map(|(hop_limit, f, router_lifetime, reachable_time, retrans_time, lladdr, mtu, ps)| NdiscRepr::RouterAdvert {
                    hop_limit, flags: RouterFlags(f), router_lifetime, reachable_time, retrans_time, lladdr, mtu,
                    prefixes: ps.into_iter().collect(),
                }),
            (arb_ucast(), arb_mac(), arb_mac()).prop_map(|(target_addr, lladdr, nonce)| NdiscRepr::NeighborSolicit { target_addr, lladdr, nonce }),
            (0u8..8, arb_ucast(), arb_mac()).prop_map(|(f, target_addr, lladdr)| NdiscRepr::NeighborAdvert { flags: NeighborFlags(f << 5), target_addr, lladdr }),
            (any::<u64>(), arb_ucast(), arb_mac(), 0usize..=redirected.len() / 8)
                .prop_map(move |(iid, dest_addr, lladdr, n)| NdiscRepr::Redirect {
                    target_addr: Ipv6Addr::from((0xfe80u128 << 112) | u128::from(iid)), dest_addr, lladdr,
                    redirected_hdr: if n == 0 { None } else { Some(&redirected[..8 * n]) },
                }),
        ]
    }

    static REDIRECTED: [u8; 64] = [0x5a; 64];

    proptest! {
        #[test]
        fn emit_parse_identity(r in arb_ndisc(&REDIRECTED)) {
            let src = addr("fe80::1");
            let dst = addr("2001:db8::1");
            let full = Icmpv6Repr::Ndisc(r);
            let mut out = vec![0u8; full.buffer_len()];
            full.emit(&src, &dst, &mut icmpv6::Packet::new_unchecked(&mut out[..]), ChecksumMode::Full);
            let p = Icmpv6Repr::parse(&src, &dst, &icmpv6::Packet::new_checked(&out[..]).unwrap(), ChecksumMode::Full).unwrap();
            prop_assert_eq!(p, full);
        }

        #[test]
        fn parse_never_panics(ty in 133u8..=137, rest in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(3), Just(4), any::<u8>()], 0..120)) {
            let mut m = vec![ty, 0];
            m.extend_from_slice(&rest);
            for (s, d) in [(Ipv6Addr::UNSPECIFIED, ipv6::solicited_node(&addr("2001:db8::1"))), (addr("fe80::1"), ipv6::ALL_NODES)] {
                if let Ok(p) = icmpv6::Packet::new_checked(&m[..]) {
                    let _ = NdiscRepr::parse(&s, &d, &p);
                }
            }
            for o in NdiscOptions::new(&rest) {
                let _ = o;
            }
        }
    }
}
