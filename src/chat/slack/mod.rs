//! Slack adapter: Socket Mode (default) or the signed Events API over HTTP for inbound, the Web
//! API with the bot token for outbound, and the `/incident` slash command.
//!
//! Inbound deliveries are handed to one dispatcher task that de-duplicates, decodes, looks up
//! display names and pushes [`Inbound`] events, in order. A Socket Mode envelope is
//! acknowledged by the connection that got it once Flare is done with it (the event's
//! transaction committed; at once when there is nothing for Flare in it), through the
//! event's [`Receipt`].

pub mod api;
/// This adapter's section of the configuration (kept with the rest of the configuration).
pub use crate::config::slack as config;
pub mod events;
pub mod http;
pub mod signature;
pub mod socket;
pub mod text;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use self::api::{ApiError, Identity, WebApi};
pub use self::config::{SlackConfig, SlackMode};
use self::events::{Decoder, Dedupe, Draft};
use crate::chat::{
    ChatAdapter, InboundSink, Outbound, PlatformKind, Receipt, SendError, Sent, Style,
};
use crate::retry::{Backoff, Policy};

/// How many delivery ids (envelope and event ids) are remembered for de-duplication.
const DEDUPE_MEMORY: usize = 8192;

/// Work handed from a connection (or the HTTP endpoint) to the dispatcher, with the receipt
/// that acks its envelope (Socket Mode; HTTP requests are answered at once).
#[derive(Debug)]
pub(crate) enum Work {
    /// An `events_api` payload (the `event_callback` wrapper).
    Event {
        envelope_id: Option<String>,
        payload: Value,
        receipt: Option<Receipt>,
    },
    /// A slash command, already decoded; its reply waits in the receipt's ack.
    Slash {
        envelope_id: Option<String>,
        draft: Draft,
        receipt: Option<Receipt>,
    },
}

pub struct SlackAdapter {
    cfg: SlackConfig,
    signing_secret: Option<String>,
    api: WebApi,
    decoder: Decoder,
    identity: RwLock<Option<Identity>>,
    dedupe: Mutex<Dedupe>,
    http_addr: watch::Sender<Option<SocketAddr>>,
    connected: crate::chat::OnConnect,
}

