//! Option negotiation on the handshake: MSS (RFC 9293 §3.7.1), window scale
//! (RFC 7323 §2), timestamps (RFC 7323 §3–§5: RTTM and a minimal PAWS) and
//! SACK-permitted (RFC 2018 §2, offered unless [`super::TcpConfig::sack`] is
//! off). SACK blocks themselves are built and read in [`super::sack`].

use crate::time::Instant;
use wire::tcp::TcpOptions;

/// Largest shift count allowed (RFC 7323 §2.3).
pub const MAX_WSCALE: u8 = 14;
/// Bytes a timestamps option costs in every segment (10 + 2 NOP padding).
pub const TS_OPTION_LEN: u16 = 12;
/// Default send MSS when the peer's SYN has no MSS option (RFC 9293 §3.7.1, IPv4).
pub const DEFAULT_MSS_V4: u16 = 536;
/// Default send MSS for IPv6 (RFC 8200 §5: 1280 - 60).
pub const DEFAULT_MSS_V6: u16 = 1220;

/// The smallest shift that lets a window of `buffer` bytes be advertised in 16 bits.
pub fn wscale_for(buffer: usize) -> u8 {
    let mut s = 0u8;
    while s < MAX_WSCALE && (buffer >> s) > 0xffff {
        s += 1;
    }
    s
}

/// What both sides agreed on during the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Largest payload we may send, after subtracting option overhead.
    pub send_mss: u16,
    /// Shift applied to window fields the peer sends us.
    pub snd_wscale: u8,
    /// Shift applied to window fields we send.
    pub rcv_wscale: u8,
    /// Timestamps in use on every segment.
    pub timestamps: bool,
    /// The peer's SYN carried SACK-permitted (RFC 2018 §2: we may send it SACK
    /// blocks). Kept, also through a SYN cookie.
    pub peer_sack_permitted: bool,
    /// SACK in use both ways: we offered SACK-permitted and so did the peer
    /// (RFC 2018 §2): we send SACK blocks and use the peer's in loss recovery
    /// (RFC 6675).
    pub sack: bool,
}

/// What we offer in our SYN (or in a SYN-ACK, restricted to what the peer offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// MSS we announce.
    pub mss: u16,
    /// Our receive shift, `None` when we don't offer window scaling.
    pub wscale: Option<u8>,
    /// Whether we offer timestamps.
    pub timestamps: bool,
    /// Whether we offer SACK-permitted (RFC 2018 §2).
    pub sack: bool,
}

impl Offer {
    /// The options of a SYN carrying this offer. `tsval` is our timestamp clock now.
    pub fn syn_options(&self, tsval: u32, tsecr: u32) -> TcpOptions {
        TcpOptions {
            mss: Some(self.mss),
            window_scale: self.wscale,
            sack_permitted: self.sack,
            timestamps: if self.timestamps { Some((tsval, tsecr)) } else { None },
            ..TcpOptions::default()
        }
    }

    /// For a SYN-ACK: keep only what the peer's SYN offered too (RFC 7323 §2.2:
    /// window scale only in a SYN-ACK answering a SYN that had it; §3.2 the same for
    /// timestamps).
    pub fn answer(&self, peer: &TcpOptions) -> Offer {
        Offer {
            mss: self.mss,
            wscale: if peer.window_scale.is_some() { self.wscale } else { None },
            timestamps: self.timestamps && peer.timestamps.is_some(),
            // RFC 2018 §2: SACK-permitted only in a SYN-ACK answering a SYN with it.
            sack: self.sack && peer.sack_permitted,
        }
    }

    /// Agree with the peer's SYN options (RFC 7323 §2.2, §3.2; RFC 9293 §3.7.1).
    /// `v6` selects the default MSS when the peer announced none.
    pub fn negotiate(&self, peer: &TcpOptions, v6: bool) -> Negotiated {
        let (snd_wscale, rcv_wscale) = match (self.wscale, peer.window_scale) {
            // RFC 7323 §2.3: a shift above 14 is treated as 14.
            (Some(ours), Some(theirs)) => (theirs.min(MAX_WSCALE), ours.min(MAX_WSCALE)),
            _ => (0, 0),
        };
        let timestamps = self.timestamps && peer.timestamps.is_some();
        let default = if v6 { DEFAULT_MSS_V6 } else { DEFAULT_MSS_V4 };
        let peer_mss = peer.mss.unwrap_or(default).max(64);
        // RFC 9293 §3.7.1: the payload is min(SendMSS, MMS_S) minus the options sent
        // in every segment.
        let mut send_mss = peer_mss.min(self.mss);
        if timestamps {
            send_mss = send_mss.saturating_sub(TS_OPTION_LEN).max(32);
        }
        Negotiated { send_mss, snd_wscale, rcv_wscale, timestamps, peer_sack_permitted: peer.sack_permitted, sack: self.sack && peer.sack_permitted }
    }
}

