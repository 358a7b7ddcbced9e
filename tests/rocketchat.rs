//! The Rocket.Chat adapter against a fake Rocket.Chat (REST v1 + DDP websocket) on loopback.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use flare::chat::rocketchat::{RocketChatAdapter, RocketChatConfig, message_id_for};
use flare::chat::{ChatAdapter, Inbound, InboundKind, Outbound, SendError, Sent, Style};
use flare::config::ChannelConfig;
use support::fake_rocketchat::{self, BOT_TOKEN, BOT_USER_ID, FakeRocketChat};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);

fn config(fake_url: &str, name: &str, channels: &[&str]) -> RocketChatConfig {
    RocketChatConfig {
        name: name.into(),
        url: fake_url.into(),
        user_id: Some(BOT_USER_ID.into()),
        token: Some(BOT_TOKEN.into()),
        channels: channels
            .iter()
            .map(|c| ChannelConfig {
                id: c.to_string(),
                incident: true,
                announce: true,
            })
            .collect(),
        request_timeout: "2s".into(),
        reconnect_initial: "50ms".into(),
        reconnect_max: "300ms".into(),
        ..Default::default()
    }
}

struct Running {
    adapter: Arc<RocketChatAdapter>,
    rx: mpsc::Receiver<Inbound>,
    task: JoinHandle<anyhow::Result<()>>,
}

fn start(cfg: RocketChatConfig) -> Running {
    let adapter = Arc::new(RocketChatAdapter::new(cfg).expect("valid config"));
    let (tx, rx) = mpsc::channel(20_000);
    let task = tokio::spawn(adapter.clone().run(tx));
    Running { adapter, rx, task }
}

async fn next(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an inbound event in time")
        .expect("adapter still running")
}

async fn assert_quiet(rx: &mut mpsc::Receiver<Inbound>, for_: Duration) {
    if let Ok(Some(ev)) = tokio::time::timeout(for_, rx.recv()).await {
        panic!("unexpected inbound event: {ev:?}");
    }
}

fn outbound(delivery_id: i64, channel: &str, style: Style, text: &str) -> Outbound {
    Outbound {
        delivery_id,
        channel: channel.into(),
        thread: None,
        incident: Some(7),
        style,
        author: None,
        text: text.into(),
        mentions: Vec::new(),
        edit_of: None,
        delete_of: None,
        bulk: false,
        requester: None,
    }
}

