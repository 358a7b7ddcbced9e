//! One store suite, run against SQLite and PostgreSQL. PostgreSQL comes from
//! FLARE_TEST_DATABASE_URL (tests/run.sh starts a throwaway cluster); without it the
//! PostgreSQL half fails, unless FLARE_SKIP_POSTGRES=1 says to skip it.

mod support;

use chrono::{Duration, Utc};
use flare::chat::Style;
use flare::domain::incident::{Severity, Source, Status, TimelineEvent};
use flare::store::{
    DeliveryStatus, MessageKey, MessageRecord, NewDelivery, NewIncident, NewTimer, SharedStore,
    StoreError, ThreadRow,
};
use support::at;

async fn sqlite() -> (SharedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/nested/dir/flare.db", dir.path().display());
    (flare::store::open(&url, 4).await.expect("sqlite"), dir)
}

/// A fresh PostgreSQL database for one test.
async fn postgres() -> Option<SharedStore> {
    let url = support::fresh_postgres().await?;
    Some(flare::store::open(&url, 8).await.expect("postgres store"))
}

fn new_incident(title: &str) -> NewIncident {
    let start = at("2026-11-24T15:00:00Z");
    NewIncident {
        title: title.into(),
        severity: Severity::Sev2,
        opened_by: "alice".into(),
        opened_platform: "slack".into(),
        opened_channel: "C1".into(),
        started_at: start,
        sla_class: "business".into(),
        sla_window_secs: 900,
        ack_deadline: start + Duration::minutes(15),
        published: false,
    }
}

async fn incidents_roundtrip_with_optimistic_versions(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let mut inc = tx
        .insert_incident(&new_incident("DB down"))
        .await
        .expect("insert");
    assert_eq!(inc.status, Status::Investigating);
    assert_eq!(inc.started_at, at("2026-11-24T15:00:00Z"));
    inc.status = Status::Identified;
    inc.acknowledged_at = Some(at("2026-11-24T15:04:59.123456Z"));
    inc.impacted_apps = vec!["billing".into(), "api".into()];
    tx.save_incident(&mut inc).await.expect("save");
    assert_eq!(inc.version, 1);
    tx.commit().await.expect("commit");

    let mut tx = s.begin().await.expect("begin");
    let back = tx.incident(inc.id.0).await.expect("read").expect("exists");
    assert_eq!(back, inc);
    let mut stale = back.clone();
    stale.version = 0;
    stale.title = "stale write".into();
    // The update may be deferred: the conflict surfaces at the latest at commit, and nothing
    // of the transaction is kept.
    let saved = tx.save_incident(&mut stale).await;
    let committed = match saved {
        Err(e) => Err(e),
        Ok(()) => {
            tx.add_timeline(&TimelineEvent {
                incident: inc.id,
                at: at("2026-11-24T15:06:00Z"),
                kind: "note".into(),
                actor: "alice".into(),
                source: Source {
                    platform: "slack".into(),
                    channel: "C1".into(),
                    user: "alice".into(),
                    message_id: "m-stale".into(),
                },
                detail: "after the stale write".into(),
            })
            .await
            .expect("timeline");
            tx.commit().await
        }
    };
    assert!(
        matches!(committed, Err(StoreError::Conflict)),
        "{committed:?}"
    );
    let mut tx = s.begin().await.expect("begin");
    let back = tx.incident(inc.id.0).await.expect("read").expect("exists");
    assert_eq!(back.title, "DB down", "the stale write was not kept");
    assert!(tx.timeline(inc.id.0).await.expect("timeline").is_empty());
    drop(tx);
    let mut tx = s.begin().await.expect("begin");
    assert_eq!(tx.open_incidents().await.expect("open").len(), 1);
    assert_eq!(tx.incident_count().await.expect("count"), 1);
    assert!(tx.incident(999).await.expect("read").is_none());
}

async fn rollback_keeps_nothing(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let inc = tx
        .insert_incident(&new_incident("never"))
        .await
        .expect("insert");
    tx.enqueue(
        &NewDelivery::to_channel("irc", "#ops", Style::Reply, "x".into()),
        Utc::now(),
    )
    .await
    .expect("enqueue");
    drop(tx);
    let mut tx = s.begin().await.expect("begin");
    assert!(tx.incident(inc.id.0).await.expect("read").is_none());
    // On SQLite the store has one connection, which this transaction holds.
    drop(tx);
    assert!(
        s.pending_deliveries("irc", 10)
            .await
            .expect("pending")
            .is_empty()
    );
}

