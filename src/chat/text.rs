//! Text from people, made safe to show on any platform and in a terminal.
//!
//! Chat users can send any Unicode: escape sequences (ESC, CSI, OSC) that retitle or repaint
//! a terminal, NUL and other control characters, and bidi overrides that make a line read
//! differently from what it says. What Flare stores is what was said (but NUL, stored as
//! U+FFFD: `engine/storable.rs`); what it shows goes through [`neutralise_controls`] on every
//! platform, before the platform's own escaping.

use std::borrow::Cow;

use crate::domain::text::is_bidi_control;

fn needs_work(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

/// Text with every control character except line feed and tab shown as a harmless visible
/// symbol (ESC as `␛`, other C0 controls as their Control Pictures, C1 controls as `�`),
/// CR LF and a lone CR as line feeds, NUL and bidi controls removed.
pub fn neutralise_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\0' => {}
            c if is_bidi_control(c) => {}
            // C0 controls and DEL have visible pictures at U+2400 + code (DEL at U+2421).
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'));
            }
            '\u{7F}' => out.push('\u{2421}'),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_untouched() {
        let t = "Checkout API 500s — naïve café ✅\n\tindented";
        assert!(matches!(neutralise_controls(t), Cow::Borrowed(s) if s == t));
    }

    #[test]
    fn terminal_escapes_cannot_act() {
        // OSC 0 sets the terminal title; CSI 2J clears the screen; C1 CSI does the same.
        let t = "a\x1b]0;pwned\x07b\x1b[2Jc\u{9b}2Jd";
        let n = neutralise_controls(t);
        assert_eq!(n, "a␛]0;pwned␇b␛[2Jc\u{FFFD}2Jd");
        assert!(!n.chars().any(|c| c.is_control()));
    }

    #[test]
    fn line_endings_nul_and_del() {
        assert_eq!(
            neutralise_controls("a\r\nb\rc\0d\x7fe"),
            "a\nb\ncd\u{2421}e"
        );
        assert_eq!(neutralise_controls("x\0y"), "xy");
    }

    #[test]
    fn bidi_overrides_are_dropped() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}',
        ] {
            let t = format!("deploy {c}fedcba{c} ok");
            assert_eq!(
                neutralise_controls(&t),
                "deploy fedcba ok",
                "{:04X}",
                c as u32
            );
        }
        // Marks that do not reorder anything stay.
        assert_eq!(neutralise_controls("a\u{200E}b"), "a\u{200E}b");
    }
}
