//! The full-screen interface: state ([`state`]) + events + pure render ([`render`]).
//! One `tokio::select!` over the terminal's events, the session's updates and a
//! one-second tick; the screen is drawn only when something changed.

pub mod commands;
pub mod keys;
pub mod login;
mod ops;
pub mod queue;
pub mod render;
pub mod state;

use std::future::Future;
use std::io::{self, Stdout, Write};
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

use crate::client::{Client, ClientError};
use crate::config::{Profile, SavedSession};
use crate::history::{History, HistoryError};
use crate::session::{self, SessionConfig, SessionHandle, Update};
use crate::tls::Endpoint;
use chat_proto::model::Role;
use chat_proto::request as op;
use keys::{Action, Keymap};
use queue::SendJob;
use state::{App, Completion, ConversationEntry, Effect, OpResult, PendingRequest, Popup};

/// Search results shown.
const SEARCH_LIMIT: usize = 100;
/// Messages loaded when a conversation is opened.
const LOAD_MESSAGES: usize = 500;
/// Older messages loaded from the local history at a time.
const OLDER_PAGE: usize = 100;
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
        let _ = crate::private::create_dir(dir);
    }
    let Ok(file) = crate::private::file_options().create(true).append(true).open(&path) else { return };
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

/// The result of a send, back from its task.
#[derive(Debug)]
enum Sent {
    Ok {
        client_msg_id: String,
        message: Message,
    },
    /// The connection failed: it stays queued and is sent again with the same id.
    Interrupted {
        client_msg_id: String,
        error: String,
    },
    /// The server refused it.
    Refused {
        client_msg_id: String,
        error: String,
    },
}

/// What the key handlers need to start work.
pub(crate) struct Ctx<'a> {
    profile: &'a Profile,
    handle: &'a SessionHandle,
    saved: &'a SavedSession,
    sent: mpsc::UnboundedSender<Sent>,
    ops: mpsc::UnboundedSender<OpResult>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs the full-screen interface until the user quits.
pub async fn run(profile: &Profile, server: Endpoint, saved: SavedSession) -> Result<(), TuiError> {
    setup_logging(profile);
    let history = History::open(profile.history_file(&saved.username))?;
    let config = SessionConfig {
        server: server.clone(),
        username: saved.username.clone(),
        token: saved.token.clone(),
        request_timeout: Duration::from_secs(30),
        renewed_token: Some(profile.saved_token(&saved.username)),
    };
    tracing::info!(server = %server, user = %saved.username, "starting the TUI");
    let (handle, updates) = session::spawn(config, history);
    let mut app = App::new(saved.username.clone(), server.to_string(), no_color());
    // Times are shown in the machine's time zone (its offset now; a change of
    // daylight saving time during a session shifts them by an hour until restart).
    app.utc_offset_secs = i64::from(chrono::Local::now().offset().local_minus_utc());
    match profile.load_config() {
        Ok(config) => {
            app.bell_enabled = config.bell.unwrap_or(true);
            app.mention_badges = config.mention_badges.unwrap_or(true);
            match Keymap::from_config(&config.keys) {
                Ok(keymap) => app.keymap = keymap,
                Err(e) => app.set_notice(format!("config: {e}; default keys")),
            }
        }
        Err(e) => app.set_notice(format!("config ignored: {e}")),
    }
    reload_conversations(&handle, &mut app);
    reload_messages(&handle, &mut app);

    let (guard, mut terminal) = setup_terminal()?;
    let result = event_loop(&mut terminal, profile, &handle, updates, &mut app, &saved).await;
    handle.stop();
    drop(guard);
    tracing::info!(?result, "TUI stopped");
    result
}