async fn messages_dedupe_and_threads_resolve(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let inc = tx
        .insert_incident(&new_incident("threads"))
        .await
        .expect("insert");
    let rec = MessageRecord {
        platform: "slack".into(),
        channel: "C1".into(),
        message_id: "1700000000.000100".into(),
        thread: None,
        incident_id: Some(inc.id.0),
        author_id: "U1".into(),
        author_display: "alice".into(),
        text: "hello".into(),
        sent_at: at("2026-11-24T15:01:00Z"),
        received_at: at("2026-11-24T15:01:00.2Z"),
    };
    let first = tx.record_message(&rec).await.expect("record");
    assert!(first.is_some());
    assert_eq!(tx.record_message(&rec).await.expect("again"), None);
    let root = tx
        .enqueue(
            &NewDelivery {
                incident_id: Some(inc.id.0),
                ..NewDelivery::to_channel("rc", "ROOM1", Style::ThreadRoot, "root".into())
            },
            Utc::now(),
        )
        .await
        .expect("root");
    tx.insert_thread(&ThreadRow {
        incident_id: inc.id.0,
        platform: "rc".into(),
        channel: "ROOM1".into(),
        root_delivery_id: Some(root),
        thread_ref: None,
    })
    .await
    .expect("thread");
    tx.commit().await.expect("commit");
    s.mark_sent(root, "msg-root", Some("msg-root"), Utc::now())
        .await
        .expect("sent");
    let mut tx = s.begin().await.expect("begin");
    assert_eq!(
        tx.incident_for_thread("rc", "ROOM1", "msg-root")
            .await
            .expect("lookup"),
        Some(inc.id.0)
    );
    // A reply to a mirrored copy or to a recorded message finds the incident too.
    assert_eq!(
        tx.incident_for_thread("slack", "C1", "1700000000.000100")
            .await
            .expect("lookup"),
        Some(inc.id.0)
    );
    assert_eq!(
        tx.incident_for_thread("rc", "ROOM1", "other")
            .await
            .expect("lookup"),
        None
    );
    let found = tx
        .find_message("slack", "C1", "1700000000.000100")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.record, rec);
}

async fn outbox_order_retry_and_failure(s: SharedStore) {
    let now = Utc::now();
    let mut tx = s.begin().await.expect("begin");
    let mut ids = Vec::new();
    for i in 0..5 {
        let d = NewDelivery::to_channel("irc", "#ops", Style::Mirror, format!("line {i}"));
        ids.push(tx.enqueue(&d, now).await.expect("enqueue"));
    }
    tx.enqueue(
        &NewDelivery::to_channel("slack", "C1", Style::Reply, "other platform".into()),
        now,
    )
    .await
    .expect("enqueue");
    tx.commit().await.expect("commit");
    let pending = s.pending_deliveries("irc", 100).await.expect("pending");
    let texts: Vec<&str> = pending.iter().map(|d| d.new.text.as_str()).collect();
    assert_eq!(texts, ["line 0", "line 1", "line 2", "line 3", "line 4"]);
    s.mark_retry(ids[0], "disconnected", now + Duration::seconds(5))
        .await
        .expect("retry");
    s.mark_failed(ids[1], "no such channel")
        .await
        .expect("fail");
    s.mark_sent(ids[2], "remote-2", None, now)
        .await
        .expect("sent");
    let d0 = s.delivery(ids[0]).await.expect("read").expect("exists");
    assert_eq!(d0.attempts, 1);
    assert_eq!(d0.last_error.as_deref(), Some("disconnected"));
    assert_eq!(d0.status, DeliveryStatus::Pending);
    let d1 = s.delivery(ids[1]).await.expect("read").expect("exists");
    assert_eq!(d1.status, DeliveryStatus::Failed);
    let d2 = s.delivery(ids[2]).await.expect("read").expect("exists");
    assert_eq!(d2.remote_id.as_deref(), Some("remote-2"));
    assert_eq!(s.pending_deliveries("irc", 100).await.expect("p").len(), 3);
}