impl SlackAdapter {
    /// Builds the adapter from its config; no I/O happens until `run`/`send`.
    pub fn new(cfg: SlackConfig) -> anyhow::Result<SlackAdapter> {
        let key = format!("slack `{}`", cfg.name);
        let mut problems = Vec::new();
        let secrets = cfg.secrets(&key, &mut problems).ok_or_else(|| {
            anyhow!(
                "{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let api = WebApi::new(
            &cfg.api_base,
            secrets.bot_token.clone(),
            secrets.app_token.clone(),
            cfg.channel_rate_per_sec,
            cfg.channel_burst,
        )?;
        let decoder = Decoder {
            channels: cfg.channels.iter().map(|c| c.id.clone()).collect(),
            slash_command: cfg.slash_command.clone(),
        };
        Ok(SlackAdapter {
            signing_secret: secrets.signing_secret,
            api,
            decoder,
            identity: RwLock::new(None),
            dedupe: Mutex::new(Dedupe::new(DEDUPE_MEMORY)),
            http_addr: watch::channel(None).0,
            connected: Default::default(),
            cfg,
        })
    }

    /// In http mode: the address the events endpoint is bound to, once it is (waits).
    pub async fn http_addr(&self) -> Option<SocketAddr> {
        let mut rx = self.http_addr.subscribe();
        rx.wait_for(Option::is_some).await.ok().and_then(|a| *a)
    }

    /// Who we are, per `auth.test` (known once `run` has started).
    pub fn identity(&self) -> Option<Identity> {
        self.identity.read().ok().and_then(|i| i.clone())
    }

    fn fatal(&self, what: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("Slack instance `{}`: {what}", self.cfg.name)
    }

    /// `auth.test` until it answers: credentials problems are fatal, anything else is retried.
    async fn authenticate(&self) -> anyhow::Result<Identity> {
        let mut backoff = Backoff::new(BACKOFF);
        loop {
            match self.api.auth_test().await {
                Ok(id) => return Ok(id),
                Err(ApiError::Slack(e)) => {
                    return Err(
                        self.fatal(format_args!("auth.test failed with `{e}`; check bot_token"))
                    );
                }
                Err(e) => {
                    let wait = match e {
                        ApiError::RateLimited(d) => d,
                        _ => backoff.next_delay(),
                    };
                    tracing::warn!(slack = %self.cfg.name, error = %e, ?wait, "auth.test failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// De-duplicates, decodes and pushes inbound events, in delivery order. A delivery is
    /// remembered as seen once Flare is done with it: a redelivery of one still being handled
    /// goes on to the engine, which dedupes it by message id, so an ack never runs ahead of
    /// the commit.
    async fn dispatch(self: Arc<Self>, mut work: mpsc::Receiver<Work>, sink: InboundSink) {
        while let Some(w) = work.recv().await {
            let (draft, keys, receipt) = match w {
                Work::Event {
                    envelope_id,
                    payload,
                    receipt,
                } => {
                    let event_id = payload.get("event_id").and_then(Value::as_str);
                    let keys = delivery_keys(envelope_id.as_deref(), event_id);
                    let done = |why: &str| {
                        tracing::debug!(?envelope_id, ?event_id, why, "delivery acked");
                        self.remember(&keys);
                        if let Some(r) = &receipt {
                            r.done();
                        }
                    };
                    if self.seen(&keys) {
                        done("duplicate");
                        continue;
                    }
                    let Some(ev) = payload.get("event") else {
                        done("events_api payload without event");
                        continue;
                    };
                    let Some(me) = self.identity() else {
                        done("identity unknown");
                        continue;
                    };
                    match self.decoder.event(ev, &me) {
                        Some(d) => (d, keys, receipt),
                        None => {
                            done("nothing for Flare");
                            continue;
                        }
                    }
                }
                Work::Slash {
                    envelope_id,
                    draft,
                    receipt,
                } => {
                    let keys = delivery_keys(envelope_id.as_deref(), Some(&draft.message_id));
                    if self.seen(&keys) {
                        if let Some(r) = &receipt {
                            r.done();
                        }
                        continue;
                    }
                    (draft, keys, receipt)
                }
            };
            let mut display = self.api.display_name(&draft.user).await;
            if display == draft.user
                && let Some(n) = &draft.fallback_name
            {
                display = n.clone();
            }
            let mut draft = draft;
            let mut names = Vec::new();
            for id in text::mentioned_ids(&draft.text) {
                let name = self.api.display_name(&id).await;
                names.push((id, name));
            }
            if !names.is_empty() {
                draft.text = text::with_mention_names(&draft.text, |id| {
                    names
                        .iter()
                        .find(|(i, n)| i == id && n != i)
                        .map(|(_, n)| n.clone())
                });
            }
            let mut inbound = draft.into_inbound(&self.cfg.name, display);
            let me = self.clone();
            inbound.receipt = Some(Receipt::new(move || {
                me.remember(&keys);
                if let Some(r) = receipt {
                    r.done();
                }
            }));
            if sink.send(inbound).await.is_err() {
                return;
            }
        }
    }

    /// Whether a delivery with any of these ids was already handled.
    fn seen(&self, keys: &[String]) -> bool {
        let Ok(d) = self.dedupe.lock() else {
            return false;
        };
        keys.iter().any(|k| d.contains(k))
    }

    fn remember(&self, keys: &[String]) {
        if let Ok(mut d) = self.dedupe.lock() {
            for k in keys {
                d.first_time(k);
            }
        }
    }

    async fn post(
        &self,
        channel: &str,
        text: &str,
        thread: Option<&str>,
        broadcast: bool,
    ) -> Result<String, SendError> {
        let mut attempts = 0;
        loop {
            self.api.wait_channel(channel).await;
            match self
                .api
                .post_message(channel, text, thread, broadcast)
                .await
            {
                Ok(ts) => return Ok(ts),
                Err(e) => self.retry_or_fail(e, &mut attempts).await?,
            }
        }
    }

    /// Waits out a short 429 (the API client holds further calls until Retry-After), else
    /// maps the failure onto [`SendError`].
    async fn retry_or_fail(&self, e: ApiError, attempts: &mut u32) -> Result<(), SendError> {
        *attempts += 1;
        match e {
            ApiError::RateLimited(after)
                if *attempts <= 3
                    && after <= Duration::from_secs(self.cfg.max_inline_retry_after_secs) =>
            {
                tracing::info!(slack = %self.cfg.name, ?after, "rate limited; waiting");
                Ok(())
            }
            e => Err(send_error(e)),
        }
    }
}

/// The de-duplication keys of a delivery: its envelope id and its event id.
fn delivery_keys(envelope_id: Option<&str>, event_id: Option<&str>) -> Vec<String> {
    let env = envelope_id.map(|e| format!("env:{e}"));
    let ev = event_id.map(|e| format!("ev:{e}"));
    env.into_iter().chain(ev).collect()
}

/// Slack's answer as a [`SendError`]: 429/5xx/network are temporary, error codes are not.
pub fn send_error(e: ApiError) -> SendError {
    match e {
        ApiError::RateLimited(after) => SendError::Retry {
            after: Some(after),
            reason: "slack rate limit (429)".into(),
        },
        ApiError::Transient(r) => SendError::Retry {
            after: None,
            reason: r,
        },
        ref err @ ApiError::Slack(ref code) if err.is_temporary() => SendError::Retry {
            after: None,
            reason: format!("slack: {code}"),
        },
        ApiError::Slack(code) => SendError::Permanent(format!("slack: {code}")),
    }
}

#[async_trait]
impl ChatAdapter for SlackAdapter {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> PlatformKind {
        PlatformKind::Slack
    }

    async fn run(self: Arc<Self>, inbound: InboundSink) -> anyhow::Result<()> {
        let me = self.authenticate().await?;
        tracing::info!(slack = %self.cfg.name, user = %me.user_id, team = ?me.team, "authenticated");
        if let Ok(mut i) = self.identity.write() {
            *i = Some(me);
        }
        let (work_tx, work_rx) = mpsc::channel(4096);
        let dispatcher = tokio::spawn(self.clone().dispatch(work_rx, inbound));
        let result = match self.cfg.mode {
            SlackMode::Socket => socket::run(self.clone(), work_tx).await,
            SlackMode::Http => http::serve(self.clone(), work_tx).await,
        };
        dispatcher.abort();
        result
    }

    fn on_connect(&self, hook: Box<dyn Fn() + Send + Sync>) {
        self.connected.set(hook);
    }

    async fn send(&self, msg: &Outbound) -> Result<Sent, SendError> {
        let channel = msg.channel.as_str();
        if let Some(ts) = &msg.delete_of {
            let mut attempts = 0;
            loop {
                match self.api.delete(channel, ts).await {
                    Ok(()) => break,
                    // Already gone is what we wanted.
                    Err(ApiError::Slack(e)) if e == "message_not_found" => break,
                    Err(e) => self.retry_or_fail(e, &mut attempts).await?,
                }
            }
            return Ok(Sent {
                remote_id: ts.clone(),
                thread: msg.thread.clone(),
            });
        }
        let author = match msg.style {
            Style::Mirror => msg.author.as_deref(),
            _ => None,
        };
        let rendered = text::render(&msg.text, &msg.mentions, author);
        let mut chunks = text::split(&rendered, text::MAX_CHARS);
        if let Some(ts) = &msg.edit_of {
            // An edit replaces one message: keep the first chunk only.
            let first = chunks.swap_remove(0);
            let mut attempts = 0;
            loop {
                match self.api.update(channel, ts, &first).await {
                    Ok(_) => break,
                    Err(e) => self.retry_or_fail(e, &mut attempts).await?,
                }
            }
            return Ok(Sent {
                remote_id: ts.clone(),
                thread: msg.thread.clone(),
            });
        }
        let thread = match msg.style {
            Style::ThreadRoot | Style::Announcement => None,
            _ => msg.thread.clone(),
        };
        let broadcast = msg.style == Style::StatusUpdate && self.cfg.broadcast_status_updates;
        let mut first: Option<String> = None;
        for chunk in &chunks {
            // Later chunks of a thread root continue in its thread.
            let in_thread = match (&thread, msg.style, &first) {
                (Some(t), _, _) => Some(t.as_str()),
                (None, Style::ThreadRoot, Some(f)) => Some(f.as_str()),
                _ => None,
            };
            let ts = self
                .post(channel, chunk, in_thread, broadcast && in_thread.is_some())
                .await?;
            first.get_or_insert(ts);
        }
        let remote_id = first.unwrap_or_default();
        let thread = match msg.style {
            Style::ThreadRoot => Some(remote_id.clone()),
            _ => thread,
        };
        Ok(Sent { remote_id, thread })
    }
}

/// Slack's reconnect and retry delays: 250 ms doubling to 60 s (the rule is `crate::retry`'s).
pub(crate) const BACKOFF: Policy = Policy::new(Duration::from_millis(250), Duration::from_secs(60));
