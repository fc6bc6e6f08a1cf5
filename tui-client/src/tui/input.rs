//! The input box: a multi-line editor with a cursor, the sent lines recalled with
//! Up/Down as in a shell, `@name` completion, and how it is drawn.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::text::same_user;

/// The multi-line input box: lines and a cursor (line, char index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub lines: Vec<String>,
    pub row: usize,
    /// In chars, not bytes.
    pub col: usize,
}

impl Default for Input {
    fn default() -> Self {
        Self { lines: vec![String::new()], row: 0, col: 0 }
    }
}

impl Input {
    fn line_mut(&mut self) -> &mut String {
        if self.lines.is_empty() {
            self.lines.push(String::new());
            self.row = 0;
        }
        self.row = self.row.min(self.lines.len() - 1);
        &mut self.lines[self.row]
    }

    fn byte_at(line: &str, col: usize) -> usize {
        line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
    }

    pub fn insert_char(&mut self, c: char) {
        if c == '\n' {
            return self.newline();
        }
        if c == '\r' || (c.is_control() && c != '\t') {
            return;
        }
        let col = self.col;
        let line = self.line_mut();
        let at = Self::byte_at(line, col);
        line.insert(at, c);
        self.col += 1;
    }

    pub fn newline(&mut self) {
        let col = self.col;
        let line = self.line_mut();
        let at = Self::byte_at(line, col);
        let rest = line.split_off(at);
        self.row += 1;
        self.lines.insert(self.row, rest);
        self.col = 0;
    }

    /// Pasted text: newlines become new lines, never a send.
    pub fn insert_str(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        for c in text.chars() {
            self.insert_char(c);
        }
    }

    /// Backspace: the char before the cursor, joining lines at the start of one.
    pub fn backspace(&mut self) {
        if self.col > 0 {
            let col = self.col;
            let line = self.line_mut();
            let at = Self::byte_at(line, col - 1);
            line.remove(at);
            self.col -= 1;
        } else if self.row > 0 && self.row < self.lines.len() {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
            self.lines[self.row].push_str(&line);
        }
    }

    pub fn left(&mut self) {
        if self.col > 0 {
            self.col -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
        }
    }

    pub fn right(&mut self) {
        let len = self.lines.get(self.row).map_or(0, |l| l.chars().count());
        if self.col < len {
            self.col += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = 0;
        }
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(String::is_empty)
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// An input holding `text`, the cursor at its end.
    pub fn from_text(text: &str) -> Self {
        let mut input = Self::default();
        input.insert_str(text);
        input
    }

    /// Moves the cursor a line up; false on the first line.
    pub fn up(&mut self) -> bool {
        if self.row == 0 {
            return false;
        }
        self.row -= 1;
        self.col = self.col.min(self.lines[self.row].chars().count());
        true
    }

    /// Moves the cursor a line down; false on the last line.
    pub fn down(&mut self) -> bool {
        if self.row + 1 >= self.lines.len() {
            return false;
        }
        self.row += 1;
        self.col = self.col.min(self.lines[self.row].chars().count());
        true
    }
}

/// Lines sent from the input, for Up/Down recall as in a shell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputHistory {
    /// Oldest first.
    pub entries: Vec<String>,
    /// The entry being shown; `None` while editing the draft.
    pub pos: Option<usize>,
    /// What was being typed before going back.
    pub draft: Option<Input>,
}

/// Most lines kept for recall.
const INPUT_HISTORY_MAX: usize = 500;

impl InputHistory {
    pub fn push(&mut self, text: String) {
        if self.entries.last() != Some(&text) {
            self.entries.push(text);
            if self.entries.len() > INPUT_HISTORY_MAX {
                self.entries.remove(0);
            }
        }
        self.pos = None;
        self.draft = None;
    }

    /// Up: the previous entry (saving the draft first), if any.
    pub fn back(&mut self, current: &Input) -> Option<Input> {
        let pos = match self.pos {
            None if self.entries.is_empty() => return None,
            None => {
                self.draft = Some(current.clone());
                self.entries.len() - 1
            }
            Some(0) => return None,
            Some(p) => p - 1,
        };
        self.pos = Some(pos);
        self.entries.get(pos).map(|t| Input::from_text(t))
    }

