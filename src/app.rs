//! Wiring: the store, the engine, one task per adapter, one outbox worker per adapter, the
//! scheduler, and a clean shutdown that flushes what is due.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::chat::{ChannelRole, ChatAdapter, Inbound, IncidentThread};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::delivery::{RetryPolicy, Stats, Wake, Worker};
use crate::engine::{Engine, EngineError, Settings};
use crate::retry::{Backoff, Policy};
use crate::scheduler::Scheduler;
use crate::store::{self, SharedStore};

/// A running Flare.
pub struct Running {
    pub store: SharedStore,
    pub engine: Arc<Engine>,
    pub stats: Arc<Stats>,
    pub adapters: Vec<Arc<dyn ChatAdapter>>,
    /// Push inbound events here to have them handled (adapters do; tests may too).
    pub inbound: mpsc::Sender<Inbound>,
    /// Where the HTTP server (health, readiness, metrics) listens; `None` when it is off.
    pub http: Option<std::net::SocketAddr>,
    shutdown: watch::Sender<bool>,
    engine_task: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    adapter_tasks: Vec<JoinHandle<()>>,
}

fn problems_to_error(p: Vec<crate::config::Problem>) -> anyhow::Error {
    anyhow::anyhow!(crate::config::ConfigError::Invalid(p))
}

/// Builds the adapters the configuration names.
pub fn configured_adapters(config: &Config) -> anyhow::Result<Vec<Arc<dyn ChatAdapter>>> {
    let mut adapters: Vec<Arc<dyn ChatAdapter>> = Vec::new();
    for c in &config.irc {
        adapters.push(Arc::new(crate::chat::irc::IrcAdapter::new(c.clone())?));
    }
    for c in &config.slack {
        adapters.push(Arc::new(crate::chat::slack::SlackAdapter::new(c.clone())?));
    }
    for c in &config.rocketchat {
        adapters.push(Arc::new(crate::chat::rocketchat::RocketChatAdapter::new(
            c.clone(),
        )?));
    }
    Ok(adapters)
}

/// Starts Flare with the configured adapters plus `extra` ones (the console) and their
/// channels.
pub async fn start(
    config: &Config,
    clock: SharedClock,
    extra: Vec<(Arc<dyn ChatAdapter>, Vec<ChannelRole>)>,
) -> anyhow::Result<Running> {
    let settings = Settings::from_config(config).map_err(problems_to_error)?;
    start_with(config, settings, clock, extra).await
}

/// [`start`] with the settings already resolved from `config` (`config::load`).
pub async fn start_with(
    config: &Config,
    settings: Settings,
    clock: SharedClock,
    extra: Vec<(Arc<dyn ChatAdapter>, Vec<ChannelRole>)>,
) -> anyhow::Result<Running> {
    let policy = RetryPolicy::from_config(config).map_err(problems_to_error)?;
    let url = config.database_url()?;
    let store = store::open(&url, config.database.max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                crate::config::redact_url(&url)
            )
        })?;
    let mut adapters = configured_adapters(config)?;
    let mut roles = config.channel_roles();
    for (adapter, r) in extra {
        adapters.push(adapter);
        roles.extend(r);
    }
    restore_threads(&store, &adapters).await?;
    let wake = Arc::new(Wake::new(adapters.iter().map(|a| a.name())));
    let engine = Arc::new(Engine::new(
        store.clone(),
        clock.clone(),
        settings,
        roles,
        wake.clone(),
    ));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (inbound_tx, inbound_rx) = mpsc::channel::<Inbound>(4096);
    let stats = Arc::new(Stats::default());
    let mut tasks = Vec::new();
    let ops = crate::http::Ops {
        store: store.clone(),
        adapters: adapters.clone(),
    };
    let page = crate::status::StatusState {
        store: store.clone(),
        page: Arc::new(crate::status::PageSettings::from_config(
            config,
            engine.settings(),
            &clock,
        )),
    };
    let routes = crate::http::ops_router(Arc::new(ops)).merge(crate::status::router(page));
    let http = crate::http::start(&config.http, routes)
        .await?
        .map(|(addr, task)| {
            tasks.push(task);
            addr
        });
    let engine_task = tokio::spawn(engine_loop(engine.clone(), inbound_rx));
    for adapter in &adapters {
        let (lane, name) = (wake.clone(), adapter.name().to_string());
        adapter.on_connect(Box::new(move || lane.reconnected(&name)));
        let worker = Worker::new(
            store.clone(),
            clock.clone(),
            adapter.clone(),
            wake.clone(),
            policy,
            stats.clone(),
        );
        tasks.push(tokio::spawn(worker.run(shutdown_rx.clone())));
    }
    let scheduler = Scheduler::new(engine.clone(), clock.clone());
    tasks.push(tokio::spawn(scheduler.run(shutdown_rx.clone())));
    let mut adapter_tasks = Vec::new();
    for adapter in &adapters {
        let adapter = adapter.clone();
        let sink = inbound_tx.clone();
        crate::health::watch(adapter.as_ref());
        adapter_tasks.push(tokio::spawn(async move {
            let name = adapter.name().to_string();
            match adapter.clone().run(sink).await {
                Ok(()) => tracing::info!(platform = %name, "adapter stopped"),
                Err(e) => {
                    crate::health::down(adapter.as_ref(), &format!("stopped: {e:#}"));
                    tracing::error!(
                        platform = %name,
                        error = format!("{e:#}"),
                        "adapter stopped; the other platforms keep working"
                    )
                }
            }
        }));
    }
    wake.notify_all();
    Ok(Running {
        store,
        engine,
        stats,
        adapters,
        inbound: inbound_tx,
        http,
        shutdown,
        engine_task,
        tasks,
        adapter_tasks,
    })
}

