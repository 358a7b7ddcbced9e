//! Flood control: a token bucket, so Flare never trips a server's Excess Flood.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` lines per second sustained, `burst` lines at once.
    pub fn new(rate: f64, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                1.0
            },
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// How long until one line may go out (zero when it may go now); takes the token if so.
    pub fn try_take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }

    /// Waits (sleeping, never spinning) until one line may go out.
    pub async fn take(&mut self) {
        loop {
            let wait = self.try_take(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 4);
        b.last = t0;
        for _ in 0..4 {
            assert_eq!(b.try_take(t0), Duration::ZERO);
        }
        let w = b.try_take(t0);
        assert!(
            w > Duration::from_millis(900) && w <= Duration::from_secs(1),
            "{w:?}"
        );
        assert_eq!(b.try_take(t0 + Duration::from_secs(1)), Duration::ZERO);
        assert!(!b.try_take(t0 + Duration::from_secs(1)).is_zero());
    }

    #[tokio::test]
    async fn take_sleeps_for_the_rate() {
        let mut b = TokenBucket::new(50.0, 1);
        let start = Instant::now();
        for _ in 0..6 {
            b.take().await;
        }
        let spent = start.elapsed();
        assert!(
            spent >= Duration::from_millis(95) && spent < Duration::from_millis(400),
            "{spent:?}"
        );
    }
}
