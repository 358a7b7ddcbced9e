//! The connection loop: connect (TCP or TLS), register, join, read, keep alive, reconnect.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::message::Message;
use super::register::{Registration, Step};
use super::split::strip_formatting;
use super::{CaseMap, IrcAdapter, Joined, Outgoing, ThreadMode};
use crate::chat::{Author, Inbound, InboundKind, InboundSink, PlatformKind};
use crate::retry::{Backoff, Policy};

/// Longest line we read: 8191 bytes of tags plus a 512-byte message, with slack.
const MAX_READ: usize = 8191 + 1024;
/// Longest message part (without tags) we accept; beyond it the line is out of spec.
const MAX_BODY: usize = 512;
/// Bytes of queued lines gathered into one socket write.
const WRITE_BATCH: usize = 16 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const REGISTER_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to the server, plain or TLS, that can reach its TCP socket.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Acknowledges every read at once. Servers echo our own lines back (echo-message); if that
/// echo's ACK is delayed (Linux delays up to 40 ms), a server with Nagle on holds the next
/// line for us until the ACK, and every relayed message waits 40 ms.
struct QuickAck(Box<dyn Stream>);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(res, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let _ = self.0.tcp().set_quickack(true);
        }
        res
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

enum End {
    /// The link dropped; `registered` says whether it got as far as `001`.
    Lost {
        registered: bool,
        why: String,
    },
    Fatal(String),
    /// The inbound sink is closed: Flare is shutting down.
    Shutdown,
}

pub(super) async fn run(adapter: Arc<IrcAdapter>, sink: InboundSink) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let name = adapter.cfg.name.clone();
    let min = adapter
        .resolved
        .reconnect_min
        .max(Duration::from_millis(10));
    let max = adapter.resolved.reconnect_max.max(min);
    let mut backoff = Backoff::new(Policy::new(min, max));
    loop {
        let end = session(&adapter, &sink).await;
        adapter.state().disconnected();
        match end {
            End::Fatal(why) => {
                tracing::error!(network = %name, %why, "IRC network stopped");
                anyhow::bail!("IRC network `{name}`: {why}");
            }
            End::Shutdown => return Ok(()),
            End::Lost { registered, why } => {
                if registered {
                    backoff.reset();
                }
                let wait = backoff.next_delay();
                tracing::warn!(network = %name, %why, wait_ms = wait.as_millis() as u64, "IRC link lost, reconnecting");
                sleep(wait).await;
            }
        }
    }
}

async fn connect(adapter: &IrcAdapter) -> Result<Box<dyn Stream>, String> {
    let cfg = &adapter.cfg;
    let addr = (cfg.server.as_str(), cfg.effective_port());
    let tcp = timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect failed: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if !cfg.tls {
        return Ok(Box::new(tcp));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.tls_ca_file {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read tls_ca_file {}: {e}", path.display()))?;
        for c in certs {
            let c = c.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            roots
                .add(c)
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = cfg
        .tls_server_name
        .clone()
        .unwrap_or_else(|| cfg.server.clone());
    let server_name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| format!("bad TLS server name: {e}"))?;
    let stream = timeout(
        CONNECT_TIMEOUT,
        tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(server_name, tcp),
    )
    .await
    .map_err(|_| "TLS handshake timed out".to_string())?
    .map_err(|e| format!("TLS handshake failed: {e}"))?;
    Ok(Box::new(stream))
}

/// Reads one line, capped at [`MAX_READ`]; a longer line is consumed and reported as `Ok(None)`.
/// `Err` on EOF or I/O error.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<()>, String> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = r
            .fill_buf()
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if chunk.is_empty() {
            return Err("server closed the connection".into());
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_READ {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok((!too_long).then_some(()));
        }
    }
}

async fn session(adapter: &Arc<IrcAdapter>, sink: &InboundSink) -> End {
    let lost = |why: String| End::Lost {
        registered: false,
        why,
    };
    let stream = match connect(adapter).await {
        Ok(s) => s,
        Err(e) => return lost(e),
    };
    let (rd, mut wr) = tokio::io::split(QuickAck(stream));
    let mut rd = BufReader::with_capacity(16 * 1024, rd);
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let writer = tokio::spawn(async move {
        // Lines queued while the last write was in flight go out in one write: a burst costs
        // one syscall and one wake-up per batch, not per line.
        let mut bytes = Vec::with_capacity(WRITE_BATCH);
        let mut done = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(o) = next.take() {
                bytes.extend_from_slice(o.line.as_bytes());
                bytes.extend_from_slice(b"\r\n");
                done.extend(o.done);
                if bytes.len() < WRITE_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
                break;
            }
            bytes.clear();
            for d in done.drain(..) {
                let _ = d.send(());
            }
        }
        let _ = wr.shutdown().await;
    });
    let end = drive(adapter, sink, &mut rd, &tx).await;
    adapter.state().link = None;
    drop(tx);
    writer.abort();
    end
}

