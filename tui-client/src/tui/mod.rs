//! The full-screen interface: state ([`state`]) + events + pure render ([`render`]).
//! One `tokio::select!` over the terminal's events, the session's updates and a
//! one-second tick; the screen is drawn only when something changed.

pub mod render;
pub mod state;

use std::io::{self, Stdout};
use std::time::Duration;

use chat_proto::model::{Message, MessageKind, Target};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event as TermEvent,
    EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use crate::config::{Profile, SavedSession};
use crate::history::{History, HistoryError};
use crate::session::{self, SessionConfig, SessionHandle, Update};
use state::{App, ConversationEntry, Effect};

/// Messages loaded when a conversation is opened.
const LOAD_MESSAGES: usize = 500;
/// Lines moved by PageUp/PageDown and the mouse wheel.
const PAGE: u16 = 10;
const WHEEL: u16 = 3;

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] io::Error),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("the saved session expired or was revoked: run `chat-tui login` again")]
    LoggedOut,
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Puts the terminal back the way it was: on drop, and from the panic hook.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, whatever way `run` ends.
#[derive(Debug)]
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn setup_terminal() -> Result<(TerminalGuard, Term), TuiError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard;
    execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste, EnableMouseCapture)?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((guard, terminal))
}

/// Logs go to the profile's log file, never to the terminal being drawn on.
fn setup_logging(profile: &Profile) {
    let path = profile.log_file();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) else { return };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHAT_TUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// `NO_COLOR` set to anything non-empty turns colours off (<https://no-color.org>).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// A fresh id for one composed message, reused if the same send is retried.
fn client_msg_id() -> String {
    let mut raw = [0u8; 16];
    if getrandom::fill(&mut raw).is_err() {
        return format!("t{}", std::process::id());
    }
    hex::encode(raw)
}

/// The result of a send, back from its task.
#[derive(Debug)]
enum Sent {
    Ok(Message),
    Failed { to: Target, text: String, error: String },
}

/// Runs the full-screen interface until the user quits.
pub async fn run(profile: &Profile, server: String, saved: SavedSession) -> Result<(), TuiError> {
    setup_logging(profile);
    let history = History::open(profile.history_file(&saved.username))?;
    let config = SessionConfig {
        server: server.clone(),
        username: saved.username.clone(),
        token: saved.token.clone(),
        request_timeout: Duration::from_secs(30),
    };
    tracing::info!(server = %server, user = %saved.username, "starting the TUI");
    let (handle, updates) = session::spawn(config, history);
    let mut app = App::new(saved.username.clone(), server, no_color());
    reload_conversations(&handle, &mut app);
    reload_messages(&handle, &mut app);

    let (guard, mut terminal) = setup_terminal()?;
    let result = event_loop(&mut terminal, &handle, updates, &mut app, &saved).await;
    handle.stop();
    drop(guard);
    tracing::info!(?result, "TUI stopped");
    result
}

