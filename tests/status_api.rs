//! The status page's Statuspage v2 JSON API over real HTTP: the router served on a local
//! port, incidents made through the console, documents checked field by field.

mod support;

use std::sync::Arc;

use flare::clock::{ManualClock, SharedClock};
use flare::status::{PageSettings, StatusState, router};
use serde_json::Value;
use support::{TestFlare, at, start};

const TOML: &str = r#"
[console]
user = "alice"
[[people]]
name = "alice"
console = "alice"
[status_page]
name = "Acme"
url = "https://status.example.com"
[[component]]
name = "Checkout"
description = "Paying for an order"
apps = ["payments-api"]
[[component]]
name = "Search"
"#;

struct Page {
    flare: TestFlare,
    clock: ManualClock,
    base: String,
    http: reqwest::Client,
}

async fn page() -> Page {
    let clock = ManualClock::new(at("2026-11-24T15:00:00Z"));
    let shared: SharedClock = Arc::new(clock.clone());
    let flare = start(TOML, shared.clone(), true).await;
    let loaded = flare::config::parse(TOML, Vec::new()).expect("config");
    let state = StatusState {
        store: flare.running.store.clone(),
        page: Arc::new(PageSettings::from_config(
            &loaded.config,
            &loaded.settings,
            &shared,
        )),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    Page {
        flare,
        clock,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

impl Page {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{path}");
        r.json().await.expect("json")
    }
}

const DOCS: [&str; 8] = [
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
];

fn is_iso(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn all_operational_page_status_and_components() {
    let p = page().await;
    for doc in DOCS {
        let v = p.json(doc).await;
        let page = &v["page"];
        assert_eq!(page["id"], "acme", "{doc}");
        assert_eq!(page["name"], "Acme");
        assert_eq!(page["url"], "https://status.example.com");
        assert_eq!(page["time_zone"], "America/New_York");
        assert!(is_iso(&page["updated_at"]), "{doc}");
    }
    let s = p.json("/api/v2/status.json").await;
    assert_eq!(s["status"]["indicator"], "none");
    assert_eq!(s["status"]["description"], "All Systems Operational");
    let c = p.json("/api/v2/components.json").await;
    let comps = c["components"].as_array().expect("components");
    assert_eq!(comps.len(), 2);
    assert_eq!(comps[0]["id"], "checkout");
    assert_eq!(comps[0]["name"], "Checkout");
    assert_eq!(comps[0]["description"], "Paying for an order");
    assert_eq!(comps[0]["position"], 1);
    assert_eq!(comps[1]["description"], Value::Null);
    for comp in comps {
        assert_eq!(comp["status"], "operational");
        assert_eq!(comp["page_id"], "acme");
        assert_eq!(comp["group"], false);
        assert!(is_iso(&comp["created_at"]) && is_iso(&comp["updated_at"]));
    }
    let sum = p.json("/api/v2/summary.json").await;
    assert_eq!(sum["incidents"], Value::Array(vec![]));
    assert_eq!(sum["scheduled_maintenances"], Value::Array(vec![]));
    for m in [
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
    ] {
        assert_eq!(
            p.json(m).await["scheduled_maintenances"],
            Value::Array(vec![])
        );
    }
}

#[tokio::test]
async fn a_published_sev1_shows_with_its_public_updates_only() {
    let mut p = page().await;
    p.flare
        .type_lines(&[
            "!inc open Card payments failing sev1",
            "!inc apps INC-1 payments-api",
            "!inc update INC-1 failing over to the replica",
            "this is chat, never public",
            "!inc status INC-1 monitoring",
            "!inc open internal only sev3",
            "!inc apps INC-2 search",
        ])
        .await;
    p.flare.expect_console("INC-2", 1).await;
    p.flare.expect_console("impacted applications", 2).await;
    let s = p.json("/api/v2/status.json").await;
    assert_eq!(s["status"]["indicator"], "critical");
    assert_eq!(s["status"]["description"], "Major System Outage");
    let c = p.json("/api/v2/components.json").await;
    assert_eq!(c["components"][0]["status"], "major_outage");
    // INC-2 is not published (SEV3), so Search stays operational.
    assert_eq!(c["components"][1]["status"], "operational");
    let un = p.json("/api/v2/incidents/unresolved.json").await;
    let list = un["incidents"].as_array().expect("incidents");
    assert_eq!(list.len(), 1);
    let inc = &list[0];
    assert_eq!(inc["id"], "INC-1");
    assert_eq!(inc["name"], "Card payments failing");
    assert_eq!(inc["status"], "monitoring");
    assert_eq!(inc["impact"], "critical");
    assert_eq!(inc["page_id"], "acme");
    assert_eq!(inc["resolved_at"], Value::Null);
    assert!(is_iso(&inc["monitoring_at"]));
    for k in ["created_at", "updated_at", "started_at"] {
        assert!(is_iso(&inc[k]), "{k}");
    }
    assert_eq!(inc["components"][0]["id"], "checkout");
    let ups = inc["incident_updates"].as_array().expect("updates");
    let bodies: Vec<&str> = ups.iter().filter_map(|u| u["body"].as_str()).collect();
    assert_eq!(
        bodies,
        vec![
            "Status changed to monitoring.",
            "failing over to the replica",
            "Investigating: Card payments failing",
        ]
    );
    assert_eq!(ups[0]["status"], "monitoring");
    assert_eq!(ups[0]["incident_id"], "INC-1");
    assert!(ups.iter().all(|u| u.get("author").is_none()));
    let text = p
        .get("/api/v2/incidents.json")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        !text.contains("never public") && !text.contains("alice"),
        "{text}"
    );
    assert!(!text.contains("internal only"), "{text}");

    p.flare.type_lines(&["!inc resolve INC-1 fixed"]).await;
    p.flare.expect_console("resolved", 1).await;
    let all = p.json("/api/v2/incidents.json").await;
    assert_eq!(all["incidents"][0]["status"], "resolved");
    assert!(is_iso(&all["incidents"][0]["resolved_at"]));
    assert_eq!(
        p.json("/api/v2/incidents/unresolved.json").await["incidents"],
        Value::Array(vec![])
    );
    assert_eq!(
        p.json("/api/v2/status.json").await["status"]["indicator"],
        "none"
    );
}

#[tokio::test]
async fn every_document_has_an_etag_that_answers_304_and_cache_control() {
    let mut p = page().await;
    for doc in DOCS {
        let r = p.get(doc).await;
        assert_eq!(r.headers()["cache-control"], "public, max-age=30", "{doc}");
        let tag = r.headers()["etag"].to_str().expect("etag").to_string();
        let again = p
            .http
            .get(format!("{}{doc}", p.base))
            .header("if-none-match", &tag)
            .send()
            .await
            .expect("request");
        assert_eq!(again.status(), 304, "{doc}");
        assert_eq!(again.headers()["etag"], tag.as_str());
        let stale = p
            .http
            .get(format!("{}{doc}", p.base))
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .expect("request");
        assert_eq!(stale.status(), 200, "{doc}");
    }
    let before = p.get("/api/v2/summary.json").await.headers()["etag"].clone();
    p.flare.type_lines(&["!inc open api down sev2"]).await;
    p.flare.expect_console("INC-1", 1).await;
    let r = p
        .http
        .get(format!("{}/api/v2/summary.json", p.base))
        .header("if-none-match", before.to_str().expect("tag"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "a change makes a new tag");
}

#[tokio::test]
async fn hostile_text_is_inert_in_the_json() {
    let mut p = page().await;
    let title = "<script>alert(1)</script> \"onmouseover=alert(1) javascript:alert(1) \u{202e}evil";
    p.flare
        .type_lines(&[&format!("!inc open {title} sev1")])
        .await;
    p.flare.expect_console("INC-1", 1).await;
    let r = p.get("/api/v2/incidents.json").await;
    let raw = r.text().await.expect("body");
    assert!(!raw.contains('<') && !raw.contains('>'), "{raw}");
    assert!(!raw.contains('\u{202e}'), "{raw}");
    assert!(raw.contains("\\u003cscript\\u003e"), "{raw}");
    let v: Value = serde_json::from_str(&raw).expect("json");
    assert_eq!(v["incidents"][0]["name"], title, "the value itself is kept");
}

async fn html(p: &Page, path: &str) -> String {
    let r = p.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(r.headers().contains_key("etag"));
    assert_eq!(r.headers()["cache-control"], "public, max-age=30");
    r.text().await.expect("body")
}

#[tokio::test]
async fn the_html_page_renders_each_state_accessibly() {
    let mut p = page().await;
    let ok = html(&p, "/").await;
    assert!(ok.contains("<html lang=\"en\">"), "{ok}");
    for landmark in ["<header>", "<main>", "<footer>", "<h1>"] {
        assert!(ok.contains(landmark), "{landmark}");
    }
    assert!(
        ok.contains("<title>Acme: All Systems Operational</title>"),
        "{ok}"
    );
    assert!(ok.contains("No current incidents."), "{ok}");
    assert!(!ok.contains("<script"), "{ok}");
    assert_eq!(html(&p, "/index.html").await, ok);
    let css = p.get("/style.css").await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");

    p.flare
        .type_lines(&[
            "!inc open Card payments failing sev1",
            "!inc apps INC-1 checkout",
            "!inc update INC-1 failing over",
        ])
        .await;
    p.flare.expect_console("impacted applications", 1).await;
    let sev1 = html(&p, "/").await;
    assert!(
        sev1.contains("<title>Acme: Major System Outage</title>"),
        "{sev1}"
    );
    assert!(sev1.contains("Major outage"), "{sev1}");
    assert!(sev1.contains("href=\"incidents/inc-1.html\""), "{sev1}");
    // Newest first; local zone and UTC.
    let newest = sev1.find("failing over").expect("update");
    let oldest = sev1.find("Investigating: Card payments").expect("opening");
    assert!(newest < oldest, "{sev1}");
    assert!(sev1.contains("2026-11-24 10:00 EST (15:00 UTC)"), "{sev1}");

    p.clock.advance(chrono::Duration::minutes(95));
    p.flare.type_lines(&["!inc resolve INC-1 done"]).await;
    p.flare.expect_console("resolved", 1).await;
    let past = html(&p, "/").await;
    assert!(past.contains("All Systems Operational"), "{past}");
    assert!(past.contains("<h3>2026-11-24</h3>"), "{past}");
    assert!(past.contains("resolved after 1 h 35 min"), "{past}");
    let one = html(&p, "/incidents/inc-1.html").await;
    assert!(
        one.contains("<title>Acme INC-1 — Card payments failing</title>"),
        "{one}"
    );
    assert!(one.contains("href=\"../index.html\""), "{one}");
    assert!(one.contains("This incident has been resolved."), "{one}");
    assert_eq!(p.get("/incidents/inc-2.html").await.status(), 404);
    assert_eq!(p.get("/incidents/..%2Fstyle.css").await.status(), 404);
}

#[tokio::test]
async fn hostile_text_is_inert_in_the_html() {
    let mut p = page().await;
    let title = "<script>alert(1)</script> \"onmouseover=alert(1) javascript:alert(1) \u{202e}evil";
    p.flare
        .type_lines(&[
            &format!("!inc open {title} sev1"),
            "!inc update INC-1 <a href=\"javascript:alert(1)\">x</a> <img src=x onerror=alert(1)>",
        ])
        .await;
    p.flare.expect_console("INC-1", 2).await;
    for path in ["/", "/incidents/inc-1.html"] {
        let page = html(&p, path).await;
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("\"onmouseover"), "{page}");
        assert!(!page.contains("href=\"javascript:"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains('\u{202e}'), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
}

#[tokio::test]
async fn the_feeds_parse_back_with_a_real_parser_and_stay_inert() {
    let mut p = page().await;
    let hostile = "<script>alert(1)</script> \"onmouseover=x \u{202e}evil";
    p.flare
        .type_lines(&[
            "!inc open Card payments failing sev1",
            "!inc update INC-1 failing over",
            "!inc open internal only sev3",
            &format!("!inc open {hostile} sev2"),
        ])
        .await;
    p.flare.expect_console("INC-3", 1).await;
    for (path, kind, ctype) in [
        (
            "/history.atom",
            feed_rs::model::FeedType::Atom,
            "application/atom+xml; charset=utf-8",
        ),
        (
            "/history.rss",
            feed_rs::model::FeedType::RSS2,
            "application/rss+xml; charset=utf-8",
        ),
    ] {
        let r = p.get(path).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], ctype);
        assert!(r.headers().contains_key("etag"));
        let raw = r.text().await.expect("body");
        assert!(!raw.contains("<script"), "{raw}");
        assert!(!raw.contains('\u{202e}'), "{raw}");
        let feed = feed_rs::parser::parse(raw.as_bytes()).expect("a valid feed");
        assert_eq!(feed.feed_type, kind);
        let titles: Vec<String> = feed
            .entries
            .iter()
            .filter_map(|e| e.title.as_ref().map(|t| t.content.clone()))
            .collect();
        // Published only, newest first; INC-2 (SEV3) is not public.
        assert_eq!(
            titles,
            vec![
                "<script>alert(1)</script> \"onmouseover=x \u{fffd}evil".to_string(),
                "Card payments failing".to_string(),
            ],
            "{path}"
        );
        let card = &feed.entries[1];
        assert!(card.id.ends_with("INC-1"), "{path}: {}", card.id);
        assert_eq!(
            card.links[0].href,
            "https://status.example.com/incidents/inc-1.html"
        );
        let summary = card
            .summary
            .as_ref()
            .map(|t| t.content.clone())
            .expect("summary");
        assert!(summary.contains("failing over"), "{summary}");
        assert!(!summary.contains("alice"), "{summary}");
        assert!(card.published.is_some(), "{path}");
    }
}

async fn exported(p: &Page, out: &std::path::Path) {
    let loaded = flare::config::parse(TOML, Vec::new()).expect("config");
    let clock: SharedClock = Arc::new(p.clock.clone());
    let state = StatusState {
        store: p.flare.running.store.clone(),
        page: Arc::new(PageSettings::from_config(
            &loaded.config,
            &loaded.settings,
            &clock,
        )),
    };
    flare::status::export::export(&state, out)
        .await
        .expect("export");
}

#[tokio::test]
async fn the_export_is_byte_for_byte_what_the_server_serves() {
    let mut p = page().await;
    p.flare
        .type_lines(&["!inc open Card payments failing sev1", "!inc open b sev2"])
        .await;
    p.flare.expect_console("INC-2", 1).await;
    p.flare.type_lines(&["!inc resolve INC-2 ok"]).await;
    p.flare.expect_console("resolved", 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("site");
    exported(&p, &out).await;
    let mut files = Vec::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    assert_eq!(files.len(), 14, "{files:?}");
    for f in files {
        let rel = f
            .strip_prefix(&out)
            .expect("inside")
            .to_string_lossy()
            .to_string();
        let served = p.get(&format!("/{rel}")).await;
        assert_eq!(served.status(), 200, "{rel}");
        let body = served.bytes().await.expect("bytes");
        assert_eq!(std::fs::read(&f).expect("read"), body.to_vec(), "{rel}");
    }
}

#[tokio::test]
async fn a_reader_never_sees_a_half_written_export() {
    let mut p = page().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("site");
    exported(&p, &out).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (out, stop) = (out.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Every file present and whole, at every instant.
                let index = std::fs::read_to_string(out.join("index.html")).expect("index");
                assert!(index.ends_with("</html>"), "{index}");
                let sum = std::fs::read(out.join("api/v2/summary.json")).expect("summary");
                serde_json::from_slice::<Value>(&sum).expect("whole json");
                reads += 1;
            }
            reads
        })
    };
    for i in 0..15 {
        p.flare
            .type_lines(&[&format!("!inc open incident number {i} sev1")])
            .await;
        p.flare.expect_console(&format!("INC-{}", i + 1), 1).await;
        exported(&p, &out).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().expect("reader saw only whole exports");
    assert!(reads > 0);
    let index = std::fs::read_to_string(out.join("index.html")).expect("index");
    assert!(index.contains("incident number 14"));
    // Only the current copy and the one before are kept.
    let copies = std::fs::read_dir(dir.path()).expect("dir").count();
    assert!(copies <= 3, "{copies}");
}

#[test]
fn flare_status_export_writes_the_site_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("public");
    let db = format!("sqlite://{}/flare.db", dir.path().display());
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_flare"))
        .args(["status", "export", "--out"])
        .arg(&out)
        .env("FLARE__DATABASE__URL", &db)
        .env_remove("FLARE_CONFIG")
        .current_dir(dir.path())
        .output()
        .expect("flare runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let index = std::fs::read_to_string(out.join("index.html")).expect("index");
    assert!(index.contains("All Systems Operational"), "{index}");
    let status: Value = serde_json::from_slice(
        &std::fs::read(out.join("api/v2/status.json")).expect("status.json"),
    )
    .expect("json");
    assert_eq!(status["status"]["indicator"], "none");
}
