//! Engine behaviour end to end through the console adapter, with an injected clock.

mod support;

use std::sync::Arc;

use chrono::Duration;
use flare::chat::Inbound;
use flare::clock::ManualClock;
use support::{TestFlare, at, console_line, start};

const PEOPLE: &str = r#"
[[people]]
name = "alice"
console = "alice"
[[people]]
name = "bob"
console = "bob"
"#;

/// Tuesday 2026-11-24 10:00 America/New_York (business hours).
fn tuesday_10am() -> ManualClock {
    ManualClock::new(at("2026-11-24T15:00:00Z"))
}

async fn flare(extra: &str, clock: &ManualClock) -> TestFlare {
    let toml = format!("[console]\nuser = \"alice\"\n{PEOPLE}{extra}");
    start(&toml, Arc::new(clock.clone()), true).await
}

/// Flare with two console incident channels, `#ops` and `#war-room`.
async fn with_war_room(clock: &ManualClock) -> TestFlare {
    let toml =
        format!("[console]\nuser = \"alice\"\nchannels = [\"#ops\", \"#war-room\"]\n{PEOPLE}");
    start(&toml, Arc::new(clock.clone()), true).await
}

async fn incidents(f: &TestFlare) -> i64 {
    let mut tx = f.running.store.begin().await.expect("tx");
    tx.incident_count().await.expect("count")
}

#[tokio::test]
async fn open_then_a_reply_from_someone_else_acknowledges_at_the_message_time() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&["!inc open Checkout API returns 500 sev1"])
        .await;
    f.expect_console("Opened INC-1 [SEV1] with a thread in: console #ops", 1)
        .await;
    let out = f.console_out.text();
    assert!(
        out.contains("[#ops] 🔥 INC-1 [SEV1] Checkout API returns 500"),
        "{out}"
    );
    assert!(out.contains("acknowledge by 10:15 EST"), "{out}");

    // The opener writing in the thread does not acknowledge.
    f.type_lines(&["/thread INC-1", "checking dashboards"])
        .await;
    clock.advance(Duration::minutes(4));
    f.type_lines(&["/user bob", "on it, failing over the DB"])
        .await;
    f.expect_console("acknowledged by bob", 1).await;
    f.type_lines(&["!inc show"]).await;
    let out = f.expect_console("timeline:", 1).await;
    assert!(
        out.contains("acknowledged by bob in console #ops at 2026-11-24 10:04:00 EST: within SLA (11m to spare)"),
        "{out}"
    );
    assert!(!out.contains("acknowledged by alice"), "{out}");
    let inc = f.incident(1).await;
    assert_eq!(inc.acknowledged_at, Some(at("2026-11-24T15:04:00Z")));
    assert_eq!(inc.acknowledged_by.as_deref(), Some("bob"));
    f.running.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn malformed_and_unknown_commands_get_usage_and_change_nothing() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&[
        "!inc status INC-1 fixed",
        "!inc frobnicate",
        "!inc reopen",
        "!inc ack INC-99",
        &format!("!inc update INC-1 {}", "x".repeat(4100)),
    ])
    .await;
    let out = f.expect_console("limited to 4000", 1).await;
    assert!(out.contains("`fixed` is not a status"), "{out}");
    assert!(out.contains("Unknown command `frobnicate`"), "{out}");
    assert!(out.contains("Usage: !incident reopen INC-n"), "{out}");
    assert!(out.contains("no incident INC-99"), "{out}");
    assert_eq!(incidents(&f).await, 0);
}

