//! IRC adapter: one [`IrcAdapter`] per configured network.
//!
//! `run` owns the connection (see `conn`); `send` renders, splits and rate-limits lines and
//! hands them to the live connection's writer.

/// This adapter's section of the configuration (kept with the rest of the configuration).
pub use crate::config::irc as config;
mod conn;
pub mod flood;
pub mod message;
pub mod register;
pub mod split;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::chat::text::neutralise_controls;
use crate::chat::{ChatAdapter, InboundSink, Outbound, PlatformKind, SendError, Sent, Style};
use crate::config::Problem;

pub use config::{IrcChannelConfig, IrcConfig, ThreadMode};
use config::{Resolved, is_valid_channel, is_valid_nick};
use flood::TokenBucket;
use message::Message;
use split::{defang, neutralise_nicks, safe_lines, split_to_budget};

/// How long `send` waits for a JOIN it needs, or for the echo of a thread root.
const JOIN_WAIT: Duration = Duration::from_secs(10);
const ECHO_WAIT: Duration = Duration::from_secs(3);
/// How long a queued line may wait for the socket before the send counts as failed.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// Nick comparison per the server's CASEMAPPING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaseMap {
    Ascii,
    Rfc1459,
}

impl CaseMap {
    pub(crate) fn fold(self, s: &str) -> String {
        s.chars()
            .map(|c| match (self, c) {
                (CaseMap::Rfc1459, '[') => '{',
                (CaseMap::Rfc1459, ']') => '}',
                (CaseMap::Rfc1459, '\\') => '|',
                (CaseMap::Rfc1459, '~') => '^',
                (_, c) => c.to_ascii_lowercase(),
            })
            .collect()
    }
}

/// A line for the writer; `done` fires once it is written to the socket.
pub(crate) struct Outgoing {
    pub line: String,
    pub done: Option<oneshot::Sender<()>>,
}

pub(crate) struct Joined {
    pub members: HashSet<String>,
}

/// How waiting for one of our messages to be echoed back ended.
enum Echo {
    /// With its msgid, "" when the server gives none.
    Came(String),
    /// The connection dropped first (its waiters are cleared).
    Dropped,
    /// Not by the deadline.
    Late,
}

async fn echo_by(rx: oneshot::Receiver<String>, deadline: tokio::time::Instant) -> Echo {
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(id)) => Echo::Came(id),
        Ok(Err(_)) => Echo::Dropped,
        Err(_) => Echo::Late,
    }
}

pub(crate) struct EchoWaiter {
    pub target: String,
    pub text: String,
    pub tx: oneshot::Sender<String>,
}

/// What `send` and the connection loop share. Held only briefly, never across an await.
pub(crate) struct State {
    /// The live, registered connection's writer.
    pub link: Option<mpsc::UnboundedSender<Outgoing>>,
    pub nick: String,
    /// Our `nick!user@host` as others see it.
    pub mask: Option<String>,
    pub linelen: usize,
    pub casemap: CaseMap,
    pub chantypes: String,
    pub caps: HashSet<String>,
    /// Joined channels by folded name.
    pub joined: HashMap<String, Joined>,
    pub join_waiters: HashMap<String, Vec<oneshot::Sender<Result<(), String>>>>,
    pub echo_waiters: VecDeque<EchoWaiter>,
    /// Incident channel (folded) -> the channel it was announced in.
    pub incident_channels: HashMap<String, String>,
    /// (folded channel, incident) -> thread root id returned for it.
    pub roots: HashMap<(String, i64), String>,
    pub seq: u64,
}

impl State {
    fn new(nick: &str) -> State {
        State {
            link: None,
            nick: nick.to_string(),
            mask: None,
            linelen: 512,
            casemap: CaseMap::Rfc1459,
            chantypes: "#&".into(),
            caps: HashSet::new(),
            joined: HashMap::new(),
            join_waiters: HashMap::new(),
            echo_waiters: VecDeque::new(),
            incident_channels: HashMap::new(),
            roots: HashMap::new(),
            seq: 0,
        }
    }

    pub(crate) fn fold(&self, s: &str) -> String {
        self.casemap.fold(s)
    }

    pub(crate) fn is_channel(&self, s: &str) -> bool {
        s.starts_with(|c: char| self.chantypes.contains(c))
    }

