//! Windows drawn over the screen: help, the requests waiting for an answer, search,
//! lines of information, and the masked password form. Each takes its own keys;
//! what the user types into a window that has no use for text goes on to the input
//! box, so a window that opened under the user's fingers swallows nothing.

use chat_proto::model::{Message, Target};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState};

use super::keys::{Action, Keymap};
use super::look::{Look, highlighted};
use super::requests::{PendingRequest, Requests};
use super::sidebar::Sidebar;
use crate::catalogue;
use crate::display::escape_line;

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help,
    /// Pending friend and join requests.
    Requests {
        selected: usize,
    },
    Search {
        query: String,
        results: Vec<(Target, Message)>,
        selected: usize,
    },
    /// Lines of text (e.g. a group's members).
    Info {
        title: String,
        lines: Vec<String>,
    },
    Password(PasswordForm),
}

/// What a secret form is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    ChangePassword,
    DeleteAccount,
}

/// Masked fields, one per password asked; any character (spaces too) is part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordForm {
    pub purpose: Secret,
    pub fields: Vec<String>,
    pub focus: usize,
    /// Why the last Enter was not accepted.
    pub problem: Option<String>,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm").field("purpose", &self.purpose).field("focus", &self.focus).finish()
    }
}

impl PasswordForm {
    pub fn new(purpose: Secret) -> Self {
        Self { purpose, fields: vec![String::new(); Self::labels(purpose).len()], focus: 0, problem: None }
    }

    fn labels(purpose: Secret) -> &'static [&'static str] {
        match purpose {
            Secret::ChangePassword => &["Current password", "New password", "New password again"],
            Secret::DeleteAccount => &["Password"],
        }
    }

    /// Enter: the next field, or the passwords once all are filled in and agree.
    fn enter(&mut self) -> Option<SecretRequest> {
        if self.fields[self.focus].is_empty() {
            self.problem = Some("this field is empty".into());
            return None;
        }
        if self.focus + 1 < self.fields.len() {
            self.focus += 1;
            self.problem = None;
            return None;
        }
        match self.purpose {
            Secret::ChangePassword if self.fields[1] != self.fields[2] => {
                self.problem = Some("the new passwords differ: type them again".into());
                self.fields[1].clear();
                self.fields[2].clear();
                self.focus = 1;
                None
            }
            Secret::ChangePassword => Some(SecretRequest::ChangePassword {
                old: self.fields[0].clone(),
                new: self.fields[1].clone(),
            }),
            Secret::DeleteAccount => Some(SecretRequest::DeleteAccount { password: self.fields[0].clone() }),
        }
    }

    pub fn paste(&mut self, text: &str) {
        let text = text.trim_end_matches(['\r', '\n']);
        self.fields[self.focus].extend(text.chars().filter(|c| !c.is_control()));
    }
}

/// What a secret form asks the server for.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRequest {
    ChangePassword { old: String, new: String },
    DeleteAccount { password: String },
}

impl std::fmt::Debug for SecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretRequest::ChangePassword { .. } => "ChangePassword",
            SecretRequest::DeleteAccount { .. } => "DeleteAccount",
        })
    }
}

/// What a key did in a pop-up, for the app to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum PopupKey {
    Nothing,
    Close,
    /// Answer the selected request.
    Answer(PendingRequest, bool),
    /// The search text changed: search again.
    Searched(String),
    /// Open the selected search result.
    Jump {
        with: Target,
        query: String,
    },
    Secret(SecretRequest),
    /// A character for the input box: the pop-up closed.
    TypeThrough(char),
}

/// Most lines a text pop-up scrolls.
const MAX_POPUP_SCROLL: usize = 200;

