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
async fn a_reaction_never_acknowledges_and_each_person_is_told_once() {
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
    f.expect_console("bob, a reaction does not acknowledge INC-1", 1)
        .await;
    // A second person (in the directory or not) is told too, once however often they react.
    f.type_lines(&["/user carol", "/react eyes", "/react +1", "/react tada"])
        .await;
    f.expect_console("carol, a reaction does not acknowledge INC-1", 1)
        .await;
    f.type_lines(&["/user bob", "/react rocket", "/user alice", "!inc show"])
        .await;
    let out = f.expect_console("timeline:", 1).await;
    assert_eq!(
        out.matches("bob, a reaction does not acknowledge").count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.matches("carol, a reaction does not acknowledge")
            .count(),
        1,
        "{out}"
    );
    assert!(out.contains("not acknowledged yet"), "{out}");
    let notices: Vec<String> = f
        .timeline(1)
        .await
        .into_iter()
        .filter(|e| e.kind == "reaction_notice")
        .map(|e| e.actor)
        .collect();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_ne!(notices[0], notices[1], "{notices:?}");
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

/// Status, impact, resolution and timeline length: what a command could have changed.
async fn state_of(f: &TestFlare, id: i64) -> (String, Option<String>, Option<String>, usize) {
    let inc = f.incident(id).await;
    (
        inc.status.to_string(),
        inc.business_impact,
        inc.resolution,
        f.timeline(id).await.len(),
    )
}

#[tokio::test]
async fn in_a_thread_a_malformed_or_incomplete_reference_changes_nothing() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&["!inc open Search slow", "!inc open Checkout down"])
        .await;
    f.expect_console("Opened INC-2", 1).await;
    let before = (state_of(&f, 1).await, state_of(&f, 2).await);
    let bad = [
        "!inc resolve INC 1",
        "!inc resolve #1 fixed",
        "!inc update INC-1",
        "!inc impact INC-1",
        "!inc status inc1 monitoring",
        "!inc update INC-x rolled back",
        "!inc impact INC_1 card payments fail",
        "!inc title INC- 1 Checkout times out",
        "!inc severity #1 sev1",
        "!inc commander INC-1",
        "!inc apps INC:1 checkout",
    ];
    let mut lines = vec!["/thread INC-2"];
    lines.extend(bad);
    lines.push("!inc help ack");
    f.type_lines(&lines).await;
    let out = f.expect_console("Example: !incident ack INC-7", 1).await;
    assert_eq!(out.matches("Usage: !incident").count(), bad.len(), "{out}");
    assert_eq!(
        out.matches("is not an incident reference").count(),
        8,
        "{out}"
    );
    assert!(
        out.contains("INC-1 is named but <text> is missing"),
        "{out}"
    );
    assert!(
        out.contains("INC-1 is named but <business impact> is missing"),
        "{out}"
    );
    assert_eq!(
        (state_of(&f, 1).await, state_of(&f, 2).await),
        before,
        "the thread's incident and the one named badly are unchanged"
    );
    // A well-formed reference, in any case, means that incident even in another's thread.
    f.type_lines(&["!inc resolve inc-1 index rebuilt"]).await;
    f.expect_console("resolved by alice", 1).await;
    assert_eq!(
        f.incident(1).await.resolution.as_deref(),
        Some("index rebuilt")
    );
    assert!(f.incident(2).await.status.is_open());
}

#[tokio::test]
async fn an_unknown_severity_opens_nothing_and_names_the_valid_ones() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    f.type_lines(&[
        "!inc open Checkout down sev0",
        "!inc open Checkout down sev5",
        "!inc open p9 Checkout down",
        "!inc open Checkout down sev",
        "!inc open Checkout down sev1",
    ])
    .await;
    let out = f.expect_console("Opened INC-1 [SEV1]", 1).await;
    assert_eq!(out.matches("is not a severity; the severities are SEV1 (critical), SEV2 (major), SEV3 (minor, the default), SEV4 (low)").count(), 4, "{out}");
    assert_eq!(incidents(&f).await, 1);
    assert_eq!(f.incident(1).await.title, "Checkout down");
}

