//! send, history, tail, conversations.

use std::io::Read;
use std::time::Duration;

use chat_proto::model::Target;
use chat_proto::request::{History as HistoryOp, Read as ReadOp, Recall, Send};
use chat_tui::display::{escape_line, json_line};
use chat_tui::local_history::LocalHistory;
use chat_tui::session::{self, SessionConfig, Status, Update};
use serde_json::json;

use super::output::{message, target};
use super::{Context, EXIT_LOCAL, EXIT_NOT_LOGGED_IN, EXIT_USAGE, Failure};

/// A friend's name or a group id.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct With {
    /// A friend's username.
    #[arg(long = "with", alias = "to")]
    pub user: Option<String>,
    /// A group id.
    #[arg(long)]
    pub group: Option<u64>,
}

impl With {
    fn target(&self) -> Result<Target, Failure> {
        match (&self.user, self.group) {
            (Some(u), None) => Ok(Target::User(u.clone())),
            (None, Some(g)) => Ok(Target::Group(g)),
            _ => Err(Failure::new(EXIT_USAGE, "give exactly one of --to/--with USER or --group ID")),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub with: With,
    /// The text; `-` or nothing reads it from standard input.
    pub text: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub with: With,
    /// How many of the newest messages.
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// Read the local history only, without asking the server.
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub with: With,
    /// The last seq read (default: the conversation's last).
    #[arg(long)]
    pub seq: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Read the local history only, without asking the server.
    #[arg(long)]
    pub local: bool,
}

pub async fn send(ctx: &Context, a: SendArgs) -> Result<(), Failure> {
    let to = a.with.target()?;
    let body = match a.text.as_deref() {
        Some("-") | None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::new(EXIT_LOCAL, format!("cannot read the message: {e}")))?;
            text.strip_suffix('\n').map(str::to_owned).unwrap_or(text)
        }
        Some(text) => text.to_owned(),
    };
    let (client, _) = ctx.logged_in().await?;
    let reply = client
        .call(Send {
            to: to.clone(),
            body,
            client_msg_id: Some(chat_tui::ids::client_msg_id()),
            file_id: None,
        })
        .await?;
    ctx.out.print(&reply, || format!("sent to {} (seq {}, msg {})", target(&to), reply.seq, reply.msg_id));
    Ok(())
}

pub async fn history(ctx: &Context, a: HistoryArgs) -> Result<(), Failure> {
    let with = a.with.target()?;
    if a.local {
        let saved = ctx.saved()?;
        let local = LocalHistory::open(ctx.profile.history_file(&saved.username)).await?;
        let limit = usize::try_from(a.limit).unwrap_or(usize::MAX);
        let mut messages = local.call(move |h| h.messages_before(&with, None, limit)).await?;
        messages.reverse();
        ctx.out.list(&messages, "no messages yet", message);
        return Ok(());
    }
    let (client, saved) = ctx.logged_in().await?;
    let page = client.call(HistoryOp { with: with.clone(), before: None, limit: Some(a.limit) }).await?;
    let mut messages = page.messages;
    messages.reverse();
    // Kept locally too, so the conversation can be shown without the server.
    let local = LocalHistory::open(ctx.profile.history_file(&saved.username)).await?;
    let page = messages.clone();
    local.call(move |h| h.store_page(&with, &page)).await?;
    ctx.out.list(&messages, "no messages yet", message);
    Ok(())
}

pub async fn read(ctx: &Context, a: ReadArgs) -> Result<(), Failure> {
    let with = a.with.target()?;
    let (client, _) = ctx.logged_in().await?;
    // Without a seq, everything so far: the server caps the marker at the last entry.
    let seq = a.seq.unwrap_or(chat_proto::MAX_ID);
    client.call(ReadOp { with: with.clone(), seq }).await?;
    ctx.out.print(&json!({"read": target(&with)}), || format!("marked {} read", target(&with)));
    Ok(())
}

pub async fn recall(ctx: &Context, msg_id: u64) -> Result<(), Failure> {
    let (client, _) = ctx.logged_in().await?;
    let reply = client.call(Recall { msg_id }).await?;
    ctx.out.print(&reply, || format!("recalled message {msg_id} (seq {})", reply.seq));
    Ok(())
}