/// Issue 20, item 21: copies replaced by a backlog summary are `summarised` (final, not
/// pending, not failed); a row that already went out keeps its status.
async fn summarised_deliveries_are_final(s: SharedStore) {
    let now = Utc::now();
    let mut tx = s.begin().await.expect("begin");
    let mut ids = Vec::new();
    for i in 0..4 {
        let d = NewDelivery::to_channel("irc", "#ops", Style::Mirror, format!("line {i}"));
        ids.push(tx.enqueue(&d, now).await.expect("enqueue"));
    }
    tx.commit().await.expect("commit");
    s.mark_sent(ids[0], "remote-0", None, now)
        .await
        .expect("sent");
    let mut tx = s.begin().await.expect("begin");
    tx.summarise_deliveries(&ids[..3]).await.expect("summarise");
    tx.commit().await.expect("commit");
    let status = |d: Option<flare::store::Delivery>| d.expect("exists").status;
    assert_eq!(
        status(s.delivery(ids[0]).await.expect("read")),
        DeliveryStatus::Sent
    );
    for id in &ids[1..3] {
        assert_eq!(
            status(s.delivery(*id).await.expect("read")),
            DeliveryStatus::Summarised
        );
    }
    let pending = s.pending_deliveries("irc", 100).await.expect("pending");
    assert_eq!(
        pending.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[3]]
    );
    let g = s.gauges().await.expect("gauges");
    assert!(
        g.deliveries
            .contains(&("irc".to_string(), "summarised".to_string(), 2)),
        "{:?}",
        g.deliveries
    );
}

async fn outbox_rows_in_bulk_keep_their_order(s: SharedStore) {
    let now = Utc::now();
    let mut tx = s.begin().await.expect("begin");
    let first = tx
        .enqueue(
            &NewDelivery::to_channel("irc", "#ops", Style::ThreadRoot, "root".into()),
            now,
        )
        .await
        .expect("enqueue");
    // 100 rows: chunks of 64, 32 and 4, in one deferred script.
    let rows: Vec<NewDelivery> = (0..100)
        .map(|i| {
            let mut d = NewDelivery::to_channel("irc", "#ops", Style::Mirror, format!("bulk {i}"));
            d.author = Some(format!("<p{i}@slack>"));
            d.mentions = vec![format!("U{i}")];
            d.in_thread = i % 2 == 0;
            d
        })
        .collect();
    tx.enqueue_many(&rows, now).await.expect("enqueue_many");
    let last = tx
        .enqueue(
            &NewDelivery::to_channel("irc", "#ops", Style::Reply, "after".into()),
            now,
        )
        .await
        .expect("enqueue");
    let mut ids = tx.commit_outbox().await.expect("commit");
    assert_eq!(last, first + 101, "ids follow the order of the calls");
    let pending = s.pending_deliveries("irc", 500).await.expect("pending");
    assert_eq!(pending.len(), 102);
    // The commit reports every outbox row it wrote (what the engine hands to the workers).
    ids.sort_unstable();
    assert_eq!(ids, pending.iter().map(|d| d.id).collect::<Vec<_>>());
    assert_eq!(pending[0].new.text, "root");
    for (i, d) in pending[1..101].iter().enumerate() {
        assert_eq!(d.new, rows[i], "row {i} as written");
    }
    assert_eq!(pending[101].new.text, "after");
    // Marked sent together, each with its own remote id (again in chunks).
    let sent: Vec<(i64, String)> = pending[1..101]
        .iter()
        .map(|d| (d.id, format!("remote-{}", d.id)))
        .collect();
    s.mark_sent_many(&sent, now).await.expect("mark_sent_many");
    let left = s.pending_deliveries("irc", 500).await.expect("pending");
    assert_eq!(left.iter().map(|d| d.id).collect::<Vec<_>>(), [first, last]);
    for (id, remote) in &sent {
        let d = s.delivery(*id).await.expect("read").expect("exists");
        assert_eq!(d.status, DeliveryStatus::Sent);
        assert_eq!(d.remote_id.as_deref(), Some(remote.as_str()));
        assert_eq!(d.attempts, 1);
    }
}

