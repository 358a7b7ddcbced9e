//! Outbound text: relayed words must never ping anyone.

/// Breaks every `@name`, `@all` and `@here` with a zero-width space after the `@`, so text
/// relayed from other platforms cannot notify people. An `@` inside a word (an e-mail address)
/// is left alone: Rocket.Chat only treats an `@` at a word start as a mention.
pub fn neutralise_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '@' {
            let at_word_start = prev.is_none_or(|p| !p.is_alphanumeric());
            let names_someone = chars
                .peek()
                .is_some_and(|n| n.is_alphanumeric() || matches!(n, '.' | '_' | '-'));
            if at_word_start && names_someone {
                out.push('\u{200B}');
            }
        }
        prev = Some(c);
    }
    out
}

/// Renders deliberate mentions (Rocket.Chat usernames) in Rocket.Chat syntax.
pub fn render_mentions(usernames: &[String]) -> String {
    usernames
        .iter()
        .map(|u| u.trim().trim_start_matches('@'))
        .filter(|u| !u.is_empty() && !u.contains(char::is_whitespace))
        .map(|u| format!("@{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits text into pieces Rocket.Chat accepts (`Message_MaxAllowedSize`, 5000 by default),
/// on line or word boundaries where possible.
pub fn split_text(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(16);
    if text.chars().count() <= max_chars {
        return vec![text.to_string()];
    }
    let mut parts = Vec::new();
    let mut rest: &str = text;
    while rest.chars().count() > max_chars {
        let cut = rest
            .char_indices()
            .nth(max_chars)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let window = &rest[..cut];
        let split_at = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .filter(|&i| i > cut / 2)
            .unwrap_or(cut);
        parts.push(rest[..split_at].to_string());
        rest = rest[split_at..].trim_start_matches(['\n', ' ']);
    }
    if !rest.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_broken() {
        assert_eq!(neutralise_mentions("@all down"), "@\u{200B}all down");
        assert_eq!(
            neutralise_mentions("ping @here and @bob.smith"),
            "ping @\u{200B}here and @\u{200B}bob.smith"
        );
        assert_eq!(
            neutralise_mentions("mail ops@example.com"),
            "mail ops@example.com"
        );
        assert_eq!(neutralise_mentions("a @ b"), "a @ b");
        assert_eq!(neutralise_mentions("(@ALL)"), "(@\u{200B}ALL)");
    }

    #[test]
    fn long_text_is_split() {
        let text = "word ".repeat(3000);
        let parts = split_text(&text, 5000);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= 5000));
        assert_eq!(split_text("short", 5000), vec!["short".to_string()]);
    }

    #[test]
    fn deliberate_mentions() {
        assert_eq!(
            render_mentions(&["alice".into(), "@bob".into(), "".into()]),
            "@alice @bob"
        );
    }
}
