//! The first-run screen: log in (or register, then log in) when no session is
//! saved. The form is pure state + render; [`run`] drives it on the terminal.

use std::time::Duration;

use chat_proto::request::{Login, Register};
use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::TuiError;
use crate::client::{Client, ClientError, DEFAULT_TIMEOUT};
use crate::config::{Profile, SavedSession};
use crate::tls::{Endpoint, TlsOptions};

/// How long connecting may take before the screen says so.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Server,
    Username,
    Password,
}

/// What a key asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginAction {
    None,
    /// Log in (or register) with the form's values.
    Submit,
    Quit,
}

/// The login form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginForm {
    pub server: String,
    pub username: String,
    pub password: String,
    pub field: Field,
    /// Register a new account (then log in) instead of logging in.
    pub register: bool,
    pub error: Option<String>,
    /// A login is under way.
    pub busy: bool,
    pub no_color: bool,
}

impl LoginForm {
    /// The focus starts on the first empty field.
    pub fn new(server: impl Into<String>, username: impl Into<String>) -> Self {
        let server = server.into();
        let username = username.into();
        let field = if server.is_empty() {
            Field::Server
        } else if username.is_empty() {
            Field::Username
        } else {
            Field::Password
        };
        Self {
            server,
            username,
            password: String::new(),
            field,
            register: false,
            error: None,
            busy: false,
            no_color: false,
        }
    }

    fn value_mut(&mut self) -> &mut String {
        match self.field {
            Field::Server => &mut self.server,
            Field::Username => &mut self.username,
            Field::Password => &mut self.password,
        }
    }

    fn next_field(&mut self, back: bool) {
        self.field = match (self.field, back) {
            (Field::Server, false) | (Field::Password, true) => Field::Username,
            (Field::Username, false) | (Field::Server, true) => Field::Password,
            (Field::Password, false) | (Field::Username, true) => Field::Server,
        };
    }

    pub fn key(&mut self, key: KeyEvent) -> LoginAction {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return LoginAction::Quit,
            KeyCode::Char('c') if ctrl => return LoginAction::Quit,
            _ if self.busy => {}
            KeyCode::Char('r') if ctrl => {
                self.register = !self.register;
                self.error = None;
            }
            KeyCode::Tab | KeyCode::Down => self.next_field(false),
            KeyCode::BackTab | KeyCode::Up => self.next_field(true),
            KeyCode::Enter => {
                let missing = [
                    (self.server.trim().is_empty(), Field::Server, "the server"),
                    (self.username.trim().is_empty(), Field::Username, "a username"),
                    (self.password.is_empty(), Field::Password, "the password"),
                ]
                .into_iter()
                .find(|(empty, ..)| *empty);
                if let Some((_, field, what)) = missing {
                    self.field = field;
                    self.error = Some(format!("enter {what}"));
                    return LoginAction::None;
                }
                self.error = None;
                self.busy = true;
                return LoginAction::Submit;
            }
            KeyCode::Backspace => {
                self.value_mut().pop();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => self.value_mut().push(c),
            _ => {}
        }
        LoginAction::None
    }

    /// A paste goes into the focused field, on one line.
    pub fn paste(&mut self, text: &str) {
        if !self.busy {
            self.value_mut().extend(text.chars().filter(|c| !c.is_control()));
        }
    }

    /// The attempt ended in `error`.
    pub fn failed(&mut self, error: String) {
        self.busy = false;
        self.password.clear();
        self.field = Field::Password;
        self.error = Some(error);
    }
}

/// `invalid_credentials: wrong username or password` for a refusal; the error's own
/// text otherwise.
pub fn describe_error(e: &ClientError) -> String {
    match e {
        ClientError::Server { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

pub fn render(form: &LoginForm, frame: &mut Frame) {
    let area = frame.area();
    let dim = if form.no_color { Style::new() } else { Style::new().fg(Color::DarkGray) };
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let width = area.width.saturating_sub(4).min(64);
    let height = 13.min(area.height);
    let rect =
        Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    let title = if form.register { " chat-tui: register " } else { " chat-tui: log in " };
    let block = Block::new().borders(Borders::ALL).title(title);
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);

    let masked = "*".repeat(form.password.chars().count());
    let fields = [
        (Field::Server, "Server", form.server.as_str()),
        (Field::Username, "Username", form.username.as_str()),
        (Field::Password, "Password", masked.as_str()),
    ];
    let mut lines = vec![Line::styled(
        if form.register { "Create an account, then log in." } else { "Log in to your account." },
        dim,
    )];
    lines.push(Line::raw(""));
    let label_width = 11;
    let mut cursor = None;
    for (field, label, value) in fields {
        let focused = field == form.field;
        let marker = if focused { "> " } else { "  " };
        let style = if focused { bold } else { Style::new() };
        if focused {
            let row = u16::try_from(lines.len()).unwrap_or(0);
            let col = u16::try_from(label_width + 2 + value.width()).unwrap_or(0);
            cursor = Some((row, col));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{marker}{label:<9}"), style),
            Span::raw(value.to_owned()),
        ]));
    }
    lines.push(Line::raw(""));
    let action = if form.register { "register" } else { "log in" };
    let other = if form.register { "log in instead" } else { "register instead" };
    lines.push(Line::styled(format!("Enter: {action}   Tab: next field   Ctrl+R: {other}"), dim));
    lines.push(Line::styled("Esc: quit", dim));
    lines.push(Line::raw(""));
    if form.busy {
        lines.push(Line::styled(if form.register { "registering…" } else { "logging in…" }, dim));
    } else if let Some(error) = &form.error {
        let red = if form.no_color { bold } else { Style::new().fg(Color::Red) };
        lines.push(Line::styled(crate::display::escape_line(error).into_owned(), red));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    if let Some((row, col)) = cursor
        && !form.busy
        && row < inner.height
    {
        frame.set_cursor_position(Position::new(
            inner.x + col.min(inner.width.saturating_sub(1)),
            inner.y + row,
        ));
    }
}

/// Connects, registers if asked, logs in.
async fn attempt(
    server: String,
    tls: TlsOptions,
    username: String,
    password: String,
    register: bool,
) -> Result<SavedSession, String> {
    let endpoint = Endpoint::new(server.as_str(), &tls).map_err(|e| e.to_string())?;
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, Client::open(&endpoint, DEFAULT_TIMEOUT))
        .await
        .map_err(|_| format!("cannot reach the server at {server}: timed out"))?
        .map_err(|e| format!("cannot reach the server at {server}: {e}"))?;
    let client = connected.client;
    if register {
        client
            .call(Register { username: username.clone(), password: password.clone() })
            .await
            .map_err(|e| describe_error(&e))?;
    }
    let device = Some("chat-tui".to_owned());
    let me = client.call(Login { username, password, device }).await.map_err(|e| describe_error(&e))?;
    client.close();
    Ok(SavedSession { server, username: me.username, user_id: me.user_id, token: me.token, tls })
}

