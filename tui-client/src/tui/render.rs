//! Draws an [`App`]: pure, no I/O; the same state always draws the same screen.
//! Every text that can come from the server (names, bodies, notes, notices, error
//! messages) goes through [`escape_line`] on its way to the screen, so a control
//! character shows as `\u{1b}` instead of acting on the terminal.

use std::borrow::Cow;

use chat_proto::model::{Message, MessageKind, Target};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::commands::COMMAND_HELP;
use super::keys::Action;
use super::queue::OutState;
use super::state::{App, PendingRequest, Popup, find_ci, same_user};
use crate::display::{self, escape_line};
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

/// The screen's parts: sidebar, messages, input, status bar.
fn areas(app: &App, area: Rect) -> [Rect; 4] {
    let input_lines = app.input.lines.len().clamp(1, MAX_INPUT_LINES) as u16;
    let [main, input, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(input_lines + 2), Constraint::Length(1)])
            .areas(area);
    let sidebar_width = (area.width / 4).clamp(16, 30);
    let [sidebar, messages] =
        Layout::horizontal([Constraint::Length(sidebar_width), Constraint::Min(10)]).areas(main);
    [sidebar, messages, input, status]
}

/// How far the message pane can scroll up on a screen of `area`: the lines above
/// the view when it shows the oldest loaded message.
pub fn max_scroll(app: &App, area: Rect) -> usize {
    let [_, messages, _, _] = areas(app, area);
    let inner = Block::new().borders(Borders::ALL).inner(messages);
    let paragraph = Paragraph::new(message_pane_lines(app)).wrap(Wrap { trim: false });
    paragraph.line_count(inner.width).saturating_sub(usize::from(inner.height))
}

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let [sidebar, messages, input, status] = areas(app, area);
    render_sidebar(app, frame, sidebar);
    render_messages(app, frame, messages);
    render_input(app, frame, input);
    render_status(app, frame, status);
    if let Some(popup) = &app.popup {
        render_popup(app, popup, frame, area);
    }
}

/// The keys that are not configurable, for the help pop-up.
pub const KEY_HELP: &[(&str, &str)] = &[
    ("Tab after @na", "complete a name"),
    ("Up / Down", "previous / next sent line (input history)"),
    ("Mouse wheel", "scroll the messages; past the top loads older"),
    ("F1", "this help (also /help)"),
    ("Esc", "close a pop-up; clear highlight, failed sends"),
];

/// A rectangle of at most `width` x `height` centred in `area`.
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height }
}

fn render_popup(app: &App, popup: &Popup, frame: &mut Frame, area: Rect) {
    let dim = paint(app, Style::new().fg(Color::DarkGray));
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let (title, lines, selected): (String, Vec<Line>, Option<usize>) = match popup {
        Popup::Help => {
            let mut lines = vec![Line::styled("Keys ([keys] in config.toml: action = \"ctrl+x\")", bold)];
            lines.extend(Action::ALL.iter().map(|a| {
                let keys = app.keymap.describe_keys(*a);
                Line::from(vec![
                    Span::raw(format!("  {keys:<23} ")),
                    Span::styled(format!("{:<22}", a.name()), dim),
                    Span::styled(a.describe(), dim),
                ])
            }));
            lines.extend(KEY_HELP.iter().map(|(k, what)| {
                Line::from(vec![Span::raw(format!("  {k:<26}")), Span::styled(*what, dim)])
            }));
            lines.push(Line::styled("Commands", bold));
            lines.extend(COMMAND_HELP.iter().map(|(c, what)| {
                Line::from(vec![Span::raw(format!("  {c:<26}")), Span::styled(*what, dim)])
            }));
            (" Help (↑↓ scroll, Esc closes) ".into(), lines, None)
        }
        Popup::Requests { selected } => {
            let lines: Vec<Line> = if app.requests.is_empty() {
                vec![Line::styled("No pending requests.", dim)]
            } else {
                app.requests
                    .iter()
                    .map(|r| {
                        let (what, note) = match r {
                            PendingRequest::Friend { from, note, .. } => {
                                (format!("friend: {}", escape_line(from)), note)
                            }
                            PendingRequest::Group { group_id, user, note, .. } => {
                                (format!("join #{group_id}: {}", escape_line(user)), note)
                            }
                        };
                        let mut spans = vec![Span::raw(what)];
                        if !note.is_empty() {
                            spans.push(Span::styled(format!("  “{}”", escape_line(note)), dim));
                        }
                        Line::from(spans)
                    })
                    .collect()
            };
            let selected = (!app.requests.is_empty()).then_some(*selected);
            (" Requests (a: accept, r: reject, Esc) ".into(), lines, selected)
        }
        Popup::Search { query, results, selected } => {
            let mut lines = vec![Line::from(vec![Span::styled("Find: ", bold), Span::raw(query.as_str())])];
            if results.is_empty() && !query.is_empty() {
                lines.push(Line::styled("No matches.", dim));
            }
            for (with, m) in results {
                let place = match with {
                    Target::User(u) => u.clone(),
                    Target::Group(id) => app
                        .conversations
                        .iter()
                        .find(|c| c.with == *with)
                        .map_or_else(|| format!("#{id}"), |c| c.title()),
                };
                let mut spans = vec![
                    Span::styled(format!("{} ", escape_line(&place)), dim),
                    Span::raw(format!("{}: ", escape_line(&m.from))),
                ];
                let body = m.body.split_whitespace().collect::<Vec<_>>().join(" ");
                spans.extend(highlighted(&escape_line(&body), query));
                lines.push(Line::from(spans));
            }
            let selected = (!results.is_empty()).then_some(selected + 1);
            (" Search (type, ↑↓, Enter: open, Esc) ".into(), lines, selected)
        }
        Popup::Info { title, lines } => (
            format!(" {} (Esc) ", escape_line(title)),
            lines.iter().map(|l| Line::raw(escape_line(l))).collect(),
            None,
        ),
    };
    let width = area.width.saturating_sub(4).min(80);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX).min(area.height.saturating_sub(2));
    let rect = centred(area, width, height.max(3));
    frame.render_widget(Clear, rect);
    let line_count = lines.len();
    let items: Vec<ListItem> = lines.into_iter().map(ListItem::new).collect();
    let list = List::new(items)
        .block(Block::new().borders(Borders::ALL).title(title))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(selected);
    if selected.is_none() {
        // A text pop-up scrolls, but never past its last line.
        let rows = usize::from(rect.height.saturating_sub(2));
        *state.offset_mut() = app.popup_scroll.min(line_count.saturating_sub(rows));
    }
    frame.render_stateful_widget(list, rect, &mut state);
}

