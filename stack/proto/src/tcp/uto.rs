//! The TCP User Timeout Option (RFC 5482 §3): advertising our user timeout in
//! the SYN / SYN-ACK (and once more after [`super::Tcp::set_user_timeout`]
//! changes it), and adopting the peer's (§3.1) when
//! [`super::TcpConfig::uto_changeable`] allows it. The local user timeout itself
//! (RFC 9293 §3.8.3) is enforced in `output.rs`.

use super::conn::{user_timeout_ms, Conn};
use super::TcpConfig;
use crate::time::Duration;
use wire::tcp::{user_timeout_from_raw, user_timeout_to_raw};

/// L_LIMIT of RFC 5482 §3.1: a received User Timeout Option never brings the
/// user timeout below 100 seconds ("to protect against... short timeouts",
/// the value §3.1 recommends).
pub const UTO_LOWER_LIMIT: Duration = Duration::from_secs(100);

/// The ADV_UTO field for a local user timeout as a connection keeps it: 0 for
/// none, and a zero timeout (kept as 1 ms) advertised as 1 s.
pub(crate) fn adv_uto(timeout: Option<Duration>) -> u16 {
    timeout.map_or(0, |t| user_timeout_to_raw(t).max(1))
}

/// The user timeout adopted for a received REMOTE_UTO (RFC 5482 §3.1):
/// `min(U_LIMIT, max(ADV_UTO, REMOTE_UTO, L_LIMIT))`, with ADV_UTO left out
/// when we advertise none. U_LIMIT is [`TcpConfig::uto_max`].
pub fn adopted_user_timeout(adv: Option<u16>, remote: u16, u_limit: Duration) -> Duration {
    let adv = adv.map_or(Duration::ZERO, user_timeout_from_raw);
    adv.max(user_timeout_from_raw(remote)).max(UTO_LOWER_LIMIT).min(u_limit)
}

/// The "send ADV_UTO on the next pure ACK" bit of `Conn::user_timeout_word`.
const UTO_PENDING: u32 = 1 << 31;

impl Conn {
    /// The user timeout in ms (0: none).
    #[inline]
    pub(crate) fn user_timeout_ms(&self) -> u32 {
        self.user_timeout_word & !UTO_PENDING
    }

    /// Set the user timeout (ms as `conn::user_timeout_ms` gives, below 2^31).
    #[inline]
    pub(crate) fn set_user_timeout_ms(&mut self, ms: u32) {
        self.user_timeout_word = (self.user_timeout_word & UTO_PENDING) | (ms & !UTO_PENDING);
    }

    /// Is ADV_UTO to go out on the next pure ACK?
    #[inline]
    pub(crate) fn uto_pending(&self) -> bool {
        self.user_timeout_word & UTO_PENDING != 0
    }

    /// Mark (or clear) ADV_UTO for the next pure ACK.
    #[inline]
    pub(crate) fn set_uto_pending(&mut self, on: bool) {
        self.user_timeout_word = self.user_timeout_ms() | if on { UTO_PENDING } else { 0 };
    }

    /// ADV_UTO, if we advertise one.
    #[inline]
    pub(crate) fn adv_uto(&self) -> Option<u16> {
        (self.adv_uto != 0).then_some(self.adv_uto)
    }

    /// A User Timeout Option arrived on an acceptable segment (or a SYN):
    /// adopt it if the configuration lets it change our user timeout
    /// (RFC 5482 §3.2), re-clamping running timers.
    pub(crate) fn on_remote_uto(&mut self, remote: u16, cfg: &TcpConfig) -> bool {
        if !cfg.uto_changeable {
            return false;
        }
        let t = adopted_user_timeout(self.adv_uto(), remote, cfg.uto_max);
        self.set_user_timeout_ms(user_timeout_ms(Some(t)));
        self.reclamp_user_timeout();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5482_formula() {
        let day = Duration::from_secs(86_400);
        // No ADV_UTO: max(REMOTE_UTO, L_LIMIT).
        assert_eq!(adopted_user_timeout(None, 200, 24 * day), Duration::from_secs(200));
        assert_eq!(adopted_user_timeout(None, 30, 24 * day), UTO_LOWER_LIMIT);
        // ADV_UTO above the remote one wins; U_LIMIT caps everything.
        assert_eq!(adopted_user_timeout(Some(500), 200, 24 * day), Duration::from_secs(500));
        assert_eq!(adopted_user_timeout(Some(500), 0x8000 | 600, 24 * day), Duration::from_secs(36_000));
        assert_eq!(adopted_user_timeout(None, 0xffff, day), day);
        assert_eq!(adopted_user_timeout(None, 200, Duration::from_secs(150)), Duration::from_secs(150));
    }
}
