//! The IRC adapter against real ngircd and inspircd servers on loopback, plus a tiny fake
//! server for lines no real server sends.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use flare::chat::irc::{IrcAdapter, IrcChannelConfig, IrcConfig, ThreadMode};
use flare::chat::{ChatAdapter, Inbound, Outbound, SendError, Sent, Style};
use support::irc::client::{Line, TestClient, WAIT};
use support::irc::server::{Kind, Options, TestServer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const NICK: &str = "flarebot";

fn chan(id: &str) -> IrcChannelConfig {
    IrcChannelConfig {
        id: id.into(),
        ..Default::default()
    }
}

fn config(port: u16, channels: Vec<IrcChannelConfig>) -> IrcConfig {
    IrcConfig {
        name: "irc-test".into(),
        server: "127.0.0.1".into(),
        port: Some(port),
        nick: NICK.into(),
        channels,
        lines_per_second: 100.0,
        burst: 20,
        reconnect_min: "100ms".into(),
        reconnect_max: "500ms".into(),
        ..Default::default()
    }
}

struct Bot {
    adapter: Arc<IrcAdapter>,
    rx: mpsc::Receiver<Inbound>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Bot {
    async fn start(cfg: IrcConfig) -> Bot {
        let channels: Vec<String> = cfg.channels.iter().map(|c| c.id.clone()).collect();
        let adapter = Arc::new(IrcAdapter::new(cfg).expect("valid config"));
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(adapter.clone().run(tx));
        let bot = Bot { adapter, rx, task };
        bot.wait_joined(&channels).await;
        bot
    }

    async fn wait_joined(&self, channels: &[String]) {
        let ok = tokio::time::timeout(WAIT, async {
            while !channels.iter().all(|c| self.adapter.is_joined(c)) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(ok.is_ok(), "bot did not join {channels:?}");
    }

    async fn next(&mut self, pred: impl Fn(&Inbound) -> bool) -> Inbound {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(i)) if pred(&i) => return i,
                Ok(Some(_)) => {}
                _ => panic!("expected inbound event not received"),
            }
        }
    }

    /// Every inbound event within `d`.
    async fn drain(&mut self, d: Duration) -> Vec<Inbound> {
        let deadline = tokio::time::Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(Some(i)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            got.push(i);
        }
        got
    }

    async fn send(&self, o: &Outbound) -> Result<Sent, SendError> {
        tokio::time::timeout(WAIT * 2, self.adapter.send(o))
            .await
            .expect("send hung")
    }
}

fn out(channel: &str, style: Style, text: &str) -> Outbound {
    Outbound {
        delivery_id: 1,
        channel: channel.into(),
        thread: None,
        incident: None,
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

fn caps(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Inspircd => &["message-tags", "server-time"],
        Kind::Ngircd => &[],
    }
}

/// A person in `#ops` before the bot arrives (so they hold ops there).
async fn person(server: &TestServer, nick: &str, channels: &[&str]) -> TestClient {
    let mut c = TestClient::connect(server.port, nick, caps(server.kind)).await;
    for ch in channels {
        c.join(ch).await;
    }
    c
}

fn text_of(l: &Line) -> String {
    l.param(1).unwrap_or_default().to_string()
}

// ---------------------------------------------------------------------------------------------

async fn inbound_fields(kind: Kind) {
    let server = TestServer::start(kind);
    let alice = person(&server, "alice", &["#ops"]).await;
    let mut watcher = person(&server, "watcher", &["#ops"]).await;
    let mut cfg = config(server.port, vec![chan("#ops")]);
    cfg.ignore_nicks = vec!["otherbot".into()];
    let mut bot = Bot::start(cfg).await;
    let otherbot = person(&server, "OtherBot", &["#ops"]).await;

    let before = chrono::Utc::now();
    otherbot.say("#ops", "beep from another bot");
    alice.raw("NOTICE #ops :a notice is never input");
    alice.say("#ops", "!incident open db is down");
    let i = bot.next(|i| i.author.id == "alice").await;
    assert_eq!(i.text, "!incident open db is down");
    assert_eq!(i.channel, "#ops");
    assert_eq!(i.platform, "irc-test");
    assert_eq!(i.thread, None);
    assert_eq!(i.incident_hint, None);
    let seen = watcher.privmsgs("#ops", "alice", 1).await.remove(0);
    let tags = seen.msg.clone().expect("parsed");
    match kind {
        Kind::Inspircd => {
            assert_eq!(
                Some(i.message_id.as_str()),
                tags.tag("msgid"),
                "msgid is kept"
            );
            let t = chrono::DateTime::parse_from_rfc3339(tags.tag("time").expect("server-time"))
                .expect("time");
            assert_eq!(i.sent_at, t, "server-time is used");
        }
        Kind::Ngircd => {
            assert!(tags.tags.is_empty());
            assert!(!i.message_id.is_empty());
            let after = chrono::Utc::now();
            assert!(
                i.sent_at >= before && i.sent_at <= after,
                "receive time is used"
            );
        }
    }

    // Incident prefix: hint and stripped text; ids stay unique without msgid.
    alice.say("#ops", "INC-7: on it");
    let j = bot.next(|i| i.author.id == "alice").await;
    assert_eq!((j.incident_hint, j.text.as_str()), (Some(7), "on it"));
    assert_ne!(j.message_id, i.message_id);
    alice.say("#ops", "[INC-8] \x02bold\x02 update");
    let k = bot.next(|i| i.author.id == "alice").await;
    assert_eq!((k.incident_hint, k.text.as_str()), (Some(8), "bold update"));

    if kind == Kind::Inspircd {
        alice.raw("@+draft/reply=abc123 PRIVMSG #ops :replying in thread");
        let r = bot.next(|i| i.author.id == "alice").await;
        assert_eq!(r.thread.as_deref(), Some("abc123"));
        alice.raw("@+reply=def456 PRIVMSG #ops :ratified tag");
        let r = bot.next(|i| i.author.id == "alice").await;
        assert_eq!(r.thread.as_deref(), Some("def456"));
    }

    // Our own lines are never input (echo-message on inspircd, own nick on ngircd).
    bot.send(&out("#ops", Style::Reply, "my own answer"))
        .await
        .expect("send");
    watcher.privmsgs("#ops", NICK, 1).await;
    alice.say("#ops", "last");
    let rest = bot.drain(Duration::from_millis(500)).await;
    let authors: Vec<&str> = rest.iter().map(|i| i.author.id.as_str()).collect();
    assert_eq!(authors, vec!["alice"], "{rest:#?}");
    assert_eq!(rest[0].text, "last");
}

#[tokio::test]
async fn inbound_fields_inspircd() {
    inbound_fields(Kind::Inspircd).await;
}

#[tokio::test]
async fn inbound_fields_ngircd() {
    inbound_fields(Kind::Ngircd).await;
}

// ---------------------------------------------------------------------------------------------

async fn long_message_arrives_whole(kind: Kind) {
    let server = TestServer::start(kind);
    // No caps: the raw line the person gets is exactly what the server relays.
    let mut watcher = TestClient::connect(server.port, "watcher", &[]).await;
    watcher.join("#ops").await;
    let bot = Bot::start(config(server.port, vec![chan("#ops")])).await;
    let unit = "Incident 🚒 ログ 데이터베이스 überlastet; ";
    let mut text = String::new();
    while text.len() < 2000 {
        text.push_str(unit);
    }
    text.push_str("末尾🔥");
    assert!(text.len() > 2000);
    bot.send(&out("#ops", Style::Reply, &text))
        .await
        .expect("send");
    let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let want = strip(&text);
    let mut got = String::new();
    let mut lines = 0;
    while strip(&got).len() < want.len() {
        let l = watcher.privmsgs("#ops", NICK, 1).await.remove(0);
        assert!(l.valid_utf8, "line is not valid UTF-8: {:?}", l.raw);
        assert!(l.raw.len() + 2 <= 512, "line of {} bytes", l.raw.len() + 2);
        got.push_str(&text_of(&l));
        lines += 1;
    }
    assert_eq!(strip(&got), want, "text arrived whole and in order");
    assert!(lines >= 4, "split into {lines} lines");
    // Lines were filled close to the real budget (the bot learned its own prefix).
    let longest = watcher
        .log
        .iter()
        .filter(|l| l.is("PRIVMSG"))
        .map(|l| l.raw.len())
        .max()
        .unwrap_or(0);
    assert!(longest > 400, "longest line only {longest} bytes");
}

#[tokio::test]
async fn long_message_inspircd() {
    long_message_arrives_whole(Kind::Inspircd).await;
}

#[tokio::test]
async fn long_message_ngircd() {
    long_message_arrives_whole(Kind::Ngircd).await;
}

// ---------------------------------------------------------------------------------------------

async fn injection_produces_no_command(kind: Kind) {
    let server = TestServer::start(kind);
    let mut watcher = TestClient::connect(server.port, "watcher", &[]).await;
    watcher.join("#ops").await;
    watcher.join("#x").await;
    let bot = Bot::start(config(server.port, vec![chan("#ops")])).await;
    watcher.collect_for(Duration::from_millis(200)).await;
    let start = watcher.log.len();
    for t in [
        "hello\r\nJOIN #x",
        "bye\nQUIT :gone",
        "nul\0PART #ops",
        "\r\nJOIN #x\r\n",
        "cr only\rNICK hijacked",
    ] {
        bot.send(&out("#ops", Style::Reply, t)).await.expect("send");
    }
    bot.send(&out("#ops", Style::Reply, "done"))
        .await
        .expect("send");
    watcher
        .expect(|l| l.is("PRIVMSG") && text_of(l) == "done")
        .await;
    let from_bot: Vec<&Line> = watcher.log[start..]
        .iter()
        .filter(|l| {
            l.sender_nick()
                .is_some_and(|n| n.starts_with(NICK) || n == "hijacked")
        })
        .collect();
    for l in &from_bot {
        assert!(
            l.is("PRIVMSG") && l.param(0) == Some("#ops"),
            "unexpected: {}",
            l.raw
        );
    }
    let texts: Vec<String> = from_bot.iter().map(|l| text_of(l)).collect();
    assert_eq!(
        texts,
        vec![
            "hello",
            "JOIN #x",
            "bye",
            "QUIT :gone",
            "nulPART #ops",
            "JOIN #x",
            "cr only",
            "NICK hijacked",
            "done"
        ]
    );
    assert!(bot.adapter.is_joined("#ops"));
    assert!(!bot.adapter.is_joined("#x"));
    assert_eq!(bot.adapter.current_nick(), NICK);
}

#[tokio::test]
async fn injection_inspircd() {
    injection_produces_no_command(Kind::Inspircd).await;
}

#[tokio::test]
async fn injection_ngircd() {
    injection_produces_no_command(Kind::Ngircd).await;
}

// ---------------------------------------------------------------------------------------------

async fn nick_collision_and_kick(kind: Kind) {
    let server = TestServer::start(kind);
    // Someone already has our nick, and holds ops in #ops.
    let mut squatter = TestClient::connect(server.port, NICK, &[]).await;
    squatter.join("#ops").await;
    let bot = Bot::start(config(server.port, vec![chan("#ops")])).await;
    let nick = bot.adapter.current_nick();
    assert_eq!(nick, format!("{NICK}_"));
    squatter
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some(&nick))
        .await;
    squatter.raw(&format!("KICK #ops {nick} :out"));
    squatter
        .expect(|l| l.is("KICK") && l.param(1) == Some(&nick))
        .await;
    squatter
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some(&nick))
        .await;
    bot.wait_joined(&["#ops".into()]).await;
    bot.send(&out("#ops", Style::Reply, "back after kick"))
        .await
        .expect("send after rejoin");
    let l = squatter.privmsgs("#ops", &nick, 1).await.remove(0);
    assert_eq!(text_of(&l), "back after kick");
}