impl Popup {
    /// Handles a key; `scroll` is how far a text pop-up is scrolled.
    pub fn on_key(&mut self, key: KeyEvent, requests: &Requests, scroll: &mut usize) -> PopupKey {
        let plain = !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        if key.code == KeyCode::Esc {
            return PopupKey::Close;
        }
        match self {
            Popup::Help | Popup::Info { .. } => match key.code {
                KeyCode::Up => *scroll = scroll.saturating_sub(1),
                KeyCode::Down => *scroll = (*scroll + 1).min(MAX_POPUP_SCROLL),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                KeyCode::PageDown => *scroll = (*scroll + 10).min(MAX_POPUP_SCROLL),
                KeyCode::Enter => return PopupKey::Close,
                KeyCode::Char(c) if plain => return PopupKey::TypeThrough(c),
                _ => {}
            },
            Popup::Requests { selected } => match key.code {
                KeyCode::Up => *selected = selected.saturating_sub(1),
                KeyCode::Down => *selected = (*selected + 1).min(requests.len().saturating_sub(1)),
                KeyCode::Char(c @ ('a' | 'r')) if plain => {
                    return match requests.items.get(*selected) {
                        Some(r) => PopupKey::Answer(r.clone(), c == 'a'),
                        // Nothing to answer: the letter was meant as text.
                        None => PopupKey::TypeThrough(c),
                    };
                }
                KeyCode::Enter => return PopupKey::Close,
                KeyCode::Char(c) if plain => return PopupKey::TypeThrough(c),
                _ => {}
            },
            Popup::Search { query, results, selected } => match key.code {
                KeyCode::Up => *selected = selected.saturating_sub(1),
                KeyCode::Down => *selected = (*selected + 1).min(results.len().saturating_sub(1)),
                KeyCode::Enter => {
                    if let Some((with, _)) = results.get(*selected) {
                        return PopupKey::Jump { with: with.clone(), query: query.clone() };
                    }
                }
                KeyCode::Backspace => {
                    query.pop();
                    *selected = 0;
                    return PopupKey::Searched(query.clone());
                }
                KeyCode::Char(c) if plain => {
                    query.push(c);
                    *selected = 0;
                    return PopupKey::Searched(query.clone());
                }
                _ => {}
            },
            Popup::Password(form) => match key.code {
                KeyCode::Enter => {
                    if let Some(request) = form.enter() {
                        return PopupKey::Secret(request);
                    }
                }
                KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % form.fields.len(),
                KeyCode::BackTab | KeyCode::Up => {
                    form.focus = form.focus.checked_sub(1).unwrap_or(form.fields.len() - 1)
                }
                KeyCode::Backspace => {
                    form.fields[form.focus].pop();
                }
                KeyCode::Char(c) if plain => form.fields[form.focus].push(c),
                _ => {}
            },
        }
        PopupKey::Nothing
    }

    /// Pasted text: the search query or the focused password field take it.
    pub fn paste(&mut self, text: &str) -> PopupKey {
        match self {
            Popup::Search { query, selected, .. } => {
                query.extend(text.chars().filter(|c| !c.is_control()));
                *selected = 0;
                PopupKey::Searched(query.clone())
            }
            Popup::Password(form) => {
                form.paste(text);
                PopupKey::Nothing
            }
            _ => PopupKey::Nothing,
        }
    }

    /// Whether it takes typed text itself (else typing goes through to the input).
    pub fn takes_text(&self) -> bool {
        matches!(self, Popup::Search { .. } | Popup::Password(_))
    }
}

/// The keys that are not configurable, for the help pop-up.
pub const KEY_HELP: &[(&str, &str)] = &[
    ("Tab after @na", "complete a name (never anything else)"),
    ("Up / Down", "previous / next sent line (input history)"),
    ("Mouse wheel", "scroll the messages; past the top loads older"),
    ("F1", "this help (also /help)"),
    ("Esc", "close a pop-up; clear the notice and failed sends"),
];

/// What a pop-up shows besides its own state.
#[derive(Debug)]
pub struct PopupView<'a> {
    pub keymap: &'a Keymap,
    pub requests: &'a Requests,
    pub sidebar: &'a Sidebar,
    pub scroll: usize,
    pub look: Look,
}

/// A rectangle of at most `width` x `height` centred in `area`.
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height }
}