#[tokio::test]
async fn resolved_incidents_refuse_ack_and_illegal_transitions_are_explained() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&[
        "!inc open DB slow",
        "!inc status INC-1 monitoring",
        "!inc status INC-1 identified",
    ])
    .await;
    let out = f.expect_console("it cannot go back to identified", 1).await;
    assert!(
        out.contains("INC-1 [SEV3 monitoring] DB slow is now monitoring (was investigating)"),
        "{out}"
    );
    f.type_lines(&["!inc resolve INC-1 index rebuilt"]).await;
    f.expect_console("resolved by alice after 0s: index rebuilt", 1)
        .await;
    let before = f.timeline(1).await.len();
    f.type_lines(&["/user bob", "!inc ack INC-1"]).await;
    f.expect_console("INC-1 is resolved; there is nothing to acknowledge", 1)
        .await;
    let mut tx = f.running.store.begin().await.expect("tx");
    assert_eq!(tx.timeline(1).await.expect("timeline").len(), before);
    let inc = tx.incident(1).await.expect("read").expect("inc");
    assert!(inc.acknowledged_at.is_none());
    drop(tx);
    f.type_lines(&["!inc status INC-1 monitoring", "!inc reopen INC-1"])
        .await;
    f.expect_console("INC-1 is resolved; reopen it first", 1)
        .await;
    f.expect_console("was reopened by bob", 1).await;
}

#[tokio::test]
async fn a_reaction_never_acknowledges_and_is_answered_once() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&[
        "!inc open Queue backlog",
        "/user bob",
        "/thread INC-1",
        "/react +1",
        "/react eyes",
    ])
    .await;
    f.expect_console("a reaction does not acknowledge INC-1", 1)
        .await;
    f.type_lines(&["!inc show"]).await;
    let out = f.expect_console("timeline:", 1).await;
    assert_eq!(
        out.matches("a reaction does not acknowledge").count(),
        1,
        "{out}"
    );
    assert!(out.contains("not acknowledged yet"), "{out}");
}

#[tokio::test]
async fn restricted_commands_say_why() {
    let clock = tuesday_10am();
    let mut f = flare("[commands]\nresponders_only = [\"resolve\"]\n", &clock).await;
    f.type_lines(&[
        "!inc open Login broken",
        "/user mallory",
        "!inc resolve INC-1",
    ])
    .await;
    let out = f
        .expect_console("Only responders may `resolve` incidents", 1)
        .await;
    assert!(
        out.contains("mallory on console is not in Flare's people directory"),
        "{out}"
    );
    f.type_lines(&["/user bob", "!inc resolve INC-1"]).await;
    f.expect_console("resolved by bob", 1).await;
}

#[tokio::test]
async fn a_redelivered_event_is_processed_once() {
    let clock = tuesday_10am();
    let f = flare("", &clock).await;
    let ev = console_line(
        "alice",
        "!inc open Same event twice",
        "m-1",
        clock.now_utc(),
    );
    f.running.inbound.send(ev.clone()).await.expect("send");
    f.running.inbound.send(ev).await.expect("send");
    f.expect_console("Opened INC-1", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(incidents(&f).await, 1);
    assert!(!f.console_out.text().contains("INC-2"));
}

#[tokio::test]
async fn ack_timers_follow_the_sla_and_the_ack_cancels_them() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&["!inc open Payments failing sev2"]).await;
    f.expect_console("Opened INC-1", 1).await;
    let timers = f.pending_timers(1).await;
    let due: Vec<(String, chrono::DateTime<chrono::Utc>)> = timers
        .iter()
        .filter(|t| t.new.kind != "update_nudge")
        .map(|t| (t.new.kind.clone(), t.new.due_at))
        .collect();
    assert_eq!(
        due,
        vec![
            ("ack_reminder".to_string(), at("2026-11-24T15:07:30Z")),
            ("ack_reminder".to_string(), at("2026-11-24T15:12:00Z")),
            ("ack_breach".to_string(), at("2026-11-24T15:15:00Z")),
        ]
    );
    clock.advance(Duration::seconds(451));
    // The app's own scheduler task may fire it first; either way it fires once.
    f.running.engine.fire_due_timers(100).await.expect("fire");
    f.expect_console(
        "NOTICE ⏰ INC-1 [SEV2 investigating] Payments failing is not acknowledged: 7m 30s left",
        1,
    )
    .await;
    clock.advance(Duration::minutes(1) + Duration::seconds(29));
    f.type_lines(&["/user bob", "!inc ack INC-1"]).await;
    f.expect_console("acknowledged by bob", 1).await;
    clock.advance(Duration::minutes(10));
    f.running.engine.fire_due_timers(100).await.expect("fire");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // No reminder or breach after the ack.
    assert_eq!(f.console_out.text().matches("⏰").count(), 1);
    assert!(!f.console_out.text().contains("ack SLA breached"));
    let left = f.pending_timers(1).await;
    // Only the update nudge (an incident with no update for 30 min) remains after the ack.
    assert!(
        left.iter().all(|t| t.new.kind == "update_nudge"),
        "{left:?}"
    );
}

