//! Text from the server made safe to show on a terminal.
//!
//! Bodies, names, notes, descriptions and error messages come from other people. A
//! control character in them (ESC, a C1 control, DEL, a bidi override) would be
//! obeyed by the terminal: retitle the window, clear the screen, make text run
//! backwards. Here every such character is shown escaped instead, as Rust writes it
//! (`\u{1b}`), so it stays visible and can do nothing. A tab becomes spaces; a line
//! break is escaped in one-line contexts and split by [`lines`] where a multi-line
//! layout is deliberate.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;

/// What a tab becomes: a tab inside a field would break tab-separated columns.
const TAB: &str = "    ";

/// Characters a terminal could act on or that reorder what is shown around them.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // Bidi embeddings, overrides and isolates (the "Trojan Source" characters).
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // Line and paragraph separators: a line break that is not `\n`.
            | '\u{2028}' | '\u{2029}')
}

/// One line of server text: every unsafe character escaped (`\n` too), a tab as
/// spaces. Borrowed when there is nothing to change.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_safe(&mut out, c);
    }
    Cow::Owned(out)
}

/// The lines of a multi-line text (split at `\n`), each made safe by
/// [`escape_line`].
pub fn lines(text: &str) -> impl Iterator<Item = Cow<'_, str>> {
    text.split('\n').map(escape_line)
}

/// A whole output made safe, keeping the `\n` and `\t` that lay it out: the last
/// guard before text reaches stdout, behind the escaping of each field.
pub fn escape_keeping_layout(text: &str) -> Cow<'_, str> {
    let unsafe_here = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\t');
    if !text.chars().any(unsafe_here) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_here(c) { push_safe(&mut out, c) } else { out.push(c) }
    }
    Cow::Owned(out)
}

fn push_safe(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str(TAB),
        c if is_unsafe(c) => {
            let _ = write!(out, "{}", c.escape_unicode());
        }
        c => out.push(c),
    }
}

/// `value` as one line of JSON in which no character can act on a terminal:
/// serde_json already writes C0 controls as `\u00XX`; this also writes DEL, the C1
/// controls and the bidi and separator characters that way. Still plain JSON, and
/// decodes to the same value.
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, SafeJson))?;
    // The serializer writes only UTF-8 (strings as given, escapes in ASCII).
    String::from_utf8(out).map_err(|e| serde_json::Error::io(std::io::Error::other(e)))
}

/// serde_json's compact format, with the extra escapes of [`json_line`].
struct SafeJson;

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every unsafe character is in the Basic Multilingual Plane.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J";

    #[test]
    fn c0_c1_del_and_bidi_are_escaped() {
        assert_eq!(escape_line(HOSTILE), r"\u{1b}]0;pwned\u{7}\u{1b}[2J");
        assert_eq!(escape_line("a\u{9b}31mb\u{7f}"), r"a\u{9b}31mb\u{7f}");
        assert_eq!(escape_line("abc\u{202e}fed\u{2066}"), r"abc\u{202e}fed\u{2066}");
        assert_eq!(escape_line("x\ry\u{2028}z"), r"x\u{d}y\u{2028}z");
        assert_eq!(escape_line("one\ntwo"), r"one\u{a}two");
        assert_eq!(escape_line("a\tb"), "a    b");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in ["hello", "你好，世界 👋", "café", "👨‍👩‍👧 family", r"C:\path \u{1b}", ""]
        {
            assert!(matches!(escape_line(text), Cow::Borrowed(t) if t == text), "{text}");
            assert!(matches!(escape_keeping_layout(text), Cow::Borrowed(t) if t == text), "{text}");
        }
    }

    #[test]
    fn escaping_twice_changes_nothing_more() {
        let once = escape_line(HOSTILE).into_owned();
        assert_eq!(escape_line(&once), once);
    }

    #[test]
    fn lines_split_at_line_breaks_only() {
        let got: Vec<_> = lines("first\u{1b}[1m\nsecond\tend\n").collect();
        assert_eq!(got, [r"first\u{1b}[1m", "second    end", ""]);
    }

    #[test]
    fn layout_survives_the_last_guard() {
        assert_eq!(escape_keeping_layout("1\tbob: a\u{1b}c\n\tnext"), "1\tbob: a\\u{1b}c\n\tnext");
    }

    #[test]
    fn json_escapes_what_serde_json_leaves_raw_and_round_trips() {
        let value = serde_json::json!({"body": format!("{HOSTILE}\u{85}\u{9b}\u{7f}\u{202e}é\"\\")});
        let line = json_line(&value).unwrap();
        assert!(line.chars().all(|c| !is_unsafe(c)), "{line}");
        assert!(
            line.contains(r"\u001b]0;pwned\u0007") && line.contains(r"\u0085\u009b\u007f\u202e"),
            "{line}"
        );
        assert!(line.contains('é'), "other text stays as it is: {line}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&line).unwrap(), value);
        assert!(!line.contains('\n'));
    }
}
