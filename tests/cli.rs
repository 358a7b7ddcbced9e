//! The `flare` binary: sla, check-config, migrate, console over a pipe, docker-compose keys.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn flare(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flare"));
    cmd.args(args)
        .env_remove("FLARE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("flare runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("flare exits")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn sla_json_is_exactly_one_object() {
    let o = flare(&["sla", "--json", "2026-11-26T15:00:00Z"], &[], None);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert_eq!(
        v,
        serde_json::json!({
            "class": "holiday",
            "holiday": "Thanksgiving Day",
            "ack_within_minutes": 60,
            "ack_deadline": "2026-11-26T16:00:00Z",
            "ack_deadline_local": "2026-11-26T11:00:00-05:00"
        })
    );
    let o = flare(&["sla", "--json", "2026-11-24T10:00:00-05:00"], &[], None);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["class"], "business");
    assert_eq!(v["ack_within_minutes"], 15);
    assert_eq!(v["holiday"], serde_json::Value::Null);
    // Without an instant it uses now.
    let o = flare(&["sla"], &[], None);
    assert!(o.status.success() && !stdout(&o).is_empty(), "{o:?}");
    let o = flare(&["sla", "yesterday"], &[], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an RFC 3339 instant"));
}

#[test]
fn check_config_lists_every_problem_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[calendar]\nzone = \"Mars/Base\"\nbusiness_days = [\"mon\", \"funday\"]\n[sla]\nbusiness_ack = \"soon\"\nnope = 1\n",
    )
    .expect("write");
    let o = flare(&["check-config", bad.to_str().expect("path")], &[], None);
    assert!(!o.status.success());
    let out = stdout(&o);
    for key in [
        "calendar.zone",
        "calendar.business_days[1]",
        "sla.business_ack",
        "sla.nope",
    ] {
        assert!(
            out.contains(&format!("{key}: ")),
            "{key} missing in:\n{out}"
        );
    }
    // The example names its secrets only: without them it says exactly which are missing.
    let o = flare(&["check-config", "config/flare.example.toml"], &[], None);
    assert!(!o.status.success());
    let out = stdout(&o);
    for key in [
        "slack[0].bot_token",
        "slack[0].app_token",
        "rocketchat[0].token",
    ] {
        assert!(out.contains(key), "{key} missing in:\n{out}");
    }
    let secrets = [
        ("FLARE__SLACK__0__BOT_TOKEN", "xoxb-1"),
        ("FLARE__SLACK__0__APP_TOKEN", "xapp-1"),
        ("FLARE__ROCKETCHAT__0__TOKEN", "pat"),
    ];
    let o = flare(
        &["check-config", "config/flare.example.toml"],
        &secrets,
        None,
    );
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn a_bad_config_fails_at_start_naming_the_key() {
    let o = flare(
        &["run"],
        &[("FLARE__SLA__AFTER_HOURS_ACK", "forever")],
        None,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sla.after_hours_ack"), "{err}");
}

#[test]
fn an_unreachable_database_gives_a_clear_error_and_a_failure_exit() {
    let o = flare(
        &["migrate"],
        &[(
            "FLARE__DATABASE__URL",
            "postgres://flare:secret@127.0.0.1:1/flare",
        )],
        None,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot open the database postgres://flare:***@127.0.0.1:1/flare"),
        "{err}"
    );
    assert!(!err.contains("secret"), "password leaked: {err}");
    // The real cause, once: which address refused, not the pool's timeout.
    assert_eq!(err.matches("refused").count(), 1, "{err}");
    assert_eq!(err.matches("127.0.0.1:1").count(), 1, "{err}");
    assert!(!err.contains("pool timed out"), "{err}");
}

#[test]
fn migrate_then_console_over_a_pipe_exits_zero_after_flushing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let env = [("FLARE__DATABASE__URL", url.as_str())];
    let o = flare(&["migrate"], &env, None);
    assert!(o.status.success(), "{o:?}");
    let o = flare(
        &["console"],
        &env,
        Some(
            "!inc open Checkout down sev1\n/thread INC-1\n/user bob\nlooking\n!inc resolve fixed\n",
        ),
    );
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("Opened INC-1 [SEV1]"), "{out}");
    assert!(out.contains("INC-1 acknowledged by bob"), "{out}");
    assert!(out.contains("resolved by bob"), "{out}");
    let o = flare(&["timers"], &env, None);
    assert!(stdout(&o).contains("no pending timers"), "{o:?}");
}

