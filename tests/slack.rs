//! Slack adapter against the fake Slack, over real HTTP and websockets on loopback.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flare::chat::slack::{SlackAdapter, SlackConfig, SlackMode};
use flare::chat::{ChatAdapter, Inbound, InboundKind, Outbound, SendError, Style};
use flare::config::ChannelConfig;
use serde_json::json;
use support::fake_slack::{self, APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER, FakeSlack, message_event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const INC: &str = "C0INCIDENT";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const WAIT: Duration = Duration::from_secs(5);

fn config(fake: &FakeSlack) -> SlackConfig {
    SlackConfig {
        name: "slack-test".into(),
        api_base: fake.api_base.clone(),
        bot_token: Some(BOT_TOKEN.into()),
        app_token: Some(APP_TOKEN.into()),
        signing_secret: Some(SECRET.into()),
        listen: "127.0.0.1:0".into(),
        channels: vec![ChannelConfig {
            id: INC.into(),
            incident: true,
            announce: true,
        }],
        ..Default::default()
    }
}

struct Running {
    adapter: Arc<SlackAdapter>,
    rx: mpsc::Receiver<Inbound>,
    run: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The next event, done with at once (as the engine is once it committed it).
    async fn next(&mut self) -> Inbound {
        let ev = self.next_held().await;
        ev.done();
        ev
    }

    /// The next event, not done with yet: its envelope stays unacknowledged.
    async fn next_held(&mut self) -> Inbound {
        timeout(WAIT, self.rx.recv())
            .await
            .expect("an inbound event in time")
            .expect("sink open")
    }

    /// Nothing more arrives within `d`.
    async fn quiet(&mut self, d: Duration) {
        if let Ok(Some(ev)) = timeout(d, self.rx.recv()).await {
            panic!("unexpected inbound event: {ev:?}");
        }
    }
}

async fn start(cfg: SlackConfig) -> Running {
    let adapter = Arc::new(SlackAdapter::new(cfg).expect("adapter"));
    let (tx, rx) = mpsc::channel(64);
    let run = tokio::spawn(adapter.clone().run(tx));
    Running { adapter, rx, run }
}

/// A socket-mode adapter, connected to the fake.
async fn connected(fake: &FakeSlack) -> Running {
    let r = start(config(fake)).await;
    assert!(fake.wait_connections(1, WAIT).await, "adapter connected");
    r
}

fn outbound(style: Style, text: &str) -> Outbound {
    Outbound {
        delivery_id: 1,
        channel: INC.into(),
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

fn ts_time(ts: &str) -> DateTime<Utc> {
    let (s, f) = ts.split_once('.').expect("ts");
    DateTime::from_timestamp(
        s.parse().expect("secs"),
        f.parse::<u32>().expect("micros") * 1000,
    )
    .expect("time")
}

#[test]
fn signature_known_answer_vector() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    assert_eq!(
        flare::chat::slack::signature::sign(SECRET, "1531420618", body.as_bytes()),
        expected
    );
    // The fake's own signer agrees, so the HTTP tests below sign correctly.
    assert_eq!(fake_slack::sign(SECRET, "1531420618", body), expected);
    assert!(
        flare::chat::slack::signature::verify(
            SECRET,
            Some("1531420618"),
            Some(expected),
            body.as_bytes(),
            1531420618 + 299,
            300
        )
        .is_ok()
    );
}

// ---------- Events API over HTTP ----------

async fn http_adapter(fake: &FakeSlack) -> (Running, String) {
    let mut cfg = config(fake);
    cfg.mode = SlackMode::Http;
    cfg.app_token = None;
    let r = start(cfg).await;
    let addr = timeout(WAIT, r.adapter.http_addr())
        .await
        .expect("listening in time")
        .expect("address");
    (r, format!("http://{addr}/slack/events"))
}

async fn post_signed(
    url: &str,
    body: &str,
    content_type: &str,
    ts: Option<i64>,
    secret: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body.to_string());
    if let Some(ts) = ts {
        let (t, sig) = fake_slack::signed(secret, body, ts);
        req = req
            .header("x-slack-request-timestamp", t)
            .header("x-slack-signature", sig);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    timeout(WAIT, req.send())
        .await
        .expect("answer in time")
        .expect("http")
}

#[tokio::test]
async fn http_mode_verifies_signatures_before_anything_and_dedupes_retries() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0ALICE", "alice");
    let (mut r, url) = http_adapter(&fake).await;
    let ts = fake.next_ts();
    let body = json!({"token": "x", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
        "type": "event_callback", "event_id": "Ev0HTTP1", "event_time": 1700000000,
        "authed_users": [BOT_USER],
        "event": message_event(INC, "U0ALICE", "db is down", &ts, None)})
    .to_string();
    let now = Utc::now().timestamp();
    let json_ct = "application/json";
    // Missing, wrong-secret, stale and future signatures: 401, nothing emitted.
    for (ts, secret) in [
        (None, SECRET),
        (Some(now), "wrong-secret"),
        (Some(now - 301), SECRET),
        (Some(now + 400), SECRET),
    ] {
        let resp = post_signed(&url, &body, json_ct, ts, secret, &[]).await;
        assert_eq!(resp.status(), 401, "ts {ts:?} secret {secret}");
    }
    // A valid signature over a different body is rejected too.
    let (t, sig) = fake_slack::signed(SECRET, "{}", now);
    let resp = reqwest::Client::new()
        .post(&url)
        .header("content-type", json_ct)
        .header("x-slack-request-timestamp", t)
        .header("x-slack-signature", sig)
        .body(body.clone())
        .send()
        .await
        .expect("http");
    assert_eq!(resp.status(), 401);
    r.quiet(Duration::from_millis(200)).await;

    let resp = post_signed(&url, &body, json_ct, Some(now), SECRET, &[]).await;
    assert_eq!(resp.status(), 200);
    let ev = r.next().await;
    assert_eq!(
        (ev.text.as_str(), ev.author.display.as_str()),
        ("db is down", "alice")
    );
    assert_eq!(ev.sent_at, ts_time(&ts));
    // Slack retries the same event: acked, not emitted again.
    let resp = post_signed(
        &url,
        &body,
        json_ct,
        Some(now),
        SECRET,
        &[
            ("x-slack-retry-num", "1"),
            ("x-slack-retry-reason", "http_timeout"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    r.quiet(Duration::from_millis(300)).await;
    fake.assert_no_violations();
}

#[tokio::test]
async fn http_mode_answers_url_verification_and_slash_commands() {
    let fake = FakeSlack::start(&[INC]).await;
    let (mut r, url) = http_adapter(&fake).await;
    let now = Utc::now().timestamp();
    let body =
        json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification"})
        .to_string();
    let resp = post_signed(&url, &body, "application/json", Some(now), SECRET, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.expect("body"),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    let fields = fake_slack::slash_fields(INC, "U0BOB", "open payments 500s", 9);
    let form = serde_urlencoded::to_string(
        fields
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>(),
    )
    .expect("form");
    let started = Instant::now();
    let resp = post_signed(
        &url.replace("/events", "/commands"),
        &form,
        "application/x-www-form-urlencoded",
        Some(now),
        SECRET,
        &[],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(answer["text"], "Working on it: `open payments 500s`");
    let ev = r.next().await;
    assert_eq!(ev.text, "!incident open payments 500s");
    assert_eq!(ev.channel, INC);
    assert_eq!(
        ev.message_id,
        "9.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    );
    // Unsigned slash command: rejected, nothing emitted.
    let resp = post_signed(
        &url,
        &form,
        "application/x-www-form-urlencoded",
        None,
        SECRET,
        &[],
    )
    .await;
    assert_eq!(resp.status(), 401);
    r.quiet(Duration::from_millis(200)).await;
}

// ---------- Socket Mode ----------

#[tokio::test]
async fn slash_command_is_acked_with_an_ephemeral_reply_and_becomes_a_command() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0BOB", "bob");
    let mut r = connected(&fake).await;
    let env = fake.send_slash(INC, "U0BOB", "open db down");
    let ev = r.next_held().await;
    // Acked once Flare is done with the command, not before.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        fake.acks(&env).is_empty(),
        "acked before the command was done"
    );
    ev.done();
    let ack = fake.wait_ack(&env, WAIT).await.expect("acked");
    assert!(
        ack.latency < Duration::from_millis(500),
        "ack took {:?}",
        ack.latency
    );
    let payload = ack.payload.expect("ack carries the ephemeral reply");
    assert_eq!(payload["response_type"], "ephemeral");
    assert_eq!(payload["text"], "Working on it: `open db down`");
    assert_eq!(ev.text, "!incident open db down");
    assert_eq!(
        (
            ev.channel.as_str(),
            ev.author.id.as_str(),
            ev.author.display.as_str()
        ),
        (INC, "U0BOB", "bob")
    );
    assert_eq!(ev.event, InboundKind::Message);
    assert!(ev.thread.is_none());
    assert!((Utc::now() - ev.sent_at).num_seconds().abs() < 5);
    fake.assert_no_violations();
}

#[tokio::test]
async fn thread_messages_carry_thread_and_exact_time_and_own_messages_are_ignored() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0ALICE", "Alice Ops");
    let mut r = connected(&fake).await;
    // Flare's incident thread root.
    let sent = r
        .adapter
        .send(&outbound(Style::ThreadRoot, "INC-7 db down"))
        .await
        .expect("root");
    assert_eq!(sent.thread.as_deref(), Some(sent.remote_id.as_str()));
    // Flare's own message echoed back as events (by user id and by bot id): ignored.
    let mut own = message_event(INC, BOT_USER, "INC-7 db down", &sent.remote_id, None);
    own["bot_id"] = json!(BOT_ID);
    let own_env = fake.send_event(own);
    let mut own2 = message_event(INC, "U0OTHER", "x", &fake.next_ts(), None);
    own2.as_object_mut().expect("obj").remove("user");
    own2["bot_id"] = json!(BOT_ID);
    own2["subtype"] = json!("bot_message");
    fake.send_event(own2);
    // A person answers in the thread.
    let (ts, _) = fake.user_posts(INC, "U0ALICE", "looking", Some(&sent.remote_id));
    let ev = r.next().await;
    assert_eq!(ev.text, "looking");
    assert_eq!(ev.thread.as_deref(), Some(sent.remote_id.as_str()));
    assert_eq!(ev.message_id, ts);
    assert_eq!(
        ev.sent_at,
        ts_time(&ts),
        "time is the message's own ts, exactly"
    );
    assert_eq!(ev.author.display, "Alice Ops");
    assert_eq!(ev.platform, "slack-test");
    assert!(
        fake.wait_ack(&own_env, WAIT).await.is_some(),
        "own messages are still acked"
    );
    // A second message: the display name comes from the cache.
    fake.user_posts(INC, "U0ALICE", "found it", Some(&sent.remote_id));
    assert_eq!(r.next().await.text, "found it");
    assert_eq!(fake.calls("users.info").len(), 1);
    // Messages in channels Flare does not watch are not emitted.
    fake.send_event(message_event(
        "C0ELSEWHERE",
        "U0ALICE",
        "hi",
        &fake.next_ts(),
        None,
    ));
    r.quiet(Duration::from_millis(200)).await;
    fake.assert_no_violations();
}

/// A Slack mention reaches the other platforms as the person's name, not the raw user id.
#[tokio::test]
async fn slack_mentions_become_names_for_the_other_platforms() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0ALICE", "Alice Ops");
    fake.add_user("U0BOB00001", "bob");
    let mut r = connected(&fake).await;
    fake.user_posts(
        INC,
        "U0ALICE",
        "<@U0BOB00001> ping, and <@U0GONE0001> too; mail ops@UNIT2 <@U0BOB00001>",
        None,
    );
    let ev = r.next().await;
    assert_eq!(
        ev.text, "@bob ping, and @U0GONE0001 too; mail ops@UNIT2 @bob",
        "a user Slack does not know keeps the id"
    );
    assert_eq!(ev.author.display, "Alice Ops");
    fake.assert_no_violations();
}

#[tokio::test]
async fn edits_deletes_reactions_broadcasts_and_hidden_replies() {
    let fake = FakeSlack::start(&[INC]).await;
    let mut r = connected(&fake).await;
    let root = "1700000000.000100";
    let (ts, _) = fake.user_posts(INC, "U0ALICE", "first", Some(root));
    assert_eq!(
        r.next().await.author.display,
        "U0ALICE",
        "unknown user: shown by id"
    );
    let edit_ts = fake.next_ts();
    fake.send_event(json!({"type": "message", "subtype": "message_changed", "hidden": true,
        "channel": INC, "ts": edit_ts, "event_ts": edit_ts,
        "message": {"type": "message", "user": "U0ALICE", "text": "first (fixed)", "ts": ts,
            "thread_ts": root, "edited": {"user": "U0ALICE", "ts": edit_ts}},
        "previous_message": {"type": "message", "user": "U0ALICE", "text": "first", "ts": ts, "thread_ts": root}}));
    let ev = r.next().await;
    assert_eq!(
        (ev.event, ev.message_id.as_str(), ev.text.as_str()),
        (InboundKind::Edit, ts.as_str(), "first (fixed)")
    );
    assert_eq!(ev.thread.as_deref(), Some(root));
    // Hidden thread bookkeeping: ignored.
    let t = fake.next_ts();
    fake.send_event(json!({"type": "message", "subtype": "message_replied", "hidden": true,
        "channel": INC, "ts": t, "event_ts": t,
        "message": {"type": "message", "user": BOT_USER, "text": "root", "ts": root, "thread_ts": root, "reply_count": 1}}));
    let del_ts = fake.next_ts();
    fake.send_event(json!({"type": "message", "subtype": "message_deleted", "hidden": true,
        "channel": INC, "ts": del_ts, "event_ts": del_ts, "deleted_ts": ts,
        "previous_message": {"type": "message", "user": "U0ALICE", "text": "first (fixed)", "ts": ts, "thread_ts": root}}));
    let ev = r.next().await;
    assert_eq!(
        (ev.event, ev.message_id.as_str()),
        (InboundKind::Delete, ts.as_str())
    );
    let react_ts = fake.next_ts();
    fake.send_event(json!({"type": "reaction_added", "user": "U0BOB", "reaction": "eyes",
        "item_user": BOT_USER, "item": {"type": "message", "channel": INC, "ts": root}, "event_ts": react_ts}));
    let ev = r.next().await;
    assert_eq!(
        ev.event,
        InboundKind::Reaction {
            name: "eyes".into()
        }
    );
    assert_eq!(ev.message_id, root);
    let b_ts = fake.next_ts();
    let mut b = message_event(INC, "U0BOB", "also in channel", &b_ts, Some(root));
    b["subtype"] = json!("thread_broadcast");
    fake.send_event(b);
    let ev = r.next().await;
    assert_eq!(
        (ev.event, ev.thread.as_deref(), ev.text.as_str()),
        (InboundKind::Message, Some(root), "also in channel")
    );
    r.quiet(Duration::from_millis(200)).await;
    fake.assert_no_violations();
}

#[tokio::test]
async fn redelivered_envelope_is_processed_once() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.set_redeliver_after(Duration::from_millis(150));
    let mut r = connected(&fake).await;
    fake.lose_next_acks(1);
    let (_, env) = fake.user_posts(INC, "U0ALICE", "ack", None);
    assert_eq!(r.next().await.text, "ack");
    assert!(
        fake.wait_ack(&env, WAIT).await.is_some(),
        "the redelivery is acked"
    );
    assert!(fake.deliveries(&env) >= 2, "the fake redelivered it");
    r.quiet(Duration::from_millis(400)).await;
    fake.assert_no_violations();
}

#[tokio::test]
async fn refresh_requested_opens_the_new_connection_first_and_loses_nothing() {
    let fake = FakeSlack::start(&[INC]).await;
    let mut r = connected(&fake).await;
    let old = fake.disconnect("refresh_requested").expect("a connection");
    // Sent on the old connection while the adapter is moving.
    fake.user_posts(INC, "U0ALICE", "during", None);
    assert!(fake.wait_connections(2, WAIT).await, "a new connection");
    let closed = fake
        .wait_for_closed(old, WAIT)
        .await
        .expect("old connection closed");
    let conns = fake.connections();
    let new = conns.iter().find(|c| c.id != old).expect("new");
    assert!(
        new.opened_at < closed.closed_at.expect("closed"),
        "new opened before old closed"
    );
    assert_eq!(
        closed.closed_by,
        Some(fake_slack::ClosedBy::Client),
        "Flare closed the old one itself"
    );
    fake.user_posts(INC, "U0ALICE", "after", None);
    assert_eq!(r.next().await.text, "during");
    assert_eq!(r.next().await.text, "after");
    // A warning first, then the refresh: still exactly one move per request.
    fake.disconnect("warning");
    assert!(fake.wait_connections(3, WAIT).await);
    fake.user_posts(INC, "U0ALICE", "still here", None);
    assert_eq!(r.next().await.text, "still here");
    assert!(!r.run.is_finished());
    fake.assert_no_violations();
}

#[tokio::test]
async fn dropped_connection_reconnects() {
    let fake = FakeSlack::start(&[INC]).await;
    let mut r = connected(&fake).await;
    fake.drop_connections();
    assert!(fake.wait_connections(2, WAIT).await, "reconnected");
    fake.user_posts(INC, "U0ALICE", "back", None);
    assert_eq!(r.next().await.text, "back");
    fake.assert_no_violations();
}

#[tokio::test]
async fn link_disabled_stops_run_with_a_clear_error() {
    let fake = FakeSlack::start(&[INC]).await;
    let r = connected(&fake).await;
    fake.disconnect("link_disabled");
    let err = timeout(WAIT, r.run)
        .await
        .expect("run returned")
        .expect("join")
        .expect_err("fatal");
    let msg = err.to_string();
    assert!(
        msg.contains("slack-test") && msg.contains("link_disabled"),
        "{msg}"
    );
    assert_eq!(fake.connections().len(), 1, "no reconnect");
}

#[tokio::test]
async fn invalid_token_at_start_is_an_error_naming_slack() {
    let fake = FakeSlack::start(&[INC]).await;
    let mut cfg = config(&fake);
    cfg.bot_token = Some("xoxb-revoked".into());
    let r = start(cfg).await;
    let err = timeout(WAIT, r.run)
        .await
        .expect("run returned")
        .expect("join")
        .expect_err("fatal");
    let msg = err.to_string();
    assert!(
        msg.contains("Slack instance `slack-test`") && msg.contains("invalid_auth"),
        "{msg}"
    );
    assert!(!msg.contains("xoxb-revoked"), "no secrets in errors");
    assert!(fake.connections().is_empty());
}

#[tokio::test]
async fn malformed_frames_and_unknown_envelopes_are_acked_and_survived() {
    let fake = FakeSlack::start(&[INC]).await;
    let mut r = connected(&fake).await;
    fake.send_raw("{not json");
    fake.send_raw(r#"{"type":"something_new"}"#);
    fake.send_raw(r#"{"envelope_id":"e-unknown","type":"events_api","payload":"not an object","accepts_response_payload":false}"#);
    let env = fake.send_event(json!({"type": "message", "channel": INC, "ts": 12}));
    assert!(
        fake.wait_ack(&env, WAIT).await.is_some(),
        "malformed event acked"
    );
    let env = fake.send_interactive();
    assert!(
        fake.wait_ack(&env, WAIT).await.is_some(),
        "unknown envelope type acked"
    );
    let env = fake.send_truncated_envelope();
    assert!(
        fake.wait_ack(&env, WAIT).await.is_some(),
        "truncated JSON acked by its id"
    );
    fake.user_posts(INC, "U0ALICE", "still alive", None);
    assert_eq!(r.next().await.text, "still alive");
    assert!(!r.run.is_finished());
}

// ---------- Outbound ----------

#[tokio::test]
async fn relayed_text_cannot_mention_anyone() {
    let fake = FakeSlack::start(&[INC]).await;
    let r = connected(&fake).await;
    let mut m = outbound(
        Style::Mirror,
        "<!channel> <!here> <!everyone> <@U123> & <b>bold</b> @here",
    );
    m.author = Some("<mallory@irc>".into());
    r.adapter.send(&m).await.expect("sent");
    let mut page = outbound(Style::Reminder, "please look at INC-7");
    page.mentions = vec!["U0ONCALL".into(), "<!channel>".into()];
    r.adapter.send(&page).await.expect("sent");
    let msgs = fake.messages(INC);
    assert_eq!(
        msgs[0].text,
        "*&lt;mallory@irc&gt;* &lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;@U123&gt; &amp; &lt;b&gt;bold&lt;/b&gt; @here"
    );
    assert!(!msgs[0].text.contains('<') && !msgs[0].text.contains('>'));
    assert_eq!(msgs[1].text, "<@U0ONCALL> please look at INC-7");
    for c in fake.calls("chat.postMessage") {
        assert_eq!(
            c.args.get("link_names"),
            Some(&json!(false)),
            "link_names off"
        );
    }
    fake.assert_no_violations();
}

#[tokio::test]
async fn escalation_pages_go_to_the_person_directly() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0ONCALL", "oncall");
    let r = connected(&fake).await;
    let mut page = outbound(Style::Reminder, "you are paged for INC-7");
    page.channel = "U0ONCALL".into();
    page.incident = Some(7);
    r.adapter.send(&page).await.expect("sent");
    let dm = fake.messages("U0ONCALL");
    assert_eq!(dm.len(), 1);
    assert_eq!(dm[0].text, "you are paged for INC-7");
    assert!(fake.messages(INC).is_empty());
    fake.assert_no_violations();
}

#[tokio::test]
async fn threads_broadcasts_edits_deletes() {
    let fake = FakeSlack::start(&[INC]).await;
    let r = connected(&fake).await;
    let root = r
        .adapter
        .send(&outbound(Style::ThreadRoot, "INC-7 opened"))
        .await
        .expect("root");
    let thread = root.thread.clone().expect("thread");
    let mut reply = outbound(Style::Reply, "ack by alice");
    reply.thread = Some(thread.clone());
    let sent = r.adapter.send(&reply).await.expect("reply");
    assert_eq!(sent.thread.as_deref(), Some(thread.as_str()));
    let mut status = outbound(Style::StatusUpdate, "mitigated");
    status.thread = Some(thread.clone());
    r.adapter.send(&status).await.expect("status");
    let replies = fake.replies(INC, &thread);
    assert_eq!(replies.len(), 2);
    assert!(!replies[0].reply_broadcast && replies[1].reply_broadcast);
    let mut edit = outbound(Style::Mirror, "fixed typo");
    edit.author = Some("bob@irc".into());
    edit.thread = Some(thread.clone());
    edit.edit_of = Some(sent.remote_id.clone());
    let e = r.adapter.send(&edit).await.expect("edit");
    assert_eq!(e.remote_id, sent.remote_id);
    let mut del = outbound(Style::Mirror, "");
    del.delete_of = Some(replies[1].ts.clone());
    r.adapter.send(&del).await.expect("delete");
    let replies = fake.replies(INC, &thread);
    assert!(replies[0].edited && replies[0].text == "*bob@irc* fixed typo");
    assert!(replies[1].deleted);
    // Deleting again: already gone is fine.
    r.adapter.send(&del).await.expect("delete twice");
    // chat.update types `link_names` as a string; its default (no linking) is what we want.
    for c in fake.calls("chat.update") {
        assert_eq!(c.args.get("link_names"), None, "{:?}", c.args);
    }
    fake.assert_no_violations();
}

#[tokio::test]
async fn status_updates_are_not_broadcast_when_configured_off() {
    let fake = FakeSlack::start(&[INC]).await;
    let mut cfg = config(&fake);
    cfg.broadcast_status_updates = false;
    let r = start(cfg).await;
    let root = r
        .adapter
        .send(&outbound(Style::ThreadRoot, "INC-8"))
        .await
        .expect("root");
    let mut status = outbound(Style::StatusUpdate, "mitigated");
    status.thread = root.thread;
    r.adapter.send(&status).await.expect("status");
    assert!(
        fake.calls("chat.postMessage")
            .iter()
            .all(|c| !c.args.contains_key("reply_broadcast"))
    );
    fake.assert_no_violations();
}

#[tokio::test]
async fn rate_limited_send_waits_for_retry_after_then_succeeds() {
    let fake = FakeSlack::start(&[INC]).await;
    let r = connected(&fake).await;
    fake.rate_limit("chat.postMessage", 1, 1);
    let started = Instant::now();
    let sent = r
        .adapter
        .send(&outbound(Style::Announcement, "INC-7 opened"))
        .await
        .expect("sent after waiting");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    let calls = fake.calls("chat.postMessage");
    assert_eq!(calls.len(), 2, "one 429, one success: no busy loop");
    assert!(calls[1].at - calls[0].at >= Duration::from_secs(1));
    assert_eq!(fake.messages(INC)[0].ts, sent.remote_id);
    // A long Retry-After goes back to the outbox instead of blocking.
    fake.rate_limit("chat.postMessage", 120, 1);
    let err = r
        .adapter
        .send(&outbound(Style::Announcement, "x"))
        .await
        .expect_err("retry later");
    assert_eq!(
        err,
        SendError::Retry {
            after: Some(Duration::from_secs(120)),
            reason: "slack rate limit (429)".into()
        }
    );
    fake.assert_no_violations();
}

#[tokio::test]
async fn send_errors_are_classified() {
    let fake = FakeSlack::start(&[INC, "C0ARCHIVED", "C0NOTMEMBER"]).await;
    fake.set_channel("C0ARCHIVED", true, true);
    fake.set_channel("C0NOTMEMBER", false, false);
    let r = connected(&fake).await;
    for (channel, code) in [
        ("C0MISSING", "channel_not_found"),
        ("C0ARCHIVED", "is_archived"),
        ("C0NOTMEMBER", "not_in_channel"),
    ] {
        let mut m = outbound(Style::Announcement, "x");
        m.channel = channel.into();
        match r.adapter.send(&m).await {
            Err(SendError::Permanent(reason)) => assert!(reason.contains(code), "{reason}"),
            other => panic!("{channel}: {other:?}"),
        }
    }
    fake.fail_with_status("chat.postMessage", 503, 1);
    assert!(matches!(
        r.adapter.send(&outbound(Style::Announcement, "x")).await,
        Err(SendError::Retry { .. })
    ));
    let mut m = outbound(Style::Reply, "x");
    m.edit_of = Some("1700000000.000001".into());
    assert!(matches!(
        r.adapter.send(&m).await,
        Err(SendError::Permanent(_))
    ));
    fake.assert_no_violations();
}

#[tokio::test]
async fn long_text_is_split() {
    let fake = FakeSlack::start(&[INC]).await;
    let r = connected(&fake).await;
    let text = "line of log output\n".repeat(1500);
    let sent = r
        .adapter
        .send(&outbound(Style::ThreadRoot, &text))
        .await
        .expect("sent");
    let msgs = fake.messages(INC);
    assert!(msgs.len() >= 2);
    assert_eq!(msgs[0].ts, sent.remote_id);
    assert!(
        msgs[1..]
            .iter()
            .all(|m| m.thread_ts.as_deref() == Some(sent.remote_id.as_str()))
    );
    assert!(msgs.iter().all(|m| m.text.chars().count() <= 40_000));
    fake.assert_no_violations();
}

// ---------- Configuration ----------

#[test]
fn example_config_parses_and_missing_secrets_name_their_keys() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/flare.example.toml"
    ))
    .expect("example config");
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let cfg = flare::config::Config::from_str_with_env(
        &text,
        env(&[
            ("FLARE__SLACK__0__BOT_TOKEN", "xoxb-1"),
            ("FLARE__SLACK__0__APP_TOKEN", "xapp-1"),
            ("FLARE__ROCKETCHAT__0__TOKEN", "pat"),
        ]),
    )
    .expect("valid with tokens from the environment");
    let s = &cfg.slack[0];
    assert_eq!(
        (s.mode, s.api_base.as_str(), s.broadcast_status_updates),
        (SlackMode::Socket, "https://slack.com/api/", true)
    );
    assert_eq!(s.channel_roles()[0].channel, "C0123INCIDENTS");
    let err = flare::config::Config::from_str_with_env(
        &text.replace("mode = \"socket\"", "mode = \"http\""),
        env(&[]),
    )
    .expect_err("secrets missing");
    let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
    assert!(keys.contains(&"slack[0].bot_token".to_string()), "{keys:?}");
    assert!(
        keys.contains(&"slack[0].signing_secret".to_string()),
        "{keys:?}"
    );
    let err = flare::config::Config::from_str_with_env(
        "[[slack]]\nname = \"s\"\napi_base = \"slack.com\"\n[[slack.channels]]\nid = \"#ops\"\n",
        env(&[("FLARE__SLACK__0__BOT_TOKEN", "x")]),
    )
    .expect_err("bad values");
    let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
    for k in [
        "slack[0].api_base",
        "slack[0].app_token",
        "slack[0].channels[0].id",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} in {keys:?}");
    }
}

