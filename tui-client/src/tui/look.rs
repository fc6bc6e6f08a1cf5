//! What every part of the screen draws with: colours (off under `NO_COLOR`), local
//! times and dates, names' colours, and text cut or wrapped to a width.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::text::find_ci;

/// Colours for sender names, picked by a stable hash of the name.
const NAME_COLOURS: [Color; 6] =
    [Color::Cyan, Color::Green, Color::Yellow, Color::Magenta, Color::Blue, Color::LightRed];

/// How the screen is drawn, whatever is on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Look {
    /// Draw without colours (`NO_COLOR`).
    pub no_color: bool,
    /// Offset of the local time zone from UTC, in seconds, for times and dates.
    pub utc_offset_secs: i64,
}

impl Look {
    /// A style that drops its colours when `NO_COLOR` is set (modifiers stay).
    pub fn paint(self, style: Style) -> Style {
        if self.no_color { Style { fg: None, bg: None, ..style } } else { style }
    }

    pub fn dim(self) -> Style {
        self.paint(Style::new().fg(Color::DarkGray))
    }

    /// Days since the epoch and seconds into the day, local time.
    pub fn local(self, ts_ms: i64) -> (i64, i64) {
        let secs = ts_ms.div_euclid(1000) + self.utc_offset_secs;
        (secs.div_euclid(86_400), secs.rem_euclid(86_400))
    }

    /// `HH:MM ` of a timestamp, local time.
    pub fn clock(self, ts_ms: i64) -> String {
        let (_, secs) = self.local(ts_ms);
        format!("{:02}:{:02} ", secs / 3600, secs % 3600 / 60)
    }
}

/// FNV-1a of the lower-cased name: the same name always gets the same colour.
pub fn name_colour(name: &str) -> Color {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.to_lowercase().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    NAME_COLOURS[(h as usize) % NAME_COLOURS.len()]
}

/// `(year, month, day)` of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The text cut to `width` display columns, with `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` in lines of at most `width` columns, broken between words; at most
/// `max_lines`, the last ending in `…` when more was left. Only a word wider than
/// a whole line is cut inside.
pub fn wrap_words(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut words = text.split_whitespace().peekable();
    let mut cut = false;
    while let Some(word) = words.next() {
        let need = if line.is_empty() { word.width() } else { line.width() + 1 + word.width() };
        if need <= width {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if lines.len() == max_lines {
            cut = true;
            break;
        }
        line = if word.width() <= width { word.to_owned() } else { truncate(word, width) };
        if words.peek().is_none() {
            break;
        }
    }
    if !line.is_empty() {
        if lines.len() < max_lines {
            lines.push(line);
        } else {
            cut = true;
        }
    }
    if cut && let Some(last) = lines.last_mut() {
        // The ellipsis replaces whole words, never part of one.
        while last.width() + 2 > width && last.contains(' ') {
            let end = last.rfind(' ').unwrap_or(0);
            last.truncate(end);
        }
        last.push_str(" …");
    }
    lines
}

/// `text` as spans with every case-insensitive occurrence of `needle` reversed and
/// bold.
pub fn highlighted(text: &str, needle: &str) -> Vec<Span<'static>> {
    let mark = Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut rest = text;
    while let Some((a, b)) = find_ci(rest, needle) {
        if a > 0 {
            out.push(Span::raw(rest[..a].to_owned()));
        }
        out.push(Span::styled(rest[a..b].to_owned(), mark));
        rest = &rest[b..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Span::raw(rest.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(1_763_941_800_000 / 86_400_000), (2025, 11, 23));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn name_colour_is_stable() {
        assert_eq!(name_colour("bob"), name_colour("Bob"));
    }

    #[test]
    fn long_text_wraps_and_cuts_between_words() {
        let text = "your password was changed on another device: this session ended";
        let lines = wrap_words(text, 30, 3);
        assert_eq!(lines, ["your password was changed on", "another device: this session", "ended"]);
        let cut = wrap_words(text, 30, 2);
        assert_eq!(cut, ["your password was changed on", "another device: this session …"]);
        assert_eq!(wrap_words(text, 29, 2), ["your password was changed on", "another device: this …"]);
        for line in wrap_words(text, 11, 2) {
            assert!(line.width() <= 11, "{line}");
            for word in line.split(' ') {
                assert!(word == "…" || text.split(' ').any(|w| w == word), "`{word}` was cut");
            }
        }
        // Only a word wider than the line is cut inside.
        assert_eq!(wrap_words("see https://example.org/very/long", 10, 2), ["see", "https://e…"]);
        assert!(wrap_words("", 10, 2).is_empty());
    }
}