#[test]
fn version_and_help() {
    let o = flare(&["--version"], &[], None);
    assert!(stdout(&o).starts_with("flare "), "{o:?}");
    let o = flare(&["--help"], &[], None);
    for sub in [
        "run",
        "console",
        "sla",
        "check-config",
        "migrate",
        "timers",
        "dead-letters",
        "backup",
    ] {
        assert!(stdout(&o).contains(sub), "{sub}");
    }
}

#[test]
fn docker_compose_parses_and_its_environment_is_accepted() {
    let text = std::fs::read_to_string("docker-compose.yml").expect("compose file");
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
    let services = &docs[0]["services"];
    for s in ["flare", "postgres", "ngircd"] {
        assert!(!services[s].is_badvalue(), "service {s}");
    }
    let env = services["flare"]["environment"]
        .as_hash()
        .expect("flare environment map");
    let mut vars = Vec::new();
    for (k, v) in env {
        let k = k.as_str().expect("key").to_string();
        let v = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{v:?}"));
        vars.push((k, v));
    }
    assert!(vars.iter().any(|(k, _)| k == "FLARE__DATABASE__URL"));
    // The compose file configures Flare through the environment alone (built-in defaults).
    let file = String::new();
    let flare_vars: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("FLARE__"))
        .cloned()
        .collect();
    if let Err(e) = flare::config::Config::from_str_with_env(&file, flare_vars) {
        panic!("docker-compose environment rejected: {e}");
    }
}

/// `flare console` on a database in `dir`, with piped stdin and stdout.
fn spawn_console(dir: &tempfile::TempDir) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_flare"))
        .arg("console")
        .env_remove("FLARE_CONFIG")
        .env(
            "FLARE__DATABASE__URL",
            format!("sqlite://{}/flare.db", dir.path().display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("flare runs")
}

/// `flare console` with its input still open (a terminal, or a pipe nobody closes) stops
/// promptly on SIGINT (Ctrl-C) and on SIGTERM, after what it printed so far.
#[test]
fn console_with_open_input_stops_on_ctrl_c_and_sigterm() {
    for signal in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = spawn_console(&dir);
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(b"!inc open Checkout down sev1\n")
            .expect("write stdin");
        let out = child.stdout.take().expect("stdout");
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Opened INC-1") {
                    let _ = seen_tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        seen_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the incident is opened");
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(15) {
                let _ = child.kill();
                panic!("flare console still running 15 s after kill {signal}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        drop(input);
        assert!(status.success(), "{signal}: {status:?}");
        let printed = reader.join().expect("reader");
        assert!(printed.contains("Opened INC-1 [SEV1]"), "{printed}");
    }
}

/// A line that is not UTF-8 (one Latin-1 byte) is read lossily with one warning; the
/// commands after it still run.
#[test]
fn console_reads_invalid_utf8_lossily_and_carries_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_console(&dir);
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(b"!inc open Caf\xe9 down sev2\r\n!inc open Checkout down sev1\n!inc open Latin \xff\xfe again sev3\n")
        .expect("write stdin");
    drop(input);
    let o = child.wait_with_output().expect("flare exits");
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("Opened INC-1 [SEV2]"), "{out}");
    assert!(out.contains("Caf\u{FFFD} down"), "{out}");
    assert!(out.contains("Opened INC-2 [SEV1]"), "{out}");
    assert!(out.contains("Opened INC-3 [SEV3]"), "{out}");
    assert_eq!(out.matches("not valid UTF-8").count(), 1, "{out}");
}

/// `flare run` with no chat platform says so at start, and how to add one.
#[test]
fn run_without_platforms_warns_how_to_add_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_flare"))
        .arg("run")
        .env_remove("FLARE_CONFIG")
        .env_remove("FLARE_LOG")
        .env("FLARE__DATABASE__URL", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flare runs");
    let err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("no chat platform is configured"))
    });
    let started = std::time::Instant::now();
    while !reader.is_finished() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The warning comes before the signal handlers are installed: no exit status to check.
    let _ = child.kill();
    let _ = child.wait();
    let line = reader.join().expect("reader").expect("the warning");
    assert!(
        line.contains("[[irc]], [[slack]] or [[rocketchat]]"),
        "{line}"
    );
    assert!(line.contains("flare console"), "{line}");
}

/// Titles and messages with terminal escapes, NUL, CR and bidi overrides reach the
/// terminal as harmless visible text: no control byte is printed.
#[test]
fn console_output_carries_no_terminal_control_characters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let env = [("FLARE__DATABASE__URL", url.as_str())];
    let o = flare(
        &["console"],
        &env,
        Some(
            "!inc open Checkout \u{1b}]0;pwned\u{7} down \u{202E}1ves sev1\n/thread INC-1\n!inc update looking\u{1b}[2J \u{0}\u{9b}1m now\n",
        ),
    );
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("Checkout ␛]0;pwned␇ down 1ves"), "{out}");
    // NUL was made storable (U+FFFD) when it came in; the C1 control shows as U+FFFD.
    assert!(out.contains("looking␛[2J \u{FFFD}\u{FFFD}1m now"), "{out}");
    let controls: Vec<char> = out
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(controls.is_empty(), "{controls:?} in {out}");
    assert!(!out.contains('\u{202E}'), "{out}");
}

