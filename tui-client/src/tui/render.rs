//! Draws an [`App`]: pure, no I/O; the same state always draws the same screen.
//! Each part draws itself (the list, the pane, the input box, a pop-up); here they
//! are laid out, and the status bar is drawn. Every text that can come from the
//! server (names, bodies, notes, notices, error messages) goes through
//! [`escape_line`] on its way to the screen, so a control character shows as
//! `\u{1b}` instead of acting on the terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::app::App;
use super::keys::Action;
use super::look::wrap_words;
use super::pane::PaneView;
use super::popup::PopupView;
use crate::display::escape_line;
use crate::session::Status;

/// Most lines the input box grows to.
const MAX_INPUT_LINES: usize = 5;
/// Most lines a long notice takes below the status line.
const MAX_NOTICE_LINES: usize = 3;

/// The screen's parts: sidebar, messages, input, status bar.
fn areas(app: &App, area: Rect) -> [Rect; 4] {
    let input_lines = app.input.lines.len().clamp(1, MAX_INPUT_LINES) as u16;
    let status_lines = status_lines(app, area.width).len() as u16;
    let [main, input, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(input_lines + 2),
        Constraint::Length(status_lines),
    ])
    .areas(area);
    let sidebar_width = (area.width / 4).clamp(16, 30);
    let [sidebar, messages] =
        Layout::horizontal([Constraint::Length(sidebar_width), Constraint::Min(10)]).areas(main);
    [sidebar, messages, input, status]
}

fn pane_view(app: &App) -> PaneView<'_> {
    let title = app.sidebar.selected.as_ref().map(|with| app.sidebar.title_of(with));
    let queued = app.sidebar.selected.as_ref().map(|with| app.outbox.for_conversation(with).collect());
    PaneView { title, queued: queued.unwrap_or_default(), me: &app.me, look: app.look }
}

/// How far the message pane can scroll up on a screen of `area`: the lines above
/// the view when it shows the oldest loaded message.
pub fn max_scroll(app: &App, area: Rect) -> usize {
    let [_, messages, _, _] = areas(app, area);
    app.pane.max_scroll(&pane_view(app), messages)
}

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let [sidebar, messages, input, status] = areas(app, area);
    app.sidebar.draw(app.look, frame, sidebar);
    app.pane.draw(&pane_view(app), frame, messages);
    let title = format!(
        " Message ({}: send, {}: new line, {}: quit) ",
        app.keymap.first_key(Action::Send),
        app.keymap.first_key(Action::Newline),
        app.keymap.first_key(Action::Quit)
    );
    app.input.draw(title, frame, input);
    render_status(app, frame, status);
    if let Some(popup) = &app.popup {
        let view = PopupView {
            keymap: &app.keymap,
            requests: &app.requests,
            sidebar: &app.sidebar,
            scroll: app.popup_scroll,
            look: app.look,
        };
        popup.draw(&view, frame, area);
    }
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

/// The status bar's lines: the status, then the notice, on the same line when it
/// fits, else on lines of its own, broken between words.
fn status_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let look = app.look;
    let (text, colour) = status_text(&app.status);
    let mut spans = vec![
        Span::styled(text, look.paint(Style::new().fg(colour).add_modifier(Modifier::BOLD))),
        Span::raw(format!("  {}@{}", escape_line(&app.me), escape_line(&app.server))),
    ];
    for (count, what) in [(app.requests.friends(), "friend"), (app.requests.groups(), "group")] {
        if count > 0 {
            let plural = if count == 1 { "" } else { "s" };
            spans.push(Span::styled(
                format!("  {count} {what} request{plural}"),
                look.paint(Style::new().fg(Color::Yellow)),
            ));
        }
    }
    let waiting = app.outbox.waiting();
    if waiting > 0 {
        spans.push(Span::styled(format!("  {waiting} queued"), look.paint(Style::new().fg(Color::Yellow))));
    }
    let Some(notice) = app.notice_text() else { return vec![Line::from(spans)] };
    let notice = escape_line(&notice).into_owned();
    let used: usize = spans.iter().map(|s| s.content.width()).sum();
    let width = usize::from(width);
    if used + 2 + notice.width() <= width {
        spans.push(Span::raw(format!("  {notice}")));
        return vec![Line::from(spans)];
    }
    let mut lines = vec![Line::from(spans)];
    lines.extend(
        wrap_words(&notice, width.saturating_sub(2), MAX_NOTICE_LINES)
            .into_iter()
            .map(|l| Line::raw(format!("  {l}"))),
    );
    lines
}

fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    frame.render_widget(
        Paragraph::new(status_lines(app, area.width)).style(Style::new().add_modifier(Modifier::REVERSED)),
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
    use crate::tui::app::tests::msg;
    use crate::tui::look::Look;
    use crate::tui::notice::Notice;
    use crate::tui::popup::Popup;
    use crate::tui::requests::PendingRequest;
    use crate::tui::sidebar::ConversationEntry;
    use chat_proto::model::MessageKind;

    /// 2025-11-23 23:50 UTC, in milliseconds.
    const EVENING: i64 = 1_763_941_800_000;

    fn sample(status: Status) -> App {
        let mut app = App::new("alice", "chat.example.org:7878", Look::default());
        let mut bob = ConversationEntry::new(Target::User("bob".into()));
        bob.activity = EVENING + 1_200_000;
        bob.online = Some(true);
        bob.preview = "bob: 👋 see you".into();
        let mut group = ConversationEntry::new(Target::Group(12));
        group.activity = EVENING;
        group.unread = 3;
        group.group_name = Some("rustaceans".into());
        group.preview = "carol: 你好，世界".into();
        app.sidebar.set_entries(vec![group, bob]);
        let to_me = || Target::User("alice".into());
        let to_bob = || Target::User("bob".into());
        let mut recalled = msg(3, "bob", to_me(), "secret", EVENING + 300_000);
        recalled.recalled = true;
        let mut file = msg(5, "bob", to_me(), "", EVENING + 1_000_000);
        file.kind = MessageKind::File;
        file.file =
            Some(FileInfo { file_id: 9, name: "notes.txt".into(), size: 1234, sha256: String::new() });
        app.pane.set_messages(vec![
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
        app.requests.add(PendingRequest::Friend { request_id: 1, from: "eve".into(), note: String::new() });
        app.input.insert_char('h');
        app.input.insert_char('é');
        app
    }

    fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        terminal.draw(|f| render(app, f)).expect("draw");
        terminal
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
        app.look.no_color = true;
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
        app.pane.scroll_up(100);
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
        app.popup_scroll = 500;
        let scrolled = text(&app);
        assert!(scrolled.contains("//text") && scrolled.contains("/help"), "{scrolled}");
        app.close_popup();
        app.open_popup(Popup::Help);
        assert!(text(&app).contains("Keys"), "reopened at the top");
    }

    #[test]
    fn snapshot_requests_popup() {
        let mut app = sample(Status::Online);
        app.requests = Default::default();
        app.requests.add(PendingRequest::Friend {
            request_id: 1,
            from: "eve".into(),
            note: "hi there".into(),
        });
        app.requests.add(PendingRequest::Group {
            group_id: 12,
            request_id: 2,
            user: "mallory".into(),
            note: String::new(),
        });
        app.open_popup(Popup::Requests { selected: 1 });
        let terminal = draw(&app, 80, 24);
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn queued_messages_and_highlight_are_drawn() {
        let mut app = sample(Status::Offline { retry_in: Duration::from_secs(1), reason: "down".into() });
        app.outbox.push("a".into(), Target::User("bob".into()), "still here".into(), EVENING + 1_300_000);
        app.outbox.push("b".into(), Target::User("bob".into()), "refused one".into(), EVENING + 1_310_000);
        app.outbox.take_pending();
        app.outbox.interrupted("a");
        app.outbox.refused("b", "not_friend");
        app.pane.highlight = Some("SEE".into());
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
        for c in &mut app.sidebar.entries {
            match c.with {
                Target::Group(_) => c.group_name = Some(format!("evil{hostile}")),
                Target::User(_) => c.preview = format!("bob: {hostile}"),
            }
        }
        let mut messages = app.pane.messages.clone();
        messages.push(msg(
            7,
            "bob",
            Target::User("alice".into()),
            &format!("{hostile}\nrtl\u{202e}txt"),
            EVENING + 1_300_000,
        ));
        app.pane.set_messages(messages);
        app.set_notice(Notice::Outcome(format!("refused: {hostile}")));
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
        app.requests = Default::default();
        app.requests.add(PendingRequest::Friend { request_id: 1, from: "eve".into(), note: hostile.into() });
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
        app.sidebar.entries[1].mentions = 2;
        let text = format!("{}", draw(&app, 120, 24).backend());
        assert!(text.contains("(3) @2"), "{text}");
    }

    #[test]
    fn a_long_notice_is_never_cut_mid_word() {
        let mut app = sample(Status::Online);
        app.set_notice(Notice::Closing(chat_proto::event::CloseReason::SessionRevoked));
        let text = crate::tui::notice::closing_text(chat_proto::event::CloseReason::SessionRevoked);
        let screen = format!("{}", draw(&app, 80, 24).backend());
        for word in text.split(' ') {
            assert!(screen.contains(word), "`{word}` is missing or cut:\n{screen}");
        }
    }
}
