//! Whether each chat platform is connected. Each adapter says so in one line where it logs
//! "connected" or "connection lost"; `/readyz` and `/metrics` read it.
//!
//! Adapters are built from their configuration alone, so the registry is process-wide and
//! keyed by the adapter object itself: two Flares in one process (tests) do not mix, and the
//! adapters need no handle passed in.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Utc};

use crate::chat::ChatAdapter;
use crate::domain::platform::PlatformKind;

/// One platform's link as last reported.
#[derive(Debug, Clone)]
pub struct Link {
    pub platform: String,
    pub connected: bool,
    /// When it last changed.
    pub since: DateTime<Utc>,
    /// Why it is down ("connecting" before the first connection).
    pub detail: String,
    /// How many times it came back after being up.
    pub reconnects: u64,
    up_once: bool,
}

static LINKS: LazyLock<Mutex<HashMap<usize, Link>>> = LazyLock::new(Default::default);

fn key(adapter: &dyn ChatAdapter) -> usize {
    adapter as *const dyn ChatAdapter as *const () as usize
}

fn links() -> std::sync::MutexGuard<'static, HashMap<usize, Link>> {
    // A panic while holding the lock leaves plain data behind: keep using it.
    LINKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts tracking an adapter (at start): down until it connects; the console is always up.
pub fn watch(adapter: &dyn ChatAdapter) {
    let connected = adapter.kind() == PlatformKind::Console;
    let link = Link {
        platform: adapter.name().to_string(),
        connected,
        since: Utc::now(),
        detail: if connected {
            String::new()
        } else {
            "connecting".into()
        },
        reconnects: 0,
        up_once: connected,
    };
    crate::measure::link_state(&link.platform, connected, false);
    links().insert(key(adapter), link);
}

/// Stops tracking an adapter (at shutdown).
pub fn forget(adapter: &dyn ChatAdapter) {
    links().remove(&key(adapter));
}

/// The adapter is connected and can send.
pub fn up(adapter: &dyn ChatAdapter) {
    let mut links = links();
    let Some(l) = links.get_mut(&key(adapter)) else {
        return;
    };
    if l.connected {
        return;
    }
    let again = l.up_once;
    l.connected = true;
    l.up_once = true;
    l.since = Utc::now();
    l.detail.clear();
    if again {
        l.reconnects += 1;
    }
    crate::measure::link_state(&l.platform, true, again);
}

/// The adapter lost (or could not make) its connection, because of `why`.
pub fn down(adapter: &dyn ChatAdapter, why: &str) {
    let mut links = links();
    let Some(l) = links.get_mut(&key(adapter)) else {
        return;
    };
    if l.connected {
        l.since = Utc::now();
    }
    l.connected = false;
    l.detail = why.to_string();
    crate::measure::link_state(&l.platform, false, false);
}

/// The adapter's link as last reported, if it is tracked.
pub fn link(adapter: &dyn ChatAdapter) -> Option<Link> {
    links().get(&key(adapter)).cloned()
}
