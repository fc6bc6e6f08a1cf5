//! Draws an [`App`]: pure, no I/O; the same state always draws the same screen.

use chat_proto::model::{Message, MessageKind, Target};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::state::{App, same_user};
use crate::session::Status;

/// Colours for sender names, picked by a stable hash of the name.
const NAME_COLOURS: [Color; 6] =
    [Color::Cyan, Color::Green, Color::Yellow, Color::Magenta, Color::Blue, Color::LightRed];

/// Most lines the input box grows to.
const MAX_INPUT_LINES: usize = 5;

/// FNV-1a of the lower-cased name: the same name always gets the same colour.
pub fn name_colour(name: &str) -> Color {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.to_lowercase().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    NAME_COLOURS[(h as usize) % NAME_COLOURS.len()]
}

/// A style that drops its colours when `NO_COLOR` is set (modifiers stay).
fn paint(app: &App, style: Style) -> Style {
    if app.no_color { Style { fg: None, bg: None, ..style } } else { style }
}

/// Days since the epoch and seconds into the day, local time.
fn local(app: &App, ts_ms: i64) -> (i64, i64) {
    let secs = ts_ms.div_euclid(1000) + app.utc_offset_secs;
    (secs.div_euclid(86_400), secs.rem_euclid(86_400))
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

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let input_lines = app.input.lines.len().clamp(1, MAX_INPUT_LINES) as u16;
    let [main, input, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(input_lines + 2), Constraint::Length(1)])
            .areas(area);
    let sidebar_width = (area.width / 4).clamp(16, 30);
    let [sidebar, messages] =
        Layout::horizontal([Constraint::Length(sidebar_width), Constraint::Min(10)]).areas(main);
    render_sidebar(app, frame, sidebar);
    render_messages(app, frame, messages);
    render_input(app, frame, input);
    render_status(app, frame, status);
}

fn render_sidebar(app: &App, frame: &mut Frame, area: Rect) {
    let inner_width = usize::from(area.width.saturating_sub(2));
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .map(|c| {
            let mut spans = Vec::new();
            if let Target::User(_) = c.with {
                let (dot, colour) = match c.online {
                    Some(true) => ("● ", Color::Green),
                    _ => ("○ ", Color::DarkGray),
                };
                spans.push(Span::styled(dot, paint(app, Style::new().fg(colour))));
            } else {
                spans.push(Span::raw("  "));
            }
            let badge = if c.unread > 0 { format!(" ({})", c.unread) } else { String::new() };
            let title_room = inner_width.saturating_sub(2 + badge.width());
            spans.push(Span::styled(
                truncate(&c.title(), title_room),
                if c.unread > 0 { Style::new().add_modifier(Modifier::BOLD) } else { Style::new() },
            ));
            if !badge.is_empty() {
                spans.push(Span::styled(badge, paint(app, Style::new().fg(Color::Yellow).bold())));
            }
            let preview = Line::styled(
                format!("  {}", truncate(&c.preview, inner_width.saturating_sub(2))),
                paint(app, Style::new().fg(Color::DarkGray)),
            );
            ListItem::new(vec![Line::from(spans), preview])
        })
        .collect();
    let list = List::new(items)
        .block(Block::new().borders(Borders::ALL).title(" Conversations "))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(app.selected_index());
    frame.render_stateful_widget(list, area, &mut state);
}

/// The text cut to `width` display columns, with `…` when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