async fn a_reset_timer_moves_or_adds(s: SharedStore) {
    let base = at("2026-11-24T15:00:00Z");
    let mut tx = s.begin().await.expect("begin");
    let inc = tx
        .insert_incident(&new_incident("nudges"))
        .await
        .expect("insert");
    tx.reset_timer(inc.id.0, "update_nudge", base + Duration::minutes(30))
        .await
        .expect("add");
    tx.reset_timer(inc.id.0, "update_nudge", base + Duration::minutes(45))
        .await
        .expect("move");
    let pending = tx.pending_timers(Some(inc.id.0)).await.expect("pending");
    assert_eq!(pending.len(), 1, "moved, not added twice");
    assert_eq!(pending[0].new.due_at, base + Duration::minutes(45));
    tx.commit().await.expect("commit");
    let mut tx = s.begin().await.expect("begin");
    let due = tx
        .claim_due_timers(base + Duration::hours(1), 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 1);
    tx.mark_timer_fired(due[0].id, base + Duration::hours(1), 0)
        .await
        .expect("fired");
    // Once fired, a reset adds a new one.
    tx.reset_timer(inc.id.0, "update_nudge", base + Duration::hours(2))
        .await
        .expect("add again");
    tx.commit().await.expect("commit");
    let mut tx = s.begin().await.expect("begin");
    let pending = tx.pending_timers(Some(inc.id.0)).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].new.due_at, base + Duration::hours(2));
    assert_eq!(
        tx.fired_timers(Some(inc.id.0)).await.expect("fired").len(),
        1
    );
}

async fn messages_recorded_in_bulk_dedupe(s: SharedStore) {
    let rec = |id: &str| MessageRecord {
        platform: "irc".into(),
        channel: "#ops".into(),
        message_id: id.into(),
        thread: None,
        incident_id: None,
        author_id: "dave".into(),
        author_display: "dave".into(),
        text: format!("line {id}"),
        sent_at: at("2026-11-24T15:00:00Z"),
        received_at: at("2026-11-24T15:00:01Z"),
    };
    let mut tx = s.begin().await.expect("begin");
    let before = tx.record_message(&rec("m-0")).await.expect("record");
    assert!(before.is_some());
    let batch: Vec<MessageRecord> = ["m-0", "m-1", "m-2", "m-1", "m-3"]
        .iter()
        .map(|id| rec(id))
        .collect();
    let ids = tx.record_messages(&batch).await.expect("bulk");
    assert_eq!(ids.len(), 5);
    assert!(ids[0].is_none(), "recorded before");
    assert!(ids[1].is_some() && ids[2].is_some() && ids[4].is_some());
    assert!(ids[3].is_none(), "the second of two equal keys");
    let found = tx
        .find_message("irc", "#ops", "m-2")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(Some(found.id), ids[2]);
    assert_eq!(found.record, batch[2]);
    // Forgotten ones can be recorded again later.
    tx.forget_messages(&[ids[4].unwrap_or_default()])
        .await
        .expect("forget");
    tx.commit().await.expect("commit");
    let mut tx = s.begin().await.expect("begin");
    assert!(
        tx.record_message(&rec("m-3"))
            .await
            .expect("again")
            .is_some()
    );
    assert!(tx.record_message(&rec("m-2")).await.expect("dup").is_none());
}