    /// Forgets everything tied to a connection that is gone.
    pub(crate) fn disconnected(&mut self) {
        self.link = None;
        self.joined.clear();
        self.join_waiters.clear();
        self.echo_waiters.clear();
        self.caps.clear();
    }
}

/// One IRC network.
pub struct IrcAdapter {
    cfg: IrcConfig,
    resolved: Resolved,
    state: Mutex<State>,
    /// Serialises sends (lines of one message stay together) and holds the flood bucket.
    sender: tokio::sync::Mutex<TokenBucket>,
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

    pub(crate) fn channel_config(&self, channel: &str) -> Option<&IrcChannelConfig> {
        let cm = self.state().casemap;
        let f = cm.fold(channel);
        self.cfg.channels.iter().find(|c| cm.fold(&c.id) == f)
    }

    pub(crate) fn incident_channel_name(&self, n: i64) -> String {
        format!("#{}-inc-{n}", self.cfg.incident_channel_prefix)
    }

    /// `#flare-inc-7` -> 7.
    pub(crate) fn incident_of_channel(&self, channel: &str) -> Option<i64> {
        let head = format!("#{}-inc-", self.cfg.incident_channel_prefix);
        let c = channel.to_ascii_lowercase();
        c.strip_prefix(&head.to_ascii_lowercase())
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
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

    /// Makes sure Flare is in `channel`, joining it if needed.
    async fn ensure_joined(&self, channel: &str) -> Result<(), SendError> {
        let rx = {
            let mut st = self.state();
            let f = st.fold(channel);
            if st.joined.contains_key(&f) {
                return Ok(());
            }
            let link = st.link.clone().ok_or_else(|| self.not_connected())?;
            let (tx, rx) = oneshot::channel();
            let first = !st.join_waiters.contains_key(&f);
            st.join_waiters.entry(f).or_default().push(tx);
            if first {
                let key = self
                    .cfg
                    .channels
                    .iter()
                    .find(|c| st.casemap.fold(&c.id) == st.fold(channel))
                    .and_then(|c| c.key.clone());
                let line = match key {
                    Some(k) => Message::new("JOIN", &[channel, &k]).to_string(),
                    None => Message::new("JOIN", &[channel]).to_string(),
                };
                let _ = link.send(Outgoing { line, done: None });
            }
            rx
        };
        match tokio::time::timeout(JOIN_WAIT, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(why))) => Err(SendError::Permanent(format!(
                "cannot join {channel} on IRC network `{}`: {why}",
                self.cfg.name
            ))),
            Ok(Err(_)) => Err(self.not_connected()),
            Err(_) => Err(SendError::Retry {
                after: None,
                reason: format!("no answer to JOIN {channel} on `{}`", self.cfg.name),
            }),
        }
    }

    /// The payload bytes left on a `cmd target :` line after our own prefix.
    fn budget(st: &State, cmd: &str, target: &str) -> usize {
        let mask_len = st
            .mask
            .as_ref()
            .map(String::len)
            // Unknown user@host: assume the longest usual USERLEN (10) and HOSTLEN (64).
            .unwrap_or(st.nick.len() + 1 + 10 + 1 + 64);
        let overhead = 2 + (1 + mask_len + 1) + (cmd.len() + 1 + target.len() + 2);
        st.linelen.saturating_sub(overhead).max(16)
    }

    /// Queues lines in order through the flood bucket (`bucket` is the held send lock); the
    /// receiver fires once the last is on the socket, and fails if the connection dropped first.
    async fn queue_lines(
        &self,
        bucket: &mut TokenBucket,
        lines: Vec<String>,
    ) -> Result<oneshot::Receiver<()>, SendError> {
        let n = lines.len();
        let (tx, rx) = oneshot::channel();
        let mut last = Some(tx);
        for (i, line) in lines.into_iter().enumerate() {
            bucket.take().await;
            let done = if i + 1 == n { last.take() } else { None };
            self.link()?
                .send(Outgoing { line, done })
                .map_err(|_| self.not_connected())?;
        }
        Ok(rx)
    }

    /// Waits until a queued message is on the socket.
    async fn written(&self, rx: oneshot::Receiver<()>) -> Result<(), SendError> {
        match tokio::time::timeout(WRITE_WAIT, rx).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(self.not_connected()),
        }
    }

    /// Writes lines in order through the flood bucket; returns once the last is on the socket.
    async fn write_lines(
        &self,
        bucket: &mut TokenBucket,
        lines: Vec<String>,
    ) -> Result<(), SendError> {
        let rx = self.queue_lines(bucket, lines).await?;
        self.written(rx).await
    }

    /// Renders one message to `target` as full IRC lines (without CR LF).
    fn render(&self, msg: &Outbound, target: &str, incident_tag: Option<i64>) -> Vec<String> {
        let cmd = if msg.style == Style::Reminder {
            "NOTICE"
        } else {
            "PRIVMSG"
        };
        // Held throughout: the channel's members are read for every word, not copied.
        let st = self.state();
        let (members, casemap, tags) = {
            let f = st.fold(target);
            // A thread root that is a msgid: mark the line as a reply for clients that thread.
            let tags = match msg.thread.as_deref() {
                Some(t)
                    if st.caps.contains("message-tags")
                        && !t.starts_with("INC-")
                        && !is_valid_channel(t)
                        && !t.is_empty()
                        && t.len() <= 128 =>
                {
                    let t = message::escape_tag(t);
                    format!("@+draft/reply={t};+reply={t} ")
                }
                _ => String::new(),
            };
            (st.joined.get(&f).map(|j| &j.members), st.casemap, tags)
        };
        let neutral = |t: &str| {
            neutralise_nicks(t, |w| members.is_some_and(|m| m.contains(&casemap.fold(w))))
        };
        let mut line_prefix = String::new();
        if let Some(n) = incident_tag {
            line_prefix.push_str(&format!("[INC-{n}] "));
        }
        if msg.style == Style::Mirror
            && let Some(a) = &msg.author
        {
            let a: String = safe_lines(&neutralise_controls(a))
                .join(" ")
                .chars()
                .take(64)
                .collect();
            line_prefix.push_str(&defang(&a));
            line_prefix.push(' ');
        }
        let mut body = String::new();
        for m in &msg.mentions {
            if let Some(nick) = safe_lines(m).first() {
                body.push_str(&nick.replace(' ', ""));
                body.push_str(": ");
            }
        }
        // IRC cannot delete: say so, without repeating what was deleted.
        let text_lines = if msg.delete_of.is_some() {
            vec!["(message deleted)".to_string()]
        } else {
            if msg.edit_of.is_some() {
                body.push_str("(edited) ");
            }
            safe_lines(&neutralise_controls(&msg.text))
        };
        let budget = Self::budget(&st, cmd, target)
            .saturating_sub(line_prefix.len())
            .max(16);
        let mut out = Vec::new();
        let mut first = true;
        for tl in text_lines {
            let mut payload = neutral(&tl);
            if first {
                payload = format!("{body}{payload}");
                first = false;
            }
            for piece in split_to_budget(&payload, budget) {
                out.push(format!("{tags}{cmd} {target} :{line_prefix}{piece}"));
            }
        }
        if out.is_empty() && !body.trim().is_empty() {
            out.push(format!(
                "{tags}{cmd} {target} :{line_prefix}{}",
                body.trim_end()
            ));
        }
        out
    }

    /// A direct message to a person (escalation pings): no channel to join.
    async fn send_direct(
        &self,
        bucket: &mut TokenBucket,
        msg: &Outbound,
    ) -> Result<Sent, SendError> {
        self.link()?;
        let lines = self.render(msg, &msg.channel, msg.incident);
        self.write_lines(bucket, lines).await?;
        Ok(Sent {
            remote_id: self.synth_id(),
            thread: None,
        })
    }

    /// A message with nothing to wait for but the socket: not a thread root, to a channel.
    fn is_plain(msg: &Outbound) -> bool {
        msg.style != Style::ThreadRoot && is_valid_channel(&msg.channel)
    }

    /// Where a plain message goes, and the lines it takes there.
    async fn plain_lines(&self, msg: &Outbound) -> Result<(String, Vec<String>), SendError> {
        self.link()?;
        let incident = msg.incident.or_else(|| {
            msg.thread
                .as_deref()
                .and_then(|t| t.strip_prefix("INC-"))
                .and_then(|n| n.parse::<i64>().ok())
        });
        let target = match msg.thread.as_deref() {
            Some(t) if is_valid_channel(t) => t.to_string(),
            _ => msg.channel.clone(),
        };
        let tag = if self.incident_of_channel(&target).is_some() {
            None
        } else {
            incident
        };
        self.ensure_joined(&target).await?;
        let lines = self.render(msg, &target, tag);
        if lines.is_empty() {
            return Err(SendError::Permanent("nothing to send (empty text)".into()));
        }
        Ok((target, lines))
    }

    fn echo_dropped(&self) -> String {
        format!(
            "the connection to IRC network `{}` dropped before the server echoed the message",
            self.cfg.name
        )
    }

    /// Waits for the server's echo of `line` (a PRIVMSG to `target`), where the connection
    /// has echo-message; `None` otherwise. The echo carries the message's msgid, or "" when
    /// the server gives none.
    fn expect_echo(&self, target: &str, line: &str) -> Option<oneshot::Receiver<String>> {
        let mut st = self.state();
        if !st.caps.contains("echo-message") {
            return None;
        }
        // `@tags PRIVMSG target :text` or `PRIVMSG target :text`.
        let command = line
            .strip_prefix('@')
            .and_then(|l| l.split_once(' ').map(|(_, rest)| rest))
            .unwrap_or(line);
        if !command.starts_with("PRIVMSG ") {
            return None;
        }
        let text = command.split_once(" :").map(|(_, t)| t.to_string())?;
        let (tx, rx) = oneshot::channel();
        let target = st.fold(target);
        st.echo_waiters.push_back(EchoWaiter { target, text, tx });
        Some(rx)
    }

    /// Queues plain messages back to back and waits once, for the last: a burst costs one
    /// hand-off to the writer per batch. Stops at the first failure.
    async fn send_plain_batch(
        &self,
        bucket: &mut TokenBucket,
        msgs: &[Outbound],
        results: &mut Vec<Result<Sent, SendError>>,
    ) {
        let first = results.len();
        let mut queued = Vec::with_capacity(msgs.len());
        // One per message tried, in order (so `echoes[i]` is `results[first + i]`'s).
        let mut echoes = Vec::with_capacity(msgs.len());
        let mut failed = None;
        for msg in msgs {
            let queue = match self.plain_lines(msg).await {
                Ok((target, lines)) => {
                    // The server echoes lines in the order it took them: the echo of a
                    // message's last line means all of it arrived.
                    echoes.push(lines.last().and_then(|l| self.expect_echo(&target, l)));
                    self.queue_lines(bucket, lines).await
                }
                Err(e) => {
                    echoes.push(None);
                    Err(e)
                }
            };
            match queue {
                Ok(rx) => queued.push(rx),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Lines are written in order: once the last is on the socket, so are the others. If
        // the connection dropped, those written before it were written (and are confirmed
        // below where the server echoes).
        let last_written = match queued.pop() {
            Some(rx) => Some(self.written(rx).await.is_ok()),
            None => None,
        };
        let sent = || {
            Ok(Sent {
                remote_id: self.synth_id(),
                thread: None,
            })
        };
        'written: {
            for mut rx in queued {
                if rx.try_recv().is_err() {
                    results.push(Err(self.not_connected()));
                    break 'written;
                }
                results.push(sent());
            }
            match last_written {
                Some(true) => results.push(sent()),
                Some(false) => {
                    results.push(Err(self.not_connected()));
                    break 'written;
                }
                None => {}
            }
            if let Some(e) = failed {
                results.push(Err(e));
            }
        }
        self.confirm_echoes(first, echoes, results).await;
    }

    /// Where the server echoes our messages back, a message counts as sent only once its echo
    /// arrived: a line written into a connection that is already dead (the server went away a
    /// moment before) reaches nobody, and the socket write alone cannot tell. The first
    /// message from `results[first]` on whose echo does not come is to be retried, and the
    /// ones after it are left untried.
    async fn confirm_echoes(
        &self,
        first: usize,
        echoes: Vec<Option<oneshot::Receiver<String>>>,
        results: &mut Vec<Result<Sent, SendError>>,
    ) {
        let deadline = tokio::time::Instant::now() + ECHO_WAIT;
        for (i, echo) in echoes.into_iter().enumerate() {
            let at = first + i;
            if !results.get(at).is_some_and(Result::is_ok) {
                return;
            }
            let Some(rx) = echo else {
                continue;
            };
            let reason = match echo_by(rx, deadline).await {
                Echo::Came(_) => continue,
                Echo::Dropped => self.echo_dropped(),
                Echo::Late => format!(
                    "IRC network `{}` did not echo the message within {}s",
                    self.cfg.name,
                    ECHO_WAIT.as_secs()
                ),
            };
            results.truncate(at);
            results.push(Err(SendError::Retry {
                after: None,
                reason,
            }));
            return;
        }
    }

    async fn send_locked(
        &self,
        bucket: &mut TokenBucket,
        msg: &Outbound,
    ) -> Result<Sent, SendError> {
        if !is_valid_channel(&msg.channel) {
            if is_valid_nick(&msg.channel) && msg.thread.is_none() {
                return self.send_direct(bucket, msg).await;
            }
            return Err(SendError::Permanent(format!(
                "`{}` is not an IRC channel or nick",
                msg.channel
            )));
        }
        self.link()?;
        let mode = self
            .channel_config(&msg.channel)
            .map(|c| c.thread)
            .unwrap_or_default();
        let thread_incident = msg
            .thread
            .as_deref()
            .and_then(|t| t.strip_prefix("INC-"))
            .and_then(|n| n.parse::<i64>().ok());
        let incident = msg.incident.or(thread_incident);

        // Channel mode: a thread root opens the incident's own channel.
        if msg.style == Style::ThreadRoot
            && mode == ThreadMode::Channel
            && let Some(n) = incident
        {
            let inc = self.incident_channel_name(n);
            {
                let mut st = self.state();
                let f = st.fold(&inc);
                st.incident_channels.insert(f, msg.channel.clone());
            }
            self.ensure_joined(&inc).await?;
            self.ensure_joined(&msg.channel).await?;
            let mut lines = self.render(msg, &inc, None);
            let mut announce = msg.clone();
            announce.mentions.clear();
            announce.text = format!("{} (discussion in {inc})", msg.text);
            lines.extend(self.render(&announce, &msg.channel, None));
            self.write_lines(bucket, lines).await?;
            return Ok(Sent {
                remote_id: self.synth_id(),
                thread: Some(inc),
            });
        }

        let target = match msg.thread.as_deref() {
            Some(t) if is_valid_channel(t) => t.to_string(),
            _ => msg.channel.clone(),
        };
        let in_incident_channel = self.incident_of_channel(&target).is_some();
        let tag = if in_incident_channel { None } else { incident };
        self.ensure_joined(&target).await?;
        let lines = self.render(msg, &target, tag);
        if lines.is_empty() {
            return Err(SendError::Permanent("nothing to send (empty text)".into()));
        }
        // A thread root's id is the msgid of its first line's echo.
        let echo = if msg.style == Style::ThreadRoot {
            self.expect_echo(&target, &lines[0])
        } else {
            None
        };
        self.write_lines(bucket, lines).await?;
        let echoed = match echo {
            Some(rx) => match echo_by(rx, tokio::time::Instant::now() + ECHO_WAIT).await {
                Echo::Came(id) => Some(id).filter(|id| !id.is_empty()),
                // Written into a connection that died: the root reached nobody.
                Echo::Dropped => {
                    return Err(SendError::Retry {
                        after: None,
                        reason: self.echo_dropped(),
                    });
                }
                // Not echoed in time: the thread is known by the incident id instead.
                Echo::Late => None,
            },
            None => None,
        };
        let remote_id = echoed.clone().unwrap_or_else(|| self.synth_id());
        let thread = (msg.style == Style::ThreadRoot).then(|| {
            let root = match (echoed, incident) {
                (Some(id), _) => id,
                (None, Some(n)) => format!("INC-{n}"),
                (None, None) => remote_id.clone(),
            };
            if let Some(n) = incident {
                let mut st = self.state();
                let f = st.fold(&target);
                st.roots.insert((f, n), root.clone());
            }
            root
        });
        Ok(Sent { remote_id, thread })
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

    async fn run(self: Arc<Self>, inbound: InboundSink) -> anyhow::Result<()> {
        conn::run(self, inbound).await
    }

    async fn send(&self, msg: &Outbound) -> Result<Sent, SendError> {
        let mut bucket = self.sender.lock().await;
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
                let r = self.send_locked(&mut bucket, &rest[0]).await;
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
