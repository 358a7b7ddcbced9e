//! The status page's publication: the `[status_page] publish` policy at open, and
//! `!inc publish` / `!inc unpublish`, through the console adapter.

mod support;

use std::sync::Arc;

use flare::clock::ManualClock;
use support::{TestFlare, at, start};

async fn flare(extra: &str) -> TestFlare {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let toml = format!(
        "[console]\nuser = \"alice\"\n[[people]]\nname = \"alice\"\nconsole = \"alice\"\n{extra}"
    );
    start(&toml, Arc::new(clock), true).await
}

async fn published(f: &TestFlare, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for id in 1..=n as i64 {
        out.push(f.incident(id).await.published);
    }
    out
}

#[tokio::test]
async fn sev1_and_sev2_are_published_at_open_by_default() {
    let mut f = flare("").await;
    f.type_lines(&[
        "!inc open one sev1",
        "!inc open two sev2",
        "!inc open three sev3",
        "!inc open four sev4",
    ])
    .await;
    f.expect_console("INC-4", 1).await;
    assert_eq!(published(&f, 4).await, vec![true, true, false, false]);
}

#[tokio::test]
async fn the_publish_policy_is_configurable() {
    let mut f = flare("[status_page]\npublish = [\"sev3\"]\n").await;
    f.type_lines(&["!inc open one sev1", "!inc open three sev3"])
        .await;
    f.expect_console("INC-2", 1).await;
    assert_eq!(published(&f, 2).await, vec![false, true]);
}

#[test]
fn a_publish_policy_naming_no_severity_is_a_config_problem() {
    let err = flare::config::parse(
        "[status_page]\npublish = [\"SEV1\", \"sev9\"]\n[[component]]\nname = \" \"\n",
        Vec::new(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("status_page.publish[1]"), "{err}");
    assert!(err.contains("component[0].name"), "{err}");
}

#[tokio::test]
async fn publish_and_unpublish_override_the_policy_are_recorded_and_relayed() {
    let mut f = flare("").await;
    f.type_lines(&[
        "!inc open db slow sev3",
        "!inc open api down sev1",
        "!inc publish INC-1",
        "!inc unpublish INC-2",
    ])
    .await;
    f.expect_console("was taken off the public status page by alice", 1)
        .await;
    f.expect_console("is now on the public status page (published by alice)", 1)
        .await;
    assert_eq!(published(&f, 2).await, vec![true, false]);
    let kinds = |t: Vec<flare::domain::incident::TimelineEvent>| {
        t.into_iter().map(|e| e.kind).collect::<Vec<_>>()
    };
    assert!(kinds(f.timeline(1).await).contains(&"published".to_string()));
    assert!(kinds(f.timeline(2).await).contains(&"unpublished".to_string()));
    // Saying it again changes nothing and says why.
    f.type_lines(&["!inc publish INC-1", "!inc unpublish INC-2"])
        .await;
    f.expect_console("INC-1 is already on the status page", 1)
        .await;
    f.expect_console("INC-2 is not on the status page", 1).await;
    let published_events = kinds(f.timeline(1).await)
        .into_iter()
        .filter(|k| k == "published")
        .count();
    assert_eq!(published_events, 1);
}
