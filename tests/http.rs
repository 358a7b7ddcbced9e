//! The HTTP server for operators, over real HTTP against a running Flare: /healthz, /readyz
//! (database and every platform), /metrics (checked by `promtool check metrics`), and what
//! every path shares (404, 405, body limit, malformed requests, time limit).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use flare::clock::{ManualClock, SystemClock};
use serde_json::Value;
use support::irc::server::{Kind, TestServer, free_port};
use support::{TestFlare, at, eventually, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PEOPLE: &str = r#"
[console]
user = "alice"
[[people]]
name = "alice"
console = "alice"
[[people]]
name = "bob"
console = "bob"
"#;

/// The metrics are the process's: tests that read gauges set at scrape time take turns.
static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn addr(f: &TestFlare) -> SocketAddr {
    f.running.http.expect("the HTTP server listens")
}

async fn request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    body: Vec<u8>,
) -> (u16, String, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let r = client
        .request(method, format!("http://{addr}{path}"))
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ctype, r.text().await.expect("body"))
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    request("GET", addr, path, Vec::new()).await
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, ctype, body) = get(addr, path).await;
    assert_eq!(ctype, "application/json", "{path}: {body}");
    (status, serde_json::from_str(&body).expect("JSON body"))
}

async fn console_flare(clock: ManualClock) -> TestFlare {
    start(PEOPLE, Arc::new(clock), true).await
}

/// Tuesday 2026-11-24 10:00 America/New_York (business hours).
fn tuesday_10am() -> ManualClock {
    ManualClock::new(at("2026-11-24T15:00:00Z"))
}

