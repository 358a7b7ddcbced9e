//! One Flare connected to every platform at once: a real inspircd (prefix threads in `#ops`,
//! announce-only `#status`), the fake Slack (incident channels `C0INCIDENT` and `C0SECOND`)
//! and the fake Rocket.Chat (room `ops`). Used by tests/mirror.rs and benches/relay.rs.

use std::time::{Duration, Instant};

use super::fake_rocketchat::{self, BOT_TOKEN as RC_TOKEN, BOT_USER_ID, FakeRocketChat};
use super::fake_slack::{self, APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack};
use super::irc::client::{Line, TestClient};
use super::irc::server::{Kind, TestServer};

pub const INC: &str = "C0INCIDENT";
pub const SECOND: &str = "C0SECOND";

/// The platforms, as they run in the test process.
pub struct World {
    pub irc: TestServer,
    pub slack: FakeSlack,
    pub rc: FakeRocketChat,
}

/// What a Flare config adds on top of the three platforms.
#[derive(Default, Clone)]
pub struct Extras {
    /// Another Slack incident channel, e.g. one the bot is not a member of.
    pub slack_channel: Option<String>,
    /// The IRC port Flare uses (a gate in front of the server), if not the server's.
    pub irc_port: Option<u16>,
    /// `sqlite://...` for a Flare run as a child process.
    pub database: Option<String>,
    /// A second IRC incident channel (`#ops2`), for IRC -> IRC relays.
    pub second_irc_channel: bool,
    /// Flare's own IRC pacing.
    pub irc_lines_per_second: Option<f64>,
    /// Connect Flare to IRC only (no Slack, no Rocket.Chat), as a plain IRC -> IRC relay.
    pub irc_only: bool,
}

impl World {
    pub async fn start() -> World {
        let irc = TestServer::start(Kind::Inspircd);
        let slack = FakeSlack::start(&[INC, SECOND]).await;
        slack.add_user("U0ALICE", "alice");
        slack.add_user("U0BOB", "bob");
        let rc = FakeRocketChat::start().await;
        World { irc, slack, rc }
    }

    pub fn toml(&self, x: &Extras) -> String {
        let extra_slack = x
            .slack_channel
            .as_ref()
            .map(|c| format!("[[slack.channels]]\nid = \"{c}\"\nincident = true\n"))
            .unwrap_or_default();
        let database = x
            .database
            .as_ref()
            .map(|u| format!("[database]\nurl = \"{u}\"\n"))
            .unwrap_or_default();
        let ops2 = if x.second_irc_channel {
            "[[irc.channels]]\nid = \"#ops2\"\nincident = true\n"
        } else {
            ""
        };
        let lps = x.irc_lines_per_second.unwrap_or(500.0);
        let config = format!(
            r##"
{database}
[delivery]
initial_backoff = "100ms"
max_backoff = "2s"

[[people]]
name = "alice"
slack = "U0ALICE"
[[people]]
name = "bob"
rocketchat = "bob"
[[people]]
name = "dave"
irc = "dave"

[[irc]]
name = "irc"
server = "127.0.0.1"
port = {irc_port}
nick = "flare"
lines_per_second = {lps:.1}
burst = 1000
reconnect_min = "100ms"
reconnect_max = "1s"
[[irc.channels]]
id = "#ops"
incident = true
{ops2}
[[irc.channels]]
id = "#status"
incident = false
announce = true

[[slack]]
name = "slack"
api_base = "{api}"
bot_token = "{BOT_TOKEN}"
app_token = "{APP_TOKEN}"
# The fake does not rate-limit; the real 1/s per channel would make bursts slow.
channel_rate_per_sec = 10000
channel_burst = 10000
[[slack.channels]]
id = "{INC}"
incident = true
[[slack.channels]]
id = "{SECOND}"
incident = true
{extra_slack}
[[rocketchat]]
name = "rc"
url = "{rc}"
user_id = "{BOT_USER_ID}"
token = "{RC_TOKEN}"
reconnect_initial = "50ms"
reconnect_max = "300ms"
[[rocketchat.channels]]
id = "ops"
incident = true
"##,
            irc_port = x.irc_port.unwrap_or(self.irc.port),
            api = self.slack.api_base,
            rc = self.rc.url(),
        );
        if x.irc_only {
            // Everything from the first non-IRC platform on.
            return config
                .split("\n[[slack]]")
                .next()
                .unwrap_or_default()
                .to_string();
        }
        config
    }