/// Runs `check-config` on `toml`; its exit status and output.
fn check_config_of(toml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flare.toml");
    std::fs::write(&path, toml).expect("write");
    let o = flare(&["check-config", path.to_str().expect("path")], &[], None);
    (o.status.success(), stdout(&o))
}

#[test]
fn check_config_reports_a_missing_database_url_file() {
    let (ok, out) = check_config_of("[database]\nurl_file = \"/nonexistent/flare/db-url\"\n");
    assert!(!ok, "{out}");
    assert!(
        out.contains("database.url_file: cannot read /nonexistent/flare/db-url"),
        "{out}"
    );
    // A file that holds no database URL is named too.
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("url");
    std::fs::write(&f, "mysql://x\n").expect("write");
    let (ok, out) = check_config_of(&format!("[database]\nurl_file = \"{}\"\n", f.display()));
    assert!(!ok, "{out}");
    assert!(
        out.contains("database.url_file: `mysql://x` is neither"),
        "{out}"
    );
}

#[test]
fn check_config_reports_channels_on_unknown_platforms() {
    let (ok, out) = check_config_of(
        "[[announcement]]\ncron = \"0 9 * * Mon\"\ntext = \"standup\"\n\
         channels = [\"console/#ops\", \"nowhere/#x\"]\n\
         [[people]]\nname = \"bob\"\n\
         [[rotation]]\nname = \"primary\"\nparticipants = [\"bob\"]\nannounce = [\"slack/C1\"]\n",
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("announcement[0].channels[1]: `nowhere` is not a configured platform"),
        "{out}"
    );
    assert!(
        out.contains("rotation[0].announce[0]: `slack` is not a configured platform"),
        "{out}"
    );
    assert!(!out.contains("channels[0]"), "{out}");
}

const EMAIL_AND_WEBHOOK: &str = "[[people]]\nname = \"bob\"\nconsole = \"bob\"\n\
    [[escalation]]\nseverities = [\"SEV1\"]\n\
    [[escalation.step]]\nafter = \"0m\"\nnotify = [\"bob\"]\n\
    [[escalation.step]]\nafter = \"5m\"\nnotify = [\"bob\"]\nvia = \"email\"\n\
    [[escalation.step]]\nafter = \"10m\"\nvia = \"webhook\"\nurl = \"https://hooks.example/x\"\n";

#[test]
fn check_config_warns_of_email_and_webhook_steps_it_cannot_send() {
    let (ok, out) = check_config_of(EMAIL_AND_WEBHOOK);
    // Valid (the steps are recorded as pending), but flagged with their keys.
    assert!(ok, "{out}");
    assert!(
        out.contains("warning: escalation[0].step[1].via: `email` steps cannot be sent"),
        "{out}"
    );
    assert!(
        out.contains("warning: escalation[0].step[2].via: `webhook` steps cannot be sent"),
        "{out}"
    );
    assert!(!out.contains("step[0]"), "{out}");
}

#[test]
fn check_config_lists_every_problem_of_a_file_at_once() {
    let (ok, out) = check_config_of(&format!(
        "[database]\nurl_file = \"/nonexistent/db-url\"\nmax_connections = \"ten\"\n\
         [sla]\nack_on_first_reply = \"yes\"\nbusiness_ack = \"soon\"\n\
         [calendar]\nbusiness_days = [\"mon\", 3]\nzone = \"Mars/Base\"\n\
         [[announcement]]\ncron = \"0 9 * * Mon\"\ntext = \"x\"\nchannels = [\"nowhere/#x\"]\n\
         {EMAIL_AND_WEBHOOK}"
    ));
    assert!(!ok, "{out}");
    for key in [
        "database.max_connections: invalid type",
        "sla.ack_on_first_reply: invalid type",
        "calendar.business_days[1]: invalid type",
        "database.url_file: cannot read",
        "sla.business_ack: `soon`",
        "calendar.zone: ",
        "announcement[0].channels[0]: `nowhere`",
        "warning: escalation[0].step[1].via",
        "warning: escalation[0].step[2].via",
    ] {
        assert!(out.contains(key), "{key} missing in:\n{out}");
    }
}

