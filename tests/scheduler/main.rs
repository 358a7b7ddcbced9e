//! The SLA clock: ack reminders and breaches on the business calendar, escalation paths,
//! on-call rotations across DST, cron announcements, restarts of a real process, and two
//! schedulers sharing one PostgreSQL database.
//!
//! The slower end-to-end cases sit beside this file in tests/scheduler/: real processes
//! (`process`), two schedulers on PostgreSQL (`postgres`) and reminders over IRC (`irc_e2e`).

// This target is a folder (tests/scheduler/main.rs) so that its case modules sit beside it;
// the shared tree is therefore one folder up.
#[path = "../support/mod.rs"]
mod support;

mod irc_e2e;
mod postgres;
mod process;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use flare::clock::ManualClock;
use flare::config::Config;
use flare::store::{NewTimer, Timer};
use support::{TestFlare, at, eventually, start};

const PEOPLE: &str = r#"
[console]
user = "alice"

[[people]]
name = "alice"
console = "alice"
email = "alice@example.com"
[[people]]
name = "bob"
console = "bob"
[[people]]
name = "carol"
console = "carol"
[[people]]
name = "dana"
console = "dana"
"#;

const ROTATION: &str = r#"
[[rotation]]
name = "primary"
participants = ["bob", "carol"]
length = "weekly"
handoff_day = "mon"
handoff_time = "09:00"
start = "2026-11-23"
"#;

/// Nudges are on by default for SEV1/SEV2; tests about other timers turn them off so they
/// can count exactly.
async fn flare(extra: &str, clock: &ManualClock) -> TestFlare {
    let nudges = if extra.contains("[nudges]") {
        ""
    } else {
        "\n[nudges]\nsev1 = \"\"\nsev2 = \"\"\n"
    };
    start(
        &format!("{PEOPLE}{extra}{nudges}"),
        Arc::new(clock.clone()),
        true,
    )
    .await
}

async fn pending(f: &TestFlare, incident: Option<i64>) -> Vec<(String, DateTime<Utc>)> {
    let mut tx = f.running.store.begin().await.expect("tx");
    tx.pending_timers(incident)
        .await
        .expect("timers")
        .into_iter()
        .map(|t| (t.new.kind, t.new.due_at))
        .collect()
}

async fn fired(f: &TestFlare, incident: Option<i64>) -> Vec<Timer> {
    let mut tx = f.running.store.begin().await.expect("tx");
    tx.fired_timers(incident).await.expect("timers")
}

/// Fires everything due and returns how many timers have fired so far (of one incident, or
/// all). The app's own scheduler task runs too and may fire some first; either way each
/// fires once.
async fn fire_due(f: &TestFlare, incident: Option<i64>) -> usize {
    while f.running.engine.fire_due_timers(100).await.expect("fire") > 0 {}
    fired(f, incident).await.len()
}

fn kinds(v: &[(String, DateTime<Utc>)]) -> Vec<(&str, DateTime<Utc>)> {
    v.iter().map(|(k, d)| (k.as_str(), *d)).collect()
}

/// Opens an incident at the clock's time and returns the ack timers scheduled for it.
async fn ack_schedule(start_at: &str) -> Vec<(String, DateTime<Utc>)> {
    let clock = ManualClock::new(at(start_at));
    let mut f = flare("", &clock).await;
    f.type_lines(&["!inc open Disk full sev2"]).await;
    f.expect_console("Opened INC-1", 1).await;
    pending(&f, Some(1)).await
}

#[tokio::test]
async fn business_hours_incident_gets_reminders_at_half_and_eighty_percent_and_breach_at_15() {
    // Tuesday 2026-11-24 10:00 EST.
    let due = ack_schedule("2026-11-24T15:00:00Z").await;
    assert_eq!(
        kinds(&due),
        vec![
            ("ack_reminder", at("2026-11-24T15:07:30Z")),
            ("ack_reminder", at("2026-11-24T15:12:00Z")),
            ("ack_breach", at("2026-11-24T15:15:00Z")),
        ]
    );
}

#[tokio::test]
async fn saturday_evening_and_thanksgiving_get_the_60_minute_schedule() {
    for start_at in [
        "2026-11-28T15:00:00Z", // Saturday 10:00 EST
        "2026-11-25T01:00:00Z", // Tuesday 20:00 EST
        "2026-11-26T15:00:00Z", // Thanksgiving, Thursday 10:00 EST
    ] {
        let t0 = at(start_at);
        let due = ack_schedule(start_at).await;
        assert_eq!(
            kinds(&due),
            vec![
                ("ack_reminder", t0 + Duration::minutes(30)),
                ("ack_reminder", t0 + Duration::minutes(48)),
                ("ack_breach", t0 + Duration::minutes(60)),
            ],
            "{start_at}"
        );
    }
}