async fn drive<R: AsyncBufRead + Unpin>(
    adapter: &Arc<IrcAdapter>,
    sink: &InboundSink,
    rd: &mut R,
    tx: &mpsc::UnboundedSender<Outgoing>,
) -> End {
    let name = &adapter.cfg.name;
    let send = |line: String| {
        let _ = tx.send(Outgoing { line, done: None });
    };
    let mut reg = Registration::new(
        adapter.cfg.nicks(),
        adapter.cfg.username.clone(),
        adapter.cfg.realname.clone(),
        adapter.resolved.password.clone(),
        adapter.resolved.sasl.clone(),
    );
    for l in reg.start() {
        send(l);
    }
    let mut registered = false;
    let register_by = Instant::now() + REGISTER_TIMEOUT;
    let ping_interval = adapter
        .resolved
        .ping_interval
        .max(Duration::from_millis(100));
    let ping_timeout = adapter
        .resolved
        .ping_timeout
        .max(Duration::from_millis(100));
    let mut last_rx = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let deadline = if !registered {
            register_by
        } else if let Some(p) = ping_sent {
            p + ping_timeout
        } else {
            last_rx + ping_interval
        };
        let read = tokio::select! {
            r = read_line(rd, &mut buf) => r,
            _ = sleep_until(deadline) => {
                if !registered {
                    return End::Lost { registered, why: "registration timed out".into() };
                }
                if ping_sent.is_some() {
                    return End::Lost { registered, why: format!("no reply to PING within {ping_timeout:?}") };
                }
                send(format!("PING :flare-{}", Utc::now().timestamp_millis()));
                ping_sent = Some(Instant::now());
                continue;
            }
        };
        match read {
            Err(why) => return End::Lost { registered, why },
            Ok(None) => {
                tracing::warn!(network = %name, max = MAX_READ, "skipped an over-long line from the server");
                continue;
            }
            Ok(Some(())) => {}
        }
        let received = Utc::now();
        last_rx = Instant::now();
        ping_sent = None;
        let line = String::from_utf8_lossy(&buf);
        let msg = match Message::parse(&line) {
            Ok(m) => m,
            Err(e) => {
                if !matches!(e, super::message::ParseError::Empty) {
                    tracing::warn!(network = %name, error = %e, "skipped a malformed line from the server");
                }
                continue;
            }
        };
        let body_len = match line.strip_prefix('@') {
            Some(r) => r.split_once(' ').map_or(0, |(_, b)| b.trim_end().len()),
            None => line.trim_end().len(),
        };
        if body_len > MAX_BODY {
            tracing::warn!(network = %name, len = body_len, "skipped a line longer than 512 bytes from the server");
            continue;
        }
        match msg.command.as_str() {
            "PING" => {
                let token = msg.params.first().map(String::as_str).unwrap_or("");
                send(Message::new("PONG", &[token]).to_string());
                continue;
            }
            "PONG" => continue,
            "ERROR" if registered => {
                return End::Lost {
                    registered,
                    why: format!(
                        "server said ERROR: {}",
                        msg.params.last().cloned().unwrap_or_default()
                    ),
                };
            }
            _ => {}
        }
        if !registered {
            for step in reg.on_message(&msg) {
                match step {
                    Step::Send(l) => send(l),
                    Step::Fatal(why) => return End::Fatal(why),
                    Step::Welcome { nick, mask, caps } => {
                        registered = true;
                        tracing::info!(network = %name, %nick, caps = ?caps, "registered on IRC");
                        let mut st = adapter.state();
                        st.nick = nick;
                        st.mask = mask;
                        st.caps = caps;
                        st.link = Some(tx.clone());
                        drop(st);
                        join_all(adapter, &send);
                    }
                }
            }
            if !registered && msg.command == "ERROR" {
                return End::Lost {
                    registered,
                    why: format!(
                        "server said ERROR: {}",
                        msg.params.last().cloned().unwrap_or_default()
                    ),
                };
            }
            continue;
        }
        if let Some(inbound) = handle(adapter, &msg, received, &send)
            && sink.send(inbound).await.is_err()
        {
            return End::Shutdown;
        }
    }
}

