//! The `flare` command line: a thin layer over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use flare::chat::ChatAdapter;
use flare::chat::console::ConsoleAdapter;
use flare::clock::{Clock, SharedClock, SystemClock};
use flare::config::{Loaded, Settings};

#[derive(Parser)]
#[command(
    name = "flare",
    version,
    about = "Incident-response chat bot for Rocket.Chat, Slack and IRC at once"
)]
struct Cli {
    /// Configuration file (default: $FLARE_CONFIG, else ./flare.toml when present, else
    /// built-in defaults). Every key can be overridden by FLARE__SECTION__KEY.
    #[arg(long, short, global = true, env = "FLARE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bot with the chat platforms from the configuration.
    Run,
    /// Run the bot with a console chat on stdin/stdout (plus any configured platforms).
    Console,
    /// Print the ack SLA for an incident starting at an RFC 3339 instant (default: now).
    Sla {
        /// Print exactly one JSON object.
        #[arg(long)]
        json: bool,
        instant: Option<String>,
    },
    /// Check a configuration file and list every problem with its key.
    CheckConfig { path: Option<PathBuf> },
    /// Apply the database migrations and exit.
    Migrate,
    /// List every pending timer with its due time.
    Timers,
    /// Ask a running Flare's /healthz (for a container HEALTHCHECK): exit 0 when it answers
    /// 200 within the timeout, else 1.
    Healthcheck {
        /// The URL to ask (default: /healthz on `http.listen`).
        #[arg(long)]
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// List the events Flare could not record (dead letters), with their errors.
    DeadLetters {
        /// Print exactly one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// The public status page (docs/status-page.md).
    Status {
        #[command(subcommand)]
        action: StatusCmd,
    },
    /// Write a consistent copy of the SQLite database to a new file, while Flare runs.
    Backup {
        /// The copy to create (never overwritten).
        file: PathBuf,
    },
    /// Print one incident's whole record: fields, acknowledgement, timeline.
    Export {
        /// The incident, as INC-n.
        incident: String,
        #[arg(long, value_enum, default_value = "markdown")]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Markdown,
    Json,
}

#[derive(Subcommand)]
enum StatusCmd {
    /// Write the whole status site (HTML, JSON, feeds; relative links) to a directory.
    Export {
        /// Becomes a symlink to the newest complete copy, swapped atomically.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let console_mode = matches!(cli.command, None | Some(Cmd::Console));
    init_logs(cli.log_format, console_mode);
    // One thread runs every task: an incident bot's work is small pieces (a line, a
    // transaction, a send), and on a few cores hopping between worker threads cost more than
    // the work. SQLite has its own thread, and blocking work goes to tokio's blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flare: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(dispatch(cli));
    // The console reads stdin on a blocking thread whose read returns only when a line comes;
    // dropping the runtime would wait for it, so after a signal `flare console` on a terminal
    // would never exit. Everything that matters is flushed by then.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flare: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat, console_mode: bool) {
    let default = if console_mode { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLARE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn config_path(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| {
        let local = Path::new("flare.toml");
        local.exists().then(|| local.to_path_buf())
    })
}

/// The configuration, checked and resolved once for the whole run.
fn load_config(path: Option<&Path>) -> Result<Loaded> {
    Ok(flare::config::load(path, std::env::vars())?)
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let path = config_path(cli.config);
    match cli.command {
        Some(Cmd::CheckConfig { path: p }) => Ok(check_config(p.or(path).as_deref())),
        Some(Cmd::Sla { json, instant }) => {
            let loaded = load_config(path.as_deref())?;
            sla(&loaded.settings, json, instant.as_deref())
        }
        Some(Cmd::Migrate) => {
            let config = load_config(path.as_deref())?.config;
            let url = config.database_url()?;
            let store = flare::store::open(&url, 1).await.with_context(|| {
                format!(
                    "cannot open the database {}",
                    flare::config::redact_url(&url)
                )
            })?;
            store.close().await;
            println!("migrations applied to {}", flare::config::redact_url(&url));
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Timers) => {
            let loaded = load_config(path.as_deref())?;
            timers(&loaded).await
        }
        Some(Cmd::DeadLetters { json }) => {
            let config = load_config(path.as_deref())?.config;
            dead_letters(&config, json).await
        }
        Some(Cmd::Status {
            action: StatusCmd::Export { out },
        }) => {
            let loaded = load_config(path.as_deref())?;
            status_export(&loaded, &out).await
        }
        Some(Cmd::Backup { file }) => {
            let config = load_config(path.as_deref())?.config;
            let url = config.database_url()?;
            flare::store::backup(&url, &file).await?;
            println!(
                "copied {} to {}",
                flare::config::redact_url(&url),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Export { incident, format }) => {
            let loaded = load_config(path.as_deref())?;
            export(&loaded, &incident, format).await
        }
        Some(Cmd::Healthcheck { url, timeout }) => {
            let url = match url {
                Some(u) => u,
                None => healthz_url(&load_config(path.as_deref())?.config)?,
            };
            Ok(healthcheck(&url, timeout).await)
        }
        Some(Cmd::Run) => {
            let loaded = load_config(path.as_deref())?;
            run(loaded).await
        }
        None | Some(Cmd::Console) => {
            let loaded = load_config(path.as_deref())?;
            console(loaded).await
        }
    }
}

fn check_config(path: Option<&Path>) -> ExitCode {
    let (loaded, warnings) = flare::config::load_with_warnings(path, std::env::vars());
    // Valid, but will not work as written: listed, and not a failure.
    for w in warnings {
        println!("warning: {w}");
    }
    match loaded {
        Ok(_) => {
            println!(
                "{}: ok",
                path.map(|p| p.display().to_string())
                    .unwrap_or_else(|| "defaults".into())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            for p in e.problems() {
                println!("{p}");
            }
            ExitCode::FAILURE
        }
    }
}

fn sla(settings: &Settings, json: bool, instant: Option<&str>) -> Result<ExitCode> {
    let at: DateTime<Utc> = match instant {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("`{s}` is not an RFC 3339 instant (e.g. 2026-11-26T10:00:00-05:00)")
            })?
            .with_timezone(&Utc),
        None => SystemClock.now(),
    };
    let a = settings.sla.assess(&settings.calendar, at);
    if json {
        println!("{}", a.to_json(&settings.calendar));
    } else {
        println!("{}", a.describe(&settings.calendar, at));
    }
    Ok(ExitCode::SUCCESS)
}

async fn status_export(loaded: &Loaded, out: &std::path::Path) -> Result<ExitCode> {
    let url = loaded.config.database_url()?;
    let store = flare::store::open(&url, 1).await.with_context(|| {
        format!(
            "cannot open the database {}",
            flare::config::redact_url(&url)
        )
    })?;
    let clock: flare::clock::SharedClock = std::sync::Arc::new(flare::clock::SystemClock);
    let page = flare::status::PageSettings::from_config(&loaded.config, &loaded.settings, &clock);
    let state = flare::status::StatusState {
        store: store.clone(),
        page: std::sync::Arc::new(page),
    };
    let done = flare::status::export::export(&state, out).await;
    store.close().await;
    done?;
    println!("status page exported to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

async fn timers(loaded: &Loaded) -> Result<ExitCode> {
    let settings = &loaded.settings;
    let url = loaded.config.database_url()?;
    let store = flare::store::open(&url, 1).await.with_context(|| {
        format!(
            "cannot open the database {}",
            flare::config::redact_url(&url)
        )
    })?;
    let mut tx = store.begin().await?;
    let timers = tx.pending_timers(None).await?;
    drop(tx);
    if timers.is_empty() {
        println!("no pending timers");
    }
    for t in timers {
        println!(
            "{:>6}  {:<16} {}  {}  {}{}",
            t.id,
            t.new.kind,
            t.new
                .incident_id
                .map(|i| format!("INC-{i}"))
                .unwrap_or_else(|| "-".into()),
            flare::engine::render::local(&settings.calendar, t.new.due_at),
            t.new.due_at.format("%Y-%m-%dT%H:%M:%SZ"),
            // Which escalation step, rotation or announcement.
            if t.new.payload.is_empty() {
                String::new()
            } else {
                format!("  {}", t.new.payload)
            },
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn dead_letters(config: &flare::config::Config, json: bool) -> Result<ExitCode> {
    let url = config.database_url()?;
    let store = flare::store::open(&url, 1).await.with_context(|| {
        format!(
            "cannot open the database {}",
            flare::config::redact_url(&url)
        )
    })?;
    let letters = store.dead_letters().await;
    store.close().await;
    let letters = letters?;
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    if json {
        let rows: Vec<serde_json::Value> = letters
            .iter()
            .map(|r| {
                let l = &r.letter;
                serde_json::json!({
                    "id": r.id,
                    "platform": l.platform,
                    "channel": l.channel,
                    "thread": l.thread,
                    "message_id": l.message_id,
                    "author": l.author,
                    "text": l.text,
                    "sent_at": time(l.sent_at),
                    "error": l.error,
                    "failed_at": time(l.failed_at),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    if letters.is_empty() {
        println!("no dead letters");
        return Ok(ExitCode::SUCCESS);
    }
    // People's text may hold terminal escapes: shown as visible symbols.
    let safe = |s: &str| flare::chat::text::neutralise_controls(s).replace('\n', " ⏎ ");
    println!(
        "{:>5}  {:<20}  {:<24}  {:<16}  {:<16}  TEXT / ERROR",
        "ID", "FAILED AT", "WHERE", "MESSAGE", "AUTHOR"
    );
    for r in &letters {
        let l = &r.letter;
        let place = match &l.thread {
            Some(t) => format!("{}/{} ({t})", l.platform, l.channel),
            None => format!("{}/{}", l.platform, l.channel),
        };
        println!(
            "{:>5}  {:<20}  {:<24}  {:<16}  {:<16}  {}",
            r.id,
            time(l.failed_at),
            safe(&place),
            safe(&l.message_id),
            safe(&l.author),
            safe(&l.text)
        );
        println!("{:>5}  {:<20}  error: {}", "", "", safe(&l.error));
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(loaded: &Loaded, incident: &str, format: ExportFormat) -> Result<ExitCode> {
    let id: flare::domain::incident::IncidentId = incident.parse().map_err(|()| {
        anyhow::anyhow!("`{incident}` is not an incident: write INC-n, like INC-7")
    })?;
    let url = loaded.config.database_url()?;
    let store = flare::store::open(&url, 1).await?;
    let mut tx = store.begin().await?;
    let found = tx.incident(id.0).await?;
    let timeline = tx.timeline(id.0).await?;
    drop(tx);
    store.close().await;
    let Some(inc) = found else {
        anyhow::bail!("no incident {id}");
    };
    let cal = &loaded.settings.calendar;
    let text = match format {
        ExportFormat::Markdown => flare::engine::render::export::markdown(cal, &inc, &timeline),
        ExportFormat::Json => flare::engine::render::export::json(cal, &inc, &timeline),
    };
    println!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// `/healthz` on the configured listen address (a wildcard address asked on loopback).
fn healthz_url(config: &flare::config::Config) -> Result<String> {
    let addr = config
        .http
        .address()
        .map_err(|p| anyhow::anyhow!("{p}"))?
        .context("the HTTP server is off (http.listen = \"\" or http.enabled = false)")?;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    Ok(format!(
        "http://{}/healthz",
        std::net::SocketAddr::new(ip, addr.port())
    ))
}

async fn healthcheck(url: &str, timeout: Duration) -> ExitCode {
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flare healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => {
            println!("{url}: {}", r.status());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("flare healthcheck: {url}: {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("flare healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(loaded: Loaded) -> Result<ExitCode> {
    let clock: SharedClock = Arc::new(SystemClock);
    let running =
        flare::app::start_with(&loaded.config, loaded.settings, clock, Vec::new()).await?;
    if running.adapters.is_empty() {
        tracing::warn!(
            "no chat platform is configured, so nobody can reach Flare: add an [[irc]], \
             [[slack]] or [[rocketchat]] section to the configuration (see \
             config/flare.example.toml), or try it with `flare console`"
        );
    }
    if let Some(addr) = running.http {
        tracing::info!("status and health on http://{addr}");
    }
    tracing::info!(
        platforms = running.adapters.len(),
        "flare is running; Ctrl-C or SIGTERM stops it"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown(Duration::from_secs(10)).await;
    Ok(ExitCode::SUCCESS)
}

async fn console(loaded: Loaded) -> Result<ExitCode> {
    let Loaded { config, settings } = loaded;
    let clock: SharedClock = Arc::new(SystemClock);
    let adapter = Arc::new(ConsoleAdapter::new(
        config.console.clone(),
        clock.clone(),
        tokio::io::stdin(),
        std::io::stdout(),
    ));
    let mut closed = adapter.input_closed();
    let roles = config.console_roles();
    let running = flare::app::start_with(
        &config,
        settings,
        clock,
        vec![(adapter.clone() as Arc<dyn ChatAdapter>, roles)],
    )
    .await?;
    println!(
        "Flare console: you are `{}` in {}. Try `!inc help`; {}",
        config.console.user,
        config.console.channel,
        flare::chat::console::HELP
    );
    if let Some(addr) = running.http {
        // On stderr: stdout is the chat.
        eprintln!("Flare: status and health on http://{addr}");
    }
    tokio::select! {
        _ = closed.wait_for(|c| *c) => {}
        _ = shutdown_signal() => {}
    }
    running.shutdown(Duration::from_secs(10)).await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
