//! Rate-limited logging: the same error repeated by a broken camera or sensor must not flood
//! the log of a box no one watches, but how often it happened must not be lost either.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Allows one log line per key per period, and counts what it suppressed.
#[derive(Debug)]
pub struct RateLimiter {
    period: Duration,
    seen: HashMap<&'static str, (Instant, u64)>,
}

impl RateLimiter {
    pub fn new(period: Duration) -> Self {
        Self { period, seen: HashMap::new() }
    }

    /// `Some(suppressed since the last line)` when a line may be logged for `key` at `now`.
    pub fn allow(&mut self, key: &'static str, now: Instant) -> Option<u64> {
        match self.seen.get_mut(key) {
            Some((last, suppressed)) if now.duration_since(*last) < self.period => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                let n = *suppressed;
                (*last, *suppressed) = (now, 0);
                Some(n)
            }
            None => {
                self.seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_suppressed_count() {
        let mut r = RateLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(r.allow("a", t0), Some(0));
        assert_eq!(r.allow("a", t0 + Duration::from_secs(1)), None);
        assert_eq!(r.allow("a", t0 + Duration::from_secs(2)), None);
        assert_eq!(r.allow("b", t0 + Duration::from_secs(2)), Some(0), "keys are independent");
        assert_eq!(r.allow("a", t0 + Duration::from_secs(11)), Some(2));
    }
}
