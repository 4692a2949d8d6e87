//! Windows: the send window as the peer advertises it (scaled, RFC 7323 §2), the
//! receive window we advertise (scaled, never shrinking, RFC 9293 §3.8.6 and
//! RFC 7323 §2.4), and silly-window-syndrome avoidance on both sides
//! (RFC 9293 §3.8.6.2) together with Nagle (RFC 9293 §3.7.4).

use super::seq::SeqNum;

/// RFC 9293 §3.10.7.4 fifth step: update the send window only from segments newer
/// than the one that last updated it (`SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and
/// SND.WL2 =< SEG.ACK)`), so that old reordered segments cannot shrink it.
#[inline]
pub fn should_update_send_window(wl1: SeqNum, wl2: SeqNum, seq: SeqNum, ack: SeqNum) -> bool {
    wl1 < seq || (wl1 == seq && wl2 <= ack)
}

/// The window a segment announces, scaled by the peer's shift (RFC 7323 §2.3;
/// never for SYN segments, §2.2).
#[inline]
pub fn scaled_send_window(field: u16, snd_wscale: u8, syn: bool) -> u32 {
    if syn {
        u32::from(field)
    } else {
        u32::from(field) << snd_wscale
    }
}

/// Sender-side SWS avoidance (RFC 9293 §3.8.6.2.1) and Nagle (RFC 9293 §3.7.4):
/// may a segment of `len` bytes go now, when `unsent` bytes are waiting in total,
/// `in_flight` are unacknowledged and the largest window the peer ever offered is
/// `max_snd_wnd`?
#[inline]
pub fn may_send(len: u32, unsent: u32, mss: u32, max_snd_wnd: u32, in_flight: u32, nodelay: bool) -> bool {
    if len == 0 {
        return false;
    }
    // (1) A full-sized segment can always go.
    if len >= mss {
        return true;
    }
    // (2) Everything queued fits: send if Nagle allows (nothing unacknowledged, or
    // the application disabled Nagle).
    if len >= unsent && (nodelay || in_flight == 0) {
        return true;
    }
    // (3) At least half the largest window ever offered (Fs = 1/2).
    if max_snd_wnd > 0 && len >= max_snd_wnd / 2 && (nodelay || in_flight == 0 || len < unsent) {
        return true;
    }
    false
}

/// The receive window we advertise: tracks the right edge we promised (`RCV.NXT +
/// RCV.WND` as last sent) so it never moves left (RFC 9293 §3.8.6 "shrinking the
/// window is strongly discouraged"; RFC 7323 §2.4 rounding).
#[derive(Debug, Clone, Copy)]
pub struct RecvWindow {
    /// Right edge last advertised.
    pub adv_edge: SeqNum,
    /// Our shift (applied to every non-SYN window field we send).
    pub wscale: u8,
}

impl RecvWindow {
    /// A window whose right edge starts at `rcv_nxt` (nothing advertised yet).
    pub fn new(rcv_nxt: SeqNum, wscale: u8) -> RecvWindow {
        RecvWindow { adv_edge: rcv_nxt, wscale }
    }

    /// The window the peer may currently use, bytes from `rcv_nxt`.
    #[inline]
    pub fn current(&self, rcv_nxt: SeqNum) -> u32 {
        self.adv_edge.since(rcv_nxt)
    }

    /// Would advertising now move the right edge by at least the receiver SWS
    /// threshold `min(buffer/2, mss)` (RFC 9293 §3.8.6.2.2)? Used to decide whether a
    /// window update is worth a segment after the application reads.
    pub fn update_worthwhile(&self, rcv_nxt: SeqNum, free: u32, buffer: u32, mss: u32) -> bool {
        let cand = rcv_nxt + free;
        cand.since(self.adv_edge) >= (buffer / 2).min(mss).max(1)
    }

