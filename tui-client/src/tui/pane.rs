//! The message pane: the open conversation's messages, oldest first, scrolled by
//! lines from the bottom, with older ones loaded when scrolled past the top, the
//! last search's text highlighted, and the messages still queued for it below.

use std::borrow::Cow;

use chat_proto::model::{Message, MessageKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::look::{Look, civil_from_days, highlighted, name_colour};
use super::queue::{OutState, Outgoing};
use super::text::{find_ci, same_user};
use crate::display::{self, escape_line};

#[derive(Debug, Clone, Default)]
pub struct MessagePane {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Lines scrolled up from the bottom (0: following the end).
    pub scroll: u16,
    /// Loading older messages is under way.
    pub loading_older: bool,
    /// Nothing is older than the first loaded message.
    pub no_older: bool,
    /// Text highlighted (the last search).
    pub highlight: Option<String>,
}

/// What the pane shows besides its own state.
#[derive(Debug)]
pub struct PaneView<'a> {
    /// `None`: no conversation is open.
    pub title: Option<String>,
    /// The open conversation's queued messages, oldest first.
    pub queued: Vec<&'a Outgoing>,
    pub me: &'a str,
    pub look: Look,
}

impl MessagePane {
    /// A freshly opened conversation's pane.
    pub fn clear(&mut self) {
        *self = Self { highlight: self.highlight.take(), ..Self::default() };
    }

    /// Replaces the messages (oldest first).
    pub fn set_messages(&mut self, messages: Vec<Message>) {
        self.messages = messages;
        self.no_older = false;
        self.loading_older = false;
    }

    /// Adds a live message in seq order, once.
    pub fn insert(&mut self, message: Message) {
        if !self.messages.iter().any(|m| m.seq == message.seq) {
            let at = self.messages.partition_point(|m| m.seq < message.seq);
            self.messages.insert(at, message);
        }
    }

    pub fn mark_recalled(&mut self, msg_id: u64) {
        if let Some(m) = self.messages.iter_mut().find(|m| m.msg_id == msg_id) {
            m.recalled = true;
        }
    }

    /// The oldest seq loaded, when older messages are wanted: the view is past the
    /// top, nothing is loading, and there may be older ones.
    pub fn older_wanted(&self) -> Option<u64> {
        if self.loading_older || self.no_older {
            return None;
        }
        let oldest = self.messages.first()?.seq;
        (oldest > 1).then_some(oldest)
    }

    /// Puts older messages (any order) in front of the loaded ones. The scroll
    /// counts lines from the bottom, so the lines on screen stay where they are.
    /// An empty page means there is nothing older.
    pub fn prepend_older(&mut self, older: Vec<Message>) {
        self.loading_older = false;
        let oldest = self.messages.first().map_or(u64::MAX, |m| m.seq);
        let mut older: Vec<Message> = older.into_iter().filter(|m| m.seq < oldest).collect();
        older.sort_by_key(|m| m.seq);
        older.dedup_by_key(|m| m.seq);
        if older.is_empty() {
            self.no_older = true;
        }
        older.append(&mut self.messages);
        self.messages = older;
    }

    /// Keeps the scroll within the lines there are (`max`: lines above the view
    /// when at the top).
    pub fn clamp_scroll(&mut self, max: usize) {
        self.scroll = self.scroll.min(u16::try_from(max).unwrap_or(u16::MAX));
    }

    pub fn scroll_up(&mut self, lines: u16) {
        self.scroll = self.scroll.saturating_add(lines);
    }

    pub fn scroll_down(&mut self, lines: u16) {
        self.scroll = self.scroll.saturating_sub(lines);
    }

    /// Lines above the view when it shows the oldest loaded message, in `area`.
    pub fn max_scroll(&self, view: &PaneView, area: Rect) -> usize {
        let inner = Block::new().borders(Borders::ALL).inner(area);
        let paragraph = Paragraph::new(self.lines(view)).wrap(Wrap { trim: false });
        paragraph.line_count(inner.width).saturating_sub(usize::from(inner.height))
    }