#[tokio::test]
async fn invalid_app_token_stops_socket_mode_naming_the_app_token() {
    let fake = FakeSlack::start(&[INC]).await;
    let mut cfg = config(&fake);
    cfg.app_token = Some("xapp-1-revoked".into());
    let r = start(cfg).await;
    let err = timeout(WAIT, r.run)
        .await
        .expect("run returned")
        .expect("join")
        .expect_err("fatal");
    let msg = err.to_string();
    assert!(
        msg.contains("slack-test") && msg.contains("app_token") && msg.contains("invalid_auth"),
        "{msg}"
    );
}

// ---------- End to end: Flare (engine, store, outbox) with the Slack adapter ----------

fn app_toml(fake: &FakeSlack) -> String {
    format!(
        r#"
[[people]]
name = "alice"
slack = "U0ALICE"
[[people]]
name = "bob"
slack = "U0BOB"

[[slack]]
name = "slack"
api_base = "{}"
bot_token = "{BOT_TOKEN}"
app_token = "{APP_TOKEN}"
[[slack.channels]]
id = "{INC}"
incident = true
announce = true
"#,
        fake.api_base
    )
}

#[tokio::test]
async fn slash_command_opens_an_incident_thread_and_a_thread_reply_acknowledges_at_its_ts() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0ALICE", "alice");
    fake.add_user("U0BOB", "bob");
    let flare = support::start(&app_toml(&fake), Arc::new(flare::clock::SystemClock), false).await;
    assert!(
        fake.wait_connections(1, WAIT).await,
        "Slack adapter connected"
    );

    let env = fake.send_slash(INC, "U0ALICE", "open Checkout API returns 500 sev1");
    let ack = fake.wait_ack(&env, WAIT).await.expect("acked");
    assert!(ack.latency < Duration::from_secs(3), "{:?}", ack.latency);
    assert_eq!(
        ack.payload.expect("ephemeral")["response_type"],
        "ephemeral"
    );

    // The incident's parent message in the incident channel.
    let root = fake
        .wait_for_message(INC, WAIT, |m| m.is_parent() && m.text.contains("INC-1"))
        .await
        .expect("thread root posted");
    assert!(
        root.text.contains("Checkout API returns 500"),
        "{}",
        root.text
    );

    // Flare answers the command in the new thread; from then on it knows the thread. (A reply
    // microseconds after the root was posted can beat the outbox recording the root.)
    fake.wait_for_message(INC, WAIT, |m| {
        m.thread_ts.as_deref() == Some(root.ts.as_str()) && m.ts != root.ts && m.user == BOT_USER
    })
    .await
    .expect("Flare replied in the thread");

    // Bob answers in the thread: that acknowledges, at the message's own ts.
    let (bob_ts, _) = fake.user_posts(INC, "U0BOB", "on it, failing over the DB", Some(&root.ts));
    let ack_note = fake
        .wait_for_message(INC, WAIT, |m| {
            m.thread_ts.as_deref() == Some(root.ts.as_str())
                && m.user == BOT_USER
                && m.text.contains("acknowledged by bob")
        })
        .await;
    let replies = fake.replies(INC, &root.ts);
    assert!(ack_note.is_some(), "thread replies: {replies:#?}");
    let inc = flare
        .running
        .store
        .begin()
        .await
        .expect("tx")
        .incident(1)
        .await
        .expect("read")
        .expect("incident 1");
    assert_eq!(inc.acknowledged_by.as_deref(), Some("bob"));
    let acked_at = inc.acknowledged_at.expect("acknowledged");
    assert_eq!(acked_at, ts_time(&bob_ts), "ack time is bob's message ts");
    let replies = fake.replies(INC, &root.ts);
    assert!(
        replies
            .iter()
            .any(|m| m.user == BOT_USER && m.text.contains("Opened INC-1")),
        "{replies:#?}"
    );
    flare.running.shutdown(Duration::from_secs(5)).await;
    fake.assert_no_violations();
}

