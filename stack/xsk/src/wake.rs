//! A cross-thread wake-up for a sleeping loop: an eventfd that the loop polls
//! beside its AF_XDP socket ([`crate::Device::wait_or_wake`]). Another core writes
//! it only when the loop said it is about to sleep, so busy loops never pay for it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd: [`Waker::wake`] from any thread makes a poll on [`Waker::fd`]
/// readable until [`Waker::drain`].
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A new, unsignalled waker.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd(2) with constant flags; it returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd(2) and is owned by nobody else.
        Ok(Waker { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Signal it (never blocks; a counter overflow cannot happen in practice).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Clear the signal (nonblocking).
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from our own nonblocking eventfd.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// poll(2) on `fds` (readable) for at most `timeout`; `EINTR` counts as a wake-up.
pub(crate) fn poll_readable(fds: &[RawFd], timeout: std::time::Duration) -> io::Result<()> {
    let mut p: [libc::pollfd; 2] = [libc::pollfd { fd: -1, events: 0, revents: 0 }; 2];
    let n = fds.len().min(2);
    for (slot, fd) in p.iter_mut().zip(fds.iter()) {
        *slot = libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 };
    }
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `p[..n]` are initialised pollfd structs that live across the call.
    let rc = unsafe { libc::poll(p.as_mut_ptr(), n as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn wake_makes_poll_return_and_drain_clears() {
        let w = Waker::new().unwrap();
        let t = Instant::now();
        poll_readable(&[w.fd()], Duration::from_millis(30)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(25), "no signal: the poll times out");
        w.wake();
        let t = Instant::now();
        poll_readable(&[w.fd()], Duration::from_secs(5)).unwrap();
        assert!(t.elapsed() < Duration::from_secs(4), "signalled: the poll returns at once");
        w.drain();
        let t = Instant::now();
        poll_readable(&[w.fd()], Duration::from_millis(30)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(25), "drained: the poll waits again");
    }
}