async fn event_loop(
    terminal: &mut Term,
    profile: &Profile,
    handle: &SessionHandle,
    mut updates: mpsc::Receiver<Update>,
    app: &mut App,
    saved: &SavedSession,
) -> Result<(), TuiError> {
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<Sent>();
    let (ops_tx, mut ops_rx) = mpsc::unbounded_channel::<OpResult>();
    let ctx = Ctx { profile, handle, saved, sent: sent_tx, ops: ops_tx };
    let mut session_alive = true;
    loop {
        if app.bell {
            app.bell = false;
            let mut out = io::stdout();
            let _ = out.write_all(b"\x07").and_then(|()| out.flush());
        }
        if app.dirty {
            let frame = terminal.draw(|f| render::render(app, f))?;
            let area = frame.area;
            app.dirty = false;
            // Scrolled past the oldest loaded message: load older ones, and keep the
            // scroll within the lines there are.
            let max = render::max_scroll(app, area);
            if usize::from(app.scroll) > max {
                load_older(app, &ctx);
                app.clamp_scroll(max);
            }
        }
        if app.quit {
            return Ok(());
        }
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => on_terminal_event(app, event, &ctx),
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
                    let effect = app.apply(update);
                    if run_effect(app, &ctx, effect) {
                        return Err(TuiError::LoggedOut);
                    }
                }
                None => session_alive = false,
            },
            sent = sent_rx.recv() => match sent {
                Some(Sent::Ok { client_msg_id, message }) => {
                    let history = handle.history();
                    let stored = history.lock().unwrap_or_else(|p| p.into_inner()).apply_live(&message, &saved.username);
                    if let Err(e) = stored {
                        tracing::error!(error = %e, "sent message not stored");
                    }
                    app.outbox.sent(&client_msg_id);
                    if app.outbox.waiting() == 0
                        && app.notice.as_deref().is_some_and(|n| n.starts_with("offline: queued") || n.starts_with("queued:"))
                    {
                        app.notice = None;
                    }
                    app.apply(Update::Event(chat_proto::Event::Message(chat_proto::event::Message { message })));
                }
                Some(Sent::Interrupted { client_msg_id, error }) => {
                    tracing::warn!(%error, "send interrupted; queued");
                    app.outbox.interrupted(&client_msg_id);
                    app.set_notice(format!("queued: {error}"));
                }
                Some(Sent::Refused { client_msg_id, error }) => {
                    tracing::warn!(%error, "send refused");
                    app.outbox.refused(&client_msg_id, error.clone());
                    app.set_notice(format!("not sent: {error}"));
                }
                None => {}
            },
            result = ops_rx.recv() => if let Some(result) = result {
                let effect = app.apply_op(result);
                run_effect(app, &ctx, effect);
            },
            _ = tick.tick() => {
                // Retries sends whose connection failed while the session stayed up.
                if app.outbox.waiting() > 0 {
                    flush_outbox(app, &ctx);
                }
            }
        }
    }
}

/// Runs what an update asked for; true when the session was logged out.
fn run_effect(app: &mut App, ctx: &Ctx, effect: Effect) -> bool {
    match effect {
        Effect::None => {}
        Effect::ReloadMessages => reload_messages(ctx.handle, app),
        Effect::ReloadConversations => {
            reload_conversations(ctx.handle, app);
            reload_messages(ctx.handle, app);
            refresh_social(ctx);
            flush_outbox(app, ctx);
        }
        Effect::RefreshSocial => refresh_social(ctx),
        Effect::LoggedOut => return true,
    }
    false
}

/// Runs `call` with the connected client in the background; its result (or error)
/// comes back to the loop. Offline: a notice instead.
pub(crate) fn spawn_op<F, Fut>(app: &mut App, ctx: &Ctx, call: F)
where
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<OpResult, ClientError>> + Send + 'static,
{
    let Some(client) = ctx.handle.client_now() else {
        app.set_notice("offline: that needs the server, try again once online");
        return;
    };
    let ops = ctx.ops.clone();
    tokio::spawn(async move {
        let result = call(client).await.unwrap_or_else(|e| OpResult::Failed(e.to_string()));
        let _ = ops.send(result);
    });
}