#[tokio::test]
async fn severity_and_title_changes_are_recorded_relayed_and_keep_the_threads() {
    use flare::domain::incident::Severity;
    let clock = tuesday_10am();
    let mut f = with_war_room(&clock).await;
    f.type_lines(&["!inc open Checkout down"]).await;
    f.expect_console("Opened INC-1 [SEV3]", 1).await;
    clock.advance(Duration::minutes(2));
    f.type_lines(&[
        "!inc severity INC-1 sev1",
        "!inc severity INC-1 SEV1",
        "/thread INC-1",
        "!inc title Checkout times out for EU customers",
        "!inc title Checkout times out for EU customers",
    ])
    .await;
    f.expect_console("INC-1 already has that title; nothing was changed.", 1)
        .await;
    let out = f
        .expect_console("INC-1 severity SEV3 → SEV1 by alice: Checkout down", 2)
        .await;
    assert!(
        out.contains("INC-1 is already SEV1; nothing was changed."),
        "{out}"
    );
    // Relayed to both incident threads.
    assert_eq!(
        out.matches("renamed by alice: Checkout times out for EU customers (was: Checkout down)")
            .count(),
        2,
        "{out}"
    );
    let inc = f.incident(1).await;
    assert_eq!(inc.severity, Severity::Sev1);
    assert_eq!(inc.title, "Checkout times out for EU customers");
    let changes: Vec<(String, String)> = f
        .timeline(1)
        .await
        .into_iter()
        .filter(|e| e.kind == "severity" || e.kind == "title")
        .map(|e| (e.kind, e.detail))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("severity".to_string(), "SEV3 -> SEV1".to_string()),
            ("title".to_string(), "Checkout down".to_string()),
        ]
    );
    // SEV1's update nudge (30 minutes by default) now counts from the last update.
    let nudges: Vec<_> = f
        .pending_timers(1)
        .await
        .into_iter()
        .filter(|t| t.new.kind == "update_nudge")
        .map(|t| t.new.due_at)
        .collect();
    assert_eq!(nudges, vec![at("2026-11-24T15:30:00Z")]);
    // The thread still works after the rename: a reply acknowledges.
    f.type_lines(&["/user bob", "on it"]).await;
    f.expect_console("acknowledged by bob", 1).await;
    // Back down to SEV3: no nudge.
    f.type_lines(&["!inc severity sev3"]).await;
    f.expect_console("INC-1 severity SEV1 → SEV3 by bob", 2)
        .await;
    assert!(
        f.pending_timers(1)
            .await
            .iter()
            .all(|t| t.new.kind != "update_nudge")
    );
}

#[tokio::test]
async fn only_the_first_line_is_the_command_and_the_reply_says_what_became_of_the_rest() {
    use flare::domain::incident::Severity;
    let clock = tuesday_10am();
    let f = flare("", &clock).await;
    let open = console_line(
        "alice",
        "!inc open Checkout down\nevery request fails since 10:02\n\nrollback started sev1",
        "m-1",
        clock.now_utc(),
    );
    f.running.inbound.send(open).await.expect("send");
    let out = f
        .expect_console("The 2 lines after the command are its first update.", 1)
        .await;
    assert!(out.contains("Opened INC-1 [SEV3]"), "{out}");
    let inc = f.incident(1).await;
    assert_eq!(
        (inc.title.as_str(), inc.severity),
        ("Checkout down", Severity::Sev3)
    );
    let updates: Vec<String> = f
        .timeline(1)
        .await
        .into_iter()
        .filter(|e| e.kind == "update")
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        updates,
        vec!["every request fails since 10:02\n\nrollback started sev1".to_string()]
    );
    let ack = console_line("bob", "!inc ack INC-1\nINC-2\ntoo", "m-2", clock.now_utc());
    f.running.inbound.send(ack).await.expect("send");
    f.expect_console(
        "Only the first line is a command: the 2 lines after `ack` were not used.",
        1,
    )
    .await;
    assert_eq!(f.incident(1).await.acknowledged_by.as_deref(), Some("bob"));
    // An update's text goes on over its lines.
    let update = console_line(
        "bob",
        "!inc update INC-1\nfailed over\nto the replica",
        "m-3",
        clock.now_utc(),
    );
    f.running.inbound.send(update).await.expect("send");
    f.expect_console("update from bob: failed over", 1).await;
    let last = f.timeline(1).await.pop().expect("timeline");
    assert_eq!(last.detail, "failed over\nto the replica");
    assert_eq!(f.console_out.text().matches("were not used").count(), 1);
}