/// A message recorded unread with its copies naming it by key; a duplicate and a stale
/// incident version each fail the transaction with `Conflict` and leave nothing behind.
async fn messages_recorded_unread_with_their_copies(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let inc = tx
        .insert_incident(&new_incident("unread"))
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let rec = MessageRecord {
        platform: "irc".into(),
        channel: "#ops".into(),
        message_id: "m-1".into(),
        thread: Some("#ops".into()),
        incident_id: Some(inc.id.0),
        author_id: "dave".into(),
        author_display: "dave".into(),
        text: "rebooting db2".into(),
        sent_at: at("2026-11-24T15:00:00Z"),
        received_at: at("2026-11-24T15:00:01Z"),
    };
    let copy = |channel: &str| NewDelivery {
        incident_id: Some(inc.id.0),
        in_thread: true,
        source_key: Some(MessageKey {
            platform: rec.platform.clone(),
            channel: rec.channel.clone(),
            message_id: rec.message_id.clone(),
        }),
        ..NewDelivery::to_channel("slack", channel, Style::Mirror, rec.text.clone())
    };
    let plain = NewDelivery::to_channel("slack", "C9", Style::Reply, "unrelated".into());
    let mut tx = s.begin().await.expect("begin");
    tx.expect_incident_version(inc.id.0, inc.version)
        .await
        .expect("guard");
    tx.record_new_message(&rec).await.expect("record");
    tx.enqueue_many(&[copy("C1"), plain.clone(), copy("C2")], Utc::now())
        .await
        .expect("copies");
    let ids = tx.commit_outbox().await.expect("commit");
    assert_eq!(ids.len(), 3);

    let mut tx = s.begin().await.expect("begin");
    let msg = tx
        .find_message("irc", "#ops", "m-1")
        .await
        .expect("find")
        .expect("recorded");
    assert_eq!(msg.record, rec);
    let copies = tx.copies_of(msg.id).await.expect("copies");
    let channels: Vec<&str> = copies.iter().map(|d| d.new.channel.as_str()).collect();
    assert_eq!(channels, ["C1", "C2"]);
    assert_eq!(copies[0].id, ids[0]);
    assert_eq!(copies[1].new.source_message, Some(msg.id));
    drop(tx);

    // The same message again: the transaction fails and writes nothing.
    let mut tx = s.begin().await.expect("begin");
    tx.record_new_message(&rec).await.expect("record");
    tx.enqueue_many(&[copy("C3")], Utc::now())
        .await
        .expect("copies");
    assert!(matches!(
        tx.commit_outbox().await,
        Err(StoreError::Conflict)
    ));
    // A stale version: the same.
    let mut tx = s.begin().await.expect("begin");
    tx.expect_incident_version(inc.id.0, inc.version + 1)
        .await
        .expect("guard");
    tx.record_new_message(&MessageRecord {
        message_id: "m-2".into(),
        ..rec.clone()
    })
    .await
    .expect("record");
    assert!(matches!(
        tx.commit_outbox().await,
        Err(StoreError::Conflict)
    ));
    let mut tx = s.begin().await.expect("begin");
    assert!(
        tx.find_message("irc", "#ops", "m-2")
            .await
            .expect("find")
            .is_none()
    );
    assert_eq!(tx.copies_of(msg.id).await.expect("copies").len(), 2);
    drop(tx);
    assert_eq!(
        s.pending_deliveries("slack", 10)
            .await
            .expect("pending")
            .len(),
        3
    );
}

async fn timers_claim_cancel_and_fire_once(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let inc = tx
        .insert_incident(&new_incident("timers"))
        .await
        .expect("insert");
    let base = at("2026-11-24T15:00:00Z");
    for (kind, min) in [
        ("ack_reminder", 7),
        ("ack_reminder", 12),
        ("ack_breach", 15),
    ] {
        tx.add_timer(&NewTimer {
            incident_id: Some(inc.id.0),
            kind: kind.into(),
            due_at: base + Duration::minutes(min),
            payload: String::new(),
        })
        .await
        .expect("timer");
    }
    // Several at once, in one statement.
    tx.add_timers(&[
        NewTimer {
            incident_id: Some(inc.id.0),
            kind: "update_nudge".into(),
            due_at: base + Duration::minutes(30),
            payload: String::new(),
        },
        NewTimer {
            incident_id: None,
            kind: "announcement".into(),
            due_at: base + Duration::minutes(40),
            payload: "weekly".into(),
        },
    ])
    .await
    .expect("timers");
    assert_eq!(
        tx.pending_timers(Some(inc.id.0))
            .await
            .expect("pending")
            .len(),
        4
    );
    assert_eq!(tx.pending_timers(None).await.expect("pending").len(), 5);
    tx.cancel_timers(inc.id.0, &["update_nudge"])
        .await
        .expect("cancel");
    let pending = tx.pending_timers(Some(inc.id.0)).await.expect("pending");
    assert_eq!(pending.len(), 3, "exactly the nudge was cancelled");
    assert!(pending.iter().all(|t| t.new.kind != "update_nudge"));
    tx.commit().await.expect("commit");
    assert_eq!(
        s.next_timer_due().await.expect("next"),
        Some(base + Duration::minutes(7))
    );
    let mut tx = s.begin().await.expect("begin");
    let due = tx
        .claim_due_timers(base + Duration::minutes(8), 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 1);
    tx.mark_timer_fired(due[0].id, base + Duration::minutes(8), 60_000)
        .await
        .expect("fired");
    tx.cancel_timers(inc.id.0, &["ack_breach"])
        .await
        .expect("cancel");
    tx.commit().await.expect("commit");
    let mut tx = s.begin().await.expect("begin");
    let left = tx.pending_timers(Some(inc.id.0)).await.expect("pending");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].new.due_at, base + Duration::minutes(12));
    assert!(
        tx.claim_due_timers(base + Duration::minutes(8), 10)
            .await
            .expect("claim")
            .is_empty()
    );
}

