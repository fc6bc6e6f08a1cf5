//! The full-screen interface. Its state and decisions live in [`app`], split into
//! parts that hold their own state and draw themselves ([`sidebar`], [`pane`],
//! [`input`], [`popup`], [`notice`]); [`render`] lays them out. The state returns
//! effects ([`effect`]), which [`exec`] runs: the local history on its owner thread,
//! the server through the session. Here, one `tokio::select!` feeds the state the
//! terminal's events, the session's updates, finished effects and a one-second
//! tick, and draws the screen when something changed.

pub mod app;
mod calls;
pub mod commands;
pub mod effect;
mod exec;
pub mod input;
pub mod keys;
pub mod login;
pub mod look;
pub mod notice;
pub mod pane;
pub mod popup;
pub mod queue;
pub mod render;
pub mod requests;
pub mod sidebar;
pub mod text;

use std::io::{self, Stdout};
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event as TermEvent,
    EventStream,
};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use crate::config::{Profile, SavedSession};
use crate::history::HistoryError;
use crate::local_history::LocalHistory;
use crate::session::{self, SessionConfig, Update};
use crate::tls::Endpoint;
use app::{App, Exit};
use calls::CallCtx;
use effect::{Done, Effect};
use exec::Executor;
use keys::Keymap;
use look::Look;
use notice::Notice;

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

/// Runs the full-screen interface until the user quits.
pub async fn run(profile: &Profile, server: Endpoint, saved: SavedSession) -> Result<(), TuiError> {
    setup_logging(profile);
    let history = LocalHistory::open(profile.history_file(&saved.username)).await?;
    let config = SessionConfig {
        server: server.clone(),
        username: saved.username.clone(),
        token: saved.token.clone(),
        request_timeout: Duration::from_secs(30),
        renewed_token: Some(profile.saved_token(&saved.username)),
    };
    tracing::info!(server = %server, user = %saved.username, "starting the TUI");
    let (handle, updates) = session::spawn(config, history.clone());
    // Times are shown in the machine's time zone (its offset now; a change of
    // daylight saving time during a session shifts them by an hour until restart).
    let look = Look {
        no_color: no_color(),
        utc_offset_secs: i64::from(chrono::Local::now().offset().local_minus_utc()),
    };
    let mut app = App::new(saved.username.clone(), server.to_string(), look);
    match profile.load_config() {
        Ok(config) => {
            app.bell_enabled = config.bell.unwrap_or(true);
            app.mention_badges = config.mention_badges.unwrap_or(true);
            match Keymap::from_config(&config.keys) {
                Ok(keymap) => app.keymap = keymap,
                Err(e) => app.set_notice(Notice::Outcome(format!("config: {e}; default keys"))),
            }
        }
        Err(e) => app.set_notice(Notice::Outcome(format!("config ignored: {e}"))),
    }
    let (done_tx, done) = mpsc::channel(exec::DONE_QUEUE);
    let ctx = CallCtx { profile: profile.clone(), saved: saved.clone(), history };
    let executor = Executor { handle: handle.clone(), ctx, done: done_tx };

    let (guard, mut terminal) = setup_terminal()?;
    let result = event_loop(&mut terminal, &executor, updates, done, &mut app).await;
    handle.stop();
    drop(guard);
    tracing::info!(?result, "TUI stopped");
    result
}

async fn event_loop(
    terminal: &mut Term,
    executor: &Executor,
    mut updates: mpsc::Receiver<Update>,
    mut done: mpsc::Receiver<Done>,
    app: &mut App,
) -> Result<(), TuiError> {
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut session_alive = true;
    let run = |effects: Vec<Effect>| effects.into_iter().for_each(|e| executor.run(e));
    run(app.start());
    loop {
        if app.dirty {
            let frame = terminal.draw(|f| render::render(app, f))?;
            let area = frame.area;
            app.dirty = false;
            run(app.after_draw(render::max_scroll(app, area)));
        }
        match app.exit {
            Some(Exit::Quit) => return Ok(()),
            Some(Exit::LoggedOut) => return Err(TuiError::LoggedOut),
            None => {}
        }
        let effects = tokio::select! {
            event = events.next() => match event {
                Some(Ok(TermEvent::Resize(..))) => {
                    app.dirty = true;
                    Vec::new()
                }
                Some(Ok(event)) => app.on_terminal(event),
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            update = updates.recv(), if session_alive => match update {
                Some(update) => app.on_update(update),
                None => {
                    session_alive = false;
                    Vec::new()
                }
            },
            Some(finished) = done.recv() => app.on_done(finished),
            _ = tick.tick() => app.on_tick(),
        };
        run(effects);
    }
}
