//! An event that could not be handled (an error retrying cannot fix, or retries exhausted)
//! is kept as a dead letter, and its sender is told in place that it was not recorded.

use super::{Engine, EngineError, storable};
use crate::chat::{Inbound, Style};
use crate::store::{DeadLetter, NewDelivery, StoreError};

/// The longest database message quoted back to the sender.
const REASON_MAX: usize = 120;

impl Engine {
    /// Keeps `ev` with `error` and queues a reply to its sender (same channel and thread).
    /// If even that cannot be written, logs the event's ids.
    pub async fn dead_letter(&self, ev: &Inbound, error: &EngineError) {
        let ev = storable::storable(ev);
        let EngineError::Store(store_error) = error;
        let letter = DeadLetter {
            platform: ev.platform.clone(),
            channel: ev.channel.clone(),
            thread: ev.thread.clone(),
            message_id: ev.message_id.clone(),
            author: ev.author.id.clone(),
            text: ev.text.clone(),
            sent_at: ev.sent_at,
            error: storable::text(&error.to_string()).into_owned(),
            failed_at: self.clock.now(),
        };
        let mut reply = NewDelivery::to_channel(
            &ev.platform,
            &ev.channel,
            Style::Reply,
            not_recorded(store_error),
        );
        reply.thread_ref = ev.thread.clone();
        let store = self.store();
        let kept = match store.add_dead_letter(&letter, Some(&reply)).await {
            Ok(()) => {
                self.wake.notify(&ev.platform);
                Ok(())
            }
            // The reply may be what the database refuses: keep the event at least.
            Err(e) => {
                tracing::warn!(error = %e, "could not queue the not-recorded reply");
                store.add_dead_letter(&letter, None).await
            }
        };
        if let Err(e) = kept {
            tracing::error!(
                platform = %ev.platform,
                channel = %ev.channel,
                thread = ?ev.thread,
                message = %ev.message_id,
                author = %ev.author.id,
                error = %e,
                cause = %error,
                "event lost: it could not be handled nor kept as a dead letter"
            );
        }
    }
}

/// The reply: that the message was not recorded, and why, in one sentence.
fn not_recorded(e: &StoreError) -> String {
    let why = match e {
        StoreError::Db(sqlx::Error::Database(db)) => db.message().to_string(),
        other => other.to_string(),
    };
    let mut why = storable::text(why.lines().next().unwrap_or("")).into_owned();
    if let Some((cut, _)) = why.char_indices().nth(REASON_MAX) {
        why.truncate(cut);
        why.push('…');
    }
    let what = if e.is_retryable() {
        "the database was unavailable"
    } else {
        "the database refused it"
    };
    format!(
        "Your message was not recorded: {what} ({why}); it is kept for an operator (`flare dead-letters`)."
    )
}
