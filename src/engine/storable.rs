//! Text a database cannot store, made storable where inbound events enter the engine.
//!
//! PostgreSQL's `TEXT` cannot hold U+0000 (SQLite can), and any chat user can send one. Every
//! field of an inbound event that comes from outside (text, author, channel, thread and
//! message ids, reaction name) has each NUL replaced by U+FFFD, the replacement character,
//! on both backends: both store the same text, and the reader can see that something was
//! there. Nothing else in a Rust string is unstorable on either backend.

use std::borrow::Cow;

use crate::chat::{Inbound, InboundKind};

/// True when some field of `ev` needs [`storable`].
pub(crate) fn needs_care(ev: &Inbound) -> bool {
    let reaction = match &ev.event {
        InboundKind::Reaction { name } => name.as_str(),
        _ => "",
    };
    [
        ev.platform.as_str(),
        &ev.channel,
        ev.thread.as_deref().unwrap_or(""),
        &ev.author.id,
        &ev.author.display,
        &ev.text,
        &ev.message_id,
        reaction,
    ]
    .iter()
    .any(|s| s.contains('\0'))
}

/// `ev` with every field storable on every backend.
pub(crate) fn storable(ev: &Inbound) -> Inbound {
    let mut ev = ev.clone();
    for s in [
        &mut ev.platform,
        &mut ev.channel,
        &mut ev.author.id,
        &mut ev.author.display,
        &mut ev.text,
        &mut ev.message_id,
    ] {
        clean(s);
    }
    if let Some(t) = &mut ev.thread {
        clean(t);
    }
    if let InboundKind::Reaction { name } = &mut ev.event {
        clean(name);
    }
    ev
}

/// `s` with each NUL replaced.
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn clean(s: &mut String) {
    if let Cow::Owned(c) = text(s) {
        *s = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Author, PlatformKind};

    fn event(text: &str) -> Inbound {
        Inbound {
            platform: "console".into(),
            kind: PlatformKind::Console,
            event: InboundKind::Message,
            channel: "#ops".into(),
            thread: None,
            incident_hint: None,
            author: Author {
                id: "alice".into(),
                display: "alice".into(),
            },
            text: text.into(),
            message_id: "1".into(),
            sent_at: chrono::Utc::now(),
            receipt: None,
        }
    }

    #[test]
    fn every_field_from_outside_loses_its_nul() {
        let plain = event("hello");
        assert!(!needs_care(&plain));
        let mut ev = event("a\0b\0");
        ev.channel = "#o\0ps".into();
        ev.thread = Some("t\0".into());
        ev.author.id = "\0al".into();
        ev.author.display = "Al\0ice".into();
        ev.message_id = "m\0".into();
        assert!(needs_care(&ev));
        let clean = storable(&ev);
        assert_eq!(clean.text, "a\u{FFFD}b\u{FFFD}");
        assert_eq!(clean.channel, "#o\u{FFFD}ps");
        assert_eq!(clean.thread.as_deref(), Some("t\u{FFFD}"));
        assert_eq!(clean.author.id, "\u{FFFD}al");
        assert_eq!(clean.author.display, "Al\u{FFFD}ice");
        assert_eq!(clean.message_id, "m\u{FFFD}");
        assert!(!needs_care(&clean));
        // Each field alone is noticed.
        let mut r = event("x");
        r.event = InboundKind::Reaction {
            name: "ok\0".into(),
        };
        assert!(needs_care(&r));
        let InboundKind::Reaction { name } = storable(&r).event else {
            panic!("still a reaction")
        };
        assert_eq!(name, "ok\u{FFFD}");
    }
}