    pub fn draw(&self, view: &PaneView, frame: &mut Frame, area: Rect) {
        let title = view
            .title
            .as_ref()
            .map_or_else(|| " no conversation ".to_owned(), |t| format!(" {} ", escape_line(t)));
        let block = Block::new().borders(Borders::ALL).title(title);
        let inner = block.inner(area);
        let paragraph = Paragraph::new(self.lines(view)).wrap(Wrap { trim: false });
        let total = paragraph.line_count(inner.width);
        let height = usize::from(inner.height);
        let bottom = total.saturating_sub(height);
        let top = bottom.saturating_sub(usize::from(self.scroll));
        let top = u16::try_from(top).unwrap_or(u16::MAX);
        frame.render_widget(block, area);
        // Few messages sit at the bottom, next to the input, as in any chat.
        let used = u16::try_from(total).unwrap_or(u16::MAX).min(inner.height);
        let text_area = Rect { y: inner.y + (inner.height - used), height: used, ..inner };
        frame.render_widget(paragraph.scroll((top, 0)), text_area);
    }

    /// What the pane shows, before wrapping.
    fn lines(&self, view: &PaneView) -> Vec<Line<'_>> {
        let queued = queued_lines(view);
        let mut lines = if view.title.is_none() {
            vec![Line::styled("No conversations yet.", Style::new().add_modifier(Modifier::DIM))]
        } else if self.messages.is_empty() && queued.is_empty() {
            vec![Line::styled("No messages yet.", Style::new().add_modifier(Modifier::DIM))]
        } else {
            self.message_lines(view)
        };
        if self.loading_older {
            lines
                .insert(0, Line::styled("loading older messages…", Style::new().add_modifier(Modifier::DIM)));
        }
        lines.extend(queued);
        lines
    }

    fn message_lines(&self, view: &PaneView) -> Vec<Line<'_>> {
        let look = view.look;
        let mut lines = Vec::new();
        let mut last_day = None;
        for m in self.messages.iter().filter(|m| m.kind != MessageKind::Recall) {
            let (day, _) = look.local(m.ts);
            if last_day != Some(day) {
                let (y, mo, d) = civil_from_days(day);
                lines.push(Line::styled(format!("── {y:04}-{mo:02}-{d:02} ──"), look.dim()).centered());
                last_day = Some(day);
            }
            let mine = same_user(&m.from, view.me);
            let name_style = if mine {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                look.paint(Style::new().fg(name_colour(&m.from)).add_modifier(Modifier::BOLD))
            };
            let mut head = vec![
                Span::styled(look.clock(m.ts), look.dim()),
                Span::raw(if mine { "> " } else { "  " }),
                Span::styled(escape_line(&m.from), name_style),
                Span::raw(": "),
            ];
            if m.recalled {
                head.push(Span::styled(
                    "(message recalled)",
                    look.paint(Style::new().fg(Color::DarkGray).add_modifier(Modifier::ITALIC)),
                ));
                lines.push(Line::from(head));
                continue;
            }
            if let Some(file) = &m.file {
                head.push(Span::styled(
                    format!("[file] {} ({} bytes)", escape_line(&file.name), file.size),
                    Style::new().add_modifier(Modifier::UNDERLINED),
                ));
                lines.push(Line::from(head));
                continue;
            }
            let body_style = if mine { look.paint(Style::new().fg(Color::Gray)) } else { Style::new() };
            let mut body = display::lines(&m.body);
            head.extend(self.body_spans(body.next().unwrap_or_default(), body_style));
            lines.push(Line::from(head));
            for more in body {
                let mut spans = vec![Span::raw("        ")];
                spans.extend(self.body_spans(more, body_style));
                lines.push(Line::from(spans));
            }
        }
        lines
    }

    /// A line of a message body, with the search highlight.
    fn body_spans<'a>(&self, text: Cow<'a, str>, style: Style) -> Vec<Span<'a>> {
        match self.highlight.as_deref() {
            Some(needle) if find_ci(&text, needle).is_some() => {
                highlighted(&text, needle).into_iter().map(|s| s.patch_style(style)).collect()
            }
            _ => vec![Span::styled(text, style)],
        }
    }
}

/// Queued messages: dim with `…` while waiting, marked when the server refused them.
fn queued_lines(view: &PaneView) -> Vec<Line<'static>> {
    let dim = Style::new().add_modifier(Modifier::DIM);
    view.queued
        .iter()
        .map(|o| {
            let time = view.look.clock(o.ts);
            let body = escape_line(&o.body.replace('\n', " ")).into_owned();
            match &o.state {
                OutState::Pending | OutState::Sending => {
                    Line::styled(format!("{time}… {}: {body}", view.me), dim)
                }
                OutState::Failed(error) => Line::from(vec![
                    Span::styled(format!("{time}✗ {}: {body}", view.me), dim),
                    Span::styled(
                        format!("  (not sent: {})", escape_line(error)),
                        view.look.paint(Style::new().fg(Color::Red)),
                    ),
                ]),
            }
        })
        .collect()
}