#[tokio::test]
async fn console_text_mirrored_into_the_slack_thread_cannot_ping_anyone() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.add_user("U0ALICE", "alice");
    let toml = format!("[console]\nuser = \"bob\"\n{}", app_toml(&fake));
    let mut flare = support::start(&toml, Arc::new(flare::clock::SystemClock), true).await;
    assert!(
        fake.wait_connections(1, WAIT).await,
        "Slack adapter connected"
    );
    fake.send_slash(INC, "U0ALICE", "open Search is slow");
    let root = fake
        .wait_for_message(INC, WAIT, |m| m.is_parent() && m.text.contains("INC-1"))
        .await
        .expect("thread root posted");
    fake.wait_for_message(INC, WAIT, |m| {
        m.thread_ts.as_deref() == Some(root.ts.as_str()) && m.ts != root.ts
    })
    .await
    .expect("Flare replied in the thread");
    flare
        .type_lines(&["/thread INC-1", "<!channel> <@U0ALICE> look & see"])
        .await;
    let mirrored = fake
        .wait_for_message(INC, WAIT, |m| {
            m.thread_ts.as_deref() == Some(root.ts.as_str()) && m.text.contains("look &amp; see")
        })
        .await
        .unwrap_or_else(|| panic!("mirrored into the thread: {:#?}", fake.messages(INC)));
    assert!(
        mirrored.text.contains("&lt;!channel&gt; &lt;@U0ALICE&gt;"),
        "{}",
        mirrored.text
    );
    assert!(
        mirrored.text.starts_with("*&lt;bob@console&gt;* "),
        "author shown, bold, escaped: {}",
        mirrored.text
    );
    assert!(!mirrored.text.contains("<!") && !mirrored.text.contains("<@U0ALICE>"));
    flare.running.shutdown(Duration::from_secs(5)).await;
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_slack_instance_with_a_bad_token_stops_alone() {
    let fake = FakeSlack::start(&[INC]).await;
    let toml = format!(
        "[console]\nuser = \"alice\"\n{}",
        app_toml(&fake).replace(BOT_TOKEN, "xoxb-revoked")
    );
    let mut flare = support::start(&toml, Arc::new(flare::clock::SystemClock), true).await;
    flare.type_lines(&["!inc open Disk full on db-2"]).await;
    flare.expect_console("INC-1", 1).await;
    // On a busy machine the console can answer before the Slack instance first calls.
    let asked = std::time::Instant::now();
    while fake.calls("auth.test").is_empty() && asked.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fake.connections().is_empty(),
        "the Slack instance did not connect"
    );
    assert_eq!(
        fake.calls("auth.test").len(),
        1,
        "and did not retry a bad token"
    );
    flare.running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn transient_failures_at_start_are_retried_with_backoff_not_in_a_loop() {
    let fake = FakeSlack::start(&[INC]).await;
    fake.fail_with_status("auth.test", 503, 2);
    fake.rate_limit("apps.connections.open", 1, 1);
    let _r = start(config(&fake)).await;
    assert!(fake.wait_connections(1, WAIT).await, "connected in the end");
    let auth = fake.calls("auth.test");
    assert_eq!(auth.len(), 3);
    assert!(
        auth[1].at - auth[0].at >= Duration::from_millis(100),
        "backed off"
    );
    assert!(
        auth[2].at - auth[1].at >= Duration::from_millis(100),
        "backed off"
    );
    let open = fake.calls("apps.connections.open");
    assert_eq!(open.len(), 2);
    assert!(
        open[1].at - open[0].at >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    fake.assert_no_violations();
}

// ---------- The fake itself ----------

/// A bare Socket Mode client: opens a connection and reads frames.
async fn raw_socket(
    fake: &FakeSlack,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{}apps.connections.open", fake.api_base))
        .bearer_auth(APP_TOKEN)
        .send()
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    let url = v["url"].as_str().expect("url").to_string();
    tokio_tungstenite::connect_async(url).await.expect("ws").0
}

/// The envelopes the next frames carry (hello skipped), until `quiet` passes without one.
async fn envelopes<S>(ws: &mut S, quiet: Duration) -> Vec<serde_json::Value>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Ok(Some(Ok(m))) = timeout(quiet, ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(&t).expect("json frame");
            if v.get("envelope_id").is_some() {
                out.push(v);
            }
        }
    }
    out
}