/// Saves the session as `chat-tui login` does, and remembers server and username.
fn remember(profile: &Profile, saved: &SavedSession) -> Result<(), String> {
    profile.save_session(saved).map_err(|e| e.to_string())?;
    let mut config = profile.load_config().unwrap_or_default();
    config.last_server = Some(saved.server.clone());
    config.last_username = Some(saved.username.clone());
    if let Err(e) = profile.save_config(&config) {
        tracing::warn!(error = %e, "server and username not remembered");
    }
    Ok(())
}

/// Shows the login screen until a session is saved (`Some`) or the user quits
/// (`None`).
pub async fn run(
    profile: &Profile,
    server: String,
    tls: TlsOptions,
    username: String,
) -> Result<Option<SavedSession>, TuiError> {
    super::setup_logging(profile);
    let mut form = LoginForm::new(server, username);
    form.no_color = super::no_color();
    let (guard, mut terminal) = super::setup_terminal()?;
    let mut events = EventStream::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Result<SavedSession, String>>(4);
    let result = loop {
        terminal.draw(|f| render(&form, f))?;
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => match form.key(key) {
                    LoginAction::Quit => break Ok(None),
                    LoginAction::Submit => {
                        let (server, username, password, register) = (
                            form.server.trim().to_owned(),
                            form.username.trim().to_owned(),
                            form.password.clone(),
                            form.register,
                        );
                        let (done, tls) = (done_tx.clone(), tls.clone());
                        tokio::spawn(async move {
                            let _ = done.send(attempt(server, tls, username, password, register).await).await;
                        });
                    }
                    LoginAction::None => {}
                },
                Some(Ok(TermEvent::Paste(text))) => form.paste(&text),
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(None),
            },
            done = done_rx.recv() => match done {
                Some(Ok(saved)) => match remember(profile, &saved) {
                    Ok(()) => break Ok(Some(saved)),
                    Err(e) => form.failed(e),
                },
                Some(Err(e)) => form.failed(e),
                None => {}
            },
        }
    };
    drop(guard);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn press(form: &mut LoginForm, code: KeyCode) -> LoginAction {
        form.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn type_str(form: &mut LoginForm, text: &str) {
        for c in text.chars() {
            press(form, KeyCode::Char(c));
        }
    }

    #[test]
    fn fields_toggle_and_submit() {
        let mut form = LoginForm::new("127.0.0.1:7878", "");
        assert_eq!(form.field, Field::Username);
        type_str(&mut form, "alice");
        assert_eq!(press(&mut form, KeyCode::Enter), LoginAction::None);
        assert_eq!((form.field, form.error.as_deref()), (Field::Password, Some("enter the password")));
        type_str(&mut form, "pw");
        press(&mut form, KeyCode::Tab);
        assert_eq!(form.field, Field::Server);
        form.key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
        assert!(form.register);
        assert_eq!(press(&mut form, KeyCode::Enter), LoginAction::Submit);
        assert!(form.busy);
        // Typing is ignored while busy; Esc still quits.
        type_str(&mut form, "x");
        assert_eq!(form.server, "127.0.0.1:7878");
        form.failed("invalid_credentials: wrong username or password".into());
        assert!(!form.busy && form.password.is_empty());
        assert_eq!(press(&mut form, KeyCode::Esc), LoginAction::Quit);
    }

    #[test]
    fn snapshot_login_80x24() {
        let mut form = LoginForm::new("127.0.0.1:7878", "alice");
        type_str(&mut form, "secret");
        form.error = Some("invalid_credentials: wrong username or password".into());
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        terminal.draw(|f| render(&form, f)).expect("draw");
        insta::assert_snapshot!(terminal.backend());
    }
}