/// Fetches friends (presence), groups (names), and the requests waiting for us.
fn refresh_social(ctx: &Ctx) {
    let Some(client) = ctx.handle.client_now() else { return };
    let ops = ctx.ops.clone();
    tokio::spawn(async move {
        let result: Result<(), ClientError> = async {
            let _ = ops.send(OpResult::Friends(client.call(op::FriendList {}).await?.friends));
            let incoming = crate::pages::friend_requests(&client).await?.incoming;
            let _ = ops.send(OpResult::FriendRequests(incoming));
            let groups = client.call(op::GroupList {}).await?.groups;
            let managed: Vec<u64> = groups
                .iter()
                .filter(|g| matches!(g.role, Role::Owner | Role::Admin))
                .map(|g| g.group_id)
                .collect();
            let _ = ops.send(OpResult::Groups(groups));
            for group_id in managed {
                let requests = crate::pages::group_requests(&client, group_id).await?;
                let _ = ops.send(OpResult::GroupRequests { group_id, requests, show: false });
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "friends and groups not fetched");
        }
    });
}

/// Starts sending every pending message of the outbox, when online.
fn flush_outbox(app: &mut App, ctx: &Ctx) {
    let Some(client) = ctx.handle.client_now() else { return };
    for job in app.outbox.take_pending() {
        send(&client, job, ctx);
    }
    app.dirty = true;
}

fn reload_conversations(handle: &SessionHandle, app: &mut App) {
    let history = handle.history();
    let list = history.lock().unwrap_or_else(|p| p.into_inner()).conversations();
    match list {
        // A conversation the server no longer lists stays out of the sidebar, also
        // after a restart; its messages stay in the local history.
        Ok(list) => {
            app.set_conversations(list.iter().filter(|c| !c.gone).map(ConversationEntry::from).collect())
        }
        Err(e) => app.set_notice(format!("history unreadable: {e}")),
    }
}

/// Loads the open conversation from the history and marks it read.
fn reload_messages(handle: &SessionHandle, app: &mut App) {
    let Some(with) = app.selected.clone() else { return };
    let history = handle.history();
    let mut h = history.lock().unwrap_or_else(|p| p.into_inner());
    // Older messages already loaded stay loaded (the view keeps its place).
    let loaded = match app.messages.first() {
        Some(first) => h.messages_after(&with, first.seq.saturating_sub(1), usize::from(u16::MAX)),
        None => h.messages_before(&with, None, LOAD_MESSAGES).map(|mut m| {
            m.reverse();
            m
        }),
    };
    match loaded {
        Ok(messages) => {
            let highest = messages.last().map(|m| m.seq);
            app.set_messages(messages);
            if let Some(seq) = highest {
                mark_read(handle, &mut h, with, seq);
            }
        }
        Err(e) => app.set_notice(format!("history unreadable: {e}")),
    }
}

/// Messages older than the oldest shown: from the local history, else from the
/// server (stored locally, then shown).
fn load_older(app: &mut App, ctx: &Ctx) {
    let Some((with, oldest)) = app.older_wanted() else { return };
    let history = ctx.handle.history();
    let local =
        history.lock().unwrap_or_else(|p| p.into_inner()).messages_before(&with, Some(oldest), OLDER_PAGE);
    match local {
        Ok(mut older) if !older.is_empty() => {
            older.reverse();
            app.prepend_older(&with, older);
        }
        Ok(_) => {
            app.loading_older = true;
            let Some(client) = ctx.handle.client_now() else {
                app.loading_older = false;
                app.set_notice("offline: older messages load once online");
                return;
            };
            let ops = ctx.ops.clone();
            tokio::spawn(async move {
                let request = op::History { with: with.clone(), before: Some(oldest), limit: Some(100) };
                let result = match client.call(request).await {
                    Ok(reply) => {
                        let mut page = reply.messages;
                        page.reverse();
                        let stored =
                            history.lock().unwrap_or_else(|p| p.into_inner()).store_page(&with, &page);
                        if let Err(e) = stored {
                            tracing::warn!(error = %e, "older messages not stored");
                        }
                        OpResult::Older { with, messages: page }
                    }
                    Err(e) => OpResult::OlderFailed(format!("older messages not loaded: {e}")),
                };
                let _ = ops.send(result);
            });
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

/// Applies a terminal event.
fn on_terminal_event(app: &mut App, event: TermEvent, ctx: &Ctx) {
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
            if app.popup.is_some() {
                on_popup_key(app, key, ctx);
            } else {
                on_key(app, key, ctx);
            }
        }
        TermEvent::Paste(text) => match app.popup {
            Some(Popup::Search { .. }) => {
                for c in text.chars().filter(|c| !c.is_control()) {
                    app.search_edit(Some(c));
                }
                run_search(app, ctx);
            }
            Some(_) => {}
            None => app.paste(&text),
        },
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => app.scroll_up(WHEEL),
            MouseEventKind::ScrollDown => app.scroll_down(WHEEL),
            _ => {}
        },
        TermEvent::Resize(..) => app.dirty = true,
        _ => {}
    }
}