#[tokio::test]
async fn after_hours_incidents_get_the_long_window_and_breach_posts() {
    // Saturday 2026-11-28 11:00 EST.
    let clock = ManualClock::new(at("2026-11-28T16:00:00Z"));
    let mut f = flare("", &clock).await;
    f.type_lines(&["!inc open Weekend outage"]).await;
    let out = f.expect_console("Opened INC-1", 1).await;
    assert!(out.contains("(weekend), acknowledge by 12:00 EST"), "{out}");
    clock.advance(Duration::minutes(61));
    // The app's own scheduler task may fire some first; either way each fires once.
    f.running.engine.fire_due_timers(100).await.expect("fire");
    let out = f.expect_console("ack SLA breached", 1).await;
    assert_eq!(out.matches("⏰").count(), 2, "{out}");
    f.type_lines(&["!inc show INC-1"]).await;
    let out = f.expect_console("ack_breached", 1).await;
    assert!(
        out.contains("NOT acknowledged: SLA breached 1m ago"),
        "{out}"
    );
}

#[tokio::test]
async fn impacted_applications_and_business_impact_are_recorded_and_shown() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&[
        "!inc open Card payments failing sev1",
        "!inc apps INC-1 checkout, payments-api",
        "!inc impact INC-1 customers cannot pay by card",
        "!inc show INC-1",
    ])
    .await;
    let out = f.expect_console("timeline:", 1).await;
    assert!(
        out.contains("impacted applications: checkout, payments-api"),
        "{out}"
    );
    assert!(
        out.contains("business impact: customers cannot pay by card"),
        "{out}"
    );
    let inc = f.incident(1).await;
    assert_eq!(inc.impacted_apps, vec!["checkout", "payments-api"]);
}

#[tokio::test]
async fn edits_and_deletions_follow_the_mirrored_copies() {
    let clock = tuesday_10am();
    let mut f = with_war_room(&clock).await;
    f.type_lines(&["!inc open Disk full"]).await;
    f.expect_console("[#war-room] 🔥 INC-1", 1).await;
    f.type_lines(&["/thread INC-1", "/user bob", "cleaning /var/log"])
        .await;
    f.expect_console("[#war-room ▸ INC-1] <bob@console> cleaning /var/log", 1)
        .await;
    f.type_lines(&["/edit cleaning /var/log/journal"]).await;
    f.expect_console("<bob@console> cleaning /var/log/journal", 1)
        .await;
    f.type_lines(&["/delete"]).await;
    let out = f.expect_console("(deleted c", 1).await;
    // The copy in #war-room was edited and deleted; nothing went back to #ops.
    assert!(!out.contains("[#ops ▸ INC-1] <bob@console>"), "{out}");
    let kinds: Vec<String> = f.timeline(1).await.into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"message_edited".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"message_deleted".to_string()), "{kinds:?}");
}

fn console_event(user: &str, text: &str, id: &str, hint: Option<i64>) -> Inbound {
    Inbound {
        incident_hint: hint,
        ..console_line(user, text, id, at("2026-11-24T15:00:00Z"))
    }
}