async fn timeline_keeps_utc_instants(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let inc = tx
        .insert_incident(&new_incident("timeline"))
        .await
        .expect("insert");
    let ev = TimelineEvent {
        incident: inc.id,
        // The repeated 01:30 hour of 2026-11-01 in New York, second pass (EST).
        at: at("2026-11-01T06:30:00Z"),
        kind: "ack".into(),
        actor: "bob".into(),
        source: Source {
            platform: "irc".into(),
            channel: "#ops".into(),
            user: "bob".into(),
            message_id: "abc".into(),
        },
        detail: "within SLA".into(),
    };
    tx.add_timeline(&ev).await.expect("add");
    assert!(tx.has_timeline(inc.id.0, "ack").await.expect("has"));
    assert!(!tx.has_timeline(inc.id.0, "resolved").await.expect("has"));
    let back = tx.timeline(inc.id.0).await.expect("read");
    assert_eq!(back, vec![ev]);
}

/// `list resolved`: resolved at or after the instant, latest first, bounded, with the total.
async fn resolved_incidents_since_latest_first_and_bounded(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let base = at("2026-11-24T15:00:00Z");
    for n in 0..5 {
        let mut inc = tx
            .insert_incident(&new_incident(&format!("inc {n}")))
            .await
            .expect("insert");
        // inc 4 stays open; the others are resolved an hour apart.
        if n < 4 {
            inc.status = Status::Resolved;
            inc.resolved_at = Some(base + Duration::hours(n));
            tx.save_incident(&mut inc).await.expect("save");
        }
    }
    tx.commit().await.expect("commit");
    let mut tx = s.begin().await.expect("begin");
    let titles = |v: &[flare::domain::incident::Incident]| {
        v.iter().map(|i| i.title.clone()).collect::<Vec<_>>()
    };
    let (all, total) = tx.resolved_incidents(base, 10).await.expect("all");
    assert_eq!(titles(&all), vec!["inc 3", "inc 2", "inc 1", "inc 0"]);
    assert_eq!(total, 4);
    let (two, total) = tx.resolved_incidents(base, 2).await.expect("bounded");
    assert_eq!(
        (titles(&two), total),
        (vec!["inc 3".into(), "inc 2".into()], 4)
    );
    // At or after: the instant itself is in.
    let (later, total) = tx
        .resolved_incidents(base + Duration::hours(2), 10)
        .await
        .expect("later");
    assert_eq!(
        (titles(&later), total),
        (vec!["inc 3".into(), "inc 2".into()], 2)
    );
    let (none, total) = tx
        .resolved_incidents(base + Duration::hours(4), 10)
        .await
        .expect("none");
    assert!(none.is_empty());
    assert_eq!(total, 0);
}

/// The reaction notice is remembered per person: a timeline entry of a kind by an actor.
async fn timeline_entries_are_found_by_kind_and_actor(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let inc = tx
        .insert_incident(&new_incident("reactions"))
        .await
        .expect("insert");
    let other = tx
        .insert_incident(&new_incident("other"))
        .await
        .expect("insert");
    tx.add_timeline(&TimelineEvent {
        incident: inc.id,
        at: at("2026-11-24T15:01:00Z"),
        kind: "reaction_notice".into(),
        actor: "bob".into(),
        source: Source::default(),
        detail: String::new(),
    })
    .await
    .expect("timeline");
    let id = inc.id.0;
    assert!(
        tx.has_timeline_by(id, "reaction_notice", "bob")
            .await
            .expect("bob")
    );
    assert!(
        !tx.has_timeline_by(id, "reaction_notice", "carol")
            .await
            .expect("carol")
    );
    assert!(!tx.has_timeline_by(id, "ack", "bob").await.expect("kind"));
    assert!(
        !tx.has_timeline_by(other.id.0, "reaction_notice", "bob")
            .await
            .expect("incident")
    );
}

