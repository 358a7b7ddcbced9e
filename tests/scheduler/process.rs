//! Real `flare` processes: killed mid-timer and started again; and the real scheduler task
//! with a 2 s / 4 s ack window.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::support;

struct Flare {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
}

impl Flare {
    fn start(config: &Path) -> Flare {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flare"))
            .arg("--config")
            .arg(config)
            .arg("console")
            .env("FLARE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flare starts");
        let out = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        let stdin = child.stdin.take();
        Flare { child, stdin, out }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to flare");
        stdin.flush().expect("flush");
    }

    fn text(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn expect(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.text();
            if t.contains(needle) {
                return t;
            }
            if Instant::now() > deadline {
                panic!("flare never printed {needle:?}; it printed:\n{t}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown, nothing flushed.
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }

    async fn stop(mut self) -> String {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "flare did not stop after its input closed:\n{}",
                    self.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.text()
    }
}

fn write_config(dir: &tempfile::TempDir) -> (std::path::PathBuf, String) {
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let path = dir.path().join("flare.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[database]
url = "{url}"

[sla]
business_ack = "2s"
after_hours_ack = "4s"

[console]
user = "alice"

[[people]]
name = "alice"
console = "alice"

[[people]]
name = "bob"
console = "bob"

[[rotation]]
name = "primary"
participants = ["bob"]
announce = ["console/#ops"]
"#
        ),
    )
    .expect("config written");
    (path, url)
}

#[tokio::test]
async fn a_killed_process_fires_the_breach_once_and_late_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, url) = write_config(&dir);
    let mut first = Flare::start(&config);
    first.say("!inc open Restart drill sev1");
    first.expect("Opened INC-1", 20).await;
    first.kill();

    let store = flare::store::open(&url, 1).await.expect("store");
    let mut tx = store.begin().await.expect("tx");
    let inc = tx.incident(1).await.expect("read").expect("INC-1");
    assert_eq!(
        tx.pending_timers(Some(1))
            .await
            .expect("timers")
            .iter()
            .filter(|t| t.new.kind == "ack_breach")
            .count(),
        1
    );
    drop(tx);
    store.close().await;
    // Down until well past the deadline.
    let wait = (inc.ack_deadline + chrono::Duration::seconds(3) - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;

    let second = Flare::start(&config);
    let out = second.expect("ack SLA breached", 20).await;
    let line = out
        .lines()
        .find(|l| l.contains("ack SLA breached"))
        .expect("breach line");
    assert!(line.contains("@bob NOTICE 🚨 INC-1"), "{line}");
    assert!(line.contains("(late: due at"), "{line}");
    assert!(line.contains("Flare was not running then"), "{line}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = second.stop().await;
    assert_eq!(out.matches("ack SLA breached").count(), 1, "{out}");

    // A third start fires nothing again.
    let third = Flare::start(&config);
    third.expect("Flare console", 20).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = third.stop().await;
    assert!(!out.contains("breached"), "{out}");

    let store = flare::store::open(&url, 1).await.expect("store");
    let mut tx = store.begin().await.expect("tx");
    let breaches: Vec<_> = tx
        .fired_timers(Some(1))
        .await
        .expect("fired")
        .into_iter()
        .filter(|t| t.new.kind == "ack_breach")
        .collect();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert!(breaches[0].late_ms.unwrap_or(0) >= 2_500, "{breaches:?}");
    let timeline = tx.timeline(1).await.expect("timeline");
    assert_eq!(
        timeline.iter().filter(|e| e.kind == "ack_breached").count(),
        1
    );
    drop(tx);
    store.close().await;

    // `flare timers` lists what is still pending: the rotation's next handoff, by name.
    let listed = Command::new(env!("CARGO_BIN_EXE_flare"))
        .arg("--config")
        .arg(&config)
        .arg("timers")
        .output()
        .expect("flare timers");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("rotation_handoff"), "{listed}");
    assert!(listed.trim_end().ends_with("primary"), "{listed}");
    assert!(!listed.contains("ack_breach"), "{listed}");
}

#[tokio::test]
async fn the_real_scheduler_pings_the_on_call_on_the_console_with_a_short_window() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let toml = r#"
[sla]
business_ack = "2s"
after_hours_ack = "4s"

[console]
user = "alice"

[[people]]
name = "alice"
console = "alice"

[[people]]
name = "bob"
console = "bob"

[[rotation]]
name = "primary"
participants = ["bob"]
"#;
    let mut f = support::start(toml, Arc::new(flare::clock::SystemClock), true).await;
    // No timer exists yet, so the scheduler sleeps its longest (an hour): the reminders below
    // arriving on time show the new, earlier timers woke it.
    let mut tx = f.running.store.begin().await.expect("tx");
    assert!(tx.pending_timers(None).await.expect("timers").is_empty());
    drop(tx);
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.type_lines(&["!inc open Short window drill sev2"]).await;
    f.expect_console("Opened INC-1", 1).await;
    let started = Instant::now();
    f.expect_console("@bob NOTICE ⏰ INC-1", 2).await;
    f.expect_console("ack SLA breached", 1).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(7), "{took:?}");
    let out = f.console_out.text();
    assert!(out.contains("@bob NOTICE 🚨 INC-1"), "{out}");
    let mut tx = f.running.store.begin().await.expect("tx");
    let fired = tx.fired_timers(Some(1)).await.expect("fired");
    drop(tx);
    assert_eq!(fired.len(), 3, "{fired:?}");
    for t in &fired {
        assert!(t.late_ms.unwrap_or(i64::MAX) < 1_000, "{t:?}");
    }
    f.running.shutdown(Duration::from_secs(5)).await;
}