fn on_popup_key(app: &mut App, key: KeyEvent, ctx: &Ctx) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let search = matches!(app.popup, Some(Popup::Search { .. }));
    let requests = matches!(app.popup, Some(Popup::Requests { .. }));
    // A rebound quit key works here too, unless it is a plain character (typed).
    let plain_char =
        matches!(key.code, KeyCode::Char(_)) && !ctrl && !key.modifiers.contains(KeyModifiers::ALT);
    if !plain_char && app.keymap.action(&key) == Some(Action::Quit) {
        app.quit = true;
        return;
    }
    match key.code {
        KeyCode::Char('c') if ctrl => app.quit = true,
        KeyCode::Esc => app.close_popup(),
        KeyCode::Up => app.popup_move(-1),
        KeyCode::Down => app.popup_move(1),
        KeyCode::Char(c @ ('a' | 'r')) if requests && !ctrl => {
            if let Some(request) = app.selected_request().cloned() {
                answer_request(app, ctx, request, c == 'a');
            }
        }
        // Jumping closes the pop-up; with no result selected there is nothing to load.
        KeyCode::Enter if search && app.search_jump().is_some() => reload_messages(ctx.handle, app),
        KeyCode::Backspace if search => {
            app.search_edit(None);
            run_search(app, ctx);
        }
        KeyCode::Char(c) if search && !ctrl => {
            app.search_edit(Some(c));
            run_search(app, ctx);
        }
        KeyCode::Enter | KeyCode::Char('q') if !search && !requests => app.close_popup(),
        _ => {}
    }
}

fn on_key(app: &mut App, key: KeyEvent, ctx: &Ctx) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if let Some(action) = app.keymap.action(&key) {
        // Tab on an `@name` being typed only ever completes it: were it to fall back
        // to its binding (the next conversation) on no match, the draft would go
        // to someone else on Enter.
        if key.code == KeyCode::Tab && app.complete_mention() != Completion::NotAMention {
            return;
        }
        return on_action(app, action, ctx);
    }
    match key.code {
        KeyCode::Esc => {
            app.highlight = None;
            app.notice = None;
            if let Some(with) = app.selected.clone() {
                app.outbox.dismiss_failed(&with);
            }
            app.dirty = true;
        }
        // F1, not `?`: a message may start with a question mark.
        KeyCode::F(1) => app.open_popup(Popup::Help),
        KeyCode::Tab => {
            app.complete_mention();
        }
        KeyCode::Char(c) if !ctrl => app.type_char(c),
        KeyCode::Backspace => app.backspace(),
        KeyCode::Left => app.cursor_left(),
        KeyCode::Right => app.cursor_right(),
        KeyCode::Up => app.input_up(),
        KeyCode::Down => app.input_down(),
        _ => {}
    }
}

/// Runs a bound action.
fn on_action(app: &mut App, action: Action, ctx: &Ctx) {
    let handle = ctx.handle;
    match action {
        Action::Quit => app.quit = true,
        Action::NextConversation => {
            app.select_next();
            reload_messages(handle, app);
        }
        Action::PreviousConversation => {
            app.select_previous();
            reload_messages(handle, app);
        }
        Action::Requests => app.open_popup(Popup::Requests { selected: 0 }),
        Action::Search => {
            app.open_popup(Popup::Search { query: String::new(), results: Vec::new(), selected: 0 });
        }
        Action::Newline => app.insert_newline(),
        Action::ScrollUp => app.scroll_up(PAGE),
        Action::ScrollDown => app.scroll_down(PAGE),
        Action::Send => {
            let Some(text) = app.submit() else { return };
            match commands::parse(&text) {
                Ok(Some(command)) => ops::run_command(app, ctx, command),
                Ok(None) => submit_message(app, ctx, commands::unescape(&text)),
                Err(usage) => {
                    // Keep the typed command to fix it.
                    app.paste(&text);
                    app.set_notice(usage);
                }
            }
        }
    }
}

