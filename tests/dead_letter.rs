//! One bad event never stalls the bot or vanishes, on SQLite and PostgreSQL: an event the
//! database refuses is kept as a dead letter, its sender is told in place, and the events
//! behind it are handled at once. Text a backend cannot store (NUL) is stored the same on
//! both.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flare::chat::Author;
use flare::clock::ManualClock;
use support::{TestFlare, at, console_line};

fn clock() -> ManualClock {
    ManualClock::new(at("2026-11-24T15:00:00Z"))
}

#[derive(Clone, Copy, Debug)]
enum Db {
    Sqlite,
    Postgres,
}

/// Flare with a console, on a fresh database of `db`; `None` when PostgreSQL is skipped.
async fn flare_on(db: Db, clock: &ManualClock) -> Option<(TestFlare, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = match db {
        Db::Sqlite => format!("sqlite://{}/flare.db", dir.path().display()),
        Db::Postgres => support::fresh_postgres().await?,
    };
    let toml = format!("[console]\nuser = \"alice\"\n[database]\nurl = \"{url}\"\n");
    let config = support::config(&toml, &dir);
    let f = support::start_with(config, Arc::new(clock.clone()), true, dir).await;
    Some((f, url))
}

/// Makes the database itself refuse any message whose text contains `poison`: a constraint
/// the database enforces (a data error, SQLSTATE 23514 / SQLITE_CONSTRAINT), whatever the
/// text holds otherwise.
async fn refuse_poison(db: Db, url: &str) {
    use sqlx::Connection;
    match db {
        Db::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
            sqlx::query(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
                 WHEN NEW.text LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poison refused'); END",
            )
            .execute(&mut c)
            .await
            .expect("trigger");
            c.close().await.expect("close");
        }
        Db::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.expect("postgres");
            sqlx::query(
                "ALTER TABLE messages ADD CONSTRAINT refuse_poison \
                 CHECK (text NOT LIKE '%poison%')",
            )
            .execute(&mut c)
            .await
            .expect("constraint");
            c.close().await.expect("close");
        }
    }
}

async fn incidents(f: &TestFlare) -> i64 {
    let mut tx = f.running.store.begin().await.expect("tx");
    tx.incident_count().await.expect("count")
}