/// Tells each adapter the threads of the incidents not resolved yet, so it is present
/// wherever their replies come (IRC's incident channels) from its first connection on.
async fn restore_threads(
    store: &SharedStore,
    adapters: &[Arc<dyn ChatAdapter>],
) -> anyhow::Result<()> {
    let mut tx = store.begin().await.context("reading the open incidents")?;
    let mut threads: HashMap<String, Vec<IncidentThread>> = HashMap::new();
    for inc in tx
        .open_incidents()
        .await
        .context("reading the open incidents")?
    {
        for t in tx
            .threads(inc.id.0)
            .await
            .context("reading incident threads")?
        {
            if let Some(thread) = t.thread_ref {
                threads.entry(t.platform).or_default().push(IncidentThread {
                    incident: t.incident_id,
                    channel: t.channel,
                    thread,
                });
            }
        }
    }
    drop(tx);
    for a in adapters {
        if let Some(ts) = threads.get(a.name()) {
            a.restore_threads(ts);
        }
    }
    Ok(())
}

/// Handles inbound events in arrival order. What has queued up while the engine was busy is
/// handled as one batch in one transaction (group commit), so a burst costs one commit rather
/// than one per message; an idle engine takes each event as it comes. A database that is
/// briefly unavailable is retried so no event is dropped for it.
///
/// A reply whose thread root is still being sent is parked and tried again shortly; later
/// events of the same channel queue up behind it, so a channel's events are still handled
/// (and mirrored) in the order they arrived.
///
/// An event's receipt fires once Flare is done with it (committed, duplicate, ignored or
/// given up), never before its transaction commits; a parked event's fires when it is
/// finally handled, so a platform may redeliver it meanwhile (the engine dedupes it).
async fn engine_loop(engine: Arc<Engine>, mut inbound: mpsc::Receiver<Inbound>) {
    let mut parked: HashMap<(String, String), Parked> = HashMap::new();
    let mut next_retry = tokio::time::Instant::now();
    let mut batch: Vec<Inbound> = Vec::with_capacity(MAX_BATCH);
    loop {
        let ev = if parked.is_empty() {
            match inbound.recv().await {
                Some(ev) => ev,
                None => break,
            }
        } else {
            tokio::select! {
                ev = inbound.recv() => match ev {
                    Some(ev) => ev,
                    None => break,
                },
                _ = tokio::time::sleep_until(next_retry) => {
                    retry_parked(&engine, &mut parked).await;
                    next_retry = tokio::time::Instant::now() + PARK_RETRY;
                    continue;
                }
            }
        };
        batch.clear();
        let mut take = |ev: Inbound, batch: &mut Vec<Inbound>| {
            let key = (ev.platform.clone(), ev.channel.clone());
            match parked.get_mut(&key) {
                Some(p) => p.queue.push_back(ev),
                None => batch.push(ev),
            }
        };
        take(ev, &mut batch);
        while batch.len() < MAX_BATCH {
            match inbound.try_recv() {
                Ok(ev) => take(ev, &mut batch),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        for ev in handle_batch(&engine, &batch).await {
            if parked.is_empty() {
                next_retry = tokio::time::Instant::now() + PARK_RETRY;
            }
            let key = (ev.platform.clone(), ev.channel.clone());
            parked
                .entry(key)
                .or_insert_with(|| Parked {
                    queue: VecDeque::new(),
                    tries: 1,
                })
                .queue
                .push_back(ev);
        }
    }
    // Every sender is gone: finish what is parked, still in order.
    while !parked.is_empty() {
        tokio::time::sleep(PARK_RETRY).await;
        retry_parked(&engine, &mut parked).await;
    }
}

/// The most events one transaction takes.
const MAX_BATCH: usize = 256;

/// Handles a batch in one transaction; returns the events to park (unknown thread), in order.
/// When the batch fails as a whole, its events are handled one by one, so one bad event
/// costs only itself.
async fn handle_batch(engine: &Engine, batch: &[Inbound]) -> Vec<Inbound> {
    if batch.len() > 1 {
        match engine.handle_batch(batch).await {
            Ok(outcomes) => {
                // The batch committed: every event not parked is done.
                let mut park = Vec::new();
                for (ev, o) in batch.iter().zip(outcomes) {
                    if o.decision == crate::engine::Decision::UnknownThread {
                        park.push(ev.clone());
                    } else {
                        ev.done();
                    }
                }
                return park;
            }
            Err(e) => {
                tracing::warn!(error = %e, events = batch.len(), "batch failed; handling its events one by one");
            }
        }
    }
    let mut park: Vec<Inbound> = Vec::new();
    for ev in batch {
        // Keep a channel's order: once one of its events is parked, so are the later ones.
        if park
            .iter()
            .any(|p| p.platform == ev.platform && p.channel == ev.channel)
            || handle_one(engine, ev).await == Handled::UnknownThread
        {
            park.push(ev.clone());
        } else {
            ev.done();
        }
    }
    park
}

/// How long a parked event waits between tries, and how many tries it gets (5 s in all).
const PARK_RETRY: Duration = Duration::from_millis(100);
const PARK_TRIES: u32 = 50;

struct Parked {
    queue: VecDeque<Inbound>,
    tries: u32,
}

#[derive(PartialEq, Eq)]
enum Handled {
    Done,
    UnknownThread,
}

async fn retry_parked(engine: &Engine, parked: &mut HashMap<(String, String), Parked>) {
    for p in parked.values_mut() {
        while let Some(ev) = p.queue.front() {
            if handle_one(engine, ev).await == Handled::UnknownThread {
                p.tries += 1;
                if p.tries <= PARK_TRIES {
                    break;
                }
                tracing::warn!(platform = %ev.platform, channel = %ev.channel, message = %ev.message_id, "a reply in a thread that never became known; ignored");
            }
            if let Some(ev) = p.queue.pop_front() {
                ev.done();
            }
            p.tries = 1;
        }
    }
    parked.retain(|_, p| !p.queue.is_empty());
}

/// How long an event waits before it is tried again after a database error: 100 ms doubling
/// to 5 s, for up to 20 tries.
const DB_RETRY: Policy = Policy::new(Duration::from_millis(100), Duration::from_secs(5));

async fn handle_one(engine: &Engine, ev: &Inbound) -> Handled {
    let mut backoff = Backoff::new(DB_RETRY);
    for attempt in 1.. {
        match engine.handle(ev).await {
            Ok(outcome) if outcome.decision == crate::engine::Decision::UnknownThread => {
                return Handled::UnknownThread;
            }
            Ok(outcome) => {
                tracing::debug!(platform = %ev.platform, channel = %ev.channel, decision = ?outcome.decision, deliveries = outcome.deliveries, "handled");
                return Handled::Done;
            }
            Err(EngineError::Store(e)) if e.is_retryable() && attempt < 20 => {
                tracing::warn!(error = %e, attempt, "database error; retrying the event");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => {
                tracing::error!(platform = %ev.platform, channel = %ev.channel, message = %ev.message_id, error = %e, "event not handled; kept as a dead letter");
                engine.dead_letter(ev, &e).await;
                return Handled::Done;
            }
        }
    }
    Handled::Done
}

impl Running {
    /// Waits until nothing is due in the outbox (or `timeout` passes).
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut busy = false;
            for a in &self.adapters {
                match self.store.pending_deliveries(a.name(), 1).await {
                    Ok(rows) => busy |= !rows.is_empty(),
                    Err(_) => busy = true,
                }
            }
            if !busy {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the adapters, lets the engine finish every event already received, flushes
    /// what can be flushed within `flush`, then stops the workers.
    pub async fn shutdown(mut self, flush: Duration) {
        for t in self.adapter_tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        // With every sender gone the engine loop drains the queue and ends.
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.inbound, closed));
        let _ = (&mut self.engine_task).await;
        if !self.flush(flush).await {
            tracing::warn!(
                "shutting down with deliveries still pending; they go out at the next start"
            );
        }
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        for a in &self.adapters {
            crate::health::forget(a.as_ref());
        }
        self.store.close().await;
    }
}
