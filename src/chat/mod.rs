//! Chat platforms behind one small adapter trait: inbound events in, a send call out.
//!
//! Each adapter owns its protocol, reconnects, rate limits and escaping. The engine and the
//! delivery worker only ever see [`Inbound`], [`Outbound`], [`Sent`] and [`SendError`].

pub mod console;
pub mod irc;
pub mod rocketchat;
pub mod slack;
pub mod text;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Shared with the domain, the store and the configuration, so they live in the domain.
pub use crate::domain::platform::{ChannelRole, PlatformKind, Style};

/// Who wrote an inbound message, as the platform identifies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// Stable platform id: Slack user id, Rocket.Chat username, IRC nick, console name.
    pub id: String,
    /// What people see (display name); may equal `id`.
    pub display: String,
}

/// What happened on the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    /// A new message (commands are messages too).
    Message,
    /// The message `message_id` was edited; `text` is the new text.
    Edit,
    /// The message `message_id` was deleted.
    Delete,
    /// A reaction was added to the message `message_id` (never an acknowledgement).
    Reaction { name: String },
}

/// One inbound chat event, already decoded by its adapter.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The configured name of the adapter instance (e.g. `slack`, `irc-libera`, `rc-backup`).
    pub platform: String,
    pub kind: PlatformKind,
    pub event: InboundKind,
    /// Channel id or name as the adapter addresses it (Slack channel id, Rocket.Chat room id,
    /// IRC channel name, console channel).
    pub channel: String,
    /// The root message id of the thread this message belongs to, if any (Slack `thread_ts`,
    /// Rocket.Chat `tmid`, IRC `+reply` msgid). For `Edit`/`Delete`/`Reaction` the thread of
    /// the target message when known.
    pub thread: Option<String>,
    /// Incident number the adapter inferred from the platform's own conventions (IRC `INC-7: ...`
    /// prefix, or an incident channel `#flare-inc-7`).
    pub incident_hint: Option<i64>,
    pub author: Author,
    pub text: String,
    /// The platform's id for the message (Slack `ts`, Rocket.Chat `_id`, IRC msgid or a
    /// synthesised id). For `Edit`/`Delete`/`Reaction`: the id of the target message.
    pub message_id: String,
    /// The platform's own timestamp of the message (server-time, Slack `ts`, Rocket.Chat `ts`).
    pub sent_at: DateTime<Utc>,
    /// Fired by the engine loop once Flare is done with the event (see [`Receipt`]); `None`
    /// for platforms that have nothing to confirm.
    pub receipt: Option<Receipt>,
}

impl Inbound {
    /// Tells the adapter that Flare is done with this event (see [`Receipt`]).
    pub fn done(&self) {
        if let Some(r) = &self.receipt {
            r.done();
        }
    }
}

type Completion = Box<dyn FnOnce() + Send>;

/// What an adapter runs once Flare is done with an inbound event: its transaction committed,
/// or it was a duplicate, ignored, or finally failed. Slack acknowledges its Socket Mode
/// envelope then, so an event Flare dies holding is never acknowledged and Slack delivers it
/// again. Clones share one completion, which runs at most once.
#[derive(Clone)]
pub struct Receipt(Arc<Mutex<Option<Completion>>>);

impl Receipt {
    pub fn new(f: impl FnOnce() + Send + 'static) -> Receipt {
        Receipt(Arc::new(Mutex::new(Some(Box::new(f)))))
    }

    /// Runs the completion, the first time only.
    pub fn done(&self) {
        let f = match self.0.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(f) = f {
            f();
        }
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receipt")
    }
}

