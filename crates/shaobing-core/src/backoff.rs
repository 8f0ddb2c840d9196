//! The one retry pacing of the workspace: cameras reconnecting, the MQTT connection, the store
//! retrying a write, the drain toward the central database. A broken peer must never turn into
//! a busy loop, and a fleet that failed together must not come back in step.

use std::time::Duration;

/// Exponential backoff with jitter, capped, reset after a success. The delay is uniform in
/// [3/4, 1] of the ceiling: enough spread that a fleet of boxes does not knock on a restarted
/// peer in step, while the floor bounds the attempts (a broker refusing for 10 min sees at most
/// about 32 with the MQTT defaults, where full jitter could give 60).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max, failures: 0 }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let hi = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX).max(1);
        // Never below a millisecond: a zero delay would be the tight loop this exists to prevent.
        let lo = (hi - hi / 4).max(1);
        Duration::from_millis(fastrand::u64(lo..=hi))
    }

    /// The upper bound of the next delay: `initial * 2^failures`, capped at `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The longest delay this backoff ever gives.
    pub fn max(&self) -> Duration {
        self.max
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_the_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let ceiling = b.ceiling();
            let delay = b.next_delay();
            assert!(delay >= ceiling * 3 / 4 && delay <= ceiling, "{delay:?} outside 3/4..=1 of {ceiling:?}");
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
    }

    #[test]
    fn a_peer_refusing_for_ten_minutes_sees_a_bounded_number_of_attempts() {
        for _ in 0..100 {
            let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
            let (mut elapsed, mut attempts) = (Duration::ZERO, 0);
            while elapsed < Duration::from_secs(600) {
                elapsed += b.next_delay();
                attempts += 1;
            }
            assert!(attempts <= 40, "{attempts} attempts in 10 min");
        }
    }

    #[test]
    fn two_backoffs_started_together_do_not_stay_in_step() {
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let same = (0..8).filter(|_| a.next_delay() == b.next_delay()).count();
        assert!(same < 8, "jitter must separate them");
    }
}