/// Searches the local history for the search pop-up's query.
pub(crate) fn run_search(app: &mut App, ctx: &Ctx) {
    let Some(query) = app.search_query().map(str::to_owned) else { return };
    let history = ctx.handle.history();
    let found = history.lock().unwrap_or_else(|p| p.into_inner()).search(&query, SEARCH_LIMIT);
    match found {
        Ok(found) => app.set_search_results(found),
        Err(e) => app.set_notice(format!("search failed: {e}")),
    }
}

fn answer_request(app: &mut App, ctx: &Ctx, request: PendingRequest, accept: bool) {
    let verb = if accept { "accepted" } else { "rejected" };
    spawn_op(app, ctx, move |c| async move {
        Ok(match request {
            PendingRequest::Friend { request_id, from, .. } => {
                c.call(op::FriendRespond { request_id, accept }).await?;
                OpResult::Answered {
                    request_id,
                    group: false,
                    notice: format!("{verb} {from}'s friend request"),
                }
            }
            PendingRequest::Group { group_id, request_id, user, .. } => {
                c.call(op::GroupRespond { request_id, accept }).await?;
                let notice = format!("{verb} {user}'s request to join #{group_id}");
                OpResult::Answered { request_id, group: true, notice }
            }
        })
    });
}

/// Queues a message for the open conversation and sends it when online.
fn submit_message(app: &mut App, ctx: &Ctx, text: String) {
    if let Err(e) = app.queue_message(crate::ids::client_msg_id(), text.clone(), now_ms()) {
        app.paste(&text);
        app.set_notice(e);
        return;
    }
    if ctx.handle.client_now().is_none() {
        app.set_notice("offline: queued, sent once online");
    } else {
        app.notice = None;
    }
    flush_outbox(app, ctx);
}

/// Sends one queued message in the background; the result comes back on `sent`.
fn send(client: &Client, job: SendJob, ctx: &Ctx) {
    let client = client.clone();
    let sent = ctx.sent.clone();
    let (from, from_id) = (ctx.saved.username.clone(), ctx.saved.user_id);
    tokio::spawn(async move {
        let SendJob { client_msg_id, to, body } = job;
        let request = op::Send {
            to: to.clone(),
            body: body.clone(),
            client_msg_id: Some(client_msg_id.clone()),
            file_id: None,
        };
        let result = match client.call(request).await {
            Ok(reply) => Sent::Ok {
                client_msg_id,
                message: Message {
                    msg_id: reply.msg_id,
                    seq: reply.seq,
                    from,
                    from_id,
                    to,
                    body,
                    ts: reply.ts,
                    kind: MessageKind::Text,
                    file: None,
                    recalls: None,
                    recalled: false,
                },
            },
            Err(e) if connection_error(&e) => Sent::Interrupted { client_msg_id, error: e.to_string() },
            Err(e) => Sent::Refused { client_msg_id, error: e.to_string() },
        };
        let _ = sent.send(result);
    });
}

/// A failure of the connection, not a refusal: the send may be repeated (with the
/// same `client_msg_id`, so the server keeps one copy).
fn connection_error(e: &ClientError) -> bool {
    matches!(e, ClientError::Disconnected | ClientError::Timeout { .. } | ClientError::Connect(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_failures_are_retried() {
        assert!(connection_error(&ClientError::Disconnected));
        assert!(connection_error(&ClientError::Timeout { op: "send", timeout: Duration::from_secs(1) }));
        assert!(connection_error(&ClientError::Connect(io::Error::other("refused"))));
        let refused = ClientError::Server {
            op: "send",
            error: serde_json::from_value(serde_json::json!({"code": "not_friend", "message": "no"}))
                .expect("error body"),
        };
        assert!(!connection_error(&refused));
    }
}
