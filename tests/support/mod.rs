//! Shared test harness: a running Flare on a throwaway SQLite database, optionally with a
//! console chat whose input the test writes and whose output the test reads; and below it
//! the fake and real chat servers the adapter tests drive.
//!
//! Every test file that needs any of it says `mod support;` at its top, and the benches
//! mount the same tree from `benches/support`.

// Each tests/*.rs (and each bench) is its own crate and uses a different part of this tree;
// what one crate leaves unused is not dead.
#![allow(dead_code)]

pub mod fake_rocketchat;
pub mod fake_slack;
pub mod irc;
pub mod mirror;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncWriteExt, DuplexStream};

use flare::app::Running;
use flare::chat::console::ConsoleAdapter;
use flare::chat::{Author, ChatAdapter, Inbound, InboundKind, PlatformKind};
use flare::clock::SharedClock;
use flare::config::Config;

/// Output that tests can read while the bot writes it.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// A running Flare for a test.
pub struct TestFlare {
    pub running: Running,
    pub console_in: Option<DuplexStream>,
    pub console_out: SharedBuf,
    pub dir: tempfile::TempDir,
}

/// Parses `toml` (the database defaults to a fresh SQLite file in a temp dir).
pub fn config(toml: &str, dir: &tempfile::TempDir) -> Config {
    let mut env = vec![];
    if !toml.contains("[database]") {
        env.push((
            "FLARE__DATABASE__URL".to_string(),
            format!("sqlite://{}/flare.db", dir.path().display()),
        ));
    }
    if !toml.contains("[http]") {
        // A free port each: tests run side by side.
        env.push(("FLARE__HTTP__LISTEN".to_string(), "127.0.0.1:0".to_string()));
    }
    match Config::from_str_with_env(toml, env) {
        Ok(c) => c,
        Err(e) => panic!("test config invalid: {e}"),
    }
}

/// Whether `start` sends Flare's log to the test's output. Benches turn it off: nothing
/// captures their output, and logging would be part of what they measure.
pub static TEST_LOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Starts Flare with the platforms in `toml`, plus a console chat when `console` is true.
pub async fn start(toml: &str, clock: SharedClock, console: bool) -> TestFlare {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(toml, &dir);
    start_with(config, clock, console, dir).await
}

pub async fn start_with(
    config: Config,
    clock: SharedClock,
    console: bool,
    dir: tempfile::TempDir,
) -> TestFlare {
    // Flare's log goes to the test's captured output, which the harness shows only for a
    // test that fails (FLARE_TEST_LOG picks the filter).
    if TEST_LOG.load(std::sync::atomic::Ordering::Relaxed) {
        let filter = std::env::var("FLARE_TEST_LOG").unwrap_or_else(|_| "flare=debug".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let out = SharedBuf::default();
    let mut extra = Vec::new();
    let mut console_in = None;
    if console {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let adapter = Arc::new(ConsoleAdapter::new(
            config.console.clone(),
            clock.clone(),
            theirs,
            out.clone(),
        ));
        extra.push((adapter as Arc<dyn ChatAdapter>, config.console_roles()));
        console_in = Some(ours);
    }
    let running = flare::app::start(&config, clock, extra)
        .await
        .expect("flare starts");
    TestFlare {
        running,
        console_in,
        console_out: out,
        dir,
    }
}

impl TestFlare {
    /// Types lines into the console.
    pub async fn type_lines(&mut self, lines: &[&str]) {
        let input = self.console_in.as_mut().expect("console enabled");
        for l in lines {
            input
                .write_all(format!("{l}\n").as_bytes())
                .await
                .expect("console input");
        }
    }

    /// Waits until the console output contains `needle` (at least `times` times).
    pub async fn expect_console(&self, needle: &str, times: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.console_out.text();
            if text.matches(needle).count() >= times {
                return text;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("console never showed {needle:?} x{times}; it showed:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A person's line in the console's `#ops`, as the console adapter hands it to the engine.
pub fn console_line(user: &str, text: &str, message_id: &str, sent_at: DateTime<Utc>) -> Inbound {
    Inbound {
        platform: "console".into(),
        kind: PlatformKind::Console,
        event: InboundKind::Message,
        channel: "#ops".into(),
        thread: None,
        incident_hint: None,
        author: Author {
            id: user.into(),
            display: user.into(),
        },
        text: text.into(),
        message_id: message_id.into(),
        sent_at,
        receipt: None,
    }
}

/// A fixed UTC instant from RFC 3339.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid instant")
        .with_timezone(&Utc)
}

/// Waits for a condition, failing the test after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh, empty PostgreSQL database on the server of FLARE_TEST_DATABASE_URL (tests/run.sh
/// starts a throwaway one); `None` only when FLARE_SKIP_POSTGRES=1 says to skip.
pub async fn fresh_postgres() -> Option<String> {
    let Ok(base) = std::env::var("FLARE_TEST_DATABASE_URL") else {
        if std::env::var("FLARE_SKIP_POSTGRES").as_deref() == Ok("1") {
            eprintln!("FLARE_SKIP_POSTGRES=1: PostgreSQL test skipped");
            return None;
        }
        panic!(
            "FLARE_TEST_DATABASE_URL is not set: run tests/run.sh (or set FLARE_SKIP_POSTGRES=1)"
        );
    };
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "flare_test_{}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default() % 1_000_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("postgres reachable");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let mut url = url::Url::parse(&base).expect("url");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

impl TestFlare {
    /// The incident as stored.
    pub async fn incident(&self, id: i64) -> flare::domain::incident::Incident {
        let mut tx = self.running.store.begin().await.expect("tx");
        tx.incident(id)
            .await
            .expect("read")
            .expect("incident exists")
    }

    /// The incident's pending timers.
    pub async fn pending_timers(&self, id: i64) -> Vec<flare::store::Timer> {
        let mut tx = self.running.store.begin().await.expect("tx");
        tx.pending_timers(Some(id)).await.expect("timers")
    }

    /// The incident's timeline.
    pub async fn timeline(&self, id: i64) -> Vec<flare::domain::incident::TimelineEvent> {
        let mut tx = self.running.store.begin().await.expect("tx");
        tx.timeline(id).await.expect("timeline")
    }
}