/// A SQLite database opened by this test, `sqlite://<path>`.
async fn sqlite_at(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the copy")
}

/// After a clean exit, `flare.db` alone holds everything (the WAL was checkpointed into it).
#[tokio::test]
async fn after_a_clean_exit_the_database_file_alone_holds_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let o = flare(
        &["console"],
        &[("FLARE__DATABASE__URL", url.as_str())],
        Some("!inc open Checkout down sev1\n!inc open Search slow sev3\n"),
    );
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("Opened INC-2"), "{o:?}");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let copy = elsewhere.path().join("flare.db");
    std::fs::copy(dir.path().join("flare.db"), &copy).expect("copy flare.db alone");
    let mut c = sqlite_at(&copy).await;
    let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM incidents ORDER BY id")
        .fetch_all(&mut c)
        .await
        .expect("read the copy");
    assert_eq!(titles, ["Checkout down", "Search slow"]);
}

/// `flare backup` copies a running Flare's SQLite database consistently, never overwrites,
/// and on PostgreSQL says to use pg_dump.
#[tokio::test]
async fn backup_copies_the_running_database_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let env = [("FLARE__DATABASE__URL", url.as_str())];
    let mut child = spawn_console(&dir);
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(b"!inc open Checkout down sev1\n")
        .expect("write stdin");
    let out = child.stdout.take().expect("stdout");
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("Opened INC-1") {
                let _ = seen_tx.send(());
            }
        }
    });
    seen_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the incident is opened");
    let backups = tempfile::tempdir().expect("tempdir");
    let copy = backups.path().join("copy.db");
    let copy_arg = copy.to_str().expect("path");
    // While Flare runs.
    let o = flare(&["backup", copy_arg], &env, None);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("copy.db"), "{o:?}");
    // A second backup to the same file is refused, and leaves it as it was.
    let before = std::fs::read(&copy).expect("read");
    let o = flare(&["backup", copy_arg], &env, None);
    assert!(!o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(std::fs::read(&copy).expect("read"), before);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    drop(input);
    let _ = child.wait();
    let _ = reader.join();
    let mut c = sqlite_at(&copy).await;
    let title: String = sqlx::query_scalar("SELECT title FROM incidents WHERE id = 1")
        .fetch_one(&mut c)
        .await
        .expect("the incident is in the copy");
    assert_eq!(title, "Checkout down");
    // No database to copy.
    let o = flare(
        &[
            "backup",
            backups.path().join("other.db").to_str().expect("path"),
        ],
        &[("FLARE__DATABASE__URL", "sqlite:///nonexistent/flare.db")],
        None,
    );
    assert!(!o.status.success(), "{o:?}");
    assert!(!backups.path().join("other.db").exists());
    // PostgreSQL: pg_dump's job.
    let o = flare(
        &[
            "backup",
            backups.path().join("pg.db").to_str().expect("path"),
        ],
        &[("FLARE__DATABASE__URL", "postgres://flare@127.0.0.1:1/flare")],
        None,
    );
    assert!(!o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pg_dump"), "{err}");
}

/// `flare dead-letters` lists what could not be recorded, as a table or as JSON; people's
/// text is shown without its control characters.
#[tokio::test]
async fn dead_letters_are_listed_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let env = [("FLARE__DATABASE__URL", url.as_str())];
    let o = flare(&["dead-letters"], &env, None);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o).trim(), "no dead letters");
    let o = flare(&["dead-letters", "--json"], &env, None);
    assert_eq!(stdout(&o).trim(), "[]");
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open");
        sqlx::query(
            "INSERT INTO dead_letters (platform, channel, thread, message_id, author, text, \
             sent_at, error, failed_at) VALUES ('slack', 'C0123', '1700000000.000100', \
             '1700000000.000200', 'U0BOB', $1, $2, 'database error: value too long', $3)",
        )
        .bind("!inc ack \u{1b}]0;pwned\u{7}\nsecond line")
        .bind(chrono::DateTime::parse_from_rfc3339("2026-11-24T15:00:00Z").expect("time"))
        .bind(chrono::DateTime::parse_from_rfc3339("2026-11-24T15:00:01Z").expect("time"))
        .execute(&mut c)
        .await
        .expect("insert");
        c.close().await.expect("close");
    }
    let o = flare(&["dead-letters"], &env, None);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    for part in [
        "slack/C0123 (1700000000.000100)",
        "1700000000.000200",
        "U0BOB",
        "2026-11-24T15:00:01Z",
        "error: database error: value too long",
        "!inc ack ␛]0;pwned␇ ⏎ second line",
    ] {
        assert!(out.contains(part), "{part} missing in:\n{out}");
    }
    let controls: Vec<char> = out
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(controls.is_empty(), "{controls:?} in {out}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let o = flare(&["dead-letters", "--json"], &env, None);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON array");
    assert_eq!(
        v,
        serde_json::json!([{
            "id": 1,
            "platform": "slack",
            "channel": "C0123",
            "thread": "1700000000.000100",
            "message_id": "1700000000.000200",
            "author": "U0BOB",
            "text": "!inc ack \u{1b}]0;pwned\u{7}\nsecond line",
            "sent_at": "2026-11-24T15:00:00Z",
            "error": "database error: value too long",
            "failed_at": "2026-11-24T15:00:01Z"
        }])
    );
}