#[tokio::test]
async fn healthz_answers_ok() {
    let f = console_flare(tuesday_10am()).await;
    let (status, body) = get_json(addr(&f), "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
    f.running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn readyz_is_ready_with_the_console_only() {
    let f = console_flare(tuesday_10am()).await;
    let (status, body) = get_json(addr(&f), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "status": "ready",
            "checks": { "database": { "ok": true }, "console": { "ok": true } },
        })
    );
    f.running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn readyz_is_503_while_a_platform_never_connected() {
    // Nothing listens on this port: the IRC adapter keeps failing to connect.
    let port = free_port();
    let toml = format!(
        "{PEOPLE}\n[[irc]]\nname = \"libera\"\nserver = \"127.0.0.1\"\nport = {port}\nnick = \"flare\"\n\
         reconnect_min = \"100ms\"\nreconnect_max = \"300ms\"\n[[irc.channels]]\nid = \"#ops\"\n"
    );
    let f = start(&toml, Arc::new(SystemClock), true).await;
    let a = addr(&f);
    // Down from the start ("connecting"), then with the reason the adapter gave.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let last = loop {
        let (status, body) = get_json(a, "/readyz").await;
        assert_eq!(status, 503, "{body}");
        if body["checks"]["libera"]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("IRC link lost"))
        {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never said why: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(last["status"], "not_ready", "{last}");
    assert_eq!(last["checks"]["libera"]["ok"], false, "{last}");
    assert!(
        last["checks"]["libera"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(" since 20")),
        "{last}"
    );
    assert_eq!(last["checks"]["database"]["ok"], true, "{last}");
    assert_eq!(last["checks"]["console"]["ok"], true, "{last}");
    f.running.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn readyz_follows_a_platform_that_drops_and_comes_back() {
    let mut server = TestServer::start(Kind::Ngircd);
    let toml = format!(
        "[[irc]]\nname = \"local\"\nserver = \"127.0.0.1\"\nport = {}\nnick = \"flare\"\n\
         reconnect_min = \"100ms\"\nreconnect_max = \"300ms\"\n[[irc.channels]]\nid = \"#ops\"\n",
        server.port
    );
    let f = start(&toml, Arc::new(SystemClock), false).await;
    let a = addr(&f);
    let ready = |want: u16| async move {
        let (status, body) = get_json(a, "/readyz").await;
        status == want && (want == 200) == (body["checks"]["local"]["ok"] == true)
    };
    eventually(15, "ready once registered on IRC", || ready(200)).await;
    server.kill();
    eventually(15, "not ready once the link is lost", || ready(503)).await;
    let (_, body) = get_json(a, "/readyz").await;
    assert_eq!(body["status"], "not_ready", "{body}");
    server.restart();
    eventually(15, "ready again after the reconnect", || ready(200)).await;
    {
        let _turn = SCRAPE.lock().await;
        let (_, _, text) = get(a, "/metrics").await;
        assert!(
            text.contains("flare_adapter_connected{platform=\"local\"} 1"),
            "{text}"
        );
        assert!(
            value(&text, "flare_adapter_reconnects_total{platform=\"local\"}") >= 1.0,
            "{text}"
        );
    }
    f.running.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn readyz_and_metrics_say_when_the_database_is_gone() {
    let f = console_flare(tuesday_10am()).await;
    let a = addr(&f);
    assert_eq!(get_json(a, "/readyz").await.0, 200);
    f.running.store.close().await;
    let (status, body) = get_json(a, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
    assert!(body["checks"]["database"]["detail"].is_string(), "{body}");
    assert_eq!(body["checks"]["console"]["ok"], true, "{body}");
    // The process still answers, and /metrics still serves what it recorded.
    assert_eq!(get_json(a, "/healthz").await.0, 200);
    {
        let _turn = SCRAPE.lock().await;
        let (status, _, text) = get(a, "/metrics").await;
        assert_eq!(status, 200);
        assert!(text.contains("flare_database_up 0"), "{text}");
    }
    f.running.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn readyz_is_503_when_the_postgres_database_is_dropped() {
    let Some(url) = support::fresh_postgres().await else {
        return;
    };
    let toml = format!("[database]\nurl = \"{url}\"\n{PEOPLE}");
    let f = start(&toml, Arc::new(tuesday_10am()), true).await;
    let a = addr(&f);
    assert_eq!(get_json(a, "/readyz").await.0, 200);
    let base = std::env::var("FLARE_TEST_DATABASE_URL").expect("set by fresh_postgres");
    let name = url.rsplit('/').next().expect("database name").to_string();
    {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&base).await.expect("admin");
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .expect("drop database");
    }
    eventually(15, "readyz to fail the database check", || async move {
        let (status, body) = get_json(a, "/readyz").await;
        status == 503 && body["checks"]["database"]["ok"] == false
    })
    .await;
    f.running.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn unknown_paths_are_404_in_json() {
    let f = console_flare(tuesday_10am()).await;
    let a = addr(&f);
    for path in [
        "/nope",
        "/healthz/",
        "/healthz/extra",
        "/metrics.json",
        "/READYZ",
        "/%2e%2e/etc/passwd",
        "/healthz%00",
    ] {
        let (status, ctype, body) = get(a, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(ctype, "application/json", "{path}");
        assert_eq!(body, r#"{"error":"not found"}"#, "{path}");
    }
    f.running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn nothing_changes_state_over_http_other_methods_are_405() {
    let f = console_flare(tuesday_10am()).await;
    let a = addr(&f);
    for path in ["/healthz", "/readyz", "/metrics"] {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let (status, _, _) = request(method, a, path, b"{}".to_vec()).await;
            assert_eq!(status, 405, "{method} {path}");
        }
        assert_eq!(
            request("HEAD", a, path, Vec::new()).await.0,
            get(a, path).await.0
        );
    }
    f.running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn oversized_and_malformed_requests_get_4xx() {
    let f = console_flare(tuesday_10am()).await;
    let a = addr(&f);
    // A small body is ignored; one over the limit is refused before any route, known or not.
    assert_eq!(request("GET", a, "/healthz", vec![b'x'; 100]).await.0, 200);
    let big = vec![b'x'; flare::http::MAX_BODY + 1];
    for path in ["/healthz", "/metrics", "/nope"] {
        assert_eq!(request("GET", a, path, big.clone()).await.0, 413, "{path}");
    }
    for raw in [
        "GARBAGE\r\n\r\n",
        "GET /healthz HTTP/9.9\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n",
    ] {
        let status = raw_status(a, raw.as_bytes()).await;
        assert!(
            (400..500).contains(&status) || status == 505,
            "{raw:?}: {status}"
        );
    }
    f.running.shutdown(Duration::from_secs(5)).await;
}

/// Sends raw bytes and returns the status of the answer.
async fn raw_status(addr: SocketAddr, bytes: &[u8]) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"))
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_408() {
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let app = flare::http::app(slow, Duration::from_millis(100));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let a = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let started = std::time::Instant::now();
    assert_eq!(get(a, "/slow").await.0, 408);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(get(a, "/other").await.0, 404);
    server.abort();
}

#[tokio::test]
async fn the_server_is_off_when_configured_so() {
    for http in ["[http]\nlisten = \"\"\n", "[http]\nenabled = false\n"] {
        let f = start(&format!("{PEOPLE}{http}"), Arc::new(tuesday_10am()), true).await;
        assert_eq!(f.running.http, None, "{http}");
        f.running.shutdown(Duration::from_secs(5)).await;
    }
}

#[test]
fn a_bad_listen_address_is_a_problem_with_its_key() {
    for bad in ["localhost:8080", "8080", "127.0.0.1", "0.0.0.0:70000"] {
        let err = match flare::config::parse(&format!("[http]\nlisten = \"{bad}\"\n"), Vec::new()) {
            Ok(_) => panic!("{bad} accepted"),
            Err(e) => e,
        };
        let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["http.listen"], "{bad}");
    }
}

/// The value of the sample named exactly `series` (name and labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[tokio::test]
async fn metrics_cover_incidents_acks_deliveries_timers_and_links() {
    let clock = tuesday_10am();
    let mut f = console_flare(clock.clone()).await;
    let a = addr(&f);
    let before = {
        let _turn = SCRAPE.lock().await;
        get(a, "/metrics").await.2
    };
    let met_before = value(&before, "flare_acknowledgements_total{sla=\"met\"}");
    let breached_before = value(&before, "flare_acknowledgements_total{sla=\"breached\"}");

    // INC-1 acknowledged at once (SLA met); INC-2 only after its deadline (breached), once its
    // reminder and breach timers have fired.
    f.type_lines(&["!inc open Checkout API returns 500 sev2"])
        .await;
    f.expect_console("Opened INC-1", 1).await;
    f.type_lines(&["/user bob", "!inc ack INC-1", "/user alice"])
        .await;
    f.expect_console("acknowledged by bob", 1).await;
    f.type_lines(&["!inc open Search is slow sev1"]).await;
    f.expect_console("Opened INC-2", 1).await;
    clock.advance(Span::minutes(20));
    let fired = f
        .running
        .engine
        .fire_due_timers(50)
        .await
        .expect("timers fire");
    assert!(fired >= 1, "the ack timers of INC-2 fire");
    f.type_lines(&["/user bob", "!inc ack INC-2"]).await;
    f.expect_console("acknowledged by bob", 2).await;
    assert!(
        f.running.flush(Duration::from_secs(10)).await,
        "everything relayed"
    );

    let _turn = SCRAPE.lock().await;
    let (status, ctype, text) = get(a, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    for family in [
        "flare_open_incidents",
        "flare_acknowledgements_total",
        "flare_ack_latency_seconds",
        "flare_deliveries",
        "flare_outbox_depth",
        "flare_outbox_oldest_pending_age_seconds",
        "flare_relay_latency_seconds",
        "flare_timer_lateness_seconds",
        "flare_adapter_connected",
        "flare_adapter_reconnects_total",
        "flare_database_up",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family}:\n{text}"
        );
    }
    assert_eq!(value(&text, "flare_open_incidents{severity=\"SEV1\"}"), 1.0);
    assert_eq!(value(&text, "flare_open_incidents{severity=\"SEV2\"}"), 1.0);
    assert_eq!(value(&text, "flare_open_incidents{severity=\"SEV3\"}"), 0.0);
    assert!(value(&text, "flare_acknowledgements_total{sla=\"met\"}") >= met_before + 1.0);
    assert!(
        value(&text, "flare_acknowledgements_total{sla=\"breached\"}") >= breached_before + 1.0
    );
    assert!(
        value(&text, "flare_ack_latency_seconds_count") >= 2.0,
        "{text}"
    );
    // INC-2 was acknowledged 20 minutes after its start: above the 900 s bucket.
    assert!(
        text.contains("flare_ack_latency_seconds_bucket{le=\"1800\"}"),
        "{text}"
    );
    assert!(
        value(
            &text,
            "flare_deliveries{platform=\"console\",state=\"sent\"}"
        ) >= 4.0
    );
    assert_eq!(
        value(
            &text,
            "flare_deliveries{platform=\"console\",state=\"pending\"}"
        ),
        0.0
    );
    assert_eq!(
        value(&text, "flare_outbox_depth{platform=\"console\"}"),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "flare_outbox_oldest_pending_age_seconds{platform=\"console\"}"
        ),
        0.0
    );
    assert!(
        value(
            &text,
            "flare_relay_latency_seconds_count{platform=\"console\"}"
        ) >= 4.0
    );
    assert!(
        value(
            &text,
            "flare_timer_lateness_seconds_count{kind=\"ack_breach\"}"
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "flare_adapter_connected{platform=\"console\"}"),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "flare_adapter_reconnects_total{platform=\"console\"}"
        ),
        0.0
    );
    assert_eq!(value(&text, "flare_database_up"), 1.0);
    promtool_check(&text);
    drop(_turn);
    f.running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn metrics_show_the_outbox_waiting_when_a_platform_is_down() {
    // The IRC network is unreachable: what is relayed to it waits in the outbox.
    let port = free_port();
    let toml = format!(
        "{PEOPLE}\n[[irc]]\nname = \"down\"\nserver = \"127.0.0.1\"\nport = {port}\nnick = \"flare\"\n\
         reconnect_min = \"100ms\"\nreconnect_max = \"300ms\"\n[[irc.channels]]\nid = \"#ops\"\nincident = true\nannounce = true\n"
    );
    let clock = tuesday_10am();
    let mut f = start(&toml, Arc::new(clock.clone()), true).await;
    let a = addr(&f);
    f.type_lines(&["!inc open Disk full sev3"]).await;
    f.expect_console("Opened INC-1", 1).await;
    clock.advance(Span::minutes(3));
    let _turn = SCRAPE.lock().await;
    let (_, _, text) = get(a, "/metrics").await;
    assert!(
        value(&text, "flare_outbox_depth{platform=\"down\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &text,
            "flare_deliveries{platform=\"down\",state=\"pending\"}"
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            "flare_outbox_oldest_pending_age_seconds{platform=\"down\"}"
        ) > 0.0
    );
    assert_eq!(
        value(&text, "flare_adapter_connected{platform=\"down\"}"),
        0.0
    );
    assert_eq!(value(&text, "flare_open_incidents{severity=\"SEV3\"}"), 1.0);
    promtool_check(&text);
    drop(_turn);
    f.running.shutdown(Duration::from_millis(200)).await;
}

/// `promtool check metrics` accepts the text. Without promtool the test fails, unless
/// FLARE_SKIP_PROMTOOL=1 says skipping is allowed (tests/run.sh installs it).
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("FLARE_SKIP_PROMTOOL").as_deref() == Ok("1") {
                eprintln!(
                    "!!! FLARE_SKIP_PROMTOOL=1 and promtool is not installed: /metrics NOT \
                     checked by promtool (apt-get install prometheus, or run tests/run.sh) !!!"
                );
                return;
            }
            panic!(
                "promtool is not installed: apt-get install prometheus, run tests/run.sh, or \
                 set FLARE_SKIP_PROMTOOL=1 to skip this check"
            );
        }
        Err(e) => panic!("promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- the text ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn flare_healthcheck_exits_0_only_when_healthz_answers() {
    let f = console_flare(tuesday_10am()).await;
    let a = addr(&f);
    let check = |args: Vec<String>, env: Vec<(&'static str, String)>| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_flare"))
            .arg("healthcheck")
            .args(args)
            .env_remove("FLARE_CONFIG")
            .envs(env)
            .output()
            .await
            .expect("flare runs")
            .status
            .code()
    };
    let url = |a: SocketAddr| format!("http://{a}/healthz");
    assert_eq!(check(vec!["--url".into(), url(a)], vec![]).await, Some(0));
    // From the configured listen address; a wildcard address is asked on loopback.
    let wildcard = format!("0.0.0.0:{}", a.port());
    assert_eq!(
        check(vec![], vec![("FLARE__HTTP__LISTEN", wildcard)]).await,
        Some(0)
    );
    // Nothing listening, a path that is not healthz, the server turned off.
    let closed = format!("127.0.0.1:{}", free_port());
    assert_eq!(
        check(vec![], vec![("FLARE__HTTP__LISTEN", closed)]).await,
        Some(1)
    );
    let nope = format!("http://{a}/nope");
    assert_eq!(check(vec!["--url".into(), nope], vec![]).await, Some(1));
    assert_eq!(
        check(vec![], vec![("FLARE__HTTP__LISTEN", String::new())]).await,
        Some(1)
    );
    f.running.shutdown(Duration::from_secs(5)).await;
}