#[tokio::test]
async fn a_batch_is_handled_in_order_in_one_transaction() {
    use flare::engine::Decision;
    let clock = tuesday_10am();
    let f = flare("", &clock).await;
    let engine = &f.running.engine;
    let batch = [
        console_event("alice", "!inc open Batch incident sev2", "b-1", None),
        // Names the incident opened just before it, in the same transaction.
        console_event("bob", "looking", "b-2", Some(1)),
        // Names an incident that does not exist: a plain message, ignored.
        console_event("bob", "INC-99 is not a thing", "b-3", Some(99)),
        // Redelivered within the batch.
        console_event("bob", "looking", "b-2", Some(1)),
        console_event("alice", "!inc update failover started", "b-4", Some(1)),
    ];
    let outcomes = engine.handle_batch(&batch).await.expect("batch");
    let decisions: Vec<Decision> = outcomes.iter().map(|o| o.decision.clone()).collect();
    assert_eq!(
        decisions,
        [
            Decision::Command("open"),
            Decision::Acknowledged(flare::domain::incident::IncidentId(1)),
            Decision::Ignored,
            Decision::Duplicate,
            Decision::Command("update"),
        ]
    );
    let inc = f.incident(1).await;
    assert_eq!(inc.acknowledged_by.as_deref(), Some("bob"));
    let kinds: Vec<String> = f.timeline(1).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["opened", "ack_first_reply", "update"]);
    // The same events again are all duplicates (or ignored), and change nothing.
    let again = engine.handle_batch(&batch).await.expect("batch");
    assert!(
        again
            .iter()
            .all(|o| matches!(o.decision, Decision::Duplicate | Decision::Ignored)),
        "{again:?}"
    );
    assert_eq!(f.timeline(1).await.len(), 3);
    // Messages of a known incident are recorded ahead of handling, in one statement.
    let more = [
        console_event("carol", "db primary is back", "b-6", Some(1)),
        console_event("carol", "db primary is back", "b-6", Some(1)),
        console_event("alice", "!inc status identified", "b-7", Some(1)),
    ];
    let outcomes = engine.handle_batch(&more).await.expect("batch");
    let decisions: Vec<Decision> = outcomes.iter().map(|o| o.decision.clone()).collect();
    assert_eq!(
        decisions,
        [
            Decision::Mirrored(flare::domain::incident::IncidentId(1)),
            Decision::Duplicate,
            Decision::Command("status"),
        ]
    );
    assert_eq!(
        f.incident(1).await.status,
        flare::domain::incident::Status::Identified
    );
    // One at a time, a hint naming a missing incident does not hold up what follows.
    let lone = engine
        .handle(&console_event("bob", "still nothing", "b-5", Some(42)))
        .await
        .expect("handled");
    assert_eq!(lone.decision, Decision::Ignored);
    f.running.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn committed_rows_are_handed_to_the_delivery_worker_without_reading_the_outbox() {
    let clock = tuesday_10am();
    let mut f = with_war_room(&clock).await;
    f.type_lines(&["!inc open Queue backlog"]).await;
    f.expect_console("[#war-room] 🔥 INC-1", 1).await;
    f.expect_console("Opened INC-1", 1).await;
    f.type_lines(&["/thread INC-1", "/user bob"]).await;
    let stats = f.running.stats.clone();
    let reads = || stats.outbox_reads.load(std::sync::atomic::Ordering::SeqCst);
    let before = reads();
    // One at a time, each copy seen before the next line: every line is its own commit and
    // its own wake-up of the worker.
    for i in 0..20 {
        f.type_lines(&[&format!("step {i:02} done")]).await;
        f.expect_console(
            &format!("[#war-room ▸ INC-1] <bob@console> step {i:02} done"),
            1,
        )
        .await;
    }
    let read = reads() - before;
    assert!(
        read <= 2,
        "the worker read the outbox {read} times for 20 handed copies"
    );
    // In order, once each.
    let out = f.console_out.text();
    let copies: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("[#war-room ▸ INC-1] <bob@console> step"))
        .collect();
    let want: Vec<String> = (0..20)
        .map(|i| format!("[#war-room ▸ INC-1] <bob@console> step {i:02} done"))
        .collect();
    assert_eq!(copies, want);
    // Marked sent in the outbox as well.
    assert!(f.running.flush(std::time::Duration::from_secs(5)).await);
    f.running.shutdown(std::time::Duration::from_secs(5)).await;
}