#[tokio::test]
async fn a_persons_message_arrives_with_room_id_id_and_exact_ts() {
    let fake = FakeRocketChat::start().await;
    let ops = fake.room_id("ops");
    let mut rc = start(config(&fake.url(), "rc", &[&ops]));
    fake.wait_subscribed(1).await;

    fake.system_message("bob", "ops", "uj");
    fake.post_as(
        fake_rocketchat::BOT_USERNAME,
        "ops",
        "the bot's own words",
        None,
    );
    let id = fake.post_as("alice", "ops", "!inc open database is down", None);
    let ev = next(&mut rc.rx).await;
    let stored = fake
        .messages("ops")
        .into_iter()
        .find(|m| m.id == id)
        .expect("stored");
    assert_eq!(ev.event, InboundKind::Message);
    assert_eq!(ev.platform, "rc");
    assert_eq!(ev.channel, ops);
    assert_eq!(ev.message_id, id);
    assert_eq!(
        ev.sent_at, stored.ts,
        "the platform's own timestamp, to the millisecond"
    );
    assert_eq!(ev.author.id, "alice");
    assert_eq!(ev.author.display, "alice (display)");
    assert_eq!(ev.text, "!inc open database is down");
    assert_eq!(ev.thread, None);

    // A mention of the bot followed by a command is a command.
    fake.post_as("alice", "ops", "@flare open api latency high", None);
    let ev = next(&mut rc.rx).await;
    assert_eq!(ev.text, "!incident open api latency high");
    // Rooms that are not configured are not listened to.
    fake.post_as("alice", "general", "elsewhere", None);
    assert_quiet(&mut rc.rx, Duration::from_millis(300)).await;
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn escalation_pages_go_to_the_persons_direct_message_room() {
    let fake = FakeRocketChat::start().await;
    let rc = start(config(&fake.url(), "rc", &["ops"]));
    fake.wait_subscribed(1).await;
    for id in [1, 2] {
        rc.adapter
            .send(&outbound(
                id,
                "@carol",
                Style::Reminder,
                "you are paged for INC-7",
            ))
            .await
            .expect("direct message sent");
    }
    let room = fake.dm_room("carol").expect("im.create made the room");
    let msgs = fake.messages(&room);
    assert_eq!(msgs.len(), 2);
    assert!(
        msgs[0].msg.ends_with("you are paged for INC-7"),
        "{:?}",
        msgs[0].msg
    );
    // Both went to the one direct-message room, none to the incident room.
    assert!(fake.messages("ops").is_empty());
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn thread_root_then_replies_via_tmid() {
    let fake = FakeRocketChat::start().await;
    let mut rc = start(config(&fake.url(), "rc", &["ops"]));
    fake.wait_subscribed(1).await;

    let root = rc
        .adapter
        .send(&outbound(
            1,
            "ops",
            Style::ThreadRoot,
            "INC-7 opened: db down",
        ))
        .await
        .expect("root sent");
    assert_eq!(root.thread.as_deref(), Some(root.remote_id.as_str()));
    assert_eq!(root.remote_id, message_id_for("rc", 1, 0));

    let mut reply = outbound(2, "ops", Style::Reply, "acknowledged");
    reply.thread = root.thread.clone();
    let sent = rc.adapter.send(&reply).await.expect("reply sent");
    let mut status = outbound(3, "ops", Style::StatusUpdate, "status: investigating");
    status.thread = root.thread.clone();
    rc.adapter.send(&status).await.expect("status sent");

    let msgs = fake.messages("ops");
    let by_id: HashMap<_, _> = msgs.iter().map(|m| (m.id.clone(), m.clone())).collect();
    assert_eq!(
        by_id[&sent.remote_id].tmid.as_deref(),
        Some(root.remote_id.as_str())
    );
    assert!(!by_id[&sent.remote_id].tshow);
    let st = msgs
        .iter()
        .find(|m| m.msg == "status: investigating")
        .expect("status");
    assert_eq!(st.tmid.as_deref(), Some(root.remote_id.as_str()));
    assert!(
        st.tshow,
        "status updates are shown in the channel by default"
    );

    // A person answers in the thread; the root's re-emission (thread counter) is not an event,
    // and none of Flare's own messages come back.
    let answer = fake.post_as("bob", "ops", "looking", Some(&root.remote_id));
    let ev = next(&mut rc.rx).await;
    assert_eq!(ev.message_id, answer);
    assert_eq!(ev.thread.as_deref(), Some(root.remote_id.as_str()));
    assert_eq!(
        ev.channel, "ops",
        "the channel as configured, which is also what sends take"
    );
    assert_quiet(&mut rc.rx, Duration::from_millis(300)).await;

    // Edits and deletes of Flare's messages.
    let mut edit = outbound(4, "ops", Style::ThreadRoot, "INC-7 resolved: db down");
    edit.edit_of = Some(root.remote_id.clone());
    let edited = rc.adapter.send(&edit).await.expect("edited");
    assert_eq!(edited.remote_id, root.remote_id);
    let mut delete = outbound(5, "ops", Style::Reply, "");
    delete.delete_of = Some(sent.remote_id.clone());
    rc.adapter.send(&delete).await.expect("deleted");
    let msgs = fake.messages("ops");
    assert!(
        msgs.iter()
            .any(|m| m.id == root.remote_id && m.msg == "INC-7 resolved: db down")
    );
    assert!(!msgs.iter().any(|m| m.id == sent.remote_id));
    assert_quiet(&mut rc.rx, Duration::from_millis(200)).await;
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn an_edit_is_a_changed_edited_at_and_a_reemission_is_nothing() {
    let fake = FakeRocketChat::start().await;
    let mut rc = start(config(&fake.url(), "rc", &["ops"]));
    fake.wait_subscribed(1).await;

    let id = fake.post_as("alice", "ops", "db is donw", None);
    assert_eq!(next(&mut rc.rx).await.event, InboundKind::Message);
    fake.reemit(&id);
    assert_quiet(&mut rc.rx, Duration::from_millis(300)).await;
    fake.edit(&id, "db is down");
    let ev = next(&mut rc.rx).await;
    assert_eq!(ev.event, InboundKind::Edit);
    assert_eq!(ev.message_id, id);
    assert_eq!(ev.text, "db is down");
    fake.reemit(&id);
    fake.post_as("bob", "ops", "reply", Some(&id)); // bumps the root's thread counter
    let ev = next(&mut rc.rx).await;
    assert_eq!(ev.text, "reply");
    assert_quiet(&mut rc.rx, Duration::from_millis(300)).await;
    fake.delete(&id);
    let ev = next(&mut rc.rx).await;
    assert_eq!(ev.event, InboundKind::Delete);
    assert_eq!(ev.message_id, id);
    assert_eq!(ev.channel, "ops");
    assert_quiet(&mut rc.rx, Duration::from_millis(300)).await;
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn a_restart_mid_session_loses_and_duplicates_nothing() {
    let fake = FakeRocketChat::start().await;
    let mut rc = start(config(&fake.url(), "rc", &["ops"]));
    fake.wait_subscribed(1).await;

    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(fake.post_as("alice", "ops", &format!("before {i}"), None));
    }
    for _ in 0..3 {
        next(&mut rc.rx).await;
    }
    let logins = fake.ddp_logins();
    fake.restart(Duration::from_millis(700)).await;
    // People keep writing while Flare is away, and someone fixes a typo.
    for i in 0..20 {
        expected.push(fake.post_as("bob", "ops", &format!("during {i}"), None));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.edit(&expected[0], "before 0 (edited)");
    fake.delete(&expected[1]);
    let reconnected = tokio::time::timeout(Duration::from_secs(10), async {
        while fake.ddp_logins() <= logins {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reconnected.is_ok(), "the adapter logged in again");
    // And while it is catching up.
    for i in 0..5 {
        expected.push(fake.post_as("carol", "ops", &format!("after {i}"), None));
    }

    let mut messages: HashMap<String, usize> = HashMap::new();
    let mut edits = Vec::new();
    let mut deletes = Vec::new();
    while messages.len() < expected.len() - 3 || edits.is_empty() || deletes.is_empty() {
        let ev = next(&mut rc.rx).await;
        match ev.event {
            InboundKind::Message => *messages.entry(ev.message_id).or_default() += 1,
            InboundKind::Edit => edits.push(ev),
            InboundKind::Delete => deletes.push(ev.message_id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_quiet(&mut rc.rx, Duration::from_millis(500)).await;
    for id in &expected[3..] {
        assert_eq!(
            messages.get(id),
            Some(&1),
            "message {id} emitted exactly once"
        );
    }
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].message_id, expected[0]);
    assert_eq!(edits[0].text, "before 0 (edited)");
    assert_eq!(
        deletes,
        vec![expected[1].clone()],
        "the deletion during the gap, once"
    );
    assert!(
        fake.calls("chat.syncMessages") >= 1,
        "the gap was backfilled"
    );
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn a_send_retried_after_a_timeout_posts_once() {
    let fake = FakeRocketChat::start().await;
    let mut cfg = config(&fake.url(), "rc", &["ops"]);
    cfg.request_timeout = "300ms".into();
    let rc = start(cfg);
    fake.wait_subscribed(1).await;

    fake.set_send_delay(Some(Duration::from_millis(900)));
    let msg = outbound(42, "ops", Style::Announcement, "maintenance at 22:00");
    let first = rc.adapter.send(&msg).await;
    assert!(matches!(first, Err(SendError::Retry { .. })), "{first:?}");
    fake.set_send_delay(None);
    let second = rc.adapter.send(&msg).await.expect("the retry succeeds");
    assert_eq!(second.remote_id, message_id_for("rc", 42, 0));
    let copies: Vec<_> = fake
        .messages("ops")
        .into_iter()
        .filter(|m| m.msg == "maintenance at 22:00")
        .collect();
    assert_eq!(copies.len(), 1, "posted exactly once");
    assert_eq!(copies[0].id, second.remote_id);

    // Whatever the wording of the refusal, a retry whose message is already there succeeds.
    fake.set_generic_duplicate_error(true);
    let third = rc.adapter.send(&msg).await.expect("still a success");
    assert_eq!(third.remote_id, second.remote_id);
    // A real refusal of another message is not mistaken for success.
    let other = outbound(43, "unknownRoomId", Style::Announcement, "x");
    let res = rc.adapter.send(&other).await;
    assert!(matches!(res, Err(SendError::Permanent(_))), "{res:?}");
    assert_eq!(
        fake.messages("ops")
            .iter()
            .filter(|m| m.msg == "maintenance at 22:00")
            .count(),
        1
    );
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn rate_limit_headers_and_429_make_send_wait() {
    let fake = FakeRocketChat::start().await;
    let rc = start(config(&fake.url(), "rc", &["ops"]));
    fake.wait_subscribed(1).await;

    // x-ratelimit-remaining reaches 0: the next call waits for x-ratelimit-reset.
    fake.set_rate_limit(3, Duration::from_millis(1000));
    let started = Instant::now();
    for i in 0..6 {
        rc.adapter
            .send(&outbound(100 + i, "ops", Style::Reply, &format!("r{i}")))
            .await
            .expect("sent");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "waited for the reset: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(fake.rate_limited(), 0, "never ran into a 429");

    // A 429 with a near reset: waited out inside send.
    fake.set_rate_limit(10_000, Duration::from_secs(60));
    fake.force_429(1, Duration::from_millis(400));
    let started = Instant::now();
    rc.adapter
        .send(&outbound(200, "ops", Style::Reply, "after 429"))
        .await
        .expect("sent after the 429");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(fake.rate_limited(), 1);
    assert_eq!(fake.messages("ops").len(), 7);
    fake.assert_no_violations();
    rc.task.abort();

    // A far reset goes back to the delivery worker as a retry after the reset.
    let mut cfg = config(&fake.url(), "rc2", &["ops"]);
    cfg.max_rate_limit_wait = "100ms".into();
    let rc2 = RocketChatAdapter::new(cfg).expect("valid");
    fake.force_429(1, Duration::from_secs(3));
    let res = rc2.send(&outbound(300, "ops", Style::Reply, "later")).await;
    match res {
        Err(SendError::Retry {
            after: Some(after), ..
        }) => {
            assert!(after > Duration::from_secs(2) && after <= Duration::from_secs(3))
        }
        other => panic!("expected a retry after the reset, got {other:?}"),
    }
}

#[tokio::test]
async fn relayed_text_never_pings_anyone() {
    let fake = FakeRocketChat::start().await;
    let rc = start(config(&fake.url(), "rc", &["ops"]));
    fake.wait_subscribed(1).await;

    let mut mirror = outbound(1, "ops", Style::Mirror, "@all @here db down, @alice look");
    mirror.author = Some("<bob@slack>".into());
    let Sent { remote_id, .. } = rc.adapter.send(&mirror).await.expect("sent");
    let m = fake
        .messages("ops")
        .into_iter()
        .find(|m| m.id == remote_id)
        .expect("stored");
    assert_eq!(
        m.msg,
        "@\u{200B}all @\u{200B}here db down, @\u{200B}alice look"
    );
    assert_eq!(m.alias.as_deref(), Some("<bob@slack>"));

    let mut page = outbound(2, "ops", Style::Reminder, "INC-7 is not acknowledged");
    page.mentions = vec!["carol".into()];
    let Sent { remote_id, .. } = rc.adapter.send(&page).await.expect("sent");
    let m = fake
        .messages("ops")
        .into_iter()
        .find(|m| m.id == remote_id)
        .expect("stored");
    assert_eq!(m.msg, "@carol INC-7 is not acknowledged");

    // Without alias the author goes into the text, and cannot ping either.
    let mut cfg = config(&fake.url(), "rc-noalias", &["ops"]);
    cfg.use_alias = false;
    let plain = RocketChatAdapter::new(cfg).expect("valid");
    let mut mirror = outbound(3, "ops", Style::Mirror, "hi @here");
    mirror.author = Some("<@dave@irc>".into());
    let Sent { remote_id, .. } = plain.send(&mirror).await.expect("sent");
    let m = fake
        .messages("ops")
        .into_iter()
        .find(|m| m.id == remote_id)
        .expect("stored");
    assert_eq!(m.msg, "<@\u{200B}dave@irc> hi @\u{200B}here");
    assert_eq!(m.alias, None);
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn two_servers_one_down_the_other_works() {
    let fake = FakeRocketChat::start().await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);

    let mut up = start(config(&fake.url(), "rc", &["ops"]));
    let mut cfg = config(&dead_url, "rc-backup", &["ops"]);
    cfg.request_timeout = "300ms".into();
    let down = start(cfg);
    fake.wait_subscribed(1).await;

    let id = fake.post_as("alice", "ops", "prod chat works", None);
    assert_eq!(next(&mut up.rx).await.message_id, id);
    up.adapter
        .send(&outbound(1, "ops", Style::Announcement, "hello"))
        .await
        .expect("sent to the live server");
    let res = down
        .adapter
        .send(&outbound(1, "ops", Style::Announcement, "hello"))
        .await;
    assert!(matches!(res, Err(SendError::Retry { .. })), "{res:?}");
    assert!(!down.task.is_finished(), "a server being down is not fatal");
    fake.assert_no_violations();
    up.task.abort();
    down.task.abort();
}

#[tokio::test]
async fn two_factor_and_wrong_password_are_clear_fatal_errors() {
    let fake = FakeRocketChat::start().await;
    fake.add_user("flare2fa", "pw", true);
    let mut cfg = config(&fake.url(), "rc-2fa", &["ops"]);
    cfg.user_id = None;
    cfg.token = None;
    cfg.username = Some("flare2fa".into());
    cfg.password = Some("pw".into());
    let rc = start(cfg.clone());
    let err = tokio::time::timeout(WAIT, rc.task)
        .await
        .expect("run ends")
        .expect("no panic")
        .expect_err("fatal");
    let text = format!("{err:#}");
    assert!(text.contains("rc-2fa"), "{text}");
    assert!(text.contains("personal access token"), "{text}");

    cfg.name = "rc-badpw".into();
    cfg.username = Some("flare".into());
    cfg.password = Some("wrong".into());
    let rc = start(cfg.clone());
    let err = tokio::time::timeout(WAIT, rc.task)
        .await
        .expect("run ends")
        .expect("no panic")
        .expect_err("fatal");
    let text = format!("{err:#}");
    assert!(
        text.contains("rc-badpw") && text.contains("refused"),
        "{text}"
    );

    // A revoked or mistyped personal access token.
    let mut bad = config(&fake.url(), "rc-badtoken", &["ops"]);
    bad.token = Some("not-the-token".into());
    let rc = start(bad);
    let err = tokio::time::timeout(WAIT, rc.task)
        .await
        .expect("run ends")
        .expect("no panic")
        .expect_err("fatal");
    let text = format!("{err:#}");
    assert!(
        text.contains("rc-badtoken") && text.contains("refused"),
        "{text}"
    );
    assert!(
        !text.contains("not-the-token"),
        "the token is never shown: {text}"
    );

    // The right password works: login over REST, then DDP with the login token.
    cfg.name = "rc-pw".into();
    cfg.password = Some(fake_rocketchat::BOT_PASSWORD.into());
    let mut rc = start(cfg);
    fake.wait_subscribed(1).await;
    let id = fake.post_as("alice", "ops", "hello", None);
    assert_eq!(next(&mut rc.rx).await.message_id, id);
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn an_unknown_room_is_named_and_the_rest_keeps_working() {
    let fake = FakeRocketChat::start().await;
    let mut rc = start(config(&fake.url(), "rc-prod", &["ops", "no-such-room"]));
    fake.wait_subscribed(1).await;

    let id = fake.post_as("alice", "ops", "still here", None);
    assert_eq!(next(&mut rc.rx).await.message_id, id);
    let problems = rc.adapter.unresolved_channels();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("rc-prod") && problems[0].contains("no-such-room"));
    match rc
        .adapter
        .send(&outbound(1, "no-such-room", Style::ThreadRoot, "x"))
        .await
    {
        Err(SendError::Permanent(reason)) => {
            assert!(
                reason.contains("rc-prod") && reason.contains("no-such-room"),
                "{reason}"
            )
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn malformed_ddp_frames_are_skipped() {
    let fake = FakeRocketChat::start().await;
    let ops = fake.room_id("ops");
    let mut rc = start(config(&fake.url(), "rc", &["ops"]));
    fake.wait_subscribed(1).await;

    for frame in [
        "not json at all".to_string(),
        "[1,2,3]".to_string(),
        r#"{"msg":"changed","collection":"stream-room-messages","fields":{"args":["x"]}}"#
            .to_string(),
        r#"{"msg":"changed","collection":"stream-room-messages","fields":{}}"#.to_string(),
        format!(
            r#"{{"msg":"changed","collection":"stream-room-messages","fields":{{"args":[{{"_id":"z1","rid":"{ops}","msg":"x","ts":{{"$date":"yesterday"}},"u":{{"_id":"u","username":"eve"}}}}]}}}}"#
        ),
        format!(
            r#"{{"msg":"changed","collection":"stream-room-messages","fields":{{"args":[{{"_id":"z2","rid":"{ops}","msg":"no author","ts":{{"$date":1}}}}]}}}}"#
        ),
    ] {
        fake.inject_raw(&frame);
    }
    let id = fake.post_as("alice", "ops", "after the garbage", None);
    let ev = next(&mut rc.rx).await;
    assert_eq!(ev.message_id, id);
    assert_quiet(&mut rc.rx, Duration::from_millis(300)).await;
    assert!(!rc.task.is_finished());
    fake.assert_no_violations();
    rc.task.abort();
}

#[tokio::test]
async fn a_slow_engine_does_not_get_the_connection_dropped() {
    let fake = FakeRocketChat::start().await; // pings every 500ms, drops clients that do not pong
    let adapter =
        Arc::new(RocketChatAdapter::new(config(&fake.url(), "rc", &["ops"])).expect("valid"));
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(adapter.clone().run(tx));
    fake.wait_subscribed(1).await;
    let ids: Vec<String> = (0..5)
        .map(|i| fake.post_as("alice", "ops", &format!("m{i}"), None))
        .collect();
    // Nobody reads the sink for three ping intervals.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    for id in &ids {
        assert_eq!(&next(&mut rx).await.message_id, id);
    }
    // A dropped connection would log in again within the reconnect backoff.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.ddp_logins(),
        1,
        "pings were answered while the engine was busy"
    );
    fake.assert_no_violations();
    task.abort();
}

/// The whole bot: open an incident from Rocket.Chat, the incident thread's root is posted, the
/// bot answers in the thread via `tmid`, and the first reply acknowledges at its own `ts`.
#[tokio::test]
async fn end_to_end_incident_thread_and_acknowledgement() {
    let fake = FakeRocketChat::start().await;
    let toml = format!(
        r#"
[[rocketchat]]
name = "rc"
url = "{url}"
user_id = "{BOT_USER_ID}"
token = "{BOT_TOKEN}"
reconnect_initial = "50ms"
reconnect_max = "300ms"
[[rocketchat.channels]]
id = "ops"
incident = true
announce = true
"#,
        url = fake.url()
    );
    let flare = support::start(&toml, Arc::new(flare::clock::SystemClock), false).await;
    fake.wait_subscribed(1).await;

    fake.post_as(
        "alice",
        "ops",
        "!incident open checkout database is down",
        None,
    );
    let store = flare.running.store.clone();
    let mut root = None;
    // A generous deadline: the engine commits to SQLite on a shared, loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        {
            // A short transaction: the engine needs the database too.
            let mut tx = store.begin().await.expect("tx");
            let open = tx.open_incidents().await.expect("incidents");
            if let Some(inc) = open.first() {
                let threads = tx.threads(inc.id.0).await.expect("threads");
                root = threads
                    .into_iter()
                    .find(|t| t.platform == "rc")
                    .and_then(|t| t.thread_ref);
            }
        }
        if root.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let root = root.expect("the incident thread's root was posted on Rocket.Chat");
    let parent = fake
        .messages("ops")
        .into_iter()
        .find(|m| m.id == root)
        .expect("the root is a message in #ops");
    assert_eq!(parent.user_id, BOT_USER_ID);
    assert_eq!(parent.tmid, None, "the root is a channel message");

    // Bob answers in the thread: that acknowledges, at his message's own timestamp.
    let reply = fake.post_as("bob", "ops", "on it, failing over the primary", Some(&root));
    let reply_ts = fake
        .messages("ops")
        .into_iter()
        .find(|m| m.id == reply)
        .expect("stored")
        .ts;
    let mut acked = None;
    // A generous deadline: the engine commits to SQLite on a shared, loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let inc = {
            let mut tx = store.begin().await.expect("tx");
            tx.open_incidents()
                .await
                .expect("incidents")
                .into_iter()
                .next()
        };
        if let Some(at) = inc.and_then(|i| i.acknowledged_at) {
            acked = Some(at);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        acked,
        Some(reply_ts),
        "acknowledged at the message's own ts"
    );

    // The bot's answers about the incident go into the thread via tmid.
    support::eventually(30, "a bot message in the incident thread", || {
        let in_thread = fake
            .messages("ops")
            .into_iter()
            .any(|m| m.user_id == BOT_USER_ID && m.tmid.as_deref() == Some(root.as_str()));
        async move { in_thread }
    })
    .await;
    fake.assert_no_violations();
    flare.running.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn all_rooms_listens_everywhere_and_long_text_is_split() {
    let fake = FakeRocketChat::start().await;
    let mut cfg = config(&fake.url(), "rc", &["ops"]);
    cfg.all_rooms = true;
    let mut rc = start(cfg);
    fake.wait_subscribed(1).await;

    fake.post_as("alice", "general", "@flare status", None);
    let ev = next(&mut rc.rx).await;
    assert_eq!(
        ev.channel, "GENERAL",
        "rooms that are not configured go by room id"
    );
    assert_eq!(ev.text, "!incident status");
    fake.post_as("alice", "ops", "in ops", None);
    assert_eq!(next(&mut rc.rx).await.channel, "ops");

    // Replies go back by room id.
    rc.adapter
        .send(&outbound(1, "GENERAL", Style::Reply, "no open incidents"))
        .await
        .expect("sent");
    assert!(
        fake.messages("general")
            .iter()
            .any(|m| m.msg == "no open incidents")
    );

    // 12,000 characters: three messages within Message_MaxAllowedSize, one delivery.
    let long = "status line of a very long postmortem\n".repeat(320);
    let sent = rc
        .adapter
        .send(&outbound(2, "ops", Style::Announcement, &long))
        .await
        .expect("sent");
    let parts: Vec<_> = fake
        .messages("ops")
        .into_iter()
        .filter(|m| m.msg.starts_with("status line"))
        .collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].id, sent.remote_id);
    let total: usize = parts.iter().map(|m| m.msg.len()).sum();
    assert!(
        total >= long.trim_end().len() - 4,
        "nothing lost in splitting"
    );
    // Retrying the whole delivery posts nothing new.
    rc.adapter
        .send(&outbound(2, "ops", Style::Announcement, &long))
        .await
        .expect("retry is a success");
    assert_eq!(
        fake.messages("ops")
            .iter()
            .filter(|m| m.msg.starts_with("status line"))
            .count(),
        3
    );
    assert_quiet(&mut rc.rx, Duration::from_millis(200)).await;
    fake.assert_no_violations();
    rc.task.abort();
}

/// At start the adapter reads back recent history, so what was said while Flare was down (or
/// received but not handled when it died) is not lost; `startup_backfill = "0s"` turns it off.
#[tokio::test]
async fn a_fresh_start_reads_back_recent_history() {
    let fake = FakeRocketChat::start().await;
    let said = fake.post_as("alice", "ops", "said while flare was down", None);
    let mut off = config(&fake.url(), "rc", &["ops"]);
    off.startup_backfill = "0s".into();
    let mut quiet = start(off);
    fake.wait_subscribed(1).await;
    assert_quiet(&mut quiet.rx, Duration::from_millis(300)).await;
    quiet.task.abort();

    let mut rc = start(config(&fake.url(), "rc", &["ops"]));
    let ev = next(&mut rc.rx).await;
    assert_eq!(ev.message_id, said);
    assert_eq!(ev.text, "said while flare was down");
    assert_quiet(&mut rc.rx, Duration::from_millis(300)).await;
    fake.assert_no_violations();
    rc.task.abort();
}

/// Issue 20, item 20: when the adapter is logged in again after an outage, what waited on a
/// (long) backoff because Rocket.Chat was away is sent at once, not at its next retry.
#[tokio::test]
async fn a_reconnect_sends_what_waited_on_a_backoff_at_once() {
    let fake = FakeRocketChat::start().await;
    let toml = format!(
        r#"
[delivery]
initial_backoff = "30s"
max_backoff = "5m"

[[rocketchat]]
name = "rc"
url = "{url}"
user_id = "{BOT_USER_ID}"
token = "{BOT_TOKEN}"
reconnect_initial = "50ms"
reconnect_max = "300ms"
[[rocketchat.channels]]
id = "ops"
incident = true
announce = true
"#,
        url = fake.url()
    );
    let mut flare = support::start(&toml, Arc::new(flare::clock::SystemClock), true).await;
    fake.wait_subscribed(1).await;
    let from_bot = |needle: &str| {
        fake.messages("ops")
            .into_iter()
            .any(|m| m.user_id == BOT_USER_ID && m.msg.contains(needle))
    };
    flare.type_lines(&["!inc open api errors"]).await;
    support::eventually(30, "the incident announced on Rocket.Chat", || {
        let seen = from_bot("api errors");
        async move { seen }
    })
    .await;

    let logins = fake.ddp_logins();
    fake.restart(Duration::from_secs(2)).await;
    flare.type_lines(&["!inc update INC-1 step one"]).await;
    flare.expect_console("step one", 1).await;
    let tried = tokio::time::timeout(Duration::from_secs(5), async {
        while flare.running.stats.retried.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        tried.is_ok(),
        "the outage made the send fail (and wait 15-30 s)"
    );

    let back = tokio::time::timeout(Duration::from_secs(10), async {
        while fake.ddp_logins() <= logins {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "the adapter logged in again");
    let deadline = Instant::now() + Duration::from_secs(4);
    while !from_bot("step one") {
        assert!(
            Instant::now() < deadline,
            "the update waited for its backoff instead of going at the reconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fake.assert_no_violations();
    flare.running.shutdown(Duration::from_secs(2)).await;
}