#[tokio::test]
async fn nick_collision_and_kick_inspircd() {
    nick_collision_and_kick(Kind::Inspircd).await;
}

#[tokio::test]
async fn nick_collision_and_kick_ngircd() {
    nick_collision_and_kick(Kind::Ngircd).await;
}

// ---------------------------------------------------------------------------------------------

/// Sends like the outbox does: retry temporary failures, in order.
async fn deliver(bot: &Bot, o: &Outbound) -> Sent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match bot.send(o).await {
            Ok(s) => return s,
            Err(SendError::Retry { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("delivery of {:?} failed: {e}", o.text),
        }
    }
}

async fn server_restart(kind: Kind) {
    let mut server = TestServer::start(kind);
    let bot = Bot::start(config(server.port, vec![chan("#ops")])).await;
    bot.send(&out("#ops", Style::Reply, "before"))
        .await
        .expect("send");

    server.kill();
    let gone = tokio::time::timeout(WAIT, async {
        while bot.adapter.is_connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "adapter did not notice the dead server");
    let queued: Vec<Outbound> = (1..=4)
        .map(|i| out("#ops", Style::Reply, &format!("queued {i}")))
        .collect();
    match bot.send(&queued[0]).await {
        Err(SendError::Retry { reason, .. }) => assert!(reason.contains("irc-test"), "{reason}"),
        other => panic!("send during the outage: {other:?}"),
    }

    server.restart();
    let mut watcher = TestClient::connect(server.port, "watcher", &[]).await;
    watcher.join("#ops").await;
    for o in &queued {
        deliver(&bot, o).await;
    }
    let got = watcher.privmsgs("#ops", NICK, 4).await;
    let texts: Vec<String> = got.iter().map(text_of).collect();
    assert_eq!(texts, vec!["queued 1", "queued 2", "queued 3", "queued 4"]);
    let extra = watcher.collect_for(Duration::from_millis(300)).await;
    assert!(
        !extra.iter().any(|l| l.is("PRIVMSG")),
        "doubled: {extra:#?}"
    );
    assert!(bot.adapter.is_joined("#ops"));
}

#[tokio::test]
async fn server_restart_inspircd() {
    server_restart(Kind::Inspircd).await;
}

#[tokio::test]
async fn server_restart_ngircd() {
    server_restart(Kind::Ngircd).await;
}

// ---------------------------------------------------------------------------------------------

async fn prefix_threads(kind: Kind) {
    let server = TestServer::start(kind);
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let mut bot = Bot::start(config(server.port, vec![chan("#ops")])).await;

    let mut root = out("#ops", Style::ThreadRoot, "Incident 7 opened: db down");
    root.incident = Some(7);
    let sent = bot.send(&root).await.expect("root");
    let line = alice.privmsgs("#ops", NICK, 1).await.remove(0);
    assert_eq!(text_of(&line), "[INC-7] Incident 7 opened: db down");
    let thread = sent.thread.clone().expect("thread id");
    match kind {
        Kind::Inspircd => {
            let msgid = line
                .msg
                .as_ref()
                .and_then(|m| m.tag("msgid"))
                .expect("msgid");
            assert_eq!(thread, msgid, "root id is the echoed msgid");
            assert_eq!(sent.remote_id, msgid);
        }
        Kind::Ngircd => assert_eq!(thread, "INC-7"),
    }

    let mut update = out("#ops", Style::StatusUpdate, "failover started");
    update.thread = Some(thread.clone());
    update.incident = Some(7);
    bot.send(&update).await.expect("update");
    let line = alice.privmsgs("#ops", NICK, 1).await.remove(0);
    assert_eq!(text_of(&line), "[INC-7] failover started");
    if kind == Kind::Inspircd {
        let m = line.msg.as_ref().expect("parsed");
        assert_eq!(m.tag("+draft/reply"), Some(thread.as_str()), "{}", line.raw);
        assert_eq!(m.tag("+reply"), Some(thread.as_str()), "{}", line.raw);
    }

    alice.say("#ops", "INC-7: I am on it");
    let i = bot.next(|i| i.author.id == "alice").await;
    assert_eq!(i.incident_hint, Some(7));
    assert_eq!(i.text, "I am on it");
    assert_eq!(i.thread.as_deref(), Some(thread.as_str()));
    if kind == Kind::Inspircd {
        alice.raw(&format!(
            "@+draft/reply={thread} PRIVMSG #ops :via reply tag"
        ));
        let i = bot.next(|i| i.author.id == "alice").await;
        assert_eq!(i.thread.as_deref(), Some(thread.as_str()));
        assert_eq!(i.text, "via reply tag");
    }
    // Chatter is still passed on, unmarked; the engine ignores it.
    alice.say("#ops", "lunch?");
    let i = bot.next(|i| i.author.id == "alice").await;
    assert_eq!((i.thread, i.incident_hint), (None, None));
}

#[tokio::test]
async fn prefix_threads_inspircd() {
    prefix_threads(Kind::Inspircd).await;
}

#[tokio::test]
async fn prefix_threads_ngircd() {
    prefix_threads(Kind::Ngircd).await;
}

async fn channel_threads(kind: Kind) {
    let server = TestServer::start(kind);
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let mut ops = chan("#ops");
    ops.thread = ThreadMode::Channel;
    let mut bot = Bot::start(config(server.port, vec![ops])).await;

    let mut root = out("#ops", Style::ThreadRoot, "Incident 3 opened: api 500s");
    root.incident = Some(3);
    let sent = bot.send(&root).await.expect("root");
    assert_eq!(sent.thread.as_deref(), Some("#flare-inc-3"));
    assert!(bot.adapter.is_joined("#flare-inc-3"));
    let line = alice.privmsgs("#ops", NICK, 1).await.remove(0);
    assert!(text_of(&line).contains("Incident 3 opened: api 500s"));
    assert!(text_of(&line).contains("#flare-inc-3"));

    alice.join("#flare-inc-3").await;
    alice.say("#flare-inc-3", "looking at the api");
    let i = bot.next(|i| i.author.id == "alice").await;
    assert_eq!(i.channel, "#ops");
    assert_eq!(i.thread.as_deref(), Some("#flare-inc-3"));
    assert_eq!(i.incident_hint, Some(3));
    assert_eq!(i.text, "looking at the api");

    let mut reply = out("#ops", Style::Reply, "Acknowledged by alice");
    reply.thread = sent.thread.clone();
    reply.incident = Some(3);
    bot.send(&reply).await.expect("reply");
    let line = alice.privmsgs("#flare-inc-3", NICK, 1).await.remove(0);
    assert_eq!(
        text_of(&line),
        "Acknowledged by a\u{200B}lice",
        "no prefix in its own channel, and the nick in text cannot highlight"
    );
}

#[tokio::test]
async fn channel_threads_inspircd() {
    channel_threads(Kind::Inspircd).await;
}

#[tokio::test]
async fn channel_threads_ngircd() {
    channel_threads(Kind::Ngircd).await;
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rendering_notice_mirror_mentions_and_unjoinable_channel() {
    let server = TestServer::start(Kind::Inspircd);
    let mut alice = person(&server, "alice", &["#ops", "#locked"]).await;
    alice.raw("MODE #locked +k sekrit");
    alice
        .expect(|l| l.is("MODE") && l.param(0) == Some("#locked"))
        .await;
    let bot = Bot::start(config(server.port, vec![chan("#ops")])).await;
    let _bob = person(&server, "bob", &["#ops"]).await;
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("bob"))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    bot.send(&out("#ops", Style::Reminder, "INC-2 still unacknowledged"))
        .await
        .expect("reminder");
    let l = alice
        .expect(|l| l.sender_nick() == Some(NICK) && (l.is("NOTICE") || l.is("PRIVMSG")))
        .await;
    assert!(l.is("NOTICE"), "reminder goes out as NOTICE: {}", l.raw);

    let mut m = out("#ops", Style::Mirror, "bob can you look? alice too");
    m.author = Some("<bob@slack>".into());
    bot.send(&m).await.expect("mirror");
    let l = alice.privmsgs("#ops", NICK, 1).await.remove(0);
    assert_eq!(
        text_of(&l),
        "<b\u{200B}ob@slack> b\u{200B}ob can you look? a\u{200B}lice too",
        "mirrored names cannot highlight"
    );

    let mut p = out("#ops", Style::Reminder, "you are on call for INC-2");
    p.mentions = vec!["bob".into()];
    bot.send(&p).await.expect("ping");
    let l = alice
        .expect(|l| l.is("NOTICE") && l.sender_nick() == Some(NICK))
        .await;
    assert_eq!(text_of(&l), "bob: you are on call for INC-2");

    let mut d = out("#ops", Style::Mirror, "something secret");
    d.author = Some("<bob@slack>".into());
    d.delete_of = Some("remote-1".into());
    bot.send(&d).await.expect("delete");
    let l = alice.privmsgs("#ops", NICK, 1).await.remove(0);
    assert_eq!(text_of(&l), "<b\u{200B}ob@slack> (message deleted)");
    let mut e = out("#ops", Style::Mirror, "fixed typo");
    e.author = Some("<bob@slack>".into());
    e.edit_of = Some("remote-2".into());
    bot.send(&e).await.expect("edit");
    let l = alice.privmsgs("#ops", NICK, 1).await.remove(0);
    assert_eq!(text_of(&l), "<b\u{200B}ob@slack> (edited) fixed typo");

    match bot.send(&out("#locked", Style::Reply, "hi")).await {
        Err(SendError::Permanent(why)) => assert!(why.contains("#locked"), "{why}"),
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    match bot.send(&out("not a channel", Style::Reply, "hi")).await {
        Err(SendError::Permanent(_)) => {}
        other => panic!("expected a permanent failure, got {other:?}"),
    }

    // An escalation page goes to the person directly (a NOTICE to the nick, no JOIN).
    bot.send(&out("alice", Style::Reminder, "you are paged for INC-2"))
        .await
        .expect("direct message");
    let l = alice
        .expect(|l| l.is("NOTICE") && l.sender_nick() == Some(NICK) && l.param(0) == Some("alice"))
        .await;
    assert!(
        text_of(&l).ends_with("you are paged for INC-2"),
        "{}",
        l.raw
    );
}

#[tokio::test]
async fn a_batch_goes_out_in_order_and_stops_at_the_first_failure() {
    let server = TestServer::start(Kind::Inspircd);
    let mut alice = person(&server, "alice", &["#ops", "#ops2", "#locked"]).await;
    alice.raw("MODE #locked +k sekrit");
    alice
        .expect(|l| l.is("MODE") && l.param(0) == Some("#locked"))
        .await;
    let bot = Bot::start(config(server.port, vec![chan("#ops"), chan("#ops2")])).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let batch: Vec<Outbound> = (0..40)
        .map(|i| {
            let ch = if i % 2 == 0 { "#ops" } else { "#ops2" };
            out(ch, Style::Reply, &format!("line {i}"))
        })
        .chain([
            out("#locked", Style::Reply, "not allowed in"),
            out("#ops", Style::Reply, "never tried"),
        ])
        .collect();
    let results = tokio::time::timeout(WAIT * 2, bot.adapter.send_many(&batch))
        .await
        .expect("send_many hung");
    assert_eq!(results.len(), 41, "stops at the failure: {results:?}");
    assert!(results[..40].iter().all(Result::is_ok), "{results:?}");
    let ids: HashSet<&str> = results[..40]
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|s| s.remote_id.as_str())
        .collect();
    assert_eq!(ids.len(), 40, "every copy has its own id");
    match &results[40] {
        Err(SendError::Permanent(why)) => assert!(why.contains("#locked"), "{why}"),
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    let mut got = Vec::new();
    while got.len() < 40 {
        let l = alice
            .expect(|l| l.is("PRIVMSG") && l.sender_nick() == Some(NICK))
            .await;
        got.push(format!(
            "{} {}",
            l.param(0).unwrap_or_default(),
            text_of(&l)
        ));
    }
    let want: Vec<String> = (0..40)
        .map(|i| format!("{} line {i}", if i % 2 == 0 { "#ops" } else { "#ops2" }))
        .collect();
    assert_eq!(got, want, "in the order given");
    let late = alice
        .expect_within(Duration::from_millis(300), |l| {
            l.is("PRIVMSG") && text_of(l) == "never tried"
        })
        .await;
    assert!(late.is_none(), "the message after the failure was not sent");
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn wrong_server_password_stops_the_network_with_its_name() {
    let server = TestServer::start_with(
        Kind::Ngircd,
        Options {
            password: Some("right-one".into()),
            ..Default::default()
        },
    );
    let mut cfg = config(server.port, vec![chan("#ops")]);
    cfg.name = "irc-backup".into();
    cfg.password = Some("wrong-one".into());
    let adapter = Arc::new(IrcAdapter::new(cfg).expect("config"));
    let (tx, _rx) = mpsc::channel(16);
    let res = tokio::time::timeout(WAIT, adapter.run(tx))
        .await
        .expect("run should stop, not retry forever");
    let err = res.expect_err("wrong password is fatal").to_string();
    assert!(err.contains("irc-backup"), "{err}");
    assert!(!err.contains("wrong-one"), "secret leaked: {err}");

    // The right password works.
    let mut cfg = config(server.port, vec![chan("#ops")]);
    cfg.password = Some("right-one".into());
    let bot = Bot::start(cfg).await;
    assert!(bot.adapter.is_connected());
}

// ---------------------------------------------------------------------------------------------

/// A fake server that registers the bot and then sends lines no real server would.
#[tokio::test]
async fn malformed_and_overlong_server_lines_are_skipped() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let fake = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.expect("accept");
        let (rd, mut wr) = sock.into_split();
        let mut rd = BufReader::new(rd).lines();
        while let Ok(Some(l)) = rd.next_line().await {
            if l.starts_with("USER") {
                break;
            }
        }
        let mut script: Vec<Vec<u8>> = vec![
            b":fake 001 flarebot :Welcome flarebot!flare@127.0.0.1\r\n".to_vec(),
            b":flarebot!flare@127.0.0.1 JOIN #ops\r\n".to_vec(),
            b"@@@ :::\r\n".to_vec(),
            b":x PRIV\x01MSG #ops :bad command\r\n".to_vec(),
            b"@time=nonsense;msgid :a!a@h PRIVMSG #ops :bad time tag is fine\r\n".to_vec(),
            b":a!a@h PRIVMSG #ops :\xff\xfe invalid utf8\r\n".to_vec(),
            b"\r\n".to_vec(),
        ];
        let long = format!(":a!a@h PRIVMSG #ops :{}\r\n", "x".repeat(600));
        script.push(long.into_bytes());
        let huge = format!(":a!a@h PRIVMSG #ops :{}\r\n", "y".repeat(20_000));
        script.push(huge.into_bytes());
        script.push(b":a!a@h PRIVMSG #ops :still alive\r\n".to_vec());
        for l in script {
            wr.write_all(&l).await.expect("write");
        }
        // Keep the link open while the test looks.
        let mut rest = Vec::new();
        while let Ok(Some(l)) = rd.next_line().await {
            rest.push(l);
        }
        rest
    });
    let cfg = config(port, vec![chan("#ops")]);
    let mut bot = Bot::start(cfg).await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let i = bot.next(|_| true).await;
        got.push(i.text);
    }
    assert_eq!(
        got,
        vec![
            "bad time tag is fine".to_string(),
            "\u{FFFD}\u{FFFD} invalid utf8".into(),
            "still alive".into()
        ]
    );
    assert!(bot.adapter.is_connected(), "link survived the bad lines");
    drop(bot);
    fake.abort();
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tls_with_a_private_ca() {
    let server = TestServer::start_with(
        Kind::Inspircd,
        Options {
            tls: true,
            ..Default::default()
        },
    );
    // Without the CA the certificate is not trusted: the adapter keeps retrying, never joins.
    let mut cfg = config(server.port, vec![chan("#ops")]);
    cfg.tls = true;
    cfg.tls_server_name = Some("localhost".into());
    let untrusted = Arc::new(IrcAdapter::new(cfg.clone()).expect("config"));
    let (tx, _rx) = mpsc::channel(16);
    let task = tokio::spawn(untrusted.clone().run(tx));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !untrusted.is_connected(),
        "an unknown CA must not be trusted"
    );
    assert!(!task.is_finished(), "a TLS failure is retried, not fatal");
    task.abort();

    cfg.tls_ca_file = Some(server.ca_file());
    let mut bot = Bot::start(cfg).await;
    let alice = TestClient::connect_tls(server.port, &server.ca_file(), "alice").await;
    let mut alice = alice;
    alice.join("#ops").await;
    alice.say("#ops", "over tls");
    let i = bot.next(|i| i.author.id == "alice").await;
    assert_eq!(i.text, "over tls");
    bot.send(&out("#ops", Style::Reply, "tls answer"))
        .await
        .expect("send");
    let l = alice.privmsgs("#ops", NICK, 1).await.remove(0);
    assert_eq!(text_of(&l), "tls answer");
}