fn guesses(f: &TestFlare) -> (u64, u64) {
    let g = f.running.engine.guesses();
    (
        g.taken.load(std::sync::atomic::Ordering::SeqCst),
        g.stale.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// INC-1 opened by alice with threads in `#ops` and `#war-room`, acknowledged by bob in the
/// `#ops` thread; the console then types as bob there.
async fn acknowledged_by_bob(clock: &ManualClock, title: &str) -> TestFlare {
    let mut f = with_war_room(clock).await;
    f.type_lines(&[&format!("!inc open {title}")]).await;
    f.expect_console("[#war-room] 🔥 INC-1", 1).await;
    f.type_lines(&["/thread INC-1", "/user bob", "on it"]).await;
    f.expect_console("acknowledged by bob", 1).await;
    f
}

#[tokio::test]
async fn conversation_in_a_known_thread_is_mirrored_unread_and_edits_still_follow() {
    let clock = tuesday_10am();
    let mut f = acknowledged_by_bob(&clock, "Payments timing out").await;
    for line in ["restarting pods", "pods back", "latency normal"] {
        f.type_lines(&[line]).await;
        f.expect_console(&format!("[#war-room ▸ INC-1] <bob@console> {line}"), 1)
            .await;
    }
    let (taken, stale) = guesses(&f);
    assert!(taken >= 2, "only {taken} messages went unread");
    assert_eq!(stale, 0);
    // The copies name their source by key; the edit finds them all the same.
    f.type_lines(&["/edit latency normal again"]).await;
    f.expect_console("<bob@console> latency normal again", 1)
        .await;
    let kinds: Vec<String> = f.timeline(1).await.into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"message_edited".to_string()), "{kinds:?}");
    f.running.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stale_guess_is_caught_and_the_event_decided_on_the_incident_as_it_is() {
    let clock = tuesday_10am();
    let mut f = acknowledged_by_bob(&clock, "Cache cluster down").await;
    f.type_lines(&["looking"]).await;
    f.expect_console("[#war-room ▸ INC-1] <bob@console> looking", 1)
        .await;
    assert_eq!(guesses(&f), (1, 0));
    // Behind the engine's back (another replica, an operator), the acknowledgement is
    // taken back.
    let mut tx = f.running.store.begin().await.expect("tx");
    let mut inc = tx.incident(1).await.expect("read").expect("exists");
    inc.acknowledged_at = None;
    inc.acknowledged_by = None;
    inc.acknowledged_where = None;
    tx.save_incident(&mut inc).await.expect("save");
    tx.commit().await.expect("commit");
    // The engine's guess says acknowledged; the incident as it is says not: bob's next line
    // acknowledges it again, as a read would have decided.
    f.type_lines(&["found it"]).await;
    f.expect_console("acknowledged by bob", 2).await;
    f.expect_console("[#war-room ▸ INC-1] <bob@console> found it", 1)
        .await;
    assert_eq!(guesses(&f), (2, 1), "the stale guess was not caught");
    assert_eq!(f.incident(1).await.acknowledged_by.as_deref(), Some("bob"));
    f.running.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_redelivered_message_in_a_known_thread_is_mirrored_once() {
    let clock = tuesday_10am();
    let f = acknowledged_by_bob(&clock, "Login errors").await;
    let ev = console_event("bob", "rolling back 4.2", "m-twice", Some(1));
    for _ in 0..2 {
        f.running.inbound.send(ev.clone()).await.expect("send");
        f.expect_console("[#war-room ▸ INC-1] <bob@console> rolling back 4.2", 1)
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let out = f
        .expect_console("[#war-room ▸ INC-1] <bob@console> rolling back 4.2", 1)
        .await;
    assert_eq!(
        out.matches("<bob@console> rolling back 4.2").count(),
        1,
        "{out}"
    );
    // Both deliveries went unread; the second failed as a duplicate.
    assert_eq!(guesses(&f), (2, 1));
    f.running.shutdown(std::time::Duration::from_secs(5)).await;
}