/// `text` as spans with every case-insensitive occurrence of `needle` reversed and
/// bold.
fn highlighted(text: &str, needle: &str) -> Vec<Span<'static>> {
    let mark = Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let mut spans = Vec::new();
    let mut rest = text;
    let mut out: Vec<(String, bool)> = Vec::new();
    while let Some((a, b)) = find_ci(rest, needle) {
        if a > 0 {
            out.push((rest[..a].to_owned(), false));
        }
        out.push((rest[a..b].to_owned(), true));
        rest = &rest[b..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push((rest.to_owned(), false));
    }
    for (part, hit) in out {
        spans.push(if hit { Span::styled(part, mark) } else { Span::raw(part) });
    }
    spans
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
            let mut badge = if c.unread > 0 { format!(" ({})", c.unread) } else { String::new() };
            if c.mentions > 0 {
                badge.push_str(&format!(" @{}", c.mentions));
            }
            let title_room = inner_width.saturating_sub(2 + badge.width());
            spans.push(Span::styled(
                truncate(&escape_line(&c.title()), title_room),
                if c.unread > 0 { Style::new().add_modifier(Modifier::BOLD) } else { Style::new() },
            ));
            if !badge.is_empty() {
                spans.push(Span::styled(badge, paint(app, Style::new().fg(Color::Yellow).bold())));
            }
            let preview = Line::styled(
                format!("  {}", truncate(&escape_line(&c.preview), inner_width.saturating_sub(2))),
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
            Span::styled(escape_line(&m.from), name_style),
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
                format!("[file] {} ({} bytes)", escape_line(&file.name), file.size),
                Style::new().add_modifier(Modifier::UNDERLINED),
            ));
            lines.push(Line::from(head));
            continue;
        }
        let body_style = if mine { paint(app, Style::new().fg(Color::Gray)) } else { Style::new() };
        let mut body = display::lines(&m.body);
        head.extend(body_spans(app, body.next().unwrap_or_default(), body_style));
        lines.push(Line::from(head));
        for more in body {
            let mut spans = vec![Span::raw("        ")];
            spans.extend(body_spans(app, more, body_style));
            lines.push(Line::from(spans));
        }
    }
    lines
}

/// A line of a message body, with the search highlight.
fn body_spans<'a>(app: &App, text: Cow<'a, str>, style: Style) -> Vec<Span<'a>> {
    match app.highlight.as_deref() {
        Some(needle) if find_ci(&text, needle).is_some() => {
            highlighted(&text, needle).into_iter().map(|s| s.patch_style(style)).collect()
        }
        _ => vec![Span::styled(text, style)],
    }
}