// ---------------------------------------------------------------------------------------------

/// A fake IRC server on a loopback port: each connection's lines are answered with what
/// `reply(connection number, the nick it registered, line)` returns, and `None` drops the
/// connection. Every connection's received lines go to the receiver.
async fn fake_irc<F>(reply: F) -> (u16, mpsc::UnboundedReceiver<(usize, String)>)
where
    F: Fn(usize, &str, &str) -> Option<Vec<String>> + Send + Sync + 'static,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        let mut conn_no = 0;
        while let Ok((sock, _)) = listener.accept().await {
            conn_no += 1;
            let (seen_tx, reply) = (seen_tx.clone(), reply.clone());
            tokio::spawn(async move {
                let (rd, mut wr) = sock.into_split();
                let mut lines = BufReader::new(rd).lines();
                let mut nick = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    let _ = seen_tx.send((conn_no, l.clone()));
                    if let Some(n) = l.strip_prefix("NICK ") {
                        nick = n.to_string();
                    }
                    let Some(answer) = reply(conn_no, &nick, &l) else {
                        return;
                    };
                    for r in answer {
                        if wr.write_all(format!("{r}\r\n").as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, seen)
}

/// A fake server speaking just enough IRC: multi-line CAP LS with sasl, SASL PLAIN checked
/// against `account`/`password`, then 001 and JOIN echoes. PINGs are answered only when
/// `answer_pings`. Every connection's received lines go to `seen`.
async fn fake_server(
    account: &'static str,
    password: &'static str,
    answer_pings: bool,
) -> (u16, mpsc::UnboundedReceiver<(usize, String)>) {
    use base64::Engine as _;
    fake_irc(move |_, nick, l| {
        Some(if l == "CAP LS 302" {
            vec![
                ":fake CAP * LS * :multi-prefix message-tags".into(),
                ":fake CAP * LS :sasl=PLAIN,EXTERNAL".into(),
            ]
        } else if let Some(caps) = l.strip_prefix("CAP REQ :") {
            vec![format!(":fake CAP * ACK :{caps}")]
        } else if l == "AUTHENTICATE PLAIN" {
            vec!["AUTHENTICATE +".into()]
        } else if let Some(b64) = l.strip_prefix("AUTHENTICATE ") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            if raw == format!("{account}\0{account}\0{password}").as_bytes() {
                vec![
                    format!(":fake 900 * * {account} :You are now logged in"),
                    ":fake 903 * :SASL authentication successful".into(),
                ]
            } else {
                vec![":fake 904 * :SASL authentication failed".into()]
            }
        } else if l == "CAP END" {
            vec![format!(":fake 001 {nick} :Welcome {nick}!flare@127.0.0.1")]
        } else if let Some(ch) = l.strip_prefix("JOIN ") {
            vec![
                format!(":{nick}!flare@127.0.0.1 JOIN {ch}"),
                "PING :are-you-there".into(),
            ]
        } else if let Some(tok) = l.strip_prefix("PING ") {
            if answer_pings {
                vec![format!(":fake PONG fake {tok}")]
            } else {
                vec![]
            }
        } else {
            vec![]
        })
    })
    .await
}

#[tokio::test]
async fn sasl_plain_login_and_failure() {
    let (port, mut seen) = fake_server("flare", "good-secret", true).await;
    let mut cfg = config(port, vec![chan("#ops")]);
    cfg.sasl_username = Some("flare".into());
    cfg.sasl_password = Some("good-secret".into());
    let bot = Bot::start(cfg.clone()).await;
    assert!(bot.adapter.is_connected());
    let mut lines = Vec::new();
    while let Ok(Some((_, l))) = tokio::time::timeout(Duration::from_millis(300), seen.recv()).await
    {
        lines.push(l);
    }
    let pos = |p: &str| lines.iter().position(|l| l.starts_with(p));
    assert!(
        lines.contains(&"CAP REQ :message-tags sasl".to_string()),
        "{lines:?}"
    );
    assert!(pos("AUTHENTICATE PLAIN") < pos("CAP END"), "{lines:?}");
    assert!(
        pos("CAP END") < pos("JOIN"),
        "JOIN only after 001: {lines:?}"
    );
    assert!(
        lines.contains(&"PONG are-you-there".to_string()),
        "answers PING: {lines:?}"
    );
    drop(bot);

    let (port, _seen) = fake_server("flare", "good-secret", true).await;
    cfg.port = Some(port);
    cfg.name = "irc-sasl".into();
    cfg.sasl_password = Some("bad-secret".into());
    let adapter = Arc::new(IrcAdapter::new(cfg).expect("config"));
    let (tx, _rx) = mpsc::channel(16);
    let err = tokio::time::timeout(WAIT, adapter.run(tx))
        .await
        .expect("a failed SASL login stops the network")
        .expect_err("fatal");
    let err = err.to_string();
    assert!(err.contains("irc-sasl") && err.contains("SASL"), "{err}");
    assert!(!err.contains("bad-secret"), "secret leaked: {err}");
}

/// A fake server with echo-message that takes the first PRIVMSG of each of the first two
/// connections and drops the connection without echoing it (a server dying under a line);
/// later connections echo. Every connection's received lines go to the receiver.
async fn dying_echo_server() -> (u16, mpsc::UnboundedReceiver<(usize, String)>) {
    let msgid = std::sync::atomic::AtomicUsize::new(0);
    fake_irc(move |conn_no, nick, l| {
        Some(if l == "CAP LS 302" {
            vec![":fake CAP * LS :echo-message message-tags".into()]
        } else if let Some(caps) = l.strip_prefix("CAP REQ :") {
            vec![format!(":fake CAP * ACK :{caps}")]
        } else if l == "CAP END" {
            vec![format!(":fake 001 {nick} :Welcome {nick}!flare@127.0.0.1")]
        } else if let Some(ch) = l.strip_prefix("JOIN ") {
            vec![format!(":{nick}!flare@127.0.0.1 JOIN {ch}")]
        } else if let Some(rest) = l.strip_prefix("PRIVMSG ") {
            if conn_no <= 2 {
                return None;
            }
            let id = msgid.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            vec![format!(
                "@msgid=m{id} :{nick}!flare@127.0.0.1 PRIVMSG {rest}"
            )]
        } else {
            vec![]
        })
    })
    .await
}

/// Waits until the fake server saw connection `conn_no` join `#ops`.
async fn joined_on(seen: &mut mpsc::UnboundedReceiver<(usize, String)>, conn_no: usize) {
    tokio::time::timeout(WAIT, async {
        while let Some((conn, l)) = seen.recv().await {
            if conn == conn_no && l.starts_with("JOIN #ops") {
                return;
            }
        }
    })
    .await
    .expect("reconnected and joined");
}

#[tokio::test]
async fn a_message_the_server_never_echoed_is_retried_not_counted_sent() {
    let (port, mut seen) = dying_echo_server().await;
    let bot = Bot::start(config(port, vec![chan("#ops")])).await;
    // A thread root whose connection dies before its echo: not a thread, a retry.
    let mut root = out("#ops", Style::ThreadRoot, "INC-1 root as the server died");
    root.incident = Some(1);
    match bot.send(&root).await {
        Err(SendError::Retry { reason, .. }) => {
            assert!(reason.contains("before the server echoed"), "{reason}")
        }
        other => panic!("a root the server never echoed counted as {other:?}"),
    }
    joined_on(&mut seen, 2).await;
    bot.wait_joined(&["#ops".to_string()]).await;
    let line = out("#ops", Style::Mirror, "said as the server died");
    let results = tokio::time::timeout(WAIT, bot.adapter.send_many(std::slice::from_ref(&line)))
        .await
        .expect("send_many hung");
    match results.as_slice() {
        [Err(SendError::Retry { reason, .. })] => {
            assert!(reason.contains("before the server echoed"), "{reason}")
        }
        other => panic!("a line the server never echoed counted as {other:?}"),
    }
    // After the reconnect the same line goes out and is confirmed by its echo.
    bot.wait_joined(&["#ops".to_string()]).await;
    let again = tokio::time::timeout(WAIT, async {
        loop {
            let r = bot.adapter.send_many(std::slice::from_ref(&line)).await;
            if r.first().is_some_and(Result::is_ok) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("sent once the server is back");
    assert_eq!(again.len(), 1);
    let mut on_second = false;
    while let Ok(Some((conn, l))) =
        tokio::time::timeout(Duration::from_millis(300), seen.recv()).await
    {
        on_second |=
            conn == 3 && l.starts_with("PRIVMSG #ops :") && l.ends_with("said as the server died");
    }
    assert!(on_second, "the line was sent again on the new connection");
}

#[tokio::test]
async fn dead_link_is_detected_by_our_own_ping() {
    let (port, mut seen) = fake_server("x", "y", false).await;
    let mut cfg = config(port, vec![chan("#ops")]);
    cfg.ping_interval = "200ms".into();
    cfg.ping_timeout = "300ms".into();
    let _bot = Bot::start(cfg).await;
    let mut first_ping = false;
    let reconnected = tokio::time::timeout(WAIT, async {
        while let Some((conn, l)) = seen.recv().await {
            if conn == 1 && l.starts_with("PING :flare-") {
                first_ping = true;
            }
            if conn == 2 && l.starts_with("JOIN #ops") {
                return;
            }
        }
    })
    .await;
    assert!(first_ping, "the adapter sent its own PING");
    assert!(
        reconnected.is_ok(),
        "the silent link was dropped and a new one joined"
    );
}

// ---------------------------------------------------------------------------------------------
// End to end: the whole Flare (engine, store, outbox) with IRC people on a real server.

fn flare_toml(port: u16) -> String {
    format!(
        r##"
[delivery]
initial_backoff = "100ms"
max_backoff = "300ms"

[[irc]]
name = "irc"
server = "127.0.0.1"
port = {port}
nick = "flare"
lines_per_second = 50.0
burst = 20
reconnect_min = "100ms"
reconnect_max = "300ms"

[[irc.channels]]
id = "#ops"
incident = true
announce = true
"##
    )
}

fn from_flare(l: &Line, needle: &str) -> bool {
    l.is("PRIVMSG") && l.sender_nick() == Some("flare") && text_of(l).contains(needle)
}

async fn e2e_open_and_acknowledge(kind: Kind) {
    let server = TestServer::start(kind);
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let bob = person(&server, "bob", &["#ops"]).await;
    let flare = support::start(
        &flare_toml(server.port),
        Arc::new(flare::clock::SystemClock),
        false,
    )
    .await;
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;

    alice.say("#ops", "!incident open database is down");
    let root = alice.expect(|l| from_flare(l, "🔥 INC-1")).await;
    assert!(text_of(&root).starts_with("[INC-1] "), "{}", root.raw);
    alice.expect(|l| from_flare(l, "Opened INC-1")).await;

    bob.say("#ops", "INC-1: looking at it now");
    let ack = alice
        .expect(|l| from_flare(l, "INC-1 acknowledged by b"))
        .await;
    assert!(text_of(&ack).starts_with("[INC-1] "), "{}", ack.raw);

    let mut tx = flare.running.store.begin().await.expect("tx");
    let inc = tx.incident(1).await.expect("read").expect("incident 1");
    assert_eq!(inc.title, "database is down");
    assert!(
        inc.opened_by.to_lowercase().contains("alice"),
        "{}",
        inc.opened_by
    );
    assert!(
        inc.acknowledged_by
            .as_deref()
            .is_some_and(|b| b.contains("bob"))
    );
    drop(tx);

    // Chatter without a prefix is not part of the incident; nothing is answered twice.
    bob.say("#ops", "unrelated: lunch?");
    let rest = alice.collect_for(Duration::from_millis(700)).await;
    assert!(
        !rest
            .iter()
            .any(|l| l.sender_nick() == Some("flare") && l.is("PRIVMSG")),
        "{rest:#?}"
    );
    let acks = alice
        .log
        .iter()
        .filter(|l| from_flare(l, "acknowledged by"))
        .count();
    assert_eq!(acks, 1);
}

#[tokio::test]
async fn e2e_open_and_acknowledge_inspircd() {
    e2e_open_and_acknowledge(Kind::Inspircd).await;
}

#[tokio::test]
async fn e2e_open_and_acknowledge_ngircd() {
    e2e_open_and_acknowledge(Kind::Ngircd).await;
}

async fn e2e_server_restart_loses_nothing(kind: Kind) {
    let mut server = TestServer::start(kind);
    let gate = support::irc::proxy::Gate::start(server.port).await;
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let mut flare = support::start(
        &flare_toml(gate.port),
        Arc::new(flare::clock::SystemClock),
        true,
    )
    .await;
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    alice.say("#ops", "!incident open api errors");
    alice.expect(|l| from_flare(l, "Opened INC-1")).await;

    // The server dies; updates typed on the console meanwhile wait in the outbox.
    gate.set_open(false);
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    flare
        .type_lines(&[
            "!inc update INC-1 step one",
            "!inc update INC-1 step two",
            "!inc update INC-1 step three",
        ])
        .await;
    flare.expect_console("step three", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.restart();
    let mut alice = person(&server, "alice", &["#ops"]).await;
    gate.set_open(true);
    let mut got = Vec::new();
    for step in ["step one", "step two", "step three"] {
        let l = alice.expect(|l| from_flare(l, "step ")).await;
        assert!(text_of(&l).contains(step), "out of order: {}", l.raw);
        got.push(l);
    }
    assert!(flare.running.flush(Duration::from_secs(5)).await);
    let stats = &flare.running.stats;
    assert!(
        stats.retried.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the outage made sends retry"
    );
    assert_eq!(stats.failed.load(std::sync::atomic::Ordering::Relaxed), 0);
    let rest = alice.collect_for(Duration::from_millis(500)).await;
    assert!(
        !rest.iter().any(|l| from_flare(l, "step ")),
        "doubled: {rest:#?}"
    );
}

#[tokio::test]
async fn e2e_server_restart_loses_nothing_inspircd() {
    e2e_server_restart_loses_nothing(Kind::Inspircd).await;
}

#[tokio::test]
async fn e2e_server_restart_loses_nothing_ngircd() {
    e2e_server_restart_loses_nothing(Kind::Ngircd).await;
}

/// A reconnect wakes the outbox: what waited on a (long) backoff while the network was away
/// goes out as soon as Flare is back on it, not at its next retry.
async fn e2e_a_reconnect_retries_the_queue_at_once(kind: Kind) {
    let mut server = TestServer::start(kind);
    let gate = support::irc::proxy::Gate::start(server.port).await;
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let toml = flare_toml(gate.port)
        .replace("initial_backoff = \"100ms\"", "initial_backoff = \"30s\"")
        .replace("max_backoff = \"300ms\"", "max_backoff = \"5m\"");
    let mut flare = support::start(&toml, Arc::new(flare::clock::SystemClock), true).await;
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    alice.say("#ops", "!incident open api errors");
    alice.expect(|l| from_flare(l, "Opened INC-1")).await;

    gate.set_open(false);
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    flare
        .type_lines(&["!inc update INC-1 step one", "!inc update INC-1 step two"])
        .await;
    flare.expect_console("step two", 1).await;
    // Every one of them has been tried and is now waiting on its 15-30 s backoff.
    let tried = tokio::time::timeout(Duration::from_secs(5), async {
        while flare
            .running
            .stats
            .retried
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(tried.is_ok(), "the outage made a send fail");
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.restart();
    let mut alice = person(&server, "alice", &["#ops"]).await;
    gate.set_open(true);
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    let rejoined = std::time::Instant::now();
    for step in ["step one", "step two"] {
        let l = alice
            .expect_within(Duration::from_secs(4), |l| from_flare(l, "step "))
            .await
            .unwrap_or_else(|| panic!("`{step}` not delivered within 4 s of the rejoin"));
        assert!(text_of(&l).contains(step), "out of order: {}", l.raw);
    }
    assert!(rejoined.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn e2e_a_reconnect_retries_the_queue_at_once_inspircd() {
    e2e_a_reconnect_retries_the_queue_at_once(Kind::Inspircd).await;
}

#[tokio::test]
async fn e2e_a_reconnect_retries_the_queue_at_once_ngircd() {
    e2e_a_reconnect_retries_the_queue_at_once(Kind::Ngircd).await;
}

/// Issue 20, item 8: at a slow flood rate, long answers (help, show) neither fill the channel
/// nor hold up an incident announcement queued behind them: they go to the requester by
/// NOTICE, behind everything else, and the channel gets one line pointing to each.
async fn e2e_bulk_answers_never_delay_an_announcement(kind: Kind) {
    let server = TestServer::start(kind);
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let bob = person(&server, "bob", &["#ops"]).await;
    let toml = flare_toml(server.port)
        .replace("lines_per_second = 50.0", "lines_per_second = 2.0")
        .replace("burst = 20", "burst = 2");
    let _flare = support::start(&toml, Arc::new(flare::clock::SystemClock), false).await;
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    alice.say("#ops", "!incident open database is down");
    alice.expect(|l| from_flare(l, "Opened INC-1")).await;
    alice.collect_for(Duration::from_millis(1500)).await;

    alice.say("#ops", "!inc help");
    alice.say("#ops", "!inc show INC-1");
    tokio::time::sleep(Duration::from_millis(200)).await;
    bob.say("#ops", "!inc open checkout is broken");
    let asked = std::time::Instant::now();
    let notice = |l: &Line| {
        l.is("NOTICE") && l.sender_nick() == Some("flare") && l.param(0) == Some("alice")
    };
    let start = alice.log.len();
    let announced = alice
        .expect_within(Duration::from_secs(15), |l| from_flare(l, "🔥 INC-2"))
        .await;
    let before: Vec<String> = alice.log[start..]
        .iter()
        .filter(|l| notice(l) || from_flare(l, ""))
        .map(|l| l.raw.clone())
        .collect();
    assert!(
        announced.is_some(),
        "no announcement; before it: {before:#?}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "the announcement came {:?} after the open",
        asked.elapsed()
    );
    let bulk_before = before
        .iter()
        .filter(|l| !l.contains("by notice") && !l.contains("INC-2"))
        .count();
    assert!(bulk_before <= 2, "bulk lines went first: {before:#?}");

    // The answers themselves reach alice, privately, in full.
    let last_help = alice
        .expect_within(Duration::from_secs(40), |l| {
            notice(l) && text_of(l).contains("never a reaction")
        })
        .await;
    assert!(last_help.is_some(), "the help's last line never came");
    let pointers = alice
        .log
        .iter()
        .filter(|l| from_flare(l, "alice: sent you the answer by notice"))
        .count();
    assert_eq!(pointers, 2, "one pointer per long answer");
    assert!(
        !alice
            .log
            .iter()
            .any(|l| from_flare(l, "Flare commands") || from_flare(l, "never a reaction")),
        "the help went to the channel"
    );
}

#[tokio::test]
async fn e2e_bulk_answers_never_delay_an_announcement_inspircd() {
    e2e_bulk_answers_never_delay_an_announcement(Kind::Inspircd).await;
}

#[tokio::test]
async fn e2e_bulk_answers_never_delay_an_announcement_ngircd() {
    e2e_bulk_answers_never_delay_an_announcement(Kind::Ngircd).await;
}

#[tokio::test]
async fn e2e_a_network_with_a_wrong_password_does_not_stop_the_others() {
    let locked = TestServer::start_with(
        Kind::Ngircd,
        Options {
            password: Some("right-one".into()),
            ..Default::default()
        },
    );
    let server = TestServer::start(Kind::Inspircd);
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let bob = person(&server, "bob", &["#ops"]).await;
    let toml = format!(
        r##"{}
[[irc]]
name = "irc-locked"
server = "127.0.0.1"
port = {}
nick = "flare"
password = "wrong-one"

[[irc.channels]]
id = "#ops"
"##,
        flare_toml(server.port),
        locked.port
    );
    let _flare = support::start(&toml, Arc::new(flare::clock::SystemClock), false).await;
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    alice.say("#ops", "!incident open payments failing");
    alice.expect(|l| from_flare(l, "Opened INC-1")).await;
    bob.say("#ops", "INC-1: on it");
    alice
        .expect(|l| from_flare(l, "INC-1 acknowledged by b"))
        .await;
}

/// Issue 20, item 21 (a): short relayed messages queued for one channel share lines, each
/// with its attribution, in order, within the server's line length.
#[tokio::test]
async fn relayed_messages_are_packed_into_shared_lines() {
    let server = TestServer::start(Kind::Inspircd);
    let mut alice = person(&server, "alice", &["#ops"]).await;
    let bot = Bot::start(config(server.port, vec![chan("#ops")])).await;
    alice
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some(NICK))
        .await;
    let msgs: Vec<Outbound> = (0..12)
        .map(|i| {
            let mut o = out("#ops", Style::Mirror, &format!("message {i}"));
            o.author = Some(format!("<p{i}@slack>"));
            o
        })
        .collect();
    let results = tokio::time::timeout(WAIT, bot.adapter.send_many(&msgs))
        .await
        .expect("send hung");
    assert_eq!(results.len(), 12);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let lines: Vec<String> = alice
        .collect_for(Duration::from_millis(700))
        .await
        .iter()
        .filter(|l| l.is("PRIVMSG") && l.sender_nick() == Some(NICK))
        .map(text_of)
        .collect();
    assert!(lines.len() < 4, "not packed: {lines:#?}");
    let all = lines.join(" | ").replace('\u{200B}', "");
    let expected: Vec<String> = (0..12)
        .map(|i| format!("<p{i}@slack> message {i}"))
        .collect();
    assert_eq!(all, expected.join(" | "));
}
