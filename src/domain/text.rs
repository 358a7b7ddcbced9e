//! Facts about text that rules depend on: what reorders it, and what shows nothing.

/// Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they reorder
/// the text around them (chat output drops them, `chat::text`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// True when `text` shows nothing once controls, bidi marks and invisible format
/// characters (zero-width spaces and joiners, BOM, soft hyphen) are set aside: an empty
/// title in all but bytes.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || is_bidi_control(c)
            || matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}' | '\u{180E}'
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_titles() {
        for t in [
            "",
            "   ",
            "\u{200B}\u{200B}",
            "\u{202E}\u{2066}",
            "\x1b\x07 \t",
            "\u{FEFF}\u{00AD}",
        ] {
            assert!(is_blank(t), "{t:?}");
        }
        for t in ["a", " x ", "\u{200B}db", "🔥"] {
            assert!(!is_blank(t), "{t:?}");
        }
    }
}