/// JOINs the configured channels and the incident channels we opened, keyed ones with keys.
fn join_all(adapter: &IrcAdapter, send: &impl Fn(String)) {
    for c in &adapter.cfg.channels {
        let line = match &c.key {
            Some(k) => Message::new("JOIN", &[&c.id, k]).to_string(),
            None => Message::new("JOIN", &[&c.id]).to_string(),
        };
        send(line);
    }
    let st = adapter.state();
    let configured: Vec<String> = adapter
        .cfg
        .channels
        .iter()
        .map(|c| st.fold(&c.id))
        .collect();
    for inc in st.incident_channels.keys() {
        if !configured.contains(inc) {
            send(Message::new("JOIN", &[inc]).to_string());
        }
    }
}

fn apply_isupport(adapter: &IrcAdapter, msg: &Message) {
    let mut st = adapter.state();
    let n = msg.params.len();
    for tok in msg.params.iter().take(n.saturating_sub(1)).skip(1) {
        let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
        match k {
            "LINELEN" => {
                if let Ok(l) = v.parse::<usize>()
                    && (512..=65536).contains(&l)
                {
                    st.linelen = l;
                }
            }
            "CASEMAPPING" => {
                st.casemap = if v.eq_ignore_ascii_case("ascii") {
                    CaseMap::Ascii
                } else {
                    CaseMap::Rfc1459
                }
            }
            "CHANTYPES" if !v.is_empty() => st.chantypes = v.to_string(),
            _ => {}
        }
    }
}

