//! Dead letters: inbound events the engine could not record, kept with their error, and the
//! reply that tells the sender so, written in one transaction.

use chrono::{DateTime, Utc};

use super::decode::Columns;
use super::dialect::Dialect;
use super::pool::SqlStore;
use super::queries::insert_deliveries;
use super::{NewDelivery, Result};

/// An inbound event that was not recorded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub platform: String,
    pub channel: String,
    pub thread: Option<String>,
    pub message_id: String,
    /// The author's platform id.
    pub author: String,
    pub text: String,
    pub sent_at: DateTime<Utc>,
    pub error: String,
    pub failed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    pub id: i64,
    pub letter: DeadLetter,
}

const ADD_DEAD_LETTER: &str = "INSERT INTO dead_letters (platform, channel, thread, message_id, \
     author, text, sent_at, error, failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const DEAD_LETTERS: &str = "SELECT id, platform, channel, thread, message_id, author, text, \
     sent_at, error, failed_at FROM dead_letters ORDER BY id";

impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn insert_dead_letter(
        &self,
        d: &DeadLetter,
        reply: Option<&NewDelivery>,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        D::execute(
            &mut *tx,
            ADD_DEAD_LETTER,
            &[
                (&d.platform).into(),
                (&d.channel).into(),
                (&d.thread).into(),
                (&d.message_id).into(),
                (&d.author).into(),
                (&d.text).into(),
                d.sent_at.into(),
                (&d.error).into(),
                d.failed_at.into(),
            ],
        )
        .await?;
        if let Some(reply) = reply {
            let (q, args) = insert_deliveries(std::slice::from_ref(reply), d.failed_at);
            D::fetch_all(&mut *tx, &q, &args).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn read_dead_letters(&self) -> Result<Vec<DeadLetterRow>> {
        let mut conn = self.pool.acquire().await?;
        let rows = D::fetch_all(&mut *conn, DEAD_LETTERS, &[]).await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetterRow {
                    id: r.int("id")?,
                    letter: DeadLetter {
                        platform: r.text("platform")?,
                        channel: r.text("channel")?,
                        thread: r.opt_text("thread")?,
                        message_id: r.text("message_id")?,
                        author: r.text("author")?,
                        text: r.text("text")?,
                        sent_at: r.time("sent_at")?,
                        error: r.text("error")?,
                        failed_at: r.time("failed_at")?,
                    },
                })
            })
            .collect()
    }
}