impl Popup {
    pub fn draw(&self, view: &PopupView, frame: &mut Frame, area: Rect) {
        let dim = view.look.dim();
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let (title, lines, selected): (String, Vec<Line>, Option<usize>) = match self {
            Popup::Help => {
                let mut lines = vec![Line::styled("Keys ([keys] in config.toml: action = \"ctrl+x\")", bold)];
                lines.extend(Action::ALL.iter().map(|a| {
                    let keys = view.keymap.describe_keys(*a);
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
                lines.extend(catalogue::slash_help().map(|(c, what)| {
                    Line::from(vec![Span::raw(format!("  {c:<26}")), Span::styled(what, dim)])
                }));
                (" Help (↑↓ scroll, Esc closes) ".into(), lines, None)
            }
            Popup::Requests { selected } => {
                let lines: Vec<Line> = if view.requests.is_empty() {
                    vec![Line::styled("No pending requests.", dim)]
                } else {
                    view.requests.items.iter().map(|r| request_line(r, dim)).collect()
                };
                let selected = (!view.requests.is_empty()).then_some(*selected);
                (" Requests (a: accept, r: reject, Esc) ".into(), lines, selected)
            }
            Popup::Search { query, results, selected } => {
                let mut lines =
                    vec![Line::from(vec![Span::styled("Find: ", bold), Span::raw(query.as_str())])];
                if results.is_empty() && !query.is_empty() {
                    lines.push(Line::styled("No matches.", dim));
                }
                for (with, m) in results {
                    let mut spans = vec![
                        Span::styled(format!("{} ", escape_line(&view.sidebar.title_of(with))), dim),
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
            Popup::Password(form) => {
                let mut lines = Vec::new();
                if form.purpose == Secret::DeleteAccount {
                    lines.push(Line::styled(
                        "This deletes your account for good: friendships, memberships and owned groups go too.",
                        bold,
                    ));
                }
                for (i, (label, value)) in
                    PasswordForm::labels(form.purpose).iter().zip(&form.fields).enumerate()
                {
                    let marker = if i == form.focus { "▸ " } else { "  " };
                    let stars = "*".repeat(value.chars().count());
                    let cursor = if i == form.focus { "▏" } else { "" };
                    lines.push(Line::from(vec![
                        Span::raw(format!("{marker}{label:<20} ")),
                        Span::styled(format!("{stars}{cursor}"), bold),
                    ]));
                }
                if let Some(problem) = &form.problem {
                    lines.push(Line::styled(problem.clone(), dim));
                }
                let title = match form.purpose {
                    Secret::ChangePassword => " Change password (Enter: next/confirm, Esc: cancel) ",
                    Secret::DeleteAccount => " Delete account (Enter: confirm, Esc: cancel) ",
                };
                (title.into(), lines, None)
            }
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
            *state.offset_mut() = view.scroll.min(line_count.saturating_sub(rows));
        }
        frame.render_stateful_widget(list, rect, &mut state);
    }
}

fn request_line(r: &PendingRequest, dim: Style) -> Line<'static> {
    let (what, note) = match r {
        PendingRequest::Friend { from, note, .. } => (format!("friend: {}", escape_line(from)), note),
        PendingRequest::Group { group_id, user, note, .. } => {
            (format!("join #{group_id}: {}", escape_line(user)), note)
        }
    };
    let mut spans = vec![Span::raw(what)];
    if !note.is_empty() {
        spans.push(Span::styled(format!("  “{}”", escape_line(note)), dim));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_in(popup: &mut Popup, text: &str) {
        for c in text.chars() {
            popup.on_key(key(KeyCode::Char(c)), &Requests::default(), &mut 0);
        }
    }

    #[test]
    fn the_password_form_takes_spaces_and_checks_the_repeat() {
        let mut popup = Popup::Password(PasswordForm::new(Secret::ChangePassword));
        let none = Requests::default();
        type_in(&mut popup, "correct horse battery");
        assert_eq!(popup.on_key(key(KeyCode::Enter), &none, &mut 0), PopupKey::Nothing);
        type_in(&mut popup, "a new pass phrase");
        popup.on_key(key(KeyCode::Enter), &none, &mut 0);
        type_in(&mut popup, "a new pass phrasE");
        assert_eq!(popup.on_key(key(KeyCode::Enter), &none, &mut 0), PopupKey::Nothing, "they differ");
        let Popup::Password(form) = &popup else { unreachable!() };
        assert_eq!((form.focus, form.fields[1].as_str()), (1, ""), "asked again");
        assert!(form.problem.is_some());
        type_in(&mut popup, "a new pass phrase");
        popup.on_key(key(KeyCode::Enter), &none, &mut 0);
        popup.paste("a new pass phrase\n");
        assert_eq!(
            popup.on_key(key(KeyCode::Enter), &none, &mut 0),
            PopupKey::Secret(SecretRequest::ChangePassword {
                old: "correct horse battery".into(),
                new: "a new pass phrase".into()
            })
        );
        assert!(!format!("{popup:?}").contains("horse"), "never in logs");
    }

    #[test]
    fn windows_without_text_let_typing_through() {
        let none = Requests::default();
        for mut popup in
            [Popup::Help, Popup::Info { title: "x".into(), lines: vec![] }, Popup::Requests { selected: 0 }]
        {
            assert_eq!(popup.on_key(key(KeyCode::Char('h')), &none, &mut 0), PopupKey::TypeThrough('h'));
            assert!(!popup.takes_text());
        }
        let mut empty = Popup::Requests { selected: 0 };
        assert_eq!(empty.on_key(key(KeyCode::Char('a')), &none, &mut 0), PopupKey::TypeThrough('a'));
        let mut search = Popup::Search { query: String::new(), results: vec![], selected: 0 };
        assert_eq!(search.on_key(key(KeyCode::Char('h')), &none, &mut 0), PopupKey::Searched("h".into()));
    }
}