#[tokio::test]
async fn reminders_ping_the_on_call_and_an_ack_at_minute_9_cancels_the_rest() {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let mut f = flare(ROTATION, &clock).await;
    f.type_lines(&["!inc open Payments failing sev2"]).await;
    f.expect_console("Opened INC-1", 1).await;
    clock.set(at("2026-11-24T15:07:30Z"));
    assert_eq!(fire_due(&f, Some(1)).await, 1);
    // bob is on call this week (the rotation started Monday 2026-11-23 with him).
    let out = f
        .expect_console("@bob NOTICE ⏰ INC-1 [SEV2 investigating] Payments failing is not acknowledged: 7m 30s left", 1)
        .await;
    assert!(!out.contains("@carol"), "{out}");
    clock.set(at("2026-11-24T15:09:00Z"));
    f.type_lines(&["/user bob", "!inc ack INC-1"]).await;
    f.expect_console("acknowledged by bob", 1).await;
    assert!(pending(&f, Some(1)).await.is_empty());
    clock.set(at("2026-11-24T16:00:00Z"));
    assert_eq!(fire_due(&f, Some(1)).await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let out = f.console_out.text();
    assert_eq!(out.matches("⏰").count(), 1, "{out}");
    assert!(!out.contains("breached"), "{out}");
    let fired = fired(&f, Some(1)).await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].late_ms, Some(0));
}

const ESCALATION: &str = r#"
[[escalation]]
severities = ["SEV1", "SEV2"]
[[escalation.step]]
after = "0m"
notify = ["oncall"]
[[escalation.step]]
after = "5m"
notify = ["secondary"]
[[escalation.step]]
after = "10m"
notify = ["dana"]
[[escalation.step]]
after = "10m"
notify = ["alice"]
via = "email"
"#;

#[tokio::test]
async fn escalation_runs_its_steps_in_order_and_stops_at_the_ack() {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let mut f = flare(&format!("{ROTATION}{ESCALATION}"), &clock).await;
    f.type_lines(&["!inc open Checkout down sev1"]).await;
    f.expect_console("Opened INC-1", 1).await;
    // The breach at minute 15, then step 1 (on-call, at once).
    clock.set(at("2026-11-24T15:15:00Z"));
    // Two reminders, the breach and step 1.
    assert_eq!(fire_due(&f, Some(1)).await, 4);
    f.expect_console(
        "@bob NOTICE 🚨 INC-1 [SEV1 investigating] Checkout down: ack SLA breached",
        1,
    )
    .await;
    f.expect_console("escalation step 1/4, paging bob", 1).await;
    let due = pending(&f, Some(1)).await;
    assert_eq!(
        kinds(&due),
        vec![
            ("escalation", at("2026-11-24T15:20:00Z")),
            ("escalation", at("2026-11-24T15:25:00Z")),
            ("escalation", at("2026-11-24T15:25:00Z")),
        ]
    );
    // Step 2: the secondary.
    clock.set(at("2026-11-24T15:20:00Z"));
    assert_eq!(fire_due(&f, Some(1)).await, 5);
    f.expect_console("@carol NOTICE 🚨 INC-1 [SEV1 investigating] Checkout down is still not acknowledged: escalation step 2/4, paging carol", 1)
        .await;
    // The ack at minute 22 stops the path.
    clock.set(at("2026-11-24T15:22:00Z"));
    f.type_lines(&["/user carol", "!inc ack INC-1"]).await;
    f.expect_console("acknowledged by carol", 1).await;
    assert!(pending(&f, Some(1)).await.is_empty());
    clock.set(at("2026-11-24T16:00:00Z"));
    assert_eq!(fire_due(&f, Some(1)).await, 5);
    let mut tx = f.running.store.begin().await.expect("tx");
    let timeline: Vec<(String, String)> = tx
        .timeline(1)
        .await
        .expect("timeline")
        .into_iter()
        .filter(|e| e.kind.starts_with("escalation") || e.kind.starts_with("ack"))
        .map(|e| (e.kind, e.detail))
        .collect();
    drop(tx);
    let names: Vec<&str> = timeline.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "ack_breached",
            "escalation_started",
            "escalation_step",
            "escalation_step",
            "ack"
        ],
        "{timeline:?}"
    );
    assert!(
        timeline[2]
            .1
            .starts_with("step 1/4 via chat: mentioned bob"),
        "{timeline:?}"
    );
    // On the console, bob gets a direct message too.
    assert!(
        timeline[2].1.contains("direct messages: bob on console"),
        "{timeline:?}"
    );
    assert!(
        f.console_out
            .text()
            .contains("[bob ▸ INC-1] NOTICE 🚨 You are paged for INC-1"),
        "{}",
        f.console_out.text()
    );
    assert!(
        timeline[3]
            .1
            .starts_with("step 2/4 via chat: mentioned carol"),
        "{timeline:?}"
    );
    let out = f.console_out.text();
    assert!(!out.contains("step 3/4"), "{out}");
    assert!(!out.contains("step 4/4"), "{out}");
}