async fn a_refused_event_in_a_burst_is_kept_and_the_rest_go_on(db: Db) {
    let clock = clock();
    let Some((f, url)) = flare_on(db, &clock).await else {
        return;
    };
    refuse_poison(db, &url).await;
    // A burst of commands with a refused one in the middle (and one more at the end).
    let mut burst = Vec::new();
    for i in 0..20 {
        let text = match i {
            7 => "!inc open poison pill in the middle sev3".to_string(),
            19 => "!inc open last poison sev3".to_string(),
            _ => format!("!inc open Service {i} down sev3"),
        };
        burst.push(console_line(
            "alice",
            &text,
            &format!("m-{i}"),
            at("2026-11-24T15:00:00Z"),
        ));
    }
    let started = Instant::now();
    for ev in burst {
        f.running.inbound.send(ev).await.expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let letters = f.running.store.dead_letters().await.expect("dead letters");
        if incidents(&f).await == 18 && letters.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{db:?}: after 10 s {} incidents and {} dead letters",
            incidents(&f).await,
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    eprintln!("{db:?}: burst handled in {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1000),
        "{db:?}: the burst took {elapsed:?}"
    );
    let letters = f.running.store.dead_letters().await.expect("dead letters");
    let first = &letters[0].letter;
    assert_eq!(first.platform, "console");
    assert_eq!(first.channel, "#ops");
    assert_eq!(first.message_id, "m-7");
    assert_eq!(first.author, "alice");
    assert_eq!(first.text, "!inc open poison pill in the middle sev3");
    assert_eq!(first.sent_at, at("2026-11-24T15:00:00Z"));
    assert!(first.error.contains("poison"), "{db:?}: {}", first.error);
    assert_eq!(letters[1].letter.message_id, "m-19");
    // Every other event was handled, in order.
    let mut tx = f.running.store.begin().await.expect("tx");
    let last = tx.incident(18).await.expect("read").expect("INC-18");
    assert_eq!(last.title, "Service 18 down");
    drop(tx);
    // The sender is told in place, once per refused message.
    let out = f
        .expect_console("Your message was not recorded: the database refused it", 2)
        .await;
    assert!(out.contains("flare dead-letters"), "{out}");
    f.running.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn sqlite_a_refused_event_in_a_burst_is_kept_and_the_rest_go_on() {
    a_refused_event_in_a_burst_is_kept_and_the_rest_go_on(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_refused_event_in_a_burst_is_kept_and_the_rest_go_on() {
    a_refused_event_in_a_burst_is_kept_and_the_rest_go_on(Db::Postgres).await;
}

/// NUL in each field that comes from outside, stored as U+FFFD on both backends.
async fn nul_is_stored_the_same(db: Db) -> Option<Vec<String>> {
    let clock = clock();
    let (f, _) = flare_on(db, &clock).await?;
    let mut ev = console_line(
        "alice",
        "!inc open Disk\0full sev2",
        "m\0-1",
        at("2026-11-24T15:00:00Z"),
    );
    ev.author = Author {
        id: "alice".into(),
        display: "Al\0ice".into(),
    };
    f.running.inbound.send(ev).await.expect("send");
    support::eventually(10, "the incident", || async { incidents(&f).await == 1 }).await;
    let mut tx = f.running.store.begin().await.expect("tx");
    let inc = tx.incident(1).await.expect("read").expect("INC-1");
    let m = tx
        .find_message("console", "#ops", "m\u{FFFD}-1")
        .await
        .expect("read")
        .expect("the message, by its storable id");
    drop(tx);
    assert!(
        f.running
            .store
            .dead_letters()
            .await
            .expect("read")
            .is_empty()
    );
    f.running.shutdown(Duration::from_secs(2)).await;
    Some(vec![inc.title, m.record.text, m.record.author_display])
}

#[tokio::test]
async fn nul_in_inbound_text_is_stored_the_same_on_both_backends() {
    let want = vec![
        "Disk\u{FFFD}full".to_string(),
        "!inc open Disk\u{FFFD}full sev2".to_string(),
        "Al\u{FFFD}ice".to_string(),
    ];
    assert_eq!(nul_is_stored_the_same(Db::Sqlite).await, Some(want.clone()));
    if let Some(pg) = nul_is_stored_the_same(Db::Postgres).await {
        assert_eq!(pg, want);
    }
}

/// The errors the databases really give are classified: text PostgreSQL cannot store
/// (SQLSTATE 22021) and a refused constraint are not worth retrying; SQLite stores NUL.
#[tokio::test]
async fn real_data_errors_are_not_retryable() {
    let record = |text: &str| flare::store::MessageRecord {
        platform: "console".into(),
        channel: "#ops".into(),
        message_id: format!("id-{}", text.len()),
        thread: None,
        incident_id: None,
        author_id: "alice".into(),
        author_display: "alice".into(),
        text: text.into(),
        sent_at: at("2026-11-24T15:00:00Z"),
        received_at: at("2026-11-24T15:00:00Z"),
    };
    for db in [Db::Sqlite, Db::Postgres] {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match db {
            Db::Sqlite => format!("sqlite://{}/flare.db", dir.path().display()),
            Db::Postgres => match support::fresh_postgres().await {
                Some(u) => u,
                None => continue,
            },
        };
        let store = flare::store::open(&url, 2).await.expect("open");
        let mut tx = store.begin().await.expect("begin");
        let nul = tx.record_message(&record("a\0b")).await;
        drop(tx);
        match db {
            Db::Sqlite => assert!(nul.is_ok(), "{nul:?}"),
            Db::Postgres => {
                let e = nul.expect_err("PostgreSQL refuses NUL");
                assert!(!e.is_retryable(), "{e}");
            }
        }
        refuse_poison(db, &url).await;
        let mut tx = store.begin().await.expect("begin");
        let refused = tx.record_message(&record("poison")).await;
        drop(tx);
        let e = refused.expect_err("refused by the constraint");
        assert!(!e.is_retryable(), "{db:?}: {e}");
        store.close().await;
    }
}