#[tokio::test]
async fn show_says_what_it_leaves_out_and_timeline_lists_everything() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    let updates: Vec<String> = (1..=12)
        .map(|n| format!("!inc update INC-1 step {n}"))
        .collect();
    let mut lines = vec!["!inc open Queue backlog".to_string()];
    lines.extend(updates);
    lines.push("!inc show INC-1".into());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    f.type_lines(&refs).await;
    // opened + 12 updates = 13 events: the last 10 shown, 3 left out.
    let out = f
        .expect_console("… 3 earlier events not shown: !inc timeline INC-1", 1)
        .await;
    assert!(out.contains("timeline (the last 10 of 13):"), "{out}");
    let show = &out[out.rfind("timeline (the last").expect("show")..];
    assert!(!show.contains("step 2\n"), "{show}");
    assert!(show.contains("step 3"), "{show}");
    f.type_lines(&["!inc timeline INC-1"]).await;
    let out = f.expect_console("the whole timeline, 13 events", 1).await;
    let whole = &out[out.rfind("the whole timeline").expect("timeline")..];
    assert!(whole.contains("opened by alice"), "{whole}");
    for n in 1..=12 {
        assert!(
            whole.contains(&format!("update by alice (console #ops): step {n}")),
            "{whole}"
        );
    }
    // A short timeline is shown whole, without a count.
    f.type_lines(&["!inc open Second", "!inc show INC-2"]).await;
    let out = f.expect_console(" timeline:\n", 1).await;
    assert_eq!(out.matches("earlier events not shown").count(), 1, "{out}");
}

#[tokio::test]
async fn list_resolved_goes_back_a_span_or_to_a_date_and_says_how_many_it_leaves_out() {
    let clock = tuesday_10am();
    let mut f = flare("", &clock).await;
    // INC-1 resolved on Tuesday; INC-2..INC-24 resolved on Friday; INC-25 stays open.
    f.type_lines(&["!inc open Old one", "!inc resolve INC-1 long ago"])
        .await;
    f.expect_console("resolved by alice", 1).await;
    clock.advance(Duration::days(3));
    for n in 2..=24 {
        f.type_lines(&[
            &format!("!inc open Friday {n}"),
            &format!("!inc resolve INC-{n}"),
        ])
        .await;
        f.expect_console(&format!("Opened INC-{n} "), 1).await;
    }
    f.type_lines(&["!inc open Still open"]).await;
    f.expect_console("Opened INC-25", 1).await;
    f.type_lines(&["!inc list resolved 24h"]).await;
    let out = f.expect_console("incident(s) resolved since", 1).await;
    let listed = &out[out.rfind("incident(s) resolved since").expect("list")..];
    assert!(
        listed.starts_with("incident(s) resolved since 2026-11-26 10:00:00 EST"),
        "{listed}"
    );
    assert!(out.contains("23 incident(s) resolved since"), "{out}");
    assert!(
        listed.contains("INC-24 [SEV3 resolved] Friday 24"),
        "{listed}"
    );
    assert!(listed.contains("… and 3 earlier, not shown"), "{listed}");
    assert!(
        !listed.contains("Old one") && !listed.contains("Still open"),
        "{listed}"
    );
    // Since a date (local midnight): the Tuesday one too; and the default week.
    f.type_lines(&["!inc list resolved 2026-11-24", "!inc list resolved"])
        .await;
    f.expect_console("24 incident(s) resolved since 2026-11-24 00:00:00 EST", 1)
        .await;
    f.expect_console("24 incident(s) resolved since 2026-11-20 10:00:00 EST", 1)
        .await;
    f.type_lines(&["!inc list resolved 2026-12-01"]).await;
    f.expect_console("No incident resolved since 2026-12-01 00:00:00 EST.", 1)
        .await;
}

#[tokio::test]
async fn severity_and_title_can_be_restricted_to_responders() {
    let clock = tuesday_10am();
    let mut f = flare(
        "[commands]\nresponders_only = [\"severity\", \"title\"]\n",
        &clock,
    )
    .await;
    f.type_lines(&[
        "!inc open Login broken",
        "/user mallory",
        "!inc severity INC-1 sev1",
        "!inc title INC-1 Everything is fine",
    ])
    .await;
    f.expect_console("Only responders may `title` incidents", 1)
        .await;
    f.expect_console("Only responders may `severity` incidents", 1)
        .await;
    let inc = f.incident(1).await;
    assert_eq!(inc.title, "Login broken");
    assert_eq!(inc.severity.as_str(), "SEV3");
    f.type_lines(&["/user bob", "!inc severity INC-1 sev2"])
        .await;
    f.expect_console("INC-1 severity SEV3 → SEV2 by bob", 1)
        .await;
}