    /// The window field for a segment sent now with `free` bytes of buffer space
    /// beyond `rcv_nxt`; remembers the advertised edge. `syn` segments carry an
    /// unscaled window (RFC 7323 §2.2).
    pub fn advertise(&mut self, rcv_nxt: SeqNum, free: u32, buffer: u32, mss: u32, syn: bool) -> u16 {
        if syn {
            let field = free.min(0xffff);
            self.adv_edge = self.adv_edge.max(rcv_nxt + field);
            return field as u16;
        }
        let s = u32::from(self.wscale);
        let old = self.adv_edge.max(rcv_nxt);
        let cand = rcv_nxt + free;
        // RFC 9293 §3.8.6.2.2: advance the right edge only by at least
        // min(Fr * RCV.BUFF, Eff.snd.MSS), Fr = 1/2. The edge never moves left
        // (RFC 9293 §3.8.6: no shrinking); it never exceeds the free buffer space
        // either, since it only ever takes values of `cand`.
        let threshold = (buffer / 2).min(mss).max(1);
        let edge = if cand.since(old) >= threshold { cand } else { old };
        let wnd = edge.since(rcv_nxt).min(0xffff << s);
        self.adv_edge = self.adv_edge.max(rcv_nxt + wnd);
        // RFC 7323 §2.3: the field is the window shifted right. Rounding down can make
        // the edge the peer sees retract by less than 2^shift bytes (RFC 7323 §2.4
        // accepts this); we keep accepting up to our exact edge.
        let field = wnd >> s;
        field as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wl_rule() {
        assert!(should_update_send_window(SeqNum(10), SeqNum(5), SeqNum(11), SeqNum(0)));
        assert!(should_update_send_window(SeqNum(10), SeqNum(5), SeqNum(10), SeqNum(5)));
        assert!(!should_update_send_window(SeqNum(10), SeqNum(5), SeqNum(10), SeqNum(4)));
        assert!(!should_update_send_window(SeqNum(10), SeqNum(5), SeqNum(9), SeqNum(100)));
        assert_eq!(scaled_send_window(100, 3, false), 800);
        assert_eq!(scaled_send_window(100, 3, true), 100);
    }

    #[test]
    fn nagle_and_sws() {
        // Full segment always.
        assert!(may_send(1460, 5000, 1460, 65535, 3000, false));
        // Small tail with data in flight: Nagle holds it.
        assert!(!may_send(100, 100, 1460, 65535, 1460, false));
        assert!(may_send(100, 100, 1460, 65535, 1460, true));
        assert!(may_send(100, 100, 1460, 65535, 0, false));
        // Window-limited small piece: only if >= half the max window.
        assert!(!may_send(100, 5000, 1460, 65535, 0, false));
        assert!(may_send(600, 5000, 1460, 1000, 400, false));
    }

    #[test]
    fn never_shrinks() {
        let mut w = RecvWindow::new(SeqNum(0), 7);
        let f = w.advertise(SeqNum(0), 256, 1 << 20, 100, false);
        assert_eq!(f, 2);
        assert_eq!(w.adv_edge, SeqNum(256));
        // One byte arrives and is not read: free shrinks by one, edge must stay.
        let f = w.advertise(SeqNum(1), 255, 1 << 20, 100, false);
        assert_eq!(f, 1);
        assert_eq!(w.adv_edge, SeqNum(256));
        // Zero free space: window closes only as data fills it.
        let mut w = RecvWindow::new(SeqNum(u32::MAX - 10), 0);
        assert_eq!(w.advertise(SeqNum(u32::MAX - 10), 1000, 1000, 536, false), 1000);
        assert_eq!(w.advertise(SeqNum(989), 0, 1000, 536, false), 0);
        // Small openings are held back (receiver SWS), a big one goes.
        assert_eq!(w.advertise(SeqNum(989), 100, 1000, 536, false), 0);
        assert!(!w.update_worthwhile(SeqNum(989), 100, 1000, 536));
        assert!(w.update_worthwhile(SeqNum(989), 600, 1000, 536));
        assert_eq!(w.advertise(SeqNum(989), 600, 1000, 536, false), 600);
    }
}
