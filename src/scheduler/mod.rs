//! Durable timers: the scheduler sleeps until the next due timer (it does not poll), wakes
//! at once when an earlier one is added, and lets the engine fire what is due.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::engine::Engine;

const BATCH: i64 = 500;

pub struct Scheduler {
    engine: Arc<Engine>,
    clock: SharedClock,
}

impl Scheduler {
    pub fn new(engine: Arc<Engine>, clock: SharedClock) -> Scheduler {
        Scheduler { engine, clock }
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let wake = self.engine.wake();
        self.start_up().await;
        loop {
            if *shutdown.borrow() {
                return;
            }
            wake.scheduler_working();
            let fired = match self.engine.fire_due_timers(BATCH).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "firing timers failed; retrying");
                    0
                }
            };
            if fired > 0 {
                tracing::debug!(fired, "timers fired");
            }
            if fired as i64 == BATCH {
                continue;
            }
            let sleep = match self.engine.store().next_timer_due().await {
                Ok(Some(due)) => (due - self.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(Duration::from_secs(3600)),
                Ok(None) => Duration::from_secs(3600),
                Err(e) => {
                    tracing::error!(error = %e, "reading timers failed");
                    Duration::from_secs(1)
                }
            };
            if sleep.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            wake.scheduler_sleeps_until(
                self.clock.now() + chrono::Duration::from_std(sleep).unwrap_or_default(),
            );
            tokio::select! {
                _ = wake.timers.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Arms recurring timers and says how many timers fell due while Flare was down (they
    /// fire next, marked late).
    async fn start_up(&self) {
        match self.engine.arm_recurring_timers().await {
            Ok(n) if n > 0 => tracing::info!(armed = n, "recurring timers armed"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "arming recurring timers failed"),
        }
        match self.engine.store().overdue_timers(self.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                overdue = n,
                "timers fell due while Flare was not running; firing them now, marked late"
            ),
            Err(e) => tracing::error!(error = %e, "counting overdue timers failed"),
        }
    }
}
