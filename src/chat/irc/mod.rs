//! IRC adapter: one [`IrcAdapter`] per configured network.
//!
//! `run` owns the connection (see `conn`); `send` renders, splits and rate-limits lines and
//! hands them to the live connection's writer.

/// This adapter's section of the configuration (kept with the rest of the configuration).
pub use crate::config::irc as config;
mod batch;
pub mod bulk;
mod conn;
mod echo;
pub mod flood;
mod join;
pub mod message;
pub mod register;
mod render;
mod send;
pub mod split;
mod state;
mod write;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::chat::{
    ChatAdapter, InboundSink, IncidentThread, OnConnect, Outbound, PlatformKind, SendError, Sent,
};
use crate::config::Problem;

use config::Resolved;
pub use config::{IrcChannelConfig, IrcConfig, ThreadMode};
use flood::TokenBucket;
pub(crate) use state::{CaseMap, Joined, Outgoing, State};

/// How long `send` waits for a JOIN it needs, or for the echo of a thread root.
const JOIN_WAIT: Duration = Duration::from_secs(10);
const ECHO_WAIT: Duration = Duration::from_secs(3);
/// How long a queued line may wait for the socket before the send counts as failed.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// One IRC network.
pub struct IrcAdapter {
    cfg: IrcConfig,
    resolved: Resolved,
    state: Mutex<State>,
    /// Serialises sends (lines of one message stay together) and holds the flood bucket.
    sender: tokio::sync::Mutex<TokenBucket>,
    connected: OnConnect,
    bulk: bulk::BulkQueue,
}

impl IrcAdapter {
    /// Checks the config and resolves secrets; no I/O beyond reading `*_file` secrets.
    pub fn new(cfg: IrcConfig) -> anyhow::Result<IrcAdapter> {
        let mut problems: Vec<Problem> = Vec::new();
        let key = format!("irc `{}`", cfg.name);
        let resolved = cfg.resolve(&key, &mut problems);
        let Some(resolved) = resolved else {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            anyhow::bail!("invalid IRC config: {}", list.join("; "));
        };
        Ok(IrcAdapter {
            state: Mutex::new(State::new(&cfg.nick)),
            sender: tokio::sync::Mutex::new(TokenBucket::new(cfg.lines_per_second, cfg.burst)),
            resolved,
            cfg,
            connected: OnConnect::default(),
            bulk: Default::default(),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked mid-update; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The nick Flare currently has on this network.
    pub fn current_nick(&self) -> String {
        self.state().nick.clone()
    }

    /// Whether Flare is registered and connected right now.
    pub fn is_connected(&self) -> bool {
        self.state().link.is_some()
    }

    /// Whether Flare is in `channel` right now.
    pub fn is_joined(&self, channel: &str) -> bool {
        let st = self.state();
        st.joined.contains_key(&st.fold(channel))
    }

    pub(crate) fn synth_id(&self) -> String {
        let mut st = self.state();
        st.seq += 1;
        format!(
            "{}-{}-{}",
            self.cfg.name,
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            st.seq
        )
    }

    fn not_connected(&self) -> SendError {
        SendError::Retry {
            after: None,
            reason: format!("not connected to IRC network `{}`", self.cfg.name),
        }
    }

    fn link(&self) -> Result<mpsc::UnboundedSender<Outgoing>, SendError> {
        self.state()
            .link
            .clone()
            .ok_or_else(|| self.not_connected())
    }
}

#[async_trait]
impl ChatAdapter for IrcAdapter {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> PlatformKind {
        PlatformKind::Irc
    }

    fn relay_backlog_limit(&self) -> Option<usize> {
        self.cfg.backlog_limit()
    }

    async fn run(self: Arc<Self>, inbound: InboundSink) -> anyhow::Result<()> {
        let bulk = tokio::spawn(bulk::drain(self.clone()));
        let ended = conn::run(self, inbound).await;
        bulk.abort();
        ended
    }

    fn on_connect(&self, hook: Box<dyn Fn() + Send + Sync>) {
        self.connected.set(hook);
    }

    fn restore_threads(&self, threads: &[IncidentThread]) {
        self.restore_incident_channels(threads);
    }

    async fn send(&self, msg: &Outbound) -> Result<Sent, SendError> {
        let mut bucket = self.sender.lock().await;
        if let Some(r) = self.send_bulk_privately(&mut bucket, msg).await {
            return r;
        }
        self.send_locked(&mut bucket, msg).await
    }

    async fn send_many(&self, msgs: &[Outbound]) -> Vec<Result<Sent, SendError>> {
        let mut bucket = self.sender.lock().await;
        let mut results = Vec::with_capacity(msgs.len());
        let mut rest = msgs;
        while !rest.is_empty() {
            let plain = rest.iter().take_while(|m| Self::is_plain(m)).count();
            let before = results.len();
            if plain > 0 {
                self.send_plain_batch(&mut bucket, &rest[..plain], &mut results)
                    .await;
                if results.len() - before < plain || results.last().is_some_and(Result::is_err) {
                    return results;
                }
                rest = &rest[plain..];
            } else {
                let r = match self.send_bulk_privately(&mut bucket, &rest[0]).await {
                    Some(r) => r,
                    None => self.send_locked(&mut bucket, &rest[0]).await,
                };
                let failed = r.is_err();
                results.push(r);
                if failed {
                    return results;
                }
                rest = &rest[1..];
            }
        }
        results
    }
}
