//! The free-space reserve of the log filesystem, as a policy without I/O:
//! the relay asks [`Reserve::check_due`] whether to read the free space,
//! reports the reading with [`Reserve::checked`], and asks
//! [`Reserve::admit`] before it writes a chunk of output.
//!
//! Free space is read before the first output, then at most once per MiB of
//! output and at most about once a second (but always after 64 MiB, so a
//! fast writer cannot overrun the reserve by more than that); while output
//! is being dropped, once a second when output comes, to see whether space
//! is back. A failed reading counts as "enough space": the reserve never
//! drops output on a guess.

use std::time::{Duration, Instant};

/// Output between two readings, at least.
pub const CHECK_EVERY_BYTES: u64 = 1 << 20;
/// Time between two readings, at least (unless [`CHECK_AT_MOST_BYTES`]).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Output after which free space is read whatever the time.
pub const CHECK_AT_MOST_BYTES: u64 = 64 << 20;

/// What a reading changed, for the relay to say in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// Free space fell below the reserve: output is dropped from now on.
    Dropping,
    /// Space is back after `dropped` bytes were dropped.
    Resumed {
        dropped: u64,
    },
}

#[derive(Debug)]
pub struct Reserve {
    min_free: u64,
    dropping: bool,
    /// Bytes dropped since output stopped being written.
    dropped: u64,
    /// Output since the last reading.
    since_check: u64,
    last_check: Option<Instant>,
}

impl Reserve {
    /// A reserve of `min_free` bytes; 0 means no reserve (never checked).
    pub fn new(min_free: u64) -> Self {
        Reserve {
            min_free,
            dropping: false,
            dropped: 0,
            since_check: 0,
            last_check: None,
        }
    }

    /// Whether free space must be read before the next output is written.
    /// `now` is called only when the time matters.
    pub fn check_due(&self, now: impl FnOnce() -> Instant) -> bool {
        if self.min_free == 0 {
            return false;
        }
        let Some(last) = self.last_check else {
            return true;
        };
        if self.dropping {
            return now().saturating_duration_since(last) >= CHECK_EVERY;
        }
        self.since_check >= CHECK_EVERY_BYTES
            && (self.since_check >= CHECK_AT_MOST_BYTES
                || now().saturating_duration_since(last) >= CHECK_EVERY)
    }

    /// Takes a reading of the free bytes (`None`: could not be read).
    pub fn checked(&mut self, free: Option<u64>, now: Instant) -> Change {
        self.last_check = Some(now);
        self.since_check = 0;
        let low = free.is_some_and(|free| free < self.min_free);
        match (self.dropping, low) {
            (false, true) => {
                self.dropping = true;
                self.dropped = 0;
                Change::Dropping
            }
            (true, false) => {
                self.dropping = false;
                Change::Resumed {
                    dropped: std::mem::take(&mut self.dropped),
                }
            }
            _ => Change::None,
        }
    }

    /// Counts `len` bytes of output; true if they may be written, false if
    /// they are dropped.
    pub fn admit(&mut self, len: u64) -> bool {
        self.since_check = self.since_check.saturating_add(len);
        if self.dropping {
            self.dropped = self.dropped.saturating_add(len);
        }
        !self.dropping
    }

    /// The line that says output is being dropped.
    pub fn dropping_line(&self) -> String {
        const MIB: u64 = 1 << 20;
        let size = if self.min_free.is_multiple_of(MIB) {
            format!("{} MiB", self.min_free / MIB)
        } else {
            format!("{} bytes", self.min_free)
        };
        format!("claudine: output dropped: less than {size} free on the log filesystem")
    }
}

/// The line that says output is written again.
pub fn resumed_line(dropped: u64) -> String {
    format!("claudine: output resumed after dropping {dropped} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn no_reserve_is_never_checked() {
        let r = Reserve::new(0);
        assert!(!r.check_due(|| unreachable!()));
    }

    #[test]
    fn checks_once_per_mib_and_second() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut r = Reserve::new(10 * MIB);
        assert!(r.check_due(|| t0), "first output is preceded by a reading");
        assert_eq!(r.checked(Some(100 * MIB), t0), Change::None);
        assert!(r.admit(MIB - 1));
        assert!(!r.check_due(|| panic!("no clock before 1 MiB")));
        assert!(r.admit(1));
        assert!(!r.check_due(|| at(999)), "1 MiB but not 1 s");
        assert!(r.check_due(|| at(1000)));
        assert_eq!(r.checked(Some(11 * MIB), at(1000)), Change::None);
        // A fast writer: read after 64 MiB, whatever the time.
        assert!(r.admit(CHECK_AT_MOST_BYTES - 1));
        assert!(!r.check_due(|| at(1001)));
        assert!(r.admit(1));
        assert!(r.check_due(|| at(1001)));
    }

    #[test]
    fn drops_below_the_reserve_and_resumes() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut r = Reserve::new(3 * MIB);
        assert_eq!(r.checked(Some(3 * MIB - 1), t0), Change::Dropping);
        assert_eq!(
            r.dropping_line(),
            "claudine: output dropped: less than 3 MiB free on the log filesystem"
        );
        assert!(!r.admit(100));
        assert!(!r.admit(50));
        // While dropping, a reading a second later, however little output.
        assert!(!r.check_due(|| at(500)));
        assert!(r.check_due(|| at(1000)));
        assert_eq!(r.checked(Some(MIB), at(1000)), Change::None);
        assert!(!r.admit(10));
        assert_eq!(
            r.checked(Some(3 * MIB), at(2000)),
            Change::Resumed { dropped: 160 }
        );
        assert!(r.admit(10));
        // The next episode counts from zero; an unreadable filesystem is
        // not a full one.
        assert_eq!(r.checked(Some(0), at(3000)), Change::Dropping);
        assert!(!r.admit(7));
        assert_eq!(r.checked(None, at(4000)), Change::Resumed { dropped: 7 });
        assert_eq!(
            resumed_line(7),
            "claudine: output resumed after dropping 7 bytes"
        );
        assert_eq!(
            Reserve::new(1000).dropping_line(),
            "claudine: output dropped: less than 1000 bytes free on the log filesystem"
        );
    }
}