/// `published` is stored, saved and queried: published incidents only, newest first, limited.
async fn published_incidents_newest_first(s: SharedStore) {
    let mut tx = s.begin().await.expect("begin");
    let mut first = NewIncident {
        published: true,
        ..new_incident("first")
    };
    let a = tx.insert_incident(&first).await.expect("a");
    let mut b = tx
        .insert_incident(&new_incident("hidden"))
        .await
        .expect("b");
    first.title = "third".into();
    let c = tx.insert_incident(&first).await.expect("c");
    assert!(a.published && !b.published && c.published);
    let ids =
        |v: Vec<flare::domain::incident::Incident>| v.iter().map(|i| i.id.0).collect::<Vec<_>>();
    assert_eq!(
        ids(tx.published_incidents(10).await.expect("list")),
        vec![c.id.0, a.id.0]
    );
    assert_eq!(
        ids(tx.published_incidents(1).await.expect("list")),
        vec![c.id.0]
    );
    b.published = true;
    tx.save_incident(&mut b).await.expect("save");
    assert!(
        tx.incident(b.id.0)
            .await
            .expect("read")
            .expect("b")
            .published
    );
    let mut c2 = tx.incident(c.id.0).await.expect("read").expect("c");
    c2.published = false;
    tx.save_incident(&mut c2).await.expect("save");
    tx.commit().await.expect("commit");
    let mut tx = s.begin().await.expect("begin");
    assert_eq!(
        ids(tx.published_incidents(10).await.expect("list")),
        vec![b.id.0, a.id.0]
    );
}

macro_rules! suite {
    ($($name:ident),*) => {
        mod on_sqlite {
            $(#[tokio::test]
            async fn $name() {
                let (s, _dir) = super::sqlite().await;
                super::$name(s).await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test]
            async fn $name() {
                if let Some(s) = super::postgres().await {
                    super::$name(s).await;
                }
            })*
        }
    };
}

suite!(
    incidents_roundtrip_with_optimistic_versions,
    rollback_keeps_nothing,
    messages_dedupe_and_threads_resolve,
    outbox_order_retry_and_failure,
    outbox_rows_in_bulk_keep_their_order,
    summarised_deliveries_are_final,
    a_reset_timer_moves_or_adds,
    messages_recorded_in_bulk_dedupe,
    messages_recorded_unread_with_their_copies,
    timers_claim_cancel_and_fire_once,
    timeline_keeps_utc_instants,
    resolved_incidents_since_latest_first_and_bounded,
    timeline_entries_are_found_by_kind_and_actor,
    published_incidents_newest_first
);

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error() {
    let err = flare::store::open("postgres://flare@127.0.0.1:1/none", 1)
        .await
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("database error"), "{err}");
    let err = flare::store::open("mysql://x", 1)
        .await
        .err()
        .expect("must fail");
    assert!(
        err.to_string()
            .contains("must start with sqlite: or postgres://"),
        "{err}"
    );
}

/// After a checkpoint in a pause, the checkpointer starts the WAL again itself (one frame),
/// so the next commit, a person's line after a quiet spell, does not pay for syncing the
/// new WAL's header.
#[tokio::test]
async fn the_checkpointer_restarts_the_wal_after_a_pause() {
    let (s, dir) = sqlite().await;
    let mut tx = s.begin().await.expect("begin");
    tx.insert_incident(&new_incident("quiet"))
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let wal = dir.path().join("nested/dir/flare.db-wal");
    let written = std::fs::metadata(&wal).expect("wal").len();
    assert!(written > 0);
    // A pause: checkpointed (and truncated) in its first tick, restarted right after.
    let mut len = written;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        len = std::fs::metadata(&wal).expect("wal").len();
        if len < written && len > 0 {
            break;
        }
    }
    assert!(len < written, "no checkpoint in the pause ({len} bytes)");
    assert!(
        len > 0,
        "the WAL was left empty, for the next commit to start again and sync"
    );
}
