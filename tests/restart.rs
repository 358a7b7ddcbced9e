//! Real `flare run` processes stopped, killed and started again: nothing Slack delivered in
//! the moment of a crash is lost, and Flare is back in every IRC incident channel.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::fake_slack::{APP_TOKEN, BOT_TOKEN, FakeSlack};
use support::irc::client::{Line, TestClient};
use support::irc::server::{Kind, TestServer};

struct Flare {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Flare {
    fn start(config: &Path) -> Flare {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flare"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env(
                "FLARE_LOG",
                std::env::var("TEST_FLARE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
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
        Flare { child, out }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// SIGKILL: no shutdown, nothing flushed, nothing acknowledged on the way out.
    fn kill(mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }

    /// SIGTERM, and wait for the clean exit.
    async fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.text();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("flare did not stop on SIGTERM:\n{}", self.text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ---------- Slack: acknowledged only once committed ----------

const INC: &str = "C0INCIDENT";
const BACKLOG: usize = 100;

fn slack_config(dir: &Path, fake: &FakeSlack) -> (PathBuf, String) {
    let url = format!("sqlite://{}/flare.db", dir.display());
    let path = dir.join("flare.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[database]
url = "{url}"

[[people]]
name = "alice"
slack = "U0ALICE"

[[slack]]
name = "slack"
api_base = "{api}"
bot_token = "{BOT_TOKEN}"
app_token = "{APP_TOKEN}"
channel_rate_per_sec = 10000
channel_burst = 10000
[[slack.channels]]
id = "{INC}"
incident = true
"#,
            api = fake.api_base
        ),
    )
    .expect("config written");
    (path, url)
}

/// A backlog of commands waits in Slack; Flare connects, takes it, and is SIGKILLed at
/// once (`delay` after the first envelope is acknowledged), before it can have handled them
/// all. Started again, it finds every command: each opened exactly one incident.
async fn killed_while_taking_a_backlog(delay: Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0ALICE", "alice");
    // Slack's own ack timeout: redeliveries come from the reconnect, not from impatience.
    fake.set_redeliver_after(Duration::from_secs(3));
    let (config, url) = slack_config(dir.path(), &fake);
    let envelopes: Vec<String> = (0..BACKLOG)
        .map(|i| {
            let text = format!("!inc open Backlog {i:03} sev3");
            fake.user_posts(INC, "U0ALICE", &text, None).1
        })
        .collect();
    let acked = |fake: &FakeSlack| {
        envelopes
            .iter()
            .filter(|e| !fake.acks(e).is_empty())
            .count()
    };

    let first = Flare::start(&config);
    until(30, "the first acknowledgement", || {
        (acked(&fake) > 0).then_some(())
    })
    .await;
    tokio::time::sleep(delay).await;
    first.kill();
    // Acks the killed process wrote before it died are still being read by the fake.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let acked_before = acked(&fake);

    let second = Flare::start(&config);
    // Every command's incident is announced in Slack (what was handled), and every envelope
    // acknowledged.
    let announced = |fake: &FakeSlack| {
        let roots: Vec<String> = fake
            .messages(INC)
            .into_iter()
            .filter(|m| m.bot_id.is_some() && m.is_parent())
            .map(|m| m.text)
            .collect();
        (0..BACKLOG)
            .filter(|i| {
                let title = format!("Backlog {i:03}");
                !roots.iter().any(|r| r.contains(&title))
            })
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let not_announced = announced(&fake);
        if not_announced.is_empty() && acked(&fake) == BACKLOG {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "killed {delay:?} after the first ack ({acked_before} of {BACKLOG} acked by the killed process): \
             after the restart, {} of {BACKLOG} acked, these never handled: {not_announced:?}\n{}",
            acked(&fake),
            second.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = second.terminate().await;

    let store = flare::store::open(&url, 1).await.expect("store");
    let mut tx = store.begin().await.expect("tx");
    let incidents = tx.open_incidents().await.expect("incidents");
    drop(tx);
    store.close().await;
    let mut missing = Vec::new();
    for i in 0..BACKLOG {
        let title = format!("Backlog {i:03}");
        match incidents.iter().filter(|inc| inc.title == title).count() {
            1 => {}
            n => missing.push(format!("{title}: {n} incidents")),
        }
    }
    assert!(
        missing.is_empty(),
        "killed {delay:?} after the first ack ({acked_before} of {BACKLOG} acked by the killed process): \
         {} commands not recorded exactly once: {missing:?}\n{out}",
        missing.len()
    );
    assert_eq!(incidents.len(), BACKLOG);
    fake.assert_no_violations();
}

#[tokio::test]
async fn slack_backlog_survives_a_kill_right_after_the_first_ack() {
    killed_while_taking_a_backlog(Duration::ZERO).await;
}

#[tokio::test]
async fn slack_backlog_survives_a_kill_shortly_after_connecting() {
    for ms in [5, 30, 120] {
        killed_while_taking_a_backlog(Duration::from_millis(ms)).await;
    }
}

// ---------- IRC: incident channels rejoined ----------

fn irc_config(dir: &Path, port: u16) -> (PathBuf, String) {
    let url = format!("sqlite://{}/flare.db", dir.display());
    let path = dir.join("flare.toml");
    std::fs::write(
        &path,
        format!(
            r##"
[database]
url = "{url}"

[delivery]
initial_backoff = "100ms"
max_backoff = "1s"

[[people]]
name = "alice"
irc = "alice"
[[people]]
name = "bob"
irc = "bob"

[[irc]]
name = "irc"
server = "127.0.0.1"
port = {port}
nick = "flare"
lines_per_second = 50.0
burst = 20
reconnect_min = "100ms"
reconnect_max = "1s"
[[irc.channels]]
id = "#ops"
incident = true
thread = "channel"
"##
        ),
    )
    .expect("config written");
    (path, url)
}

fn flare_says(l: &Line, channel: &str, needle: &str) -> bool {
    (l.is("PRIVMSG") || l.is("NOTICE"))
        && l.sender_nick() == Some("flare")
        && l.param(0) == Some(channel)
        && l.param(1).is_some_and(|t| t.contains(needle))
}

fn flare_joins(l: &Line, channel: &str) -> bool {
    l.is("JOIN") && l.sender_nick() == Some("flare") && l.param(0) == Some(channel)
}

/// Opens an incident from #ops and waits until Flare announces its channel; bob joins it.
async fn open_incident(alice: &mut TestClient, bob: &mut TestClient, n: i64) -> String {
    let chan = format!("#flare-inc-{n}");
    alice.say("#ops", &format!("!inc open Restart drill {n} sev2"));
    alice.expect(|l| flare_says(l, "#ops", &chan)).await;
    bob.join(&chan).await;
    chan
}

/// After `restart`, Flare is back in the incident channel, and `!inc ack` written there is
/// recorded.
async fn ack_in_incident_channel(bob: &mut TestClient, chan: &str) {
    bob.expect(|l| flare_joins(l, chan)).await;
    bob.say(chan, "!inc ack");
    bob.expect(|l| flare_says(l, chan, "acknowledged by")).await;
}

async fn incident_channels_after_restart(kind: Kind) {
    let server = TestServer::start(kind);
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, url) = irc_config(dir.path(), server.port);
    let mut alice = TestClient::connect(server.port, "alice", &[]).await;
    alice.join("#ops").await;
    let mut bob = TestClient::connect(server.port, "bob", &[]).await;

    let first = Flare::start(&config);
    alice.expect(|l| flare_joins(l, "#ops")).await;
    let one = open_incident(&mut alice, &mut bob, 1).await;
    let two = open_incident(&mut alice, &mut bob, 2).await;
    let three = open_incident(&mut alice, &mut bob, 3).await;
    // A resolved incident's channel is not rejoined.
    alice.say("#ops", "!inc resolve INC-3 drill over");
    bob.expect(|l| flare_says(l, &three, "resolved")).await;

    // A clean stop.
    first.terminate().await;
    let second = Flare::start(&config);
    ack_in_incident_channel(&mut bob, &one).await;

    // A crash.
    second.kill();
    let third = Flare::start(&config);
    ack_in_incident_channel(&mut bob, &two).await;
    let rejoined = bob.collect_for(Duration::from_millis(500)).await;
    assert!(
        !rejoined.iter().any(|l| flare_joins(l, &three)),
        "the resolved incident's channel was rejoined"
    );
    let out = third.terminate().await;

    let store = flare::store::open(&url, 1).await.expect("store");
    let mut tx = store.begin().await.expect("tx");
    for n in [1, 2] {
        let inc = tx.incident(n).await.expect("read").expect("incident");
        assert_eq!(
            inc.acknowledged_by.as_deref(),
            Some("bob"),
            "INC-{n}: {inc:?}\n{out}"
        );
    }
    drop(tx);
    store.close().await;
}

#[tokio::test]
async fn incident_channels_are_rejoined_after_a_restart_ngircd() {
    incident_channels_after_restart(Kind::Ngircd).await;
}

#[tokio::test]
async fn incident_channels_are_rejoined_after_a_restart_inspircd() {
    incident_channels_after_restart(Kind::Inspircd).await;
}
