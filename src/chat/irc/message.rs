//! IRC lines: `[@tags ][:prefix ]COMMAND params[ :trailing]`, with IRCv3 tag escaping.

use std::fmt;

/// Why a server line could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    #[error("line has tags or prefix but no command")]
    NoCommand,
    #[error("command `{0}` is not a word or a 3-digit numeric")]
    BadCommand(String),
}

/// One parsed IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Tags in order, values unescaped (`None` for a tag without `=`).
    pub tags: Vec<(String, Option<String>)>,
    /// `nick!user@host` or a server name, without the leading `:`.
    pub prefix: Option<String>,
    /// Upper-cased command or numeric.
    pub command: String,
    pub params: Vec<String>,
}

impl Message {
    pub fn new(command: &str, params: &[&str]) -> Message {
        Message {
            tags: Vec::new(),
            prefix: None,
            command: command.to_string(),
            params: params.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Parses one line (without CR LF). Never panics.
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        let mut rest = line.trim_end_matches(['\r', '\n']).trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut msg = Message::default();
        if let Some(r) = rest.strip_prefix('@') {
            let (tags, after) = r.split_once(' ').unwrap_or((r, ""));
            for tag in tags.split(';').filter(|t| !t.is_empty()) {
                match tag.split_once('=') {
                    Some((k, v)) => msg.tags.push((k.to_string(), Some(unescape_tag(v)))),
                    None => msg.tags.push((tag.to_string(), None)),
                }
            }
            rest = after.trim_start_matches(' ');
        }
        if let Some(r) = rest.strip_prefix(':') {
            let (p, after) = r.split_once(' ').unwrap_or((r, ""));
            msg.prefix = Some(p.to_string());
            rest = after.trim_start_matches(' ');
        }
        let (cmd, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if cmd.is_empty() {
            return Err(ParseError::NoCommand);
        }
        let numeric = cmd.len() == 3 && cmd.bytes().all(|b| b.is_ascii_digit());
        if !numeric && !cmd.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ParseError::BadCommand(cmd.chars().take(32).collect()));
        }
        msg.command = cmd.to_ascii_uppercase();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                msg.params.push(trailing.to_string());
                break;
            }
            let (p, after) = rest.split_once(' ').unwrap_or((rest, ""));
            msg.params.push(p.to_string());
            rest = after;
        }
        Ok(msg)
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The nick part of the prefix.
    pub fn source_nick(&self) -> Option<&str> {
        let p = self.prefix.as_deref()?;
        Some(p.split(['!', '@']).next().unwrap_or(p))
    }

    pub fn param(&self, i: usize) -> Option<&str> {
        self.params.get(i).map(String::as_str)
    }
}

/// Serialises without CR LF. The last parameter is always written as trailing when it could
/// be misread otherwise; callers make sure no parameter holds CR, LF or NUL.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.tags.is_empty() {
            f.write_str("@")?;
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    f.write_str(";")?;
                }
                f.write_str(k)?;
                if let Some(v) = v {
                    write!(f, "={}", escape_tag(v))?;
                }
            }
            f.write_str(" ")?;
        }
        if let Some(p) = &self.prefix {
            write!(f, ":{p} ")?;
        }
        f.write_str(&self.command)?;
        let n = self.params.len();
        for (i, p) in self.params.iter().enumerate() {
            let last = i + 1 == n;
            if last && (p.is_empty() || p.contains(' ') || p.starts_with(':')) {
                write!(f, " :{p}")?;
            } else {
                write!(f, " {p}")?;
            }
        }
        Ok(())
    }
}

pub fn escape_tag(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

pub fn unescape_tag(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            // A trailing lone backslash is dropped (IRCv3 message-tags).
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_prefix_params_and_trailing() {
        let m = Message::parse(
            "@time=2026-01-01T00:00:00.000Z;msgid=ab\\sc;+draft/reply=x :alice!a@h PRIVMSG #ops :hello there",
        )
        .expect("parse");
        assert_eq!(m.tag("time"), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(m.tag("msgid"), Some("ab c"));
        assert_eq!(m.tag("+draft/reply"), Some("x"));
        assert_eq!(m.source_nick(), Some("alice"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#ops", "hello there"]);
    }

    #[test]
    fn parses_numerics_and_middle_params() {
        let m = Message::parse(":srv 005 me LINELEN=512 CASEMAPPING=ascii :are supported\r\n")
            .expect("parse");
        assert_eq!(m.command, "005");
        assert_eq!(
            m.params,
            vec!["me", "LINELEN=512", "CASEMAPPING=ascii", "are supported"]
        );
        let m = Message::parse("PING :x y").expect("ping");
        assert_eq!(m.params, vec!["x y"]);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert_eq!(Message::parse(""), Err(ParseError::Empty));
        assert_eq!(Message::parse("@a=b"), Err(ParseError::NoCommand));
        assert_eq!(Message::parse(":only"), Err(ParseError::NoCommand));
        assert!(matches!(
            Message::parse(":x PRIV\u{1}MSG y"),
            Err(ParseError::BadCommand(_))
        ));
        for s in ["@", ":", "@;;; :", "\\", "@a=\\ X", "   ", ": : :"] {
            let _ = Message::parse(s);
        }
    }

    #[test]
    fn tag_escaping_round_trips() {
        let v = "a;b c\\d\r\ne";
        assert_eq!(unescape_tag(&escape_tag(v)), v);
        assert_eq!(unescape_tag("trail\\"), "trail");
    }

    #[test]
    fn serialises_trailing_when_needed() {
        let m = Message::new("PRIVMSG", &["#ops", "hi there"]);
        assert_eq!(m.to_string(), "PRIVMSG #ops :hi there");
        let m = Message::new("JOIN", &["#ops"]);
        assert_eq!(m.to_string(), "JOIN #ops");
        let mut m = Message::new("TAGMSG", &["#ops"]);
        m.tags.push(("+reply".into(), Some("a b".into())));
        assert_eq!(m.to_string(), "@+reply=a\\sb TAGMSG #ops");
    }
}
