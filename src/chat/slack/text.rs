//! Slack text: mrkdwn escaping, mention rendering, message splitting and `ts` parsing.

use chrono::{DateTime, Utc};

use crate::chat::text::neutralise_controls;

/// Slack truncates above 40,000 characters; stay well under it so escaping never pushes a
/// chunk over.
pub const MAX_CHARS: usize = 12_000;

/// Escapes the three characters mrkdwn treats as control characters. Once `<` and `>` are
/// entities, relayed text cannot form `<!channel>`, `<!here>`, `<!everyone>` or `<@U..>`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Turns the mrkdwn of an inbound message into plain text for the engine and the other
/// platforms: `<@U1>` -> `@U1`, `<#C1|ops>` -> `#ops`, `<!here>` -> `@here`,
/// `<https://x|label>` -> `label (https://x)`, `<https://x>` -> `https://x`, then the three
/// entities back to characters. (Destinations neutralise any mention this leaves.)
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        match target.chars().next() {
            Some('@') | Some('#') => {
                let sigil = &target[..1];
                out.push_str(sigil);
                out.push_str(label.unwrap_or(&target[1..]));
            }
            Some('!') => {
                let name = target[1..].split('^').next().unwrap_or_default();
                out.push('@');
                out.push_str(label.unwrap_or(name));
            }
            _ => match label {
                Some(l) if l != target => {
                    out.push_str(l);
                    out.push_str(" (");
                    out.push_str(target);
                    out.push(')');
                }
                _ => out.push_str(target),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A Slack user id (`U...`/`W...`), so a deliberate mention cannot smuggle markup in.
pub fn is_user_id(id: &str) -> bool {
    id.len() >= 2
        && id.len() <= 32
        && (id.starts_with('U') || id.starts_with('W'))
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Each `@<user id>` in plain text (what `plain` makes of `<@U0BOB00001>`), in order, with
/// where it stands: the id's byte range.
fn id_mentions(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    text.match_indices('@').filter_map(|(at, _)| {
        // `a@USB2` is an address, not a mention.
        if text[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
        {
            return None;
        }
        let start = at + 1;
        let len = text[start..]
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            .count();
        let id = &text[start..start + len];
        let boundary = !text[start + len..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric);
        (boundary && is_user_id(id)).then_some(start..start + len)
    })
}

/// The distinct user ids mentioned as `@<user id>` in plain text.
pub fn mentioned_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in id_mentions(text) {
        if !ids.iter().any(|i| *i == text[r.clone()]) {
            ids.push(text[r].to_string());
        }
    }
    ids
}

/// Plain text with each `@<user id>` written as `@<name>`, for the other platforms, where a
/// Slack id means nothing. Ids without a name stay as they are. (Destinations still
/// neutralise the result, so it pings no one.)
pub fn with_mention_names(text: &str, name_of: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for r in id_mentions(text) {
        if let Some(name) = name_of(&text[r.clone()]) {
            out.push_str(&text[from..r.start]);
            out.push_str(&name);
            from = r.end;
        }
    }
    out.push_str(&text[from..]);
    out
}

/// The mrkdwn for a message: deliberate mentions first, then the author for mirrored text,
/// then the escaped text.
pub fn render(text: &str, mentions: &[String], author: Option<&str>) -> String {
    let mut out = String::new();
    for m in mentions {
        if is_user_id(m) {
            out.push_str("<@");
            out.push_str(m);
            out.push_str("> ");
        } else {
            tracing::warn!(mention = %m, "not a Slack user id; mention dropped");
        }
    }
    if let Some(a) = author.filter(|a| !a.is_empty()) {
        out.push('*');
        out.push_str(&escape(&neutralise_controls(a)).replace('*', "\u{2217}"));
        out.push_str("* ");
    }
    out.push_str(&escape(&neutralise_controls(text)));
    out
}

/// Splits rendered text into chunks of at most `max` chars, preferring line breaks and never
/// cutting inside an `&amp;`-style entity.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let cut = rest
            .char_indices()
            .nth(max)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let mut at = rest[..cut]
            .rfind('\n')
            .filter(|&i| i > cut / 2)
            .unwrap_or(cut);
        // Do not split an entity such as `&amp;` in two.
        if let Some(amp) = rest[..at].rfind('&')
            && !rest[amp..at].contains(';')
            && at - amp < 6
        {
            at = amp;
        }
        if at == 0 {
            at = cut;
        }
        chunks.push(rest[..at].to_string());
        rest = rest[at..].trim_start_matches('\n');
    }
    if !rest.is_empty() || chunks.is_empty() {
        chunks.push(rest.to_string());
    }
    chunks
}

/// Converts a Slack `ts` (`"1700000000.000100"`) to a time exactly, from the string: the part
/// before the dot is seconds, the part after is a decimal fraction (never through a float).
pub fn parse_ts(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || secs.len() > 12 {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    DateTime::from_timestamp(secs, nanos)
}

#[cfg(test)]
mod tests {

    #[test]
    fn rendered_text_and_authors_carry_no_control_characters() {
        let r = render("title \x1b]0;x\x07 \u{202E}cba", &[], Some("eve\x1b[31m"));
        assert_eq!(r, "*eve␛[31m* title ␛]0;x␇ cba");
    }

    #[test]
    fn id_mentions_are_named_and_other_text_is_left_alone() {
        let t = plain(
            "<@U0BOB00001> ping <@U0BOB00001>, cc <@W0ANN02> and <@U9X|sam>: a@USB2 @U1x @UNKNOWN9",
        );
        assert_eq!(
            t,
            "@U0BOB00001 ping @U0BOB00001, cc @W0ANN02 and @sam: a@USB2 @U1x @UNKNOWN9"
        );
        assert_eq!(mentioned_ids(&t), ["U0BOB00001", "W0ANN02", "UNKNOWN9"]);
        let named = with_mention_names(&t, |id| match id {
            "U0BOB00001" => Some("bob".into()),
            "W0ANN02" => Some("Ann Lee".into()),
            _ => None,
        });
        assert_eq!(
            named,
            "@bob ping @bob, cc @Ann Lee and @sam: a@USB2 @U1x @UNKNOWN9"
        );
        assert_eq!(
            with_mention_names("no mentions @ all", |_| None),
            "no mentions @ all"
        );
    }

    #[test]
    fn inbound_mrkdwn_becomes_plain_text() {
        assert_eq!(
            plain(
                "hi <@U123> in <#C9|ops>: <!here> see <https://x.io/a?b=1&amp;c=2|the graph> &amp; <https://y.io>"
            ),
            "hi @U123 in #ops: @here see the graph (https://x.io/a?b=1&c=2) & https://y.io"
        );
        assert_eq!(plain("a &lt;b&gt; c"), "a <b> c");
        assert_eq!(
            plain("<!subteam^S1|@oncall> unclosed <"),
            "@@oncall unclosed <"
        );
        // Plain text escaped for Slack comes back unchanged.
        let t = "x < y && <!channel> > z";
        assert_eq!(plain(&escape(t)), t);
    }

    use super::*;

    #[test]
    fn ts_is_exact() {
        let t = parse_ts("1700000000.000100").unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 100_000);
        let t = parse_ts("1355517523.999999").unwrap();
        assert_eq!(t.timestamp_subsec_micros(), 999_999);
        assert_eq!(parse_ts("1355517523").unwrap().timestamp(), 1_355_517_523);
        for bad in ["", ".5", "abc.1", "1.-1", "1.1234567890", "1e9.0"] {
            assert!(parse_ts(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn escaping_neutralises_mentions() {
        let r = render(
            "<!channel> hi <@U123> & <!here|here> <!everyone>",
            &[],
            None,
        );
        assert_eq!(
            r,
            "&lt;!channel&gt; hi &lt;@U123&gt; &amp; &lt;!here|here&gt; &lt;!everyone&gt;"
        );
        assert!(!r.contains('<') && !r.contains('>'));
    }

    #[test]
    fn deliberate_mentions_and_author() {
        let r = render(
            "paged",
            &["U0ONCALL".into(), "<!channel>".into()],
            Some("<alice@irc>"),
        );
        assert_eq!(r, "<@U0ONCALL> *&lt;alice@irc&gt;* paged");
    }

    #[test]
    fn split_respects_limits_and_entities() {
        let text = escape(&"a&".repeat(50));
        for c in split(&text, 7) {
            assert!(c.chars().count() <= 7, "{c}");
            assert!(!c.ends_with("&am"), "{c}");
        }
        assert_eq!(split(&text, 7).concat(), text);
        assert_eq!(split("short", 10), vec!["short".to_string()]);
    }

    proptest::proptest! {
        #[test]
        fn relayed_text_never_forms_markup(text in ".*", author in ".*") {
            let r = render(&text, &[], Some(&author));
            proptest::prop_assert!(!r.contains('<') && !r.contains('>'));
            let back = escape(&text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            proptest::prop_assert_eq!(back, text);
        }

        #[test]
        fn ts_round_trips(secs in 1_000_000_000i64..4_000_000_000, micros in 0u32..1_000_000) {
            let t = parse_ts(&format!("{secs}.{micros:06}")).unwrap();
            proptest::prop_assert_eq!((t.timestamp(), t.timestamp_subsec_micros()), (secs, micros));
        }
    }
}
