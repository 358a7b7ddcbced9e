//! Handing lines to the writer through the flood bucket, and waiting until they are written.

use tokio::sync::oneshot;

use super::flood::TokenBucket;
use super::{IrcAdapter, Outgoing, WRITE_WAIT};
use crate::chat::SendError;

impl IrcAdapter {
    /// Queues lines in order through the flood bucket (`bucket` is the held send lock); the
    /// receiver fires once the last is on the socket, and fails if the connection dropped first.
    pub(super) async fn queue_lines(
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
    pub(super) async fn written(&self, rx: oneshot::Receiver<()>) -> Result<(), SendError> {
        match tokio::time::timeout(WRITE_WAIT, rx).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(self.not_connected()),
        }
    }

    /// Writes lines in order through the flood bucket; returns once the last is on the socket.
    pub(super) async fn write_lines(
        &self,
        bucket: &mut TokenBucket,
        lines: Vec<String>,
    ) -> Result<(), SendError> {
        let rx = self.queue_lines(bucket, lines).await?;
        self.written(rx).await
    }
}