fn message_lines<'a>(app: &App, messages: &'a [Message]) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    let mut last_day = None;
    for m in messages.iter().filter(|m| m.kind != MessageKind::Recall) {
        let (day, secs) = local(app, m.ts);
        if last_day != Some(day) {
            let (y, mo, d) = civil_from_days(day);
            lines.push(
                Line::styled(
                    format!("── {y:04}-{mo:02}-{d:02} ──"),
                    paint(app, Style::new().fg(Color::DarkGray)),
                )
                .centered(),
            );
            last_day = Some(day);
        }
        let mine = same_user(&m.from, &app.user);
        let time = format!("{:02}:{:02} ", secs / 3600, secs % 3600 / 60);
        let name_style = if mine {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            paint(app, Style::new().fg(name_colour(&m.from)).add_modifier(Modifier::BOLD))
        };
        let mut head = vec![
            Span::styled(time, paint(app, Style::new().fg(Color::DarkGray))),
            Span::raw(if mine { "> " } else { "  " }),
            Span::styled(m.from.as_str(), name_style),
            Span::raw(": "),
        ];
        if m.recalled {
            head.push(Span::styled(
                "(message recalled)",
                paint(app, Style::new().fg(Color::DarkGray).add_modifier(Modifier::ITALIC)),
            ));
            lines.push(Line::from(head));
            continue;
        }
        if let Some(file) = &m.file {
            head.push(Span::styled(
                format!("[file] {} ({} bytes)", file.name, file.size),
                Style::new().add_modifier(Modifier::UNDERLINED),
            ));
            lines.push(Line::from(head));
            continue;
        }
        let body_style = if mine { paint(app, Style::new().fg(Color::Gray)) } else { Style::new() };
        let mut body = m.body.split('\n');
        head.push(Span::styled(body.next().unwrap_or_default(), body_style));
        lines.push(Line::from(head));
        for more in body {
            lines.push(Line::from(vec![Span::raw("        "), Span::styled(more, body_style)]));
        }
    }
    lines
}

fn render_messages(app: &App, frame: &mut Frame, area: Rect) {
    let title = app
        .selected_index()
        .and_then(|i| app.conversations.get(i))
        .map(|c| format!(" {} ", c.title()))
        .unwrap_or_else(|| " no conversation ".to_owned());
    let block = Block::new().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    let lines = if app.selected.is_none() {
        vec![Line::styled("No conversations yet.", Style::new().add_modifier(Modifier::DIM))]
    } else if app.messages.is_empty() {
        vec![Line::styled("No messages yet.", Style::new().add_modifier(Modifier::DIM))]
    } else {
        message_lines(app, &app.messages)
    };
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = paragraph.line_count(inner.width);
    let height = usize::from(inner.height);
    let bottom = total.saturating_sub(height);
    let top = bottom.saturating_sub(usize::from(app.scroll));
    let top = u16::try_from(top).unwrap_or(u16::MAX);
    frame.render_widget(block, area);
    // Few messages sit at the bottom, next to the input, as in any chat.
    let used = u16::try_from(total).unwrap_or(u16::MAX).min(inner.height);
    let text_area = Rect { y: inner.y + (inner.height - used), height: used, ..inner };
    frame.render_widget(paragraph.scroll((top, 0)), text_area);
}

fn render_input(app: &App, frame: &mut Frame, area: Rect) {
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" Message (Enter: send, Alt+Enter: new line, Ctrl+C: quit) ");
    let inner = block.inner(area);
    let height = usize::from(inner.height.max(1));
    let first = (app.input.row + 1).saturating_sub(height);
    let lines: Vec<Line> =
        app.input.lines.iter().skip(first).take(height).map(|l| Line::raw(l.as_str())).collect();
    // Keep the cursor in view on long lines.
    let before: String = app
        .input
        .lines
        .get(app.input.row)
        .map(|l| l.chars().take(app.input.col).collect())
        .unwrap_or_default();
    let cursor_x = before.width();
    let hscroll = cursor_x.saturating_sub(usize::from(inner.width.saturating_sub(1)));
    let hscroll = u16::try_from(hscroll).unwrap_or(0);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((0, hscroll)), area);
    let x = inner.x.saturating_add(u16::try_from(cursor_x).unwrap_or(u16::MAX).saturating_sub(hscroll));
    let y = inner.y.saturating_add(u16::try_from(app.input.row - first).unwrap_or(0));
    frame.set_cursor_position(Position::new(x.min(inner.right().saturating_sub(1)), y));
}

fn status_text(status: &Status) -> (String, Color) {
    match status {
        Status::Online => ("● online".into(), Color::Green),
        Status::Connecting { attempt: 0 } => ("◌ connecting…".into(), Color::Yellow),
        Status::Connecting { attempt } => {
            (format!("◌ reconnecting (attempt {})…", attempt + 1), Color::Yellow)
        }
        Status::Offline { retry_in, reason } => {
            (format!("○ offline ({reason}), retry in {:.0} s", retry_in.as_secs_f64().ceil()), Color::Red)
        }
        Status::LoggedOut => ("○ logged out: run `chat-tui login`".into(), Color::Red),
    }
}

fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    let (text, colour) = status_text(&app.status);
    let mut spans = vec![
        Span::styled(text, paint(app, Style::new().fg(colour).add_modifier(Modifier::BOLD))),
        Span::raw(format!("  {}@{}", app.user, app.server)),
    ];
    for (count, what) in [(app.pending_friend_requests, "friend"), (app.pending_group_requests, "group")] {
        if count > 0 {
            let plural = if count == 1 { "" } else { "s" };
            spans.push(Span::styled(
                format!("  {count} {what} request{plural}"),
                paint(app, Style::new().fg(Color::Yellow)),
            ));
        }
    }
    if let Some(notice) = &app.notice {
        spans.push(Span::raw(format!("  {notice}")));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chat_proto::model::{FileInfo, Target};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::tui::state::tests::msg;
    use crate::tui::state::{App, ConversationEntry};

    /// 2025-11-23 23:50 UTC, in milliseconds.
    const EVENING: i64 = 1_763_941_800_000;

    fn sample(status: Status) -> App {
        let mut app = App::new("alice", "chat.example.org:7878", false);
        let mut bob = ConversationEntry::new(Target::User("bob".into()));
        bob.activity = EVENING + 1_200_000;
        bob.online = Some(true);
        bob.preview = "bob: 👋 see you".into();
        let mut group = ConversationEntry::new(Target::Group(12));
        group.activity = EVENING;
        group.unread = 3;
        group.group_name = Some("rustaceans".into());
        group.preview = "carol: 你好，世界".into();
        app.set_conversations(vec![group, bob]);
        let to_me = || Target::User("alice".into());
        let to_bob = || Target::User("bob".into());
        let mut recalled = msg(3, "bob", to_me(), "secret", EVENING + 300_000);
        recalled.recalled = true;
        let mut file = msg(5, "bob", to_me(), "", EVENING + 1_000_000);
        file.kind = MessageKind::File;
        file.file =
            Some(FileInfo { file_id: 9, name: "notes.txt".into(), size: 1234, sha256: String::new() });
        app.set_messages(vec![
            msg(1, "bob", to_me(), "hi alice", EVENING),
            msg(2, "alice", to_bob(), "你好，世界", EVENING + 60_000),
            recalled,
            // After midnight: a day separator comes first.
            msg(4, "alice", to_bob(), "two lines:\nsecond line", EVENING + 900_000),
            file,
            msg(
                6,
                "bob",
                to_me(),
                "👋 see you, this line is long enough to wrap on the narrow screen",
                EVENING + 1_200_000,
            ),
        ]);
        app.status = status;
        app.pending_friend_requests = 1;
        app.type_char('h');
        app.type_char('é');
        app
    }

    fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        terminal.draw(|f| render(app, f)).expect("draw");
        terminal
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(EVENING / 86_400_000), (2025, 11, 23));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn name_colour_is_stable() {
        assert_eq!(name_colour("bob"), name_colour("Bob"));
        assert_eq!(name_colour("carol"), name_colour("carol"));
    }

    #[test]
    fn snapshot_80x24() {
        let terminal = draw(&sample(Status::Online), 80, 24);
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn snapshot_120x40() {
        let terminal = draw(&sample(Status::Online), 120, 40);
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn snapshot_offline_80x24() {
        let status =
            Status::Offline { retry_in: Duration::from_millis(3_200), reason: "connection lost".into() };
        let terminal = draw(&sample(status), 80, 24);
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn no_color_draws_no_colours() {
        let mut app = sample(Status::Online);
        app.no_color = true;
        let terminal = draw(&app, 80, 24);
        let buffer = terminal.backend().buffer();
        assert!(buffer.content.iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
        let app = sample(Status::Online);
        let terminal = draw(&app, 80, 24);
        assert!(terminal.backend().buffer().content.iter().any(|c| c.fg != Color::Reset));
    }

    #[test]
    fn scrolled_up_shows_older_lines() {
        let mut app = sample(Status::Online);
        app.scroll_up(100);
        let terminal = draw(&app, 80, 24);
        let text = format!("{}", terminal.backend());
        assert!(text.contains("2025-11-23"), "{text}");
    }

    #[test]
    fn tiny_terminal_does_not_panic() {
        let app = sample(Status::Online);
        for (w, h) in [(1, 1), (10, 3), (20, 5), (0, 0)] {
            draw(&app, w, h);
        }
    }
}
