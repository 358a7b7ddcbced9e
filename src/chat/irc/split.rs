//! Turning arbitrary text into safe IRC message payloads, and cleaning what comes in.

/// Zero-width space: inside a nick it stops IRC clients from highlighting that person.
pub const ZWSP: char = '\u{200B}';

/// Splits text into lines that can never become a second IRC command: CR, LF and NUL end a
/// line (NUL is dropped), CTCP's `\x01` is dropped, empty lines disappear.
pub fn safe_lines(text: &str) -> Vec<String> {
    text.split(['\r', '\n'])
        .map(|l| {
            if l.contains(['\0', '\x01']) {
                l.chars().filter(|c| *c != '\0' && *c != '\x01').collect()
            } else {
                l.to_string()
            }
        })
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Splits `line` into pieces of at most `budget` bytes, on UTF-8 character boundaries,
/// preferring to break at whitespace (the space at a break is dropped). A `budget` too small
/// for one character still makes progress one character at a time.
pub fn split_to_budget(line: &str, budget: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        if rest.len() <= budget {
            out.push(rest.to_string());
            break;
        }
        let mut cut = budget.min(rest.len());
        while cut > 0 && !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            cut = rest
                .chars()
                .next()
                .map(char::len_utf8)
                .unwrap_or(rest.len());
        }
        // Only break at whitespace when it keeps at least half the line; long words still split.
        let head = &rest[..cut];
        let ws = head
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map(|(i, _)| i);
        match ws {
            Some(i) if i >= cut / 2 && i > 0 => {
                out.push(rest[..i].to_string());
                let skip = rest[i..].chars().next().map(char::len_utf8).unwrap_or(1);
                rest = &rest[i + skip..];
            }
            _ => {
                out.push(head.to_string());
                rest = &rest[cut..];
            }
        }
    }
    out
}

/// What separates relayed messages packed into one line.
pub const PACK_SEPARATOR: &str = " | ";

/// Packs short relayed messages (each one payload: its attribution and its text) into as few
/// lines as fit in `budget` bytes, in order, joined by [`PACK_SEPARATOR`]. Returns each line's
/// payload and how many messages it holds; a message too long to share a line keeps its own.
pub fn pack(payloads: &[&str], budget: usize) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for p in payloads {
        match out.last_mut() {
            Some((line, n)) if line.len() + PACK_SEPARATOR.len() + p.len() <= budget => {
                line.push_str(PACK_SEPARATOR);
                line.push_str(p);
                *n += 1;
            }
            _ => out.push((p.to_string(), 1)),
        }
    }
    out
}

/// Puts a zero-width space after the first letter of `name` so it cannot highlight anyone.
pub fn defang(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 3);
    let mut done = false;
    for c in name.chars() {
        out.push(c);
        if !done && c.is_alphanumeric() {
            out.push(ZWSP);
            done = true;
        }
    }
    out
}

/// Defangs every word of `text` that is the nick of someone in the channel (`is_nick` decides,
/// case-insensitively per the server's casemapping), so mirrored text pings nobody.
pub fn neutralise_nicks(text: &str, is_nick: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, word: &str| {
        if word.len() > 1 && is_nick(word) {
            out.push_str(&defang(word));
        } else {
            out.push_str(word);
        }
    };
    for (i, c) in text.char_indices() {
        let nick_char = c.is_ascii_alphanumeric()
            || matches!(
                c,
                '[' | ']' | '\\' | '`' | '_' | '^' | '{' | '|' | '}' | '-'
            );
        match (nick_char, word_start) {
            (true, None) => word_start = Some(i),
            (false, Some(s)) => {
                flush(&mut out, &text[s..i]);
                word_start = None;
                out.push(c);
            }
            (false, None) => out.push(c),
            (true, Some(_)) => {}
        }
    }
    if let Some(s) = word_start {
        flush(&mut out, &text[s..]);
    }
    out
}

/// Removes mIRC formatting (bold, colours, italics, ...) so commands parse as typed.
pub fn strip_formatting(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x02' | '\x0f' | '\x11' | '\x16' | '\x1d' | '\x1e' | '\x1f' => {}
            '\x03' => {
                // \x03[fg[,bg]] with one or two digits each
                for _ in 0..2 {
                    if chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                        chars.next();
                    }
                }
                let mut look = chars.clone();
                if look.next() == Some(',') && look.peek().is_some_and(|c| c.is_ascii_digit()) {
                    chars.next();
                    for _ in 0..2 {
                        if chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                            chars.next();
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_start_a_new_command() {
        let l = safe_lines("hello\r\nJOIN #x\nQUIT\0 now\r");
        assert_eq!(l, vec!["hello", "JOIN #x", "QUIT now"]);
        for piece in l {
            assert!(!piece.contains(['\r', '\n', '\0']));
        }
    }

    #[test]
    fn splits_on_char_boundaries_preferring_spaces() {
        let text = "日本語のテキスト 🚒🚒🚒 ".repeat(50);
        for budget in [1, 3, 7, 50, 100, 333] {
            let parts = split_to_budget(&text, budget);
            for p in &parts {
                assert!(p.len() <= budget.max(4), "{} > {budget}", p.len());
            }
            let joined: String = parts.concat();
            let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            assert_eq!(strip(&joined), strip(&text));
        }
        assert_eq!(split_to_budget("aaa bbb ccc", 8), vec!["aaa bbb", "ccc"]);
    }

    #[test]
    fn packs_short_messages_up_to_the_budget_in_order() {
        let msgs = [
            "<a@slack> one",
            "<b@rc> two",
            "<c@slack> three",
            "<d@rc> four",
        ];
        // Everything fits: one line, every message once, in order.
        assert_eq!(
            pack(&msgs, 200),
            vec![(
                "<a@slack> one | <b@rc> two | <c@slack> three | <d@rc> four".to_string(),
                4
            )]
        );
        // A tight budget: each line within it, nothing lost or reordered.
        for budget in [13, 20, 27, 30, 45, 60] {
            let lines = pack(&msgs, budget);
            assert_eq!(lines.iter().map(|(_, n)| n).sum::<usize>(), msgs.len());
            for (l, n) in &lines {
                assert!(l.len() <= budget || *n == 1, "{l:?} over {budget}");
            }
            let joined: Vec<String> = lines.iter().map(|(l, _)| l.clone()).collect();
            assert_eq!(joined.join(PACK_SEPARATOR), msgs.join(PACK_SEPARATOR));
        }
        // A message longer than the budget keeps a line of its own; nothing is empty.
        let long = "x".repeat(50);
        let lines = pack(&["<a@slack> hi", &long, "<b@rc> yo"], 30);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], (long.clone(), 1));
        assert!(pack(&[], 30).is_empty());
    }

    #[test]
    fn defangs_names_and_nicks() {
        assert_eq!(defang("<alice@slack>"), "<a\u{200B}lice@slack>");
        let t = neutralise_nicks("bob: ping alice, and carol", |w| {
            w.eq_ignore_ascii_case("bob") || w == "alice"
        });
        assert_eq!(t, "b\u{200B}ob: ping a\u{200B}lice, and carol");
    }

    #[test]
    fn strips_colours() {
        assert_eq!(
            strip_formatting("\x0304,12!inc\x03 \x02open\x02 x"),
            "!inc open x"
        );
    }
}