/// Handles one message after registration; returns an inbound event for the engine, if any.
fn handle(
    adapter: &IrcAdapter,
    msg: &Message,
    received: DateTime<Utc>,
    send: &impl Fn(String),
) -> Option<Inbound> {
    let name = &adapter.cfg.name;
    let nick = msg.source_nick().unwrap_or("").to_string();
    match msg.command.as_str() {
        "005" => apply_isupport(adapter, msg),
        "396" => {
            // Our visible host changed (cloak).
            let mut st = adapter.state();
            if let Some(host) = msg.param(1) {
                let user = st
                    .mask
                    .as_deref()
                    .and_then(|m| m.split_once('!'))
                    .and_then(|(_, uh)| uh.split_once('@'))
                    .map(|(u, _)| u.to_string());
                if let Some(u) = user {
                    st.mask = Some(format!("{}!{u}@{host}", st.nick));
                }
            }
        }
        "NICK" => {
            let mut st = adapter.state();
            let new = msg.param(0).unwrap_or("").to_string();
            let (old_f, new_f) = (st.fold(&nick), st.fold(&new));
            if old_f == st.fold(&st.nick) {
                st.mask = msg
                    .prefix
                    .as_deref()
                    .and_then(|p| p.split_once('!'))
                    .map(|(_, uh)| format!("{new}!{uh}"));
                st.nick = new;
            }
            for j in st.joined.values_mut() {
                if j.members.remove(&old_f) {
                    j.members.insert(new_f.clone());
                }
            }
        }
        "JOIN" => {
            let chan = msg.param(0).unwrap_or("").to_string();
            let mut st = adapter.state();
            let f = st.fold(&chan);
            let nf = st.fold(&nick);
            if nf == st.fold(&st.nick) {
                if let Some(p) = &msg.prefix {
                    st.mask = Some(p.clone());
                }
                st.joined.insert(
                    f.clone(),
                    Joined {
                        members: Default::default(),
                    },
                );
                for w in st.join_waiters.remove(&f).unwrap_or_default() {
                    let _ = w.send(Ok(()));
                }
                tracing::info!(network = %name, channel = %chan, "joined");
            } else if let Some(j) = st.joined.get_mut(&f) {
                j.members.insert(nf);
            }
        }
        "353" => {
            let mut st = adapter.state();
            if let (Some(chan), Some(names)) = (msg.param(2), msg.params.last()) {
                let f = st.fold(chan);
                let folded: Vec<String> = names
                    .split(' ')
                    .map(|n| n.trim_start_matches(['~', '&', '@', '%', '+']))
                    .filter(|n| !n.is_empty())
                    .map(|n| st.fold(n.split('!').next().unwrap_or(n)))
                    .collect();
                if let Some(j) = st.joined.get_mut(&f) {
                    j.members.extend(folded);
                }
            }
        }
        "PART" | "KICK" => {
            let chan = msg.param(0).unwrap_or("").to_string();
            let who = if msg.command == "KICK" {
                msg.param(1).unwrap_or("").to_string()
            } else {
                nick.clone()
            };
            let mut st = adapter.state();
            let f = st.fold(&chan);
            let wf = st.fold(&who);
            if wf == st.fold(&st.nick) {
                st.joined.remove(&f);
                let wanted = adapter.cfg.channels.iter().any(|c| st.fold(&c.id) == f)
                    || st.incident_channels.contains_key(&f);
                if msg.command == "KICK" && wanted {
                    tracing::warn!(network = %name, channel = %chan, by = %nick, "kicked; rejoining");
                    let key = adapter
                        .cfg
                        .channels
                        .iter()
                        .find(|c| st.fold(&c.id) == f)
                        .and_then(|c| c.key.clone());
                    drop(st);
                    send(match key {
                        Some(k) => Message::new("JOIN", &[&chan, &k]).to_string(),
                        None => Message::new("JOIN", &[&chan]).to_string(),
                    });
                }
            } else if let Some(j) = st.joined.get_mut(&f) {
                j.members.remove(&wf);
            }
        }
        "QUIT" => {
            let mut st = adapter.state();
            let nf = st.fold(&nick);
            for j in st.joined.values_mut() {
                j.members.remove(&nf);
            }
        }
        // JOIN refused: the channel cannot be joined, retrying will not help.
        "403" | "405" | "471" | "473" | "474" | "475" | "476" | "477" | "479" | "489" => {
            if let Some(chan) = msg.param(1) {
                let mut st = adapter.state();
                let f = st.fold(chan);
                let why = format!(
                    "{} {}",
                    msg.command,
                    msg.params.last().cloned().unwrap_or_default()
                );
                let waiters = st.join_waiters.remove(&f).unwrap_or_default();
                if waiters.is_empty() {
                    tracing::warn!(network = %name, channel = %chan, %why, "cannot join");
                }
                for w in waiters {
                    let _ = w.send(Err(why.clone()));
                }
            }
        }
        "PRIVMSG" => return privmsg(adapter, msg, &nick, received),
        _ => {}
    }
    None
}

/// `INC-7: text` or `[INC-7] text` -> (7, "text").
pub(crate) fn incident_prefix(text: &str) -> Option<(i64, &str)> {
    let t = text.trim_start();
    let (inner, rest) = if let Some(r) = t.strip_prefix('[') {
        let (inner, rest) = r.split_once(']')?;
        (inner, rest)
    } else {
        let (inner, rest) = t.split_once(':')?;
        (inner, rest)
    };
    let n = inner
        .get(..4)
        .filter(|h| h.eq_ignore_ascii_case("INC-"))
        .and_then(|_| inner[4..].parse::<i64>().ok())
        .filter(|n| *n > 0)?;
    Some((n, rest.trim_start()))
}