#[tokio::test]
async fn an_email_step_is_recorded_as_pending_transport() {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let mut f = flare(&format!("{ROTATION}{ESCALATION}"), &clock).await;
    f.type_lines(&["!inc open Checkout down sev1"]).await;
    f.expect_console("Opened INC-1", 1).await;
    clock.set(at("2026-11-24T15:40:00Z"));
    assert_eq!(fire_due(&f, Some(1)).await, 7);
    f.expect_console(
        "step 4/4 (email to alice) is recorded but cannot be sent yet",
        1,
    )
    .await;
    let mut tx = f.running.store.begin().await.expect("tx");
    let steps: Vec<String> = tx
        .timeline(1)
        .await
        .expect("timeline")
        .into_iter()
        .filter(|e| e.kind == "escalation_step")
        .map(|e| e.detail)
        .collect();
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert!(
        steps[2].starts_with("step 3/4 via chat: mentioned dana"),
        "{steps:?}"
    );
    assert_eq!(
        steps[3],
        "step 4/4 via email to alice <alice@example.com>: pending transport (e-mail is not available yet)"
    );
}

#[tokio::test]
async fn oncall_shows_now_and_next_and_overrides_take_over() {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let mut f = flare(ROTATION, &clock).await;
    f.type_lines(&["!oncall"]).await;
    f.expect_console(
        "On call (primary): bob until Mon 2026-11-30 09:00 EST; next: carol.",
        1,
    )
    .await;
    f.type_lines(&[
        "!oncall override dana 2026-11-24 09:00 2026-11-24T23:00:00Z",
        "!incident oncall",
        "!oncall override nobody 2026-11-24 09:00 2026-11-24 10:00",
        "!oncall override dana 2026-11-24 10:00 2026-11-24 09:00",
    ])
    .await;
    f.expect_console(
        "dana is on call (primary) from Tue 2026-11-24 09:00 EST to Tue 2026-11-24 18:00 EST (override by alice).",
        1,
    )
    .await;
    f.expect_console(
        "On call (primary): dana (override) until Tue 2026-11-24 18:00 EST; next: bob.",
        1,
    )
    .await;
    f.expect_console("`nobody` is not in Flare's people directory", 1)
        .await;
    f.expect_console("The override ends", 1).await;
    // Reminders now ping dana.
    f.type_lines(&["!inc open Queue stuck sev2"]).await;
    f.expect_console("Opened INC-1", 1).await;
    clock.set(at("2026-11-24T15:07:30Z"));
    assert_eq!(fire_due(&f, Some(1)).await, 1);
    f.expect_console("@dana NOTICE ⏰ INC-1", 1).await;
}

#[tokio::test]
async fn nudges_follow_updates() {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let mut f = flare("[nudges]\nsev1 = \"30m\"\n", &clock).await;
    f.type_lines(&["!inc open API slow sev1", "!inc commander INC-1 carol"])
        .await;
    f.expect_console("carol is now the incident commander", 1)
        .await;
    let nudge = |v: Vec<(String, DateTime<Utc>)>| {
        v.into_iter()
            .filter(|(k, _)| k == "update_nudge")
            .map(|(_, d)| d)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        nudge(pending(&f, Some(1)).await),
        vec![at("2026-11-24T15:30:00Z")]
    );
    clock.set(at("2026-11-24T15:10:00Z"));
    f.type_lines(&["!inc update INC-1 restarting the pool"])
        .await;
    f.expect_console("restarting the pool", 1).await;
    eventually(5, "nudge re-armed", || async {
        nudge(pending(&f, Some(1)).await) == vec![at("2026-11-24T15:40:00Z")]
    })
    .await;
    f.type_lines(&["/user bob", "!inc ack INC-1"]).await;
    f.expect_console("acknowledged by bob", 1).await;
    clock.set(at("2026-11-24T15:40:00Z"));
    fire_due(&f, Some(1)).await;
    let nudged = fired(&f, Some(1)).await;
    assert_eq!(
        nudged
            .iter()
            .filter(|t| t.new.kind == "update_nudge")
            .count(),
        1
    );
    f.expect_console(
        "@carol NOTICE 📝 INC-1 [SEV1 investigating] API slow has had no status update for 30m (carol)",
        1,
    )
    .await;
    assert_eq!(
        nudge(pending(&f, Some(1)).await),
        vec![at("2026-11-24T16:10:00Z")]
    );
}