    /// An IRC person in `channels`.
    pub async fn person(&self, nick: &str, channels: &[&str]) -> TestClient {
        let mut c =
            TestClient::connect(self.irc.port, nick, &["message-tags", "server-time"]).await;
        for ch in channels {
            c.join(ch).await;
        }
        c
    }

    /// Waits until Flare is connected everywhere (`watcher` sits in `#ops`).
    pub async fn wait_connected(&self, watcher: &mut TestClient) {
        watcher
            .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
            .await;
        assert!(
            self.slack
                .wait_connections(1, Duration::from_secs(10))
                .await,
            "Slack connected"
        );
        tokio::time::timeout(Duration::from_secs(10), self.rc.wait_subscribed(1))
            .await
            .expect("Rocket.Chat subscribed");
    }

    /// The Slack thread root of incident `n` in `channel`.
    pub async fn slack_root(&self, channel: &str, n: i64) -> String {
        let needle = format!("INC-{n} ");
        self.slack
            .wait_for_message(channel, Duration::from_secs(15), |m| {
                // A parent, even when its thread already has a reply (then it has a
                // `thread_ts` of its own, as on Slack).
                m.is_parent() && m.user == BOT_USER && m.text.contains(&needle)
            })
            .await
            .unwrap_or_else(|| {
                // What Flare asked of the fake, to tell a send never tried from one refused.
                let posts: Vec<String> = self
                    .slack
                    .calls("chat.postMessage")
                    .iter()
                    .map(|c| format!("{} {:?} {:?}", c.status, c.error, c.args.get("channel")))
                    .collect();
                panic!(
                    "Slack root of INC-{n} in {channel}; chat.postMessage calls: {posts:?}; \
                     violations: {:?}",
                    self.slack.violations()
                )
            })
            .ts
    }

    /// The Rocket.Chat thread root of incident `n` in `ops`.
    pub async fn rc_root(&self, n: i64) -> String {
        let needle = format!("INC-{n} ");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(m) = self.rc.messages("ops").into_iter().find(|m| {
                m.tmid.is_none()
                    && m.user_id == fake_rocketchat::BOT_USER_ID
                    && m.msg.contains(&needle)
            }) {
                return m.id;
            }
            assert!(Instant::now() < deadline, "Rocket.Chat root of INC-{n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Bot messages in the Slack thread `root` of `channel` whose text contains `needle`.
    pub fn slack_copies(&self, channel: &str, root: &str, needle: &str) -> Vec<fake_slack::Msg> {
        self.slack
            .replies(channel, root)
            .into_iter()
            .filter(|m| m.user == BOT_USER && m.text.contains(needle))
            .collect()
    }

    /// Bot messages in the Rocket.Chat thread `root` whose text contains `needle`.
    pub fn rc_copies(&self, root: &str, needle: &str) -> Vec<fake_rocketchat::FakeMessage> {
        self.rc
            .messages("ops")
            .into_iter()
            .filter(|m| {
                m.user_id == BOT_USER_ID
                    && m.tmid.as_deref() == Some(root)
                    && m.msg.contains(needle)
            })
            .collect()
    }
}

/// The text of a PRIVMSG.
pub fn text_of(l: &Line) -> String {
    l.param(1).unwrap_or_default().to_string()
}

/// A PRIVMSG from Flare to `channel`.
pub fn from_flare(l: &Line, channel: &str) -> bool {
    l.is("PRIVMSG")
        && l.sender_nick() == Some("flare")
        && l.param(0).is_some_and(|c| c.eq_ignore_ascii_case(channel))
}

/// Waits for `f` to hold, polling; panics naming `what` after `secs`.
pub async fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
