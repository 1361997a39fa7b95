//! The start rate of Claude tasks, all users together: a token bucket.
//!
//! The bucket holds up to `burst` starts and refills continuously at
//! `per_minute` starts a minute, so a rested queue may start `burst` tasks
//! at once and then one every `60 / per_minute` seconds. The level is kept
//! in exact integer units (one start = 60 000 units, refilled `per_minute`
//! units a millisecond), so "the next start at" is exact, with no
//! floating-point drift that could make a wake-up early by a hair.

/// Units of one start.
const START: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    per_minute: u32,
    burst: u32,
    /// Units in the bucket at `last_ms`.
    level: u64,
    last_ms: i64,
}

impl TokenBucket {
    /// A full bucket. A rate of 0 is taken as 1 a minute and a burst of 0
    /// as 1 (the configuration refuses both).
    pub fn new(per_minute: u32, burst: u32, now_ms: i64) -> TokenBucket {
        let burst = burst.max(1);
        TokenBucket {
            per_minute: per_minute.max(1),
            burst,
            level: u64::from(burst) * START,
            last_ms: now_ms,
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    fn level_at(&self, now_ms: i64) -> u64 {
        let elapsed = u64::try_from(now_ms.saturating_sub(self.last_ms)).unwrap_or(0);
        let refill = elapsed.saturating_mul(u64::from(self.per_minute));
        self.level
            .saturating_add(refill)
            .min(u64::from(self.burst) * START)
    }

    /// Starts available at `now_ms` (fractional: 0.5 is half-way to one).
    pub fn tokens(&self, now_ms: i64) -> f64 {
        self.level_at(now_ms) as f64 / START as f64
    }

    /// `Ok` if a start is available at `now_ms`, else when the next one is.
    pub fn peek(&self, now_ms: i64) -> Result<(), i64> {
        let level = self.level_at(now_ms);
        if level >= START {
            return Ok(());
        }
        let per_ms = u64::from(self.per_minute);
        let wait = (START - level).div_ceil(per_ms);
        Err(now_ms.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)))
    }

    /// Takes a start if one is available at `now_ms`, else says when the
    /// next one is. A time earlier than the last one seen adds nothing.
    pub fn try_take(&mut self, now_ms: i64) -> Result<(), i64> {
        self.peek(now_ms)?;
        self.level = self.level_at(now_ms) - START;
        self.last_ms = self.last_ms.max(now_ms);
        Ok(())
    }
}

#[cfg(test)]
#[path = "bucket_tests.rs"]
mod tests;