#[test]
fn export_prints_the_whole_record_as_markdown_or_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/flare.db", dir.path().display());
    let env = [("FLARE__DATABASE__URL", url.as_str())];
    let o = flare(
        &["console"],
        &env,
        Some(concat!(
            "!inc open Checkout | payments \x1b]0;pwned\x07down sev1\n",
            "/thread INC-1\n/user bob\nlooking\n",
            "!inc update step 1\n!inc update step 2\n!inc update step 3\n!inc update step 4\n",
            "!inc update step 5\n!inc update step 6\n!inc update step 7\n!inc update step 8\n",
            "!inc update step 9\n!inc update step 10\n!inc resolve fixed\n",
        )),
    );
    assert!(o.status.success(), "{o:?}");

    let o = flare(&["export", "INC-1"], &env, None);
    assert!(o.status.success(), "{o:?}");
    let md = stdout(&o);
    assert!(
        md.starts_with("# INC-1: Checkout \\| payments ␛]0;pwned␇down\n"),
        "{md}"
    );
    assert!(!md.contains('\x1b') && !md.contains('\x07'), "{md}");
    assert!(md.contains("| severity | SEV1 (critical) |"), "{md}");
    assert!(md.contains("| status | resolved |"), "{md}");
    assert!(
        md.contains("## Acknowledgement\n\n- bob in console #ops at "),
        "{md}"
    );
    assert!(md.contains("within SLA"), "{md}");
    // Every event (opened, the ack, 10 updates, resolved), more than `show` lists.
    assert!(
        md.contains("13 events, times in UTC and in America/New_York."),
        "{md}"
    );
    assert_eq!(
        md.matches("| update | console:bob | console #ops | step ")
            .count(),
        10,
        "{md}"
    );
    assert!(
        md.contains("| resolved | console:bob | console #ops | fixed |"),
        "{md}"
    );

    let o = flare(&["export", "inc-1", "--format", "json"], &env, None);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(v["format"], "flare.incident.v1");
    assert_eq!(v["id"], "INC-1");
    assert_eq!(v["number"], 1);
    assert_eq!(v["title"], "Checkout | payments \u{1b}]0;pwned\u{7}down");
    assert_eq!(v["severity"], "SEV1");
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["resolution"], "fixed");
    assert_eq!(v["time_zone"], "America/New_York");
    let ack = &v["acknowledgements"][0];
    assert_eq!(ack["by"], "bob");
    assert_eq!(ack["where"], "console #ops");
    assert_eq!(ack["sla"], "met");
    assert!(ack["margin_secs"].as_i64().expect("margin") > 0);
    let timeline = v["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.len(), 13);
    assert_eq!(timeline[0]["kind"], "opened");
    assert_eq!(timeline[12]["kind"], "resolved");
    for e in timeline {
        let utc = e["at"]["utc"].as_str().expect("utc");
        let local = e["at"]["local"].as_str().expect("local");
        assert!(utc.ends_with('Z'), "{utc}");
        assert!(
            local.ends_with("-05:00") || local.ends_with("-04:00"),
            "{local}"
        );
    }
    // The fields come in the documented order.
    let keys = [
        "\"format\"",
        "\"id\"",
        "\"number\"",
        "\"title\"",
        "\"severity\"",
        "\"status\"",
        "\"commander\"",
        "\"impacted_apps\"",
        "\"business_impact\"",
        "\"opened_by\"",
        "\"opened_in\"",
        "\"time_zone\"",
        "\"started_at\"",
        "\"sla\"",
        "\"acknowledgements\"",
        "\"resolved_at\"",
        "\"resolution\"",
        "\"timeline\"",
    ];
    let at: Vec<usize> = keys
        .iter()
        .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} in {text}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");

    for (arg, why) in [("INC-2", "no incident INC-2"), ("INC 1", "not an incident")] {
        let o = flare(&["export", arg], &env, None);
        assert!(!o.status.success(), "{o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(why), "{o:?}");
    }
}