/// One message for an adapter to send. `text` is always plain text: the adapter escapes it and
/// neutralises any mention in it. Deliberate mentions are in `mentions`, as platform user ids,
/// and the adapter renders them in its own syntax.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The outbox row this comes from; stable across retries (an idempotency key).
    pub delivery_id: i64,
    pub channel: String,
    /// The thread root on this platform and channel, as returned earlier in [`Sent::thread`].
    pub thread: Option<String>,
    /// The incident this is about, for platforms that mark incidents in text (IRC prefix mode).
    pub incident: Option<i64>,
    pub style: Style,
    /// For `Style::Mirror`: the rendered attribution (e.g. `alice@slack`).
    pub author: Option<String>,
    pub text: String,
    /// Platform user ids to mention deliberately (on-call pings).
    pub mentions: Vec<String>,
    /// Edit this earlier message (its remote id) instead of posting a new one. An adapter whose
    /// platform cannot edit posts `(edited) ...` instead.
    pub edit_of: Option<String>,
    /// Delete (or mark deleted) this earlier message (its remote id).
    pub delete_of: Option<String>,
    /// Informational output (help, show, list, ...) rather than something that matters now.
    pub bulk: bool,
    /// For a reply: who asked (their platform id), so a long answer may go to them privately.
    pub requester: Option<String>,
}

/// The result of a successful send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The platform id of the (first) message written.
    pub remote_id: String,
    /// For `Style::ThreadRoot`: what later messages should pass as [`Outbound::thread`].
    pub thread: Option<String>,
}

/// Why a send failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Temporary (disconnected, rate-limited, 5xx): retry, not before `after` when given.
    #[error("temporary failure: {reason}")]
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Cannot succeed (channel not found, not in channel, no permission, message rejected).
    #[error("{0}")]
    Permanent(String),
}

/// An incident thread recorded for an adapter, as the engine addressed it: the channel its
/// root was sent to and the thread id the adapter returned for it ([`Sent::thread`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentThread {
    pub incident: i64,
    pub channel: String,
    pub thread: String,
}

/// Where adapters push inbound events.
pub type InboundSink = mpsc::Sender<Inbound>;

/// What an adapter calls when its connection is (back) up: the outbox then retries at once
/// what waited on a backoff because the platform was unreachable (docs/architecture.md).
#[derive(Default)]
pub struct OnConnect(std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>);

impl OnConnect {
    /// Set once, by the wiring; later calls are ignored.
    pub fn set(&self, hook: Box<dyn Fn() + Send + Sync>) {
        let _ = self.0.set(hook);
    }

    pub fn fire(&self) {
        if let Some(hook) = self.0.get() {
            hook();
        }
    }
}

/// One connected chat system. `run` owns the connection (connect, receive, reconnect) and
/// returns only on shutdown or a fatal error (bad credentials), which is logged with the
/// adapter's name while the other adapters keep running. `send` may be called concurrently
/// with `run` and waits for the adapter's own rate limits.
#[async_trait]
pub trait ChatAdapter: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn kind(&self) -> PlatformKind;
    async fn run(self: Arc<Self>, inbound: InboundSink) -> anyhow::Result<()>;
    async fn send(&self, msg: &Outbound) -> Result<Sent, SendError>;

    /// Called once at start, before `run`, with the threads of this adapter's incidents that
    /// are not resolved, rebuilt from the database: an adapter that must be present somewhere
    /// for them to hear replies (IRC's incident channels) is there once connected. Threads
    /// that live in configured channels (Slack, Rocket.Chat) need nothing.
    fn restore_threads(&self, _threads: &[IncidentThread]) {}

    /// Gives the adapter what to call each time its connection is (back) up (IRC: registered;
    /// Slack: `hello`; Rocket.Chat: logged in and subscribed). Adapters with no connection of
    /// their own ignore it.
    fn on_connect(&self, _hook: Box<dyn Fn() + Send + Sync>) {}

    /// Relayed messages pending for one place past which the outbox sends one summary line
    /// instead of the rest (a platform whose rate limit cannot keep up: IRC). None: never.
    fn relay_backlog_limit(&self) -> Option<usize> {
        None
    }

    /// Sends `msgs` in order, as `send` would each. Returns a result for each message tried:
    /// all of them, or those up to and including the first that failed; the rest were not
    /// tried. Adapters that can hand a burst to their connection at once override it.
    async fn send_many(&self, msgs: &[Outbound]) -> Vec<Result<Sent, SendError>> {
        let mut results = Vec::with_capacity(msgs.len());
        for m in msgs {
            let r = self.send(m).await;
            let failed = r.is_err();
            results.push(r);
            if failed {
                break;
            }
        }
        results
    }
}
