//! Row decoding, for both backends: stored rows back into the store's and the domain's types.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{
    Delivery, DeliveryStatus, MessageRecord, MessageRow, NewDelivery, NewTimer, OncallOverride,
    Result, StoreError, ThreadRow, Timer, TimerState,
};
use crate::domain::incident::{Incident, IncidentId, Severity, Source, Status, TimelineEvent};
use crate::domain::platform::Style;

/// A result row's columns by name, whichever database it came from.
pub(crate) trait Columns {
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn int32(&self, column: &str) -> Result<i32>;
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn flag(&self, column: &str) -> Result<bool>;
    fn time(&self, column: &str) -> Result<DateTime<Utc>>;
    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn int32(&self, column: &str) -> Result<i32> {
        Ok(self.try_get(column)?)
    }
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &str) -> Result<bool> {
        Ok(self.try_get(column)?)
    }
    fn time(&self, column: &str) -> Result<DateTime<Utc>> {
        Ok(self.try_get(column)?)
    }
    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.try_get(column)?)
    }
}

/// The one row a statement returns (as sqlx's `fetch_one`).
pub(crate) fn one<R>(rows: &[R]) -> Result<&R> {
    rows.first().ok_or(StoreError::Db(sqlx::Error::RowNotFound))
}

fn parse_style(s: &str) -> Result<Style> {
    Style::parse(s).ok_or_else(|| StoreError::Corrupt(format!("delivery style `{s}`")))
}

fn parse_severity(s: &str) -> Result<Severity> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("severity `{s}`")))
}

fn parse_status(s: &str) -> Result<Status> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("status `{s}`")))
}

/// A list stored one item a line (the inverse of `queries::join_list`).
fn split_list(s: &str) -> Vec<String> {
    s.split('\n')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn incident_from_row(r: &impl Columns) -> Result<Incident> {
    Ok(Incident {
        id: IncidentId(r.int("id")?),
        title: r.text("title")?,
        severity: parse_severity(&r.text("severity")?)?,
        status: parse_status(&r.text("status")?)?,
        commander: r.opt_text("commander")?,
        impacted_apps: split_list(&r.text("impacted_apps")?),
        business_impact: r.opt_text("business_impact")?,
        opened_by: r.text("opened_by")?,
        opened_platform: r.text("opened_platform")?,
        opened_channel: r.text("opened_channel")?,
        started_at: r.time("started_at")?,
        sla_class: r.text("sla_class")?,
        sla_window_secs: r.int("sla_window_secs")?,
        ack_deadline: r.time("ack_deadline")?,
        acknowledged_at: r.opt_time("acknowledged_at")?,
        acknowledged_by: r.opt_text("acknowledged_by")?,
        acknowledged_where: r.opt_text("acknowledged_where")?,
        resolved_at: r.opt_time("resolved_at")?,
        resolution: r.opt_text("resolution")?,
        last_update_at: r.time("last_update_at")?,
        published: r.flag("published")?,
        version: r.int("version")?,
    })
}

pub(crate) fn delivery_from_row(r: &impl Columns) -> Result<Delivery> {
    Ok(Delivery {
        id: r.int("id")?,
        new: NewDelivery {
            platform: r.text("platform")?,
            channel: r.text("channel")?,
            incident_id: r.opt_int("incident_id")?,
            style: parse_style(&r.text("style")?)?,
            in_thread: r.flag("in_thread")?,
            thread_ref: r.opt_text("thread_ref")?,
            author: r.opt_text("author")?,
            text: r.text("text")?,
            mentions: split_list(&r.text("mentions")?),
            source_message: r.opt_int("source_message")?,
            source_key: None,
            edit_of: r.opt_int("edit_of")?,
            delete_of: r.opt_int("delete_of")?,
            bulk: r.flag("bulk")?,
            requester: r.opt_text("requester")?,
        },
        status: DeliveryStatus::parse(&r.text("status")?)?,
        attempts: r.int32("attempts")?,
        next_attempt_at: r.time("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
        remote_id: r.opt_text("remote_id")?,
        created_at: r.time("created_at")?,
        sent_at: r.opt_time("sent_at")?,
    })
}

pub(crate) fn thread_from_row(r: &impl Columns) -> Result<ThreadRow> {
    Ok(ThreadRow {
        incident_id: r.int("incident_id")?,
        platform: r.text("platform")?,
        channel: r.text("channel")?,
        root_delivery_id: r.opt_int("root_delivery_id")?,
        thread_ref: r.opt_text("thread_ref")?,
    })
}

pub(crate) fn timer_from_row(r: &impl Columns) -> Result<Timer> {
    Ok(Timer {
        id: r.int("id")?,
        new: NewTimer {
            incident_id: r.opt_int("incident_id")?,
            kind: r.text("kind")?,
            due_at: r.time("due_at")?,
            payload: r.text("payload")?,
        },
        state: TimerState::parse(&r.text("state")?)?,
        fired_at: r.opt_time("fired_at")?,
        late_ms: r.opt_int("late_ms")?,
    })
}

pub(crate) fn message_from_row(r: &impl Columns) -> Result<MessageRow> {
    Ok(MessageRow {
        id: r.int("id")?,
        record: MessageRecord {
            platform: r.text("platform")?,
            channel: r.text("channel")?,
            message_id: r.text("message_id")?,
            thread: r.opt_text("thread")?,
            incident_id: r.opt_int("incident_id")?,
            author_id: r.text("author_id")?,
            author_display: r.text("author_display")?,
            text: r.text("text")?,
            sent_at: r.time("sent_at")?,
            received_at: r.time("received_at")?,
        },
    })
}

pub(crate) fn timeline_from_row(r: &impl Columns) -> Result<TimelineEvent> {
    Ok(TimelineEvent {
        incident: IncidentId(r.int("incident_id")?),
        at: r.time("at")?,
        kind: r.text("kind")?,
        actor: r.text("actor")?,
        source: Source {
            platform: r.text("platform")?,
            channel: r.text("channel")?,
            user: r.text("actor")?,
            message_id: r.text("message_id")?,
        },
        detail: r.text("detail")?,
    })
}

pub(crate) fn oncall_override_from_row(r: &impl Columns) -> Result<OncallOverride> {
    Ok(OncallOverride {
        rotation: r.text("rotation")?,
        person: r.text("person")?,
        starts_at: r.time("starts_at")?,
        ends_at: r.time("ends_at")?,
        created_by: r.text("created_by")?,
        created_at: r.time("created_at")?,
    })
}