async fn event_loop(
    terminal: &mut Term,
    handle: &SessionHandle,
    mut updates: mpsc::Receiver<Update>,
    app: &mut App,
    saved: &SavedSession,
) -> Result<(), TuiError> {
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<Sent>();
    let mut session_alive = true;
    loop {
        if app.dirty {
            terminal.draw(|f| render::render(app, f))?;
            app.dirty = false;
        }
        if app.quit {
            return Ok(());
        }
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => {
                    if let Some(text) = on_terminal_event(app, event, handle) {
                        send(app, handle, text, saved, &sent_tx);
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            update = updates.recv(), if session_alive => match update {
                Some(update) => {
                    // A live message in the open conversation is read as it arrives.
                    let read = match &update {
                        Update::Event(chat_proto::Event::Message(m)) => {
                            let with = crate::history::conversation_of(&m.message, &saved.username);
                            app.is_open(&with).then_some((with, m.message.seq))
                        }
                        _ => None,
                    };
                    if let Some((with, seq)) = read {
                        let history = handle.history();
                        mark_read(handle, &mut history.lock().unwrap_or_else(|p| p.into_inner()), with, seq);
                    }
                    match app.apply(update) {
                    Effect::None => {}
                    Effect::ReloadMessages => reload_messages(handle, app),
                    Effect::ReloadConversations => {
                        reload_conversations(handle, app);
                        reload_messages(handle, app);
                    }
                    Effect::LoggedOut => return Err(TuiError::LoggedOut),
                    }
                }
                None => session_alive = false,
            },
            sent = sent_rx.recv() => match sent {
                Some(Sent::Ok(message)) => {
                    let history = handle.history();
                    let stored = history.lock().unwrap_or_else(|p| p.into_inner()).apply_live(&message, &saved.username);
                    if let Err(e) = stored {
                        tracing::error!(error = %e, "sent message not stored");
                    }
                    app.apply(Update::Event(chat_proto::Event::Message(chat_proto::event::Message { message })));
                }
                Some(Sent::Failed { to, text, error }) => {
                    tracing::warn!(%error, "send failed");
                    if app.is_open(&to) && app.input.is_empty() {
                        app.paste(&text);
                    }
                    app.set_notice(format!("not sent: {error}"));
                }
                None => {}
            },
            _ = tick.tick() => {}
        }
    }
}

fn reload_conversations(handle: &SessionHandle, app: &mut App) {
    let history = handle.history();
    let list = history.lock().unwrap_or_else(|p| p.into_inner()).conversations();
    match list {
        Ok(list) => app.set_conversations(list.iter().map(ConversationEntry::from).collect()),
        Err(e) => app.set_notice(format!("history unreadable: {e}")),
    }
}

/// Loads the open conversation from the history and marks it read.
fn reload_messages(handle: &SessionHandle, app: &mut App) {
    let Some(with) = app.selected.clone() else { return };
    let history = handle.history();
    let mut h = history.lock().unwrap_or_else(|p| p.into_inner());
    match h.messages_before(&with, None, LOAD_MESSAGES) {
        Ok(mut messages) => {
            messages.reverse();
            let highest = messages.last().map(|m| m.seq);
            app.set_messages(messages);
            if let Some(seq) = highest {
                mark_read(handle, &mut h, with, seq);
            }
        }
        Err(e) => app.set_notice(format!("history unreadable: {e}")),
    }
}

/// Raises the read marker locally and, when it rose and we are online, on the server.
fn mark_read(handle: &SessionHandle, history: &mut History, with: Target, seq: u64) {
    if matches!(history.mark_read(&with, seq), Ok(true))
        && let Some(client) = handle.client_now()
    {
        tokio::spawn(async move {
            if let Err(e) = client.call(chat_proto::request::Read { with, seq }).await {
                tracing::warn!(error = %e, "read marker not sent");
            }
        });
    }
}

/// Applies a terminal event; returns text to send.
fn on_terminal_event(app: &mut App, event: TermEvent, handle: &SessionHandle) -> Option<String> {
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => return on_key(app, key, handle),
        TermEvent::Paste(text) => app.paste(&text),
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => app.scroll_up(WHEEL),
            MouseEventKind::ScrollDown => app.scroll_down(WHEEL),
            _ => {}
        },
        TermEvent::Resize(..) => app.dirty = true,
        _ => {}
    }
    None
}

fn on_key(app: &mut App, key: KeyEvent, handle: &SessionHandle) -> Option<String> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Char('c') if ctrl => app.quit = true,
        KeyCode::Char('n') if ctrl => {
            app.select_next();
            reload_messages(handle, app);
        }
        KeyCode::Char('p') if ctrl => {
            app.select_previous();
            reload_messages(handle, app);
        }
        KeyCode::Tab => {
            app.select_next();
            reload_messages(handle, app);
        }
        KeyCode::BackTab => {
            app.select_previous();
            reload_messages(handle, app);
        }
        KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => app.insert_newline(),
        KeyCode::Enter => {
            let text = app.submit()?;
            if text.trim() == "/quit" {
                app.quit = true;
                return None;
            }
            return Some(text);
        }
        KeyCode::Char(c) if !ctrl => app.type_char(c),
        KeyCode::Backspace => app.backspace(),
        KeyCode::Left => app.cursor_left(),
        KeyCode::Right => app.cursor_right(),
        KeyCode::Up => app.scroll_up(1),
        KeyCode::Down => app.scroll_down(1),
        KeyCode::PageUp => app.scroll_up(PAGE),
        KeyCode::PageDown => app.scroll_down(PAGE),
        _ => {}
    }
    None
}

/// Sends `text` to the open conversation in the background; the result comes back
/// on `sent`.
fn send(
    app: &mut App,
    handle: &SessionHandle,
    text: String,
    saved: &SavedSession,
    sent: &mpsc::UnboundedSender<Sent>,
) {
    let Some(to) = app.selected.clone() else {
        app.paste(&text);
        app.set_notice("no conversation open");
        return;
    };
    let Some(client) = handle.client_now() else {
        // No offline queue yet: keep the text so nothing is lost.
        app.paste(&text);
        app.set_notice("offline: not sent (press Enter again once online)");
        return;
    };
    app.notice = None;
    let sent = sent.clone();
    let (from, from_id) = (saved.username.clone(), saved.user_id);
    tokio::spawn(async move {
        let request = chat_proto::request::Send {
            to: to.clone(),
            body: text.clone(),
            client_msg_id: Some(client_msg_id()),
            file_id: None,
        };
        let result = match client.call(request).await {
            Ok(reply) => Sent::Ok(Message {
                msg_id: reply.msg_id,
                seq: reply.seq,
                from,
                from_id,
                to,
                body: text,
                ts: reply.ts,
                kind: MessageKind::Text,
                file: None,
                recalls: None,
                recalled: false,
            }),
            Err(e) => Sent::Failed { to, text, error: e.to_string() },
        };
        let _ = sent.send(result);
    });
}