/// Timestamp state of a connection that negotiated timestamps (RFC 7323 §4, §5).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timestamps {
    /// TS.Recent: the peer's timestamp to echo.
    pub recent: u32,
    /// When TS.Recent was last updated (RFC 7323 §5.5: invalid after 24 days).
    pub recent_at: Instant,
    /// Offset added to our millisecond clock, per connection (RFC 7323 §5.4).
    pub offset: u32,
}

/// Our timestamp clock: milliseconds (RFC 7323 §5.4: 1 ms .. 1 s per tick) plus a
/// per-connection offset, never 0 (0 would look like "no echo").
#[inline]
pub fn ts_clock(now: Instant, offset: u32) -> u32 {
    let v = (now.millis() as u32).wrapping_add(offset);
    if v == 0 {
        1
    } else {
        v
    }
}

/// RFC 7323 §5.5: TS.Recent not updated for this long is invalid (the peer's
/// timestamp clock may have wrapped its sign bit meanwhile at 1 ms per tick).
pub const TS_RECENT_LIFETIME: core::time::Duration = core::time::Duration::from_secs(24 * 24 * 3600);

/// Is TS.Recent still valid at `now` (RFC 7323 §5.5)?
#[inline]
pub fn ts_recent_valid(ts: &Timestamps, now: Instant) -> bool {
    now.saturating_duration_since(ts.recent_at) < TS_RECENT_LIFETIME
}

/// RFC 7323 §5.3 R1 (PAWS): a non-RST segment whose TSval is older than
/// TS.Recent is a duplicate from an old incarnation of the sequence space
/// (when TS.Recent is valid, [`ts_recent_valid`]).
#[inline]
pub fn paws_rejects(tsval: u32, recent: u32) -> bool {
    (tsval.wrapping_sub(recent) as i32) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wscale_choice() {
        assert_eq!(wscale_for(65535), 0);
        assert_eq!(wscale_for(65536), 1);
        assert_eq!(wscale_for(256 * 1024), 3);
        assert_eq!(wscale_for(1 << 20), 5);
        assert_eq!(wscale_for(usize::MAX), 14);
    }

    #[test]
    fn negotiation() {
        let offer = Offer { mss: 1460, wscale: Some(7), timestamps: true, sack: false };
        let peer = TcpOptions { mss: Some(1400), window_scale: Some(9), timestamps: Some((5, 0)), ..Default::default() };
        let n = offer.negotiate(&peer, false);
        assert_eq!(n, Negotiated { send_mss: 1388, snd_wscale: 9, rcv_wscale: 7, timestamps: true, peer_sack_permitted: false, sack: false });
        let bare = TcpOptions::default();
        let n = offer.negotiate(&bare, false);
        assert_eq!(n, Negotiated { send_mss: 536, snd_wscale: 0, rcv_wscale: 0, timestamps: false, peer_sack_permitted: false, sack: false });
        assert_eq!(offer.negotiate(&bare, true).send_mss, 1220);
        let ans = offer.answer(&bare);
        assert_eq!(ans.wscale, None);
        assert!(!ans.timestamps);
        let o = offer.syn_options(10, 0);
        assert!(!o.sack_permitted);
        assert_eq!(o.timestamps, Some((10, 0)));
        // SACK: offered in our SYN, answered only to a SYN that offered it, in
        // use only when both did (RFC 2018 §2).
        let offer = Offer { sack: true, ..offer };
        assert!(offer.syn_options(10, 0).sack_permitted);
        assert!(!offer.answer(&bare).sack);
        let with_sack = TcpOptions { sack_permitted: true, ..peer };
        assert!(offer.answer(&with_sack).sack);
        assert!(offer.negotiate(&with_sack, false).sack);
        assert!(!offer.negotiate(&peer, false).sack);
        assert!(!Offer { sack: false, ..offer }.negotiate(&with_sack, false).sack);
    }

    #[test]
    fn paws() {
        assert!(paws_rejects(5, 10));
        assert!(!paws_rejects(10, 10));
        assert!(!paws_rejects(3, u32::MAX - 2));
        assert_eq!(ts_clock(Instant::ZERO, 0), 1);
    }
}
