//! The one retry rule every reconnect and retry loop follows: the delay starts at `first`,
//! doubles with each failed attempt up to `cap`, and is drawn at random from its upper half
//! ("equal jitter", [d/2, d]) so that many bots that lost the same server do not come back in
//! step, while a retry still never comes sooner than half the planned delay. After a healthy
//! connection the loop resets and starts again from `first`.
//!
//! Each loop keeps its own settings (`first`, `cap`) and its own reasons to wait longer (a
//! server's Retry-After); only the rule is shared. Why a small module rather than a crate:
//! docs/platforms.md, "Reconnects, retries and rate limits".

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with equal jitter: `first`, doubled per attempt, never above `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    first: Duration,
    cap: Duration,
}

impl Policy {
    /// `cap` bounds every delay, the first one included.
    pub const fn new(first: Duration, cap: Duration) -> Policy {
        Policy { first, cap }
    }

    /// The planned delay before retry number `attempt` (0 for the first retry), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry number `attempt`: somewhere in the upper half of its ceiling.
    pub fn delay(&self, attempt: u32) -> Duration {
        spread(self.ceiling(attempt), rand::rng().random_range(0.0..=1.0))
    }
}

/// Places a delay in [ceiling/2, ceiling]: `unit` 0 gives the low end, 1 the ceiling.
fn spread(ceiling: Duration, unit: f64) -> Duration {
    ceiling.mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
}

/// The failed attempts since the last healthy connection, for loops that keep their own count.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    attempt: u32,
}

impl Backoff {
    pub fn new(policy: Policy) -> Backoff {
        Backoff { policy, attempt: 0 }
    }

    /// The delay before the next retry; the one after it is planned twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let wait = self.policy.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        wait
    }

    /// The connection was healthy: the next retry starts again from `first`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn within(d: Duration, ceiling: Duration) -> bool {
        d >= ceiling / 2 && d <= ceiling
    }

    #[test]
    fn delays_double_from_first_up_to_the_cap() {
        let p = Policy::new(100 * MS, 1000 * MS);
        let ceilings: Vec<u128> = (0..7).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn the_cap_holds_for_any_attempt_and_any_ratio() {
        let p = Policy::new(MS, Duration::from_secs(86_400));
        assert_eq!(p.ceiling(20), 1_048_576 * MS, "still doubling past 2^20");
        assert_eq!(p.ceiling(40), Duration::from_secs(86_400));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(86_400));
        let huge = Policy::new(Duration::MAX / 2, Duration::MAX);
        assert_eq!(huge.ceiling(3), Duration::MAX, "saturates, no overflow");
    }

    #[test]
    fn a_cap_below_first_bounds_the_first_delay_too() {
        let p = Policy::new(Duration::from_secs(5), Duration::from_secs(2));
        assert_eq!(p.ceiling(0), Duration::from_secs(2));
        assert!(within(p.delay(0), Duration::from_secs(2)));
    }

    #[test]
    fn jitter_spans_the_upper_half_of_the_ceiling() {
        let c = 1000 * MS;
        assert_eq!(spread(c, 0.0), 500 * MS);
        assert_eq!(spread(c, 1.0), c);
        assert_eq!(spread(c, 0.5), 750 * MS);
        let p = Policy::new(c, c);
        let delays: Vec<Duration> = (0..2000).map(|_| p.delay(0)).collect();
        assert!(delays.iter().all(|&d| within(d, c)));
        // Spread over the whole half, not stuck at one end (each fails with p = 0.8^2000).
        assert!(delays.iter().any(|&d| d < 600 * MS));
        assert!(delays.iter().any(|&d| d > 900 * MS));
    }

    #[test]
    fn backoff_follows_the_policy_and_reset_starts_over() {
        let p = Policy::new(100 * MS, 500 * MS);
        let mut b = Backoff::new(p);
        for ceiling in [100, 200, 400, 500, 500] {
            let d = b.next_delay();
            assert!(
                within(d, ceiling * MS),
                "{d:?} outside the half below {ceiling} ms"
            );
        }
        b.reset();
        let d = b.next_delay();
        assert!(within(d, 100 * MS), "{d:?} after reset");
        let d = b.next_delay();
        assert!(within(d, 200 * MS), "{d:?} second after reset");
    }
}
