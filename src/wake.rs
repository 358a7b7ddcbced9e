//! How the engine and the scheduler wake the outbox workers and the scheduler: one lane per
//! platform, and the scheduler's plan, so a commit wakes only the task that has work.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::store::Delivery;

/// Wakes a platform's worker when the engine or scheduler queued something for it, and hands
/// it the rows the engine just committed so it need not read them back.
pub struct Wake {
    platforms: HashMap<String, Arc<Lane>>,
    /// The scheduler's: a timer was added that is earlier than the one it sleeps for.
    pub timers: Notify,
    /// When the scheduler plans to wake (Unix ms); `i64::MAX` while it is working, so every
    /// timer added then wakes it again.
    scheduler_plan: std::sync::atomic::AtomicI64,
}

impl Wake {
    pub fn new<'a>(platforms: impl IntoIterator<Item = &'a str>) -> Wake {
        Wake {
            platforms: platforms
                .into_iter()
                .map(|p| (p.to_string(), Arc::new(Lane::default())))
                .collect(),
            timers: Notify::new(),
            scheduler_plan: std::sync::atomic::AtomicI64::new(i64::MAX),
        }
    }

    /// A timer due at `due` was committed: wake the scheduler only if it would sleep past it
    /// (most timers, like a moved nudge, are later and need no wake-up).
    pub fn timer_added(&self, due: DateTime<Utc>) {
        if due.timestamp_millis() < self.scheduler_plan.load(Ordering::SeqCst) {
            self.timers.notify_one();
        }
    }

    /// The scheduler is about to read and fire timers.
    pub fn scheduler_working(&self) {
        self.scheduler_plan.store(i64::MAX, Ordering::SeqCst);
    }

    /// The scheduler will sleep until `at`.
    pub fn scheduler_sleeps_until(&self, at: DateTime<Utc>) {
        self.scheduler_plan
            .store(at.timestamp_millis(), Ordering::SeqCst);
    }

    /// Something was queued for `platform` that its worker must read from the outbox.
    pub fn notify(&self, platform: &str) {
        if let Some(lane) = self.platforms.get(platform) {
            lane.reread.store(true, Ordering::SeqCst);
            lane.notify.notify_one();
        }
    }

    /// `platform`'s adapter is connected again: what waits on a backoff because the platform
    /// could not be reached is tried at once, not at its next retry.
    pub fn reconnected(&self, platform: &str) {
        if let Some(lane) = self.platforms.get(platform) {
            lane.reconnected.store(true, Ordering::SeqCst);
            self.notify(platform);
        }
    }

    pub fn notify_all(&self) {
        for p in self.platforms.keys() {
            self.notify(p);
        }
    }

    /// `rows` were just committed to `platform`'s outbox, in id order: its worker may send them
    /// as they are, without reading them back, when nothing else is pending there.
    pub fn hand(&self, platform: &str, rows: Vec<Delivery>) {
        if let Some(lane) = self.platforms.get(platform) {
            lane.handed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(rows);
            lane.notify.notify_one();
        }
    }

    /// The worker's lane for `platform` (an idle one for a platform never named).
    pub(crate) fn get(&self, platform: &str) -> Arc<Lane> {
        self.platforms.get(platform).cloned().unwrap_or_default()
    }
}

/// One platform's wake-up: a notification, whether the outbox must be read again, and the
/// rows the engine handed over since the worker last looked.
#[derive(Default)]
pub(crate) struct Lane {
    pub(crate) notify: Notify,
    pub(crate) reread: AtomicBool,
    /// The adapter (re)connected since the worker last looked.
    pub(crate) reconnected: AtomicBool,
    handed: std::sync::Mutex<Vec<Delivery>>,
}

impl Lane {
    pub(crate) fn take_handed(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.handed.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken(w: &Wake) -> bool {
        tokio::time::timeout(Duration::from_millis(20), w.timers.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_scheduler_is_woken_only_for_an_earlier_timer() {
        let w = Wake::new(["irc"]);
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-24T15:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        // While it works, every timer wakes it again.
        w.timer_added(t + chrono::Duration::hours(5));
        assert!(woken(&w).await);
        w.scheduler_sleeps_until(t);
        w.timer_added(t + chrono::Duration::minutes(30));
        assert!(!woken(&w).await, "a later timer needs no wake-up");
        w.timer_added(t - chrono::Duration::minutes(1));
        assert!(woken(&w).await, "an earlier timer wakes it");
        w.scheduler_working();
        w.timer_added(t + chrono::Duration::hours(5));
        assert!(woken(&w).await);
    }
}