fn privmsg(
    adapter: &IrcAdapter,
    msg: &Message,
    nick: &str,
    received: DateTime<Utc>,
) -> Option<Inbound> {
    let target = msg.param(0)?;
    let raw = msg.param(1)?;
    let (own, joined, casemap) = {
        let st = adapter.state();
        (
            st.fold(nick) == st.fold(&st.nick),
            st.is_channel(target) && st.joined.contains_key(&st.fold(target)),
            st.casemap,
        )
    };
    if own {
        // Our echo: hand its msgid ("" without one) to a send waiting for it. Waits given up
        // go first, so they never take the echo of a later, identical message.
        let mut st = adapter.state();
        st.echo_waiters.retain(|w| !w.tx.is_closed());
        let tf = st.fold(target);
        if let Some(pos) = st
            .echo_waiters
            .iter()
            .position(|w| w.target == tf && w.text == raw)
            && let Some(w) = st.echo_waiters.remove(pos)
        {
            let _ = w.tx.send(msg.tag("msgid").unwrap_or_default().to_string());
        }
        return None;
    }
    if !joined {
        // Private messages and channels we are not in are not input.
        return None;
    }
    if adapter
        .cfg
        .ignore_nicks
        .iter()
        .any(|i| casemap.fold(i) == casemap.fold(nick))
    {
        return None;
    }
    let text = match raw.strip_prefix('\x01') {
        Some(ctcp) => {
            let ctcp = ctcp.trim_end_matches('\x01');
            ctcp.strip_prefix("ACTION ")
                .map(|a| format!("* {nick} {a}"))?
        }
        None => raw.to_string(),
    };
    let mut text = strip_formatting(&text);
    let sent_at = msg
        .tag("time")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(received);
    let message_id = msg
        .tag("msgid")
        .map(str::to_string)
        .unwrap_or_else(|| adapter.synth_id());
    let mut thread = msg
        .tag("+reply")
        .or_else(|| msg.tag("+draft/reply"))
        .map(str::to_string);
    let mut incident_hint = None;
    let mut channel = target.to_string();
    if let Some(n) = adapter.incident_of_channel(target) {
        incident_hint = Some(n);
        let parent = {
            let st = adapter.state();
            st.incident_channels.get(&st.fold(target)).cloned()
        };
        channel = parent
            .or_else(|| {
                let cfgs = &adapter.cfg.channels;
                cfgs.iter()
                    .find(|c| c.thread == ThreadMode::Channel)
                    .or(cfgs.first())
                    .map(|c| c.id.clone())
            })
            .unwrap_or_else(|| target.to_string());
        thread = Some(target.to_string());
    } else if let Some((n, rest)) = incident_prefix(&text) {
        incident_hint = Some(n);
        let st = adapter.state();
        if thread.is_none() {
            thread = st.roots.get(&(st.fold(target), n)).cloned();
        }
        drop(st);
        text = rest.to_string();
    }
    Some(Inbound {
        platform: adapter.cfg.name.clone(),
        kind: PlatformKind::Irc,
        event: InboundKind::Message,
        channel,
        thread,
        incident_hint,
        author: Author {
            id: nick.to_string(),
            display: nick.to_string(),
        },
        text,
        message_id,
        sent_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_prefixes() {
        assert_eq!(incident_prefix("INC-7: on it"), Some((7, "on it")));
        assert_eq!(
            incident_prefix("[inc-12] db is back"),
            Some((12, "db is back"))
        );
        assert_eq!(incident_prefix("INC-x: no"), None);
        assert_eq!(incident_prefix("hello: INC-7"), None);
        assert_eq!(incident_prefix("INC-0: no"), None);
        assert_eq!(incident_prefix("€€: x"), None);
    }

    #[tokio::test]
    async fn over_long_lines_are_skipped_whole() {
        let data = format!("{}\r\nPING :x\r\n", "a".repeat(MAX_READ + 10));
        let mut r = BufReader::with_capacity(64, data.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).await, Ok(None));
        assert_eq!(read_line(&mut r, &mut buf).await, Ok(Some(())));
        assert_eq!(buf, b"PING :x\r\n");
        assert!(read_line(&mut r, &mut buf).await.is_err());
    }
}