#[test]
fn rotation_handoffs_stay_at_9_local_across_both_dst_changes() {
    let cfg =
        Config::from_str_with_env(&format!("{PEOPLE}{ROTATION}"), Vec::new()).expect("config");
    let paging = flare::domain::paging::Paging::from_config(&cfg).expect("paging");
    let r = &paging.rotations[0];
    // November: clocks fall back on Sunday 2026-11-01.
    let before = r.next_handoff(at("2026-10-20T12:00:00Z"));
    let after = r.next_handoff(before);
    assert_eq!(before, at("2026-10-26T13:00:00Z")); // 09:00 EDT
    assert_eq!(after, at("2026-11-02T14:00:00Z")); // 09:00 EST
    assert_eq!(after - before, Duration::days(7) + Duration::hours(1));
    // March: clocks spring forward on Sunday 2027-03-14.
    let before = r.next_handoff(at("2027-03-02T12:00:00Z"));
    let after = r.next_handoff(before);
    assert_eq!(before, at("2027-03-08T14:00:00Z")); // 09:00 EST
    assert_eq!(after, at("2027-03-15T13:00:00Z")); // 09:00 EDT
    assert_eq!(after - before, Duration::days(7) - Duration::hours(1));
    let zone = chrono_tz::America::New_York;
    for t in [before, after] {
        assert_eq!(
            t.with_timezone(&zone).format("%a %H:%M").to_string(),
            "Mon 09:00"
        );
    }
    // Who: bob from 2026-11-23, then carol, then bob...
    assert_eq!(r.scheduled(at("2026-11-23T14:00:00Z")), "bob");
    assert_eq!(r.scheduled(at("2026-11-30T13:59:59Z")), "bob");
    assert_eq!(r.scheduled(at("2026-11-30T14:00:00Z")), "carol");
}

#[tokio::test]
async fn handoff_announcements_re_arm_across_the_march_change() {
    // Friday 2027-03-12 12:00 EST; the next handoff is Monday 2027-03-15 09:00 EDT.
    let clock = ManualClock::new(at("2027-03-12T17:00:00Z"));
    let f = flare(
        &format!("{ROTATION}announce = [\"console/#ops\"]\n"),
        &clock,
    )
    .await;
    eventually(5, "handoff timer armed", || async {
        kinds(&pending(&f, None).await) == vec![("rotation_handoff", at("2027-03-15T13:00:00Z"))]
    })
    .await;
    clock.set(at("2027-03-15T13:00:00Z"));
    assert_eq!(fire_due(&f, None).await, 1);
    // 2026-11-23 + 16 weeks: bob's week again.
    f.expect_console(
        "[#ops] @bob 📟 On-call handoff (primary): bob is on call until Mon 2027-03-22 09:00 EDT; next: carol.",
        1,
    )
    .await;
    assert_eq!(
        kinds(&pending(&f, None).await),
        vec![("rotation_handoff", at("2027-03-22T13:00:00Z"))]
    );
}

const ANNOUNCE: &str = r#"
[[announcement]]
name = "standup"
cron = "0 30 9 * * MON-FRI"
text = "Maintenance window tonight at 22:00"
channels = ["console/#ops"]
"#;

