//! The one place that reads the clock: it turns `std::time::Instant` into the
//! protocol core's [`proto::time::Instant`].

use proto::time::Instant;

/// Monotonic clock whose epoch is its creation.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: std::time::Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock { start: std::time::Instant::now() }
    }
    /// Microseconds since the clock started, as the protocol core's instant.
    #[inline]
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