pub async fn list(ctx: &Context, a: ListArgs) -> Result<(), Failure> {
    if a.local {
        let saved = ctx.saved()?;
        let local = LocalHistory::open(ctx.profile.history_file(&saved.username)).await?;
        for c in local.call(|h| h.conversations()).await? {
            let value = json!({"with": c.with, "last_seq": c.last_seq, "stored_seq": c.highest_seq,
                               "read_seq": c.read_seq, "unread": c.unread, "activity": c.activity,
                               "last_message": c.last_message, "gone": c.gone});
            ctx.out.print(&value, || {
                let last = c.last_message.as_ref().map(message).unwrap_or_default();
                // Kept for reading, but left, kicked from, dissolved or unfriended.
                let gone = if c.gone { " (closed)" } else { "" };
                format!("{}{gone}\tunread {}\t{}", target(&c.with), c.unread, last)
            });
        }
        return Ok(());
    }
    let (client, _) = ctx.logged_in().await?;
    ctx.out.list(&chat_tui::pages::conversations(&client).await?, "no conversations yet", |c| {
        let last = c.last_message.as_ref().map(message).unwrap_or_default();
        format!("{}\tunread {}\t{}", target(&c.with), c.unread, last)
    });
    Ok(())
}

pub async fn tail(ctx: &Context) -> Result<(), Failure> {
    let saved = ctx.saved()?;
    let server = ctx.saved_endpoint(&saved)?;
    let history = LocalHistory::open(ctx.profile.history_file(&saved.username)).await?;
    let config = SessionConfig {
        server,
        username: saved.username.clone(),
        token: saved.token.clone(),
        request_timeout: Duration::from_secs(30),
        renewed_token: Some(ctx.profile.saved_token(&saved.username)),
    };
    let (handle, mut updates) = session::spawn(config, history);
    let mut seen = Printed::default();
    let mut been_online = false;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let update = tokio::select! {
            _ = &mut interrupted => break,
            update = updates.recv() => match update {
                Some(update) => update,
                None => break,
            },
        };
        match update {
            Update::Event(event) => {
                if let chat_proto::Event::Message(m) = &event
                    && !seen.fresh(&m.message, &saved.username)
                {
                    continue; // caught up already, and printed then
                }
                print_event(ctx, &event, &saved.username);
            }
            Update::Status(Status::LoggedOut) => {
                handle.stop();
                return Err(Failure::new(
                    EXIT_NOT_LOGGED_IN,
                    "the saved session was revoked: run `chat-tui login` again",
                ));
            }
            Update::Status(status) => {
                been_online |= status == Status::Online;
                eprintln!("{}", escape_line(&status_line(&status)));
            }
            Update::CaughtUp { with, after, new } => {
                let line = json!({"caught_up": target(&with), "new": new});
                if ctx.out.json {
                    eprintln!("{}", json_line(&line).unwrap_or_default());
                } else if new > 0 {
                    eprintln!("caught up {} new message(s) with {}", new, target(&with));
                }
                // What came while this was reconnecting is printed as if it had come
                // live: a bot reading this stream misses nothing. (The first catch-up
                // is the backlog from before `tail` started: not news.)
                if !been_online {
                    continue;
                }
                let caught = handle.history().call(move |h| h.messages_after(&with, after, new)).await?;
                for message in caught.into_iter().filter(|m| seen.fresh(m, &saved.username)) {
                    let event = chat_proto::Event::Message(chat_proto::event::Message { message });
                    print_event(ctx, &event, &saved.username);
                }
            }
        }
    }
    handle.stop();
    Ok(())
}

/// The highest seq `tail` printed of each conversation: a message caught up after a
/// reconnect may also come live, and is printed once.
#[derive(Debug, Default)]
struct Printed(std::collections::HashMap<chat_proto::model::Target, u64>);

impl Printed {
    /// Whether `m` is newer than all printed of its conversation (and marks it so).
    fn fresh(&mut self, m: &chat_proto::model::Message, me: &str) -> bool {
        let last = self.0.entry(chat_tui::history::conversation_of(m, me)).or_insert(0);
        let fresh = m.seq > *last;
        *last = (*last).max(m.seq);
        fresh
    }
}

/// One event as `tail` prints it: a message as a line of its conversation, any other
/// event by name; with --json, the event itself.
fn print_event(ctx: &Context, event: &chat_proto::Event, me: &str) {
    ctx.out.print(event, || match event {
        chat_proto::Event::Message(m) => format!("{}\t{}", target_of(&m.message, me), message(&m.message)),
        other => format!("{} {}", other.name(), json_line(other).unwrap_or_default()),
    });
}

fn target_of(m: &chat_proto::model::Message, me: &str) -> String {
    target(&chat_tui::history::conversation_of(m, me))
}

fn status_line(s: &Status) -> String {
    match s {
        Status::Connecting { attempt: 0 } => "connecting...".into(),
        Status::Connecting { attempt } => format!("reconnecting (attempt {})...", attempt + 1),
        Status::Online => "online".into(),
        Status::Offline { retry_in, reason } => {
            format!("offline ({reason}); retrying in {:.1} s", retry_in.as_secs_f64())
        }
        Status::LoggedOut => "logged out".into(),
    }
}