#[tokio::test]
async fn a_cron_announcement_fires_on_time_and_re_arms() {
    // Tuesday 2026-11-24 09:00 EST.
    let clock = ManualClock::new(at("2026-11-24T14:00:00Z"));
    let f = flare(ANNOUNCE, &clock).await;
    eventually(5, "announcement armed", || async {
        kinds(&pending(&f, None).await) == vec![("announcement", at("2026-11-24T14:30:00Z"))]
    })
    .await;
    clock.set(at("2026-11-24T14:29:59Z"));
    assert_eq!(fire_due(&f, None).await, 0);
    clock.set(at("2026-11-24T14:30:00Z"));
    assert_eq!(fire_due(&f, None).await, 1);
    f.expect_console("[#ops] 📢 Maintenance window tonight at 22:00", 1)
        .await;
    let done = fired(&f, None).await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].late_ms, Some(0));
    // Next: Wednesday 09:30 EST.
    assert_eq!(
        kinds(&pending(&f, None).await),
        vec![("announcement", at("2026-11-25T14:30:00Z"))]
    );
}

fn problems(toml: &str) -> Vec<(String, String)> {
    match Config::from_str_with_env(&format!("{PEOPLE}{toml}"), Vec::new()) {
        Ok(_) => panic!("accepted:\n{toml}"),
        Err(e) => e
            .problems()
            .into_iter()
            .map(|p| (p.key, p.reason))
            .collect(),
    }
}

#[test]
fn bad_schedules_are_rejected_at_load_naming_the_key() {
    let p = problems(
        "[[announcement]]\ncron = \"0 9 * * 1-5\"\ntext = \"x\"\nchannels = [\"console/#ops\"]\n",
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "announcement[0].cron");
    assert!(p[0].1.contains("weekday names"), "{p:?}");
    let p =
        problems("[[announcement]]\ncron = \"every day\"\ntext = \"x\"\nchannels = [\"ops\"]\n");
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec!["announcement[0].channels[0]", "announcement[0].cron"]
    );
    let p = problems("[[rotation]]\nname = \"x\"\nparticipants = []\n");
    assert_eq!(p[0].0, "rotation[0].participants");
    assert!(p[0].1.contains("no participants"), "{p:?}");
    let p = problems(
        "[[rotation]]\nname = \"x\"\nparticipants = [\"bob\", \"zed\"]\nhandoff_day = \"1\"\n",
    );
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec!["rotation[0].participants[1]", "rotation[0].handoff_day"]
    );
    let p =
        problems("[[escalation]]\n[[escalation.step]]\nafter = \"5m\"\nnotify = [\"mallory\"]\n");
    assert_eq!(p[0].0, "escalation[0].step[0].notify[0]");
    assert!(p[0].1.contains("`mallory` is not in [[people]]"), "{p:?}");
    let p = problems("[sla]\nreminders = [\"20m\"]\n");
    assert_eq!(p[0].0, "sla.reminders[0]");
    let p = problems("[nudges]\nsev1 = \"often\"\n");
    assert_eq!(p[0].0, "nudges.sev1");
}

#[tokio::test]
async fn an_escalation_step_pages_named_people_and_the_on_call_together() {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let toml = format!(
        "{ROTATION}\n[[people]]\nname = \"erin\"\nslack = \"U0ERIN\"\n{}",
        "[[escalation]]\n[[escalation.step]]\nnotify = [\"erin\", \"oncall\"]\n"
    );
    let mut f = flare(&toml, &clock).await;
    f.type_lines(&["!inc open Cache cold sev1"]).await;
    f.expect_console("Opened INC-1", 1).await;
    clock.set(at("2026-11-24T15:15:00Z"));
    fire_due(&f, Some(1)).await;
    f.expect_console("paging erin, bob", 1).await;
}

/// For tests that insert raw timers.
pub fn raw_timer(kind: &str, due_at: DateTime<Utc>, payload: &str) -> NewTimer {
    NewTimer {
        incident_id: None,
        kind: kind.into(),
        due_at,
        payload: payload.into(),
    }
}

