//! A relay backlog too long for a slow platform (IRC at its flood rate) to catch up with: past
//! a limit, the rest of one place's relayed messages are replaced by one summary line saying
//! how many, from whom, and where to read them. The messages and the timeline are untouched;
//! only those copies are not sent (their outbox status is `summarised`).

use std::collections::HashMap;

use crate::chat::Style;
use crate::store::{Delivery, NewDelivery};

/// Copies that can be summarised: relayed chat, not an edit or deletion, no ping in it.
/// Announcements, status updates, replies and pings always go out.
fn summarisable(d: &NewDelivery) -> bool {
    d.style == Style::Mirror
        && d.edit_of.is_none()
        && d.delete_of.is_none()
        && d.mentions.is_empty()
        && !d.bulk
}

/// One place's relayed messages skipped, and the line sent instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub skipped: Vec<i64>,
    pub line: NewDelivery,
}

/// For each place (channel and thread) with more than `limit` summarisable copies pending in
/// `rows` (in outbox order), the copies after the first `limit` and their summary line.
pub fn summarise(rows: &[Delivery], limit: usize) -> Vec<Summary> {
    type Place<'a> = (&'a str, Option<i64>, bool, Option<&'a str>);
    let mut places: Vec<(Place, Vec<&Delivery>)> = Vec::new();
    let mut index: HashMap<Place, usize> = HashMap::new();
    for r in rows.iter().filter(|r| summarisable(&r.new)) {
        let d = &r.new;
        let key = (
            d.channel.as_str(),
            d.incident_id,
            d.in_thread,
            d.thread_ref.as_deref(),
        );
        let i = *index.entry(key).or_insert_with(|| {
            places.push((key, Vec::new()));
            places.len() - 1
        });
        places[i].1.push(r);
    }
    places
        .into_iter()
        .filter(|(_, rs)| rs.len() > limit)
        .map(|(_, rs)| {
            let rest = &rs[limit..];
            let first = &rest[0].new;
            let authors: Vec<String> = rest
                .iter()
                .filter_map(|r| r.new.author.as_deref())
                .map(|a| a.trim_matches(|c| c == '<' || c == '>').to_string())
                .collect();
            let mut line = NewDelivery::to_channel(
                &first.platform,
                &first.channel,
                Style::Reply,
                summary_text(rest.len(), &authors, first.incident_id),
            );
            line.incident_id = first.incident_id;
            line.in_thread = first.in_thread;
            line.thread_ref = first.thread_ref.clone();
            Summary {
                skipped: rest.iter().map(|r| r.id).collect(),
                line,
            }
        })
        .collect()
}

/// `312 more relayed messages not shown here (from alice@slack, bob@rc and 2 others): read them
/// with !inc timeline INC-1`. `authors` has one entry per message.
pub fn summary_text(count: usize, authors: &[String], incident: Option<i64>) -> String {
    const NAMED: usize = 3;
    let mut distinct: Vec<&str> = Vec::new();
    for a in authors {
        if !distinct.contains(&a.as_str()) {
            distinct.push(a);
        }
    }
    let from = match distinct.len() {
        0 => String::new(),
        n if n <= NAMED => format!(" from {}", join_names(&distinct)),
        n => format!(
            " from {} and {} other{}",
            distinct[..NAMED].join(", "),
            n - NAMED,
            if n - NAMED == 1 { "" } else { "s" }
        ),
    };
    let plural = if count == 1 { "message" } else { "messages" };
    let read = match incident {
        Some(n) => format!(": read them with !inc timeline INC-{n}"),
        None => ": read them on the other platforms".to_string(),
    };
    format!("{count} more relayed {plural} not shown here (backlog){from}{read}")
}

fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    fn row(id: i64, channel: &str, incident: Option<i64>, style: Style, author: &str) -> Delivery {
        let mut d = NewDelivery::to_channel("irc", channel, style, format!("m{id}"));
        d.incident_id = incident;
        d.in_thread = incident.is_some();
        d.author = Some(author.to_string());
        Delivery {
            id,
            new: d,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: chrono::DateTime::UNIX_EPOCH,
            last_error: None,
            remote_id: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            sent_at: None,
        }
    }

    #[test]
    fn under_or_at_the_limit_nothing_is_summarised() {
        let rows: Vec<Delivery> = (1..=5)
            .map(|i| row(i, "#ops", Some(1), Style::Mirror, "<a@slack>"))
            .collect();
        assert!(summarise(&rows, 5).is_empty());
        assert!(summarise(&[], 0).is_empty());
    }

    #[test]
    fn past_the_limit_the_rest_of_each_place_is_summarised_once() {
        let mut rows = Vec::new();
        for i in 1..=10 {
            rows.push(row(i, "#ops", Some(1), Style::Mirror, "<alice@slack>"));
            rows.push(row(100 + i, "#ops", Some(1), Style::Mirror, "<bob@rc>"));
            // Another place, under the limit on its own.
            if i <= 3 {
                rows.push(row(200 + i, "#ops", Some(2), Style::Mirror, "<carol@rc>"));
            }
        }
        let s = summarise(&rows, 4);
        assert_eq!(s.len(), 1, "{s:#?}");
        // The first four in outbox order are kept; the 16 after them are skipped.
        let mut want: Vec<i64> = (3..=10).flat_map(|i| [i, 100 + i]).collect();
        want.sort();
        let mut got = s[0].skipped.clone();
        got.sort();
        assert_eq!(got, want);
        let line = &s[0].line;
        assert_eq!(line.channel, "#ops");
        assert_eq!(line.incident_id, Some(1));
        assert!(line.in_thread);
        assert_eq!(line.style, Style::Reply);
        assert_eq!(
            line.text,
            "16 more relayed messages not shown here (backlog) from alice@slack and bob@rc: \
             read them with !inc timeline INC-1"
        );
    }

    #[test]
    fn announcements_pings_edits_and_replies_are_never_summarised_or_counted() {
        let mut rows = Vec::new();
        for (i, style) in [
            Style::Announcement,
            Style::StatusUpdate,
            Style::Reply,
            Style::Reminder,
            Style::ThreadRoot,
        ]
        .into_iter()
        .enumerate()
        {
            rows.push(row(i as i64 + 1, "#ops", Some(1), style, "<x@slack>"));
        }
        let mut ping = row(10, "#ops", Some(1), Style::Mirror, "<a@slack>");
        ping.new.mentions = vec!["dave".into()];
        let mut edit = row(11, "#ops", Some(1), Style::Mirror, "<a@slack>");
        edit.new.edit_of = Some(3);
        let mut delete = row(12, "#ops", Some(1), Style::Mirror, "<a@slack>");
        delete.new.delete_of = Some(3);
        let mut bulk = row(13, "#ops", Some(1), Style::Mirror, "<a@slack>");
        bulk.new.bulk = true;
        rows.extend([ping, edit, delete, bulk]);
        assert!(summarise(&rows, 0).is_empty());
        // With relayed messages among them, only those are skipped.
        rows.push(row(20, "#ops", Some(1), Style::Mirror, "<a@slack>"));
        rows.push(row(21, "#ops", Some(1), Style::Mirror, "<a@slack>"));
        let s = summarise(&rows, 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].skipped, vec![21]);
    }

    #[test]
    fn the_summary_names_at_most_three_people_and_counts_the_others() {
        let authors: Vec<String> = ["a@slack", "b@rc", "a@slack", "c@irc", "d@rc", "e@rc"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            summary_text(6, &authors, Some(7)),
            "6 more relayed messages not shown here (backlog) from a@slack, b@rc, c@irc and 2 \
             others: read them with !inc timeline INC-7"
        );
        assert_eq!(
            summary_text(1, &authors[..1], None),
            "1 more relayed message not shown here (backlog) from a@slack: read them on the \
             other platforms"
        );
        assert_eq!(
            summary_text(4, &authors[..4], Some(2)),
            "4 more relayed messages not shown here (backlog) from a@slack, b@rc and c@irc: \
             read them with !inc timeline INC-2"
        );
    }
}