/// Queued messages of the open conversation: dim with `…` while waiting, marked
/// when the server refused them.
fn outbox_lines(app: &App) -> Vec<Line<'static>> {
    let Some(with) = &app.selected else { return Vec::new() };
    let dim = Style::new().add_modifier(Modifier::DIM);
    app.outbox
        .for_conversation(with)
        .map(|o| {
            let (_, secs) = local(app, o.ts);
            let time = format!("{:02}:{:02} ", secs / 3600, secs % 3600 / 60);
            let body = escape_line(&o.body.replace('\n', " ")).into_owned();
            match &o.state {
                OutState::Pending | OutState::Sending => {
                    Line::styled(format!("{time}… {}: {body}", app.user), dim)
                }
                OutState::Failed(error) => Line::from(vec![
                    Span::styled(format!("{time}✗ {}: {body}", app.user), dim),
                    Span::styled(
                        format!("  (not sent: {})", escape_line(error)),
                        paint(app, Style::new().fg(Color::Red)),
                    ),
                ]),
            }
        })
        .collect()
}

/// What the message pane shows, before wrapping.
fn message_pane_lines(app: &App) -> Vec<Line<'_>> {
    let queued = outbox_lines(app);
    let mut lines = if app.selected.is_none() {
        vec![Line::styled("No conversations yet.", Style::new().add_modifier(Modifier::DIM))]
    } else if app.messages.is_empty() && queued.is_empty() {
        vec![Line::styled("No messages yet.", Style::new().add_modifier(Modifier::DIM))]
    } else {
        message_lines(app, &app.messages)
    };
    if app.loading_older {
        lines.insert(0, Line::styled("loading older messages…", Style::new().add_modifier(Modifier::DIM)));
    }
    lines.extend(queued);
    lines
}

fn render_messages(app: &App, frame: &mut Frame, area: Rect) {
    let title = app
        .selected_index()
        .and_then(|i| app.conversations.get(i))
        .map(|c| format!(" {} ", escape_line(&c.title())))
        .unwrap_or_else(|| " no conversation ".to_owned());
    let block = Block::new().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    let paragraph = Paragraph::new(message_pane_lines(app)).wrap(Wrap { trim: false });
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
    let block = Block::new().borders(Borders::ALL).title(format!(
        " Message ({}: send, {}: new line, {}: quit) ",
        app.keymap.first_key(Action::Send),
        app.keymap.first_key(Action::Newline),
        app.keymap.first_key(Action::Quit)
    ));
    let inner = block.inner(area);
    let height = usize::from(inner.height.max(1));
    let first = (app.input.row + 1).saturating_sub(height);
    let lines: Vec<Line> = app
        .input
        .lines
        .iter()
        .skip(first)
        .take(height)
        .map(|l| Line::raw(super::commands::masked(l)))
        .collect();
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
            let retry = retry_in.as_secs_f64().ceil();
            (format!("○ offline ({}), retry in {retry:.0} s", escape_line(reason)), Color::Red)
        }
        Status::LoggedOut => ("○ logged out: run `chat-tui login`".into(), Color::Red),
    }
}

fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    let (text, colour) = status_text(&app.status);
    let mut spans = vec![
        Span::styled(text, paint(app, Style::new().fg(colour).add_modifier(Modifier::BOLD))),
        Span::raw(format!("  {}@{}", escape_line(&app.user), escape_line(&app.server))),
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
    let waiting = app.outbox.waiting();
    if waiting > 0 {
        spans.push(Span::styled(format!("  {waiting} queued"), paint(app, Style::new().fg(Color::Yellow))));
    }
    if let Some(notice) = &app.notice {
        spans.push(Span::raw(format!("  {}", escape_line(notice))));
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

    #[test]
    fn snapshot_help_popup() {
        let mut app = sample(Status::Online);
        app.open_popup(Popup::Help);
        let terminal = draw(&app, 100, 40);
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn help_scrolls_to_its_last_line_on_a_small_screen() {
        let mut app = sample(Status::Online);
        app.open_popup(Popup::Help);
        let text = |app: &App| format!("{:?}", draw(app, 80, 24).backend());
        assert!(!text(&app).contains("//text"), "the help is longer than 24 rows");
        app.popup_move(500);
        let scrolled = text(&app);
        assert!(scrolled.contains("//text") && scrolled.contains("/help"), "{scrolled}");
        app.close_popup();
        app.open_popup(Popup::Help);
        assert!(text(&app).contains("Keys"), "reopened at the top");
    }

    #[test]
    fn snapshot_requests_popup() {
        use crate::tui::state::PendingRequest;
        let mut app = sample(Status::Online);
        app.requests = vec![
            PendingRequest::Friend { request_id: 1, from: "eve".into(), note: "hi there".into() },
            PendingRequest::Group {
                group_id: 12,
                request_id: 2,
                user: "mallory".into(),
                note: String::new(),
            },
        ];
        app.open_popup(Popup::Requests { selected: 1 });
        let terminal = draw(&app, 80, 24);
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn queued_messages_and_highlight_are_drawn() {
        let mut app = sample(Status::Offline { retry_in: Duration::from_secs(1), reason: "down".into() });
        app.queue_message("a".into(), "still here".into(), EVENING + 1_300_000).expect("queued");
        app.queue_message("b".into(), "refused one".into(), EVENING + 1_310_000).expect("queued");
        app.outbox.take_pending();
        app.outbox.interrupted("a");
        app.outbox.refused("b", "not_friend");
        app.highlight = Some("SEE".into());
        let terminal = draw(&app, 100, 30);
        let text = format!("{}", terminal.backend());
        assert!(text.contains("… alice: still here"), "{text}");
        assert!(text.contains("✗ alice: refused one  (not sent: not_friend)"), "{text}");
        assert!(text.contains("1 queued"), "{text}");
        // The match is reversed and bold, case-insensitively.
        let buffer = terminal.backend().buffer();
        let marked: String = buffer
            .content
            .iter()
            .filter(|c| c.modifier.contains(Modifier::REVERSED | Modifier::BOLD))
            .map(|c| c.symbol())
            .collect();
        assert!(marked.contains("see"), "{marked}");
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn server_text_shows_control_characters_escaped() {
        let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
        let mut app = sample(Status::Offline { retry_in: Duration::from_secs(1), reason: hostile.into() });
        for c in &mut app.conversations {
            match c.with {
                Target::Group(_) => c.group_name = Some(format!("evil{hostile}")),
                Target::User(_) => c.preview = format!("bob: {hostile}"),
            }
        }
        let mut messages = app.messages.clone();
        messages.push(msg(
            7,
            "bob",
            Target::User("alice".into()),
            &format!("{hostile}\nrtl\u{202e}txt"),
            EVENING + 1_300_000,
        ));
        app.set_messages(messages);
        app.set_notice(format!("refused: {hostile}"));
        let screen = |app: &App| {
            let terminal = draw(app, 140, 30);
            let buffer = terminal.backend().buffer();
            assert!(
                buffer
                    .content
                    .iter()
                    .all(|c| !c.symbol().chars().any(|ch| ch.is_control() || ch == '\u{202e}')),
                "no raw control character reaches a cell"
            );
            format!("{}", terminal.backend())
        };
        let text = screen(&app);
        let escaped = r"\u{1b}]0;pwned\u{7}\u{1b}[2J";
        assert!(text.contains(&format!("bob: {escaped}")), "the body: {text}");
        assert!(text.contains(r"rtl\u{202e}txt"), "the body's second line: {text}");
        assert!(text.contains(&format!("refused: {escaped}")), "the notice: {text}");
        assert!(text.contains(r"offline (\u{1b}]0;pwned"), "the status: {text}");
        assert!(text.contains(r"evil\u{1b}]0;"), "the group's name: {text}");
        app.open_popup(Popup::Info {
            title: format!("Group {hostile}"),
            lines: vec![format!("description: {hostile}")],
        });
        let text = screen(&app);
        assert!(text.contains(&format!("description: {escaped}")), "the pop-up: {text}");
        app.close_popup();
        app.requests =
            vec![PendingRequest::Friend { request_id: 1, from: "eve".into(), note: hostile.into() }];
        app.open_popup(Popup::Requests { selected: 0 });
        assert!(screen(&app).contains(&format!("“{escaped}”")), "the request's note");
    }

    #[test]
    fn search_popup_lists_results() {
        let mut app = sample(Status::Online);
        app.open_popup(Popup::Search {
            query: "wor".into(),
            results: vec![(Target::Group(12), msg(9, "carol", Target::Group(12), "hello world", EVENING))],
            selected: 0,
        });
        let terminal = draw(&app, 80, 24);
        let text = format!("{}", terminal.backend());
        assert!(text.contains("Find: wor"), "{text}");
        assert!(text.contains("#12 rustaceans carol: hello world"), "{text}");
        app.conversations[1].mentions = 2;
        let text = format!("{}", draw(&app, 120, 24).backend());
        assert!(text.contains("(3) @2"), "{text}");
    }
}