#[tokio::test]
async fn each_platform_gets_its_own_mentions_and_missing_identities_are_skipped() {
    use flare::chat::{ChannelRole, PlatformKind, Style};
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "{PEOPLE}{ROTATION}\n[[people]]\nname = \"erin\"\nslack = \"U0ERIN\"\n{}",
        "[[escalation]]\n[[escalation.step]]\nnotify = [\"erin\", \"oncall\"]\n"
    );
    let config = support::config(&toml, &dir);
    let store = flare::store::open(&config.database_url().expect("url"), 2)
        .await
        .expect("store");
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let mut channels = config.console_roles();
    channels.push(ChannelRole {
        platform: "slack".into(),
        kind: PlatformKind::Slack,
        channel: "C0INC".into(),
        incident: true,
        announce: false,
    });
    let engine = flare::engine::Engine::new(
        store.clone(),
        Arc::new(clock.clone()),
        flare::engine::Settings::from_config(&config).expect("settings"),
        channels,
        Arc::new(flare::delivery::Wake::new(["console", "slack"])),
    );
    engine
        .handle(&support::console_line(
            "alice",
            "!inc open Cache cold sev1",
            "m-1",
            clock.now_utc(),
        ))
        .await
        .expect("open");
    clock.set(at("2026-11-24T15:15:00Z"));
    while engine.fire_due_timers(100).await.expect("fire") > 0 {}
    let pings = |platform: &'static str| {
        let store = store.clone();
        async move {
            store
                .pending_deliveries(platform, 100)
                .await
                .expect("outbox")
                .into_iter()
                .filter(|d| d.new.style == Style::Reminder && d.new.text.contains("step 1/1"))
                .map(|d| {
                    if d.new.in_thread {
                        d.new.mentions
                    } else {
                        // A direct message: to whom.
                        vec![format!("dm:{}", d.new.channel)]
                    }
                })
                .collect::<Vec<_>>()
        }
    };
    // bob (on call) has no Slack identity: erin only there (mentioned in the thread and
    // sent a direct message); both on the console.
    assert_eq!(
        pings("slack").await,
        vec![vec!["dm:U0ERIN".to_string()], vec!["U0ERIN".to_string()]]
    );
    assert_eq!(
        pings("console").await,
        vec![
            vec!["dm:erin".to_string()],
            vec!["dm:bob".to_string()],
            vec!["erin".to_string(), "bob".to_string()]
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn a_severity_change_after_the_breach_re_plans_the_escalation_path_and_the_nudge() {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let nudges = "\n[nudges]\nsev1 = \"30m\"\nsev2 = \"30m\"\n";
    let mut f = flare(&format!("{ROTATION}{ESCALATION}{nudges}"), &clock).await;
    // SEV3: no escalation path, no nudge.
    f.type_lines(&["!inc open Checkout down"]).await;
    f.expect_console("Opened INC-1 [SEV3]", 1).await;
    clock.set(at("2026-11-24T15:15:00Z"));
    fire_due(&f, Some(1)).await;
    f.expect_console("ack SLA breached", 1).await;
    assert!(pending(&f, Some(1)).await.is_empty());
    // Raised to SEV1 at 15:17, after the breach: the step already behind (0m) pages now,
    // the later ones keep their times, and SEV1's nudge counts from the last update.
    clock.set(at("2026-11-24T15:17:00Z"));
    f.type_lines(&["!inc severity INC-1 sev1"]).await;
    f.expect_console("INC-1 severity SEV3 → SEV1 by alice", 1)
        .await;
    // The step due now may be fired by Flare's own scheduler before the test's call does.
    fire_due(&f, Some(1)).await;
    f.expect_console("escalation step 1/4, paging bob", 1).await;
    assert_eq!(
        kinds(&pending(&f, Some(1)).await),
        vec![
            ("escalation", at("2026-11-24T15:20:00Z")),
            ("escalation", at("2026-11-24T15:25:00Z")),
            ("escalation", at("2026-11-24T15:25:00Z")),
            ("update_nudge", at("2026-11-24T15:30:00Z")),
        ]
    );
    // SEV1 -> SEV2 (the same path): nothing is replayed, the steps ahead stay.
    clock.set(at("2026-11-24T15:21:00Z"));
    fire_due(&f, Some(1)).await;
    f.expect_console("escalation step 2/4, paging carol", 1)
        .await;
    f.type_lines(&["!inc severity INC-1 sev2"]).await;
    f.expect_console("INC-1 severity SEV1 → SEV2 by alice", 1)
        .await;
    assert_eq!(
        kinds(&pending(&f, Some(1)).await),
        vec![
            ("escalation", at("2026-11-24T15:25:00Z")),
            ("escalation", at("2026-11-24T15:25:00Z")),
            ("update_nudge", at("2026-11-24T15:30:00Z")),
        ]
    );
    // Down to SEV4 (no path, no nudge): nothing is left pending.
    f.type_lines(&["!inc severity INC-1 sev4"]).await;
    f.expect_console("INC-1 severity SEV2 → SEV4 by alice", 1)
        .await;
    assert!(pending(&f, Some(1)).await.is_empty());
    clock.set(at("2026-11-24T16:00:00Z"));
    fire_due(&f, Some(1)).await;
    let steps = f
        .timeline(1)
        .await
        .into_iter()
        .filter(|e| e.kind == "escalation_step")
        .count();
    assert_eq!(steps, 2);
}
