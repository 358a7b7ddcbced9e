//! The real scheduler with a 2 s / 4 s ack window: reminder pings reach an IRC person on a
//! real server (ngircd) as NOTICEs that name them, and the console at the same time.

use std::sync::Arc;

use super::support;
use super::support::irc::client::{Line, TestClient};
use super::support::irc::server::{Kind, TestServer};

fn from_flare_notice(l: &Line, needle: &str) -> bool {
    l.is("NOTICE")
        && l.sender_nick() == Some("flare")
        && l.param(1).is_some_and(|t| t.contains(needle))
}

#[tokio::test]
async fn real_reminder_pings_arrive_on_irc_and_the_console() {
    let server = TestServer::start(Kind::Ngircd);
    let mut bob = TestClient::connect(server.port, "bob", &[]).await;
    bob.join("#ops").await;
    let toml = format!(
        r##"
[sla]
business_ack = "2s"
after_hours_ack = "4s"

[delivery]
initial_backoff = "100ms"
max_backoff = "300ms"

[console]
user = "alice"

[[people]]
name = "alice"
console = "alice"

[[people]]
name = "bob"
irc = "bob"
console = "bob"

[[rotation]]
name = "primary"
participants = ["bob"]

[[irc]]
name = "irc"
server = "127.0.0.1"
port = {}
nick = "flare"
lines_per_second = 50.0
burst = 20
reconnect_min = "100ms"
reconnect_max = "300ms"

[[irc.channels]]
id = "#ops"
incident = true
"##,
        server.port
    );
    let mut f = support::start(&toml, Arc::new(flare::clock::SystemClock), true).await;
    bob.expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    f.type_lines(&["!inc open Short window drill on IRC sev2"])
        .await;
    f.expect_console("Opened INC-1", 1).await;
    for _ in 0..2 {
        let l = bob.expect(|l| from_flare_notice(l, "⏰")).await;
        let text = l.param(1).unwrap_or_default().to_string();
        assert_eq!(l.param(0), Some("#ops"), "{}", l.raw);
        assert!(text.contains("bob: "), "the on-call is named: {}", l.raw);
        assert!(text.contains("INC-1"), "{}", l.raw);
    }
    let l = bob
        .expect(|l| from_flare_notice(l, "ack SLA breached"))
        .await;
    assert!(
        l.param(1).unwrap_or_default().contains("bob: "),
        "{}",
        l.raw
    );
    f.expect_console("@bob NOTICE ⏰ INC-1", 2).await;
    f.expect_console("@bob NOTICE 🚨 INC-1", 1).await;
    f.running.shutdown(std::time::Duration::from_secs(5)).await;
}