#[tokio::test]
async fn the_fake_redelivers_unacked_envelopes_on_a_new_connection() {
    use futures_util::SinkExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeSlack::start(&[INC]).await;
    fake.set_redeliver_after(Duration::from_secs(60));
    // Queued while no app is connected: a message, a slash command, another message.
    let (_, e1) = fake.user_posts(INC, "U0ALICE", "one", None);
    let e2 = fake.send_slash(INC, "U0BOB", "open db down");
    let (_, e3) = fake.user_posts(INC, "U0ALICE", "three", None);
    let mut ws = raw_socket(&fake).await;
    let got = envelopes(&mut ws, Duration::from_millis(300)).await;
    let ids: Vec<&str> = got
        .iter()
        .filter_map(|v| v["envelope_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [e1.as_str(), e2.as_str(), e3.as_str()],
        "first delivery, in order"
    );
    assert!(
        got.iter()
            .all(|v| v["retry_attempt"].as_u64().unwrap_or(0) == 0),
        "{got:?}"
    );
    // Only the first is acked before the connection goes away.
    let ack = json!({"envelope_id": e1}).to_string();
    ws.send(tokio_tungstenite::tungstenite::Message::Text(ack.into()))
        .await
        .expect("ack");
    assert!(fake.wait_ack(&e1, WAIT).await.is_some());
    drop(ws);
    assert!(fake.wait_for_closed(1, WAIT).await.is_some());

    let mut ws = raw_socket(&fake).await;
    let got = envelopes(&mut ws, Duration::from_millis(300)).await;
    let ids: Vec<&str> = got
        .iter()
        .filter_map(|v| v["envelope_id"].as_str())
        .collect();
    assert_eq!(ids, [e2.as_str(), e3.as_str()], "the unacked ones, again");
    for v in &got {
        assert_eq!(v["retry_attempt"], 1, "{v}");
        assert_eq!(v["retry_reason"], "timeout", "{v}");
    }
    for e in [&e2, &e3] {
        let ack = json!({"envelope_id": e}).to_string();
        ws.send(tokio_tungstenite::tungstenite::Message::Text(ack.into()))
            .await
            .expect("ack");
        assert!(fake.wait_ack(e, WAIT).await.is_some());
    }
    drop(ws);
    assert!(fake.wait_for_closed(2, WAIT).await.is_some());
    // Everything acked: a third connection gets nothing.
    let mut ws = raw_socket(&fake).await;
    assert!(
        envelopes(&mut ws, Duration::from_millis(300))
            .await
            .is_empty()
    );
    fake.assert_no_violations();
}
