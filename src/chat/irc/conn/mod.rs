//! The connection loop: connect (TCP or TLS), register, join, read, keep alive, reconnect.

mod handle;
mod privmsg;
mod read;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::sleep;

use self::read::drive;
use self::stream::{QuickAck, connect};
use super::{IrcAdapter, Outgoing};
use crate::chat::InboundSink;
use crate::retry::{Backoff, Policy};

/// Bytes of queued lines gathered into one socket write.
const WRITE_BATCH: usize = 16 * 1024;

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
                crate::health::down(adapter.as_ref(), &format!("IRC link lost: {why}"));
                sleep(wait).await;
            }
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