    /// Down: the next entry, or the draft after the newest.
    pub fn forward(&mut self) -> Option<Input> {
        let pos = self.pos?;
        if pos + 1 < self.entries.len() {
            self.pos = Some(pos + 1);
            self.entries.get(pos + 1).map(|t| Input::from_text(t))
        } else {
            self.pos = None;
            Some(self.draft.take().unwrap_or_default())
        }
    }
}

/// What Tab did to the word at the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The word is no `@name`: the key may do what else it is bound to.
    NotAMention,
    Completed,
    /// An `@name` nobody matches (the prefix): the key does nothing else.
    NoMatch(String),
}

impl Input {
    /// Tab on a word starting with `@`: completes it with one of `names` (not `me`).
    pub fn complete_mention<'a>(&mut self, names: impl Iterator<Item = &'a str>, me: &str) -> Completion {
        let Some(line) = self.lines.get(self.row) else { return Completion::NotAMention };
        let before: String = line.chars().take(self.col).collect();
        let word_start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[word_start..];
        let Some(prefix) = word.strip_prefix('@') else { return Completion::NotAMention };
        let prefix = prefix.to_lowercase();
        let mut names: Vec<&str> =
            names.filter(|n| n.to_lowercase().starts_with(&prefix) && !same_user(n, me)).collect();
        names.sort_unstable();
        names.dedup_by(|a, b| same_user(a, b));
        let Some(name) = names.iter().find(|n| n.len() > prefix.len()).or(names.first()) else {
            return Completion::NoMatch(prefix);
        };
        let rest: String = name.chars().skip(prefix.chars().count()).collect();
        for c in rest.chars().chain([' ']) {
            self.insert_char(c);
        }
        Completion::Completed
    }

    /// Draws the box; `title` names its keys. A secret command's arguments are
    /// masked.
    pub fn draw(&self, title: String, frame: &mut Frame, area: Rect) {
        let block = Block::new().borders(Borders::ALL).title(title);
        let inner = block.inner(area);
        let height = usize::from(inner.height.max(1));
        let first = (self.row + 1).saturating_sub(height);
        let lines: Vec<Line> = self
            .lines
            .iter()
            .skip(first)
            .take(height)
            .map(|l| Line::raw(super::commands::masked(l)))
            .collect();
        // Keep the cursor in view on long lines.
        let before: String =
            self.lines.get(self.row).map(|l| l.chars().take(self.col).collect()).unwrap_or_default();
        let cursor_x = before.width();
        let hscroll = cursor_x.saturating_sub(usize::from(inner.width.saturating_sub(1)));
        let hscroll = u16::try_from(hscroll).unwrap_or(0);
        frame.render_widget(Paragraph::new(lines).block(block).scroll((0, hscroll)), area);
        let x = inner.x.saturating_add(u16::try_from(cursor_x).unwrap_or(u16::MAX).saturating_sub(hscroll));
        let y = inner.y.saturating_add(u16::try_from(self.row - first).unwrap_or(0));
        frame.set_cursor_position(Position::new(x.min(inner.right().saturating_sub(1)), y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing_across_lines_and_wide_characters() {
        let mut input = Input::default();
        for c in "你好".chars() {
            input.insert_char(c);
        }
        input.newline();
        input.insert_str("a\r\nb");
        assert_eq!(input.lines, vec!["你好", "a", "b"]);
        input.backspace();
        input.backspace();
        assert_eq!(input.lines, vec!["你好", "a"]);
        input.left();
        input.left();
        input.backspace();
        assert_eq!(input.lines, vec!["你", "a"]);
        input.insert_char('!');
        assert_eq!(input.text(), "你!\na");
        // Up and Down move between lines first.
        assert!(input.down() && !input.down() && input.up() && !input.up());
    }

    #[test]
    fn completion_says_what_it_did() {
        let mut input = Input::from_text("hi @bo");
        assert_eq!(input.complete_mention(["bobby", "alice"].into_iter(), "alice"), Completion::Completed);
        assert_eq!(input.text(), "hi @bobby ");
        let mut input = Input::from_text("x");
        assert_eq!(input.complete_mention(["bobby"].into_iter(), "alice"), Completion::NotAMention);
        let mut input = Input::from_text("@al");
        assert_eq!(input.complete_mention(["alice"].into_iter(), "alice"), Completion::NoMatch("al".into()));
        assert_eq!(input.text(), "@al");
    }
}
