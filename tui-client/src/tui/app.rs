//! The TUI's state and every decision it makes: its parts (the conversation list,
//! the message pane, the input box, pop-ups, the notice) and what keys, session
//! updates and finished effects do to them. No I/O here: each handler returns the
//! [`Effect`]s to run, and the event loop runs them through the executor.

use chat_proto::Event;
use chat_proto::model::{Message, MessageKind, Role, Target};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use super::commands::{self, Command};
use super::effect::{Call, Done, Effect};
use super::input::{Completion, Input, InputHistory};
use super::keys::{Action, Keymap};
use super::look::Look;
use super::notice::{Notice, OUTCOME_SECS};
use super::pane::MessagePane;
use super::popup::{PasswordForm, Popup, PopupKey, Secret};
use super::queue::Outbox;
use super::requests::{PendingRequest, Requests};
use super::sidebar::{Sidebar, preview};
use super::text::{mentions, same_target, same_user};
use crate::history::conversation_of;
use crate::session::{Status, Update};

/// Lines moved by PageUp/PageDown and the mouse wheel.
const PAGE: u16 = 10;
const WHEEL: u16 = 3;

/// Why the interface ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// The saved session was refused: log in again.
    LoggedOut,
}

/// The notice on screen, and when it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub notice: Notice,
    at_tick: u64,
    /// How many times the session had come online by then.
    at_online: u64,
}

/// The read marker the server is being told, and the next one to tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Reading {
    in_flight: bool,
    next: Option<(Target, u64)>,
    /// `/read` asked for this one: say when it is done.
    announce: Option<Target>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub me: String,
    pub server: String,
    pub status: Status,
    pub sidebar: Sidebar,
    pub pane: MessagePane,
    pub input: Input,
    /// Sent lines, for Up/Down.
    pub input_history: InputHistory,
    pub requests: Requests,
    pub popup: Option<Popup>,
    /// How far a text pop-up (help, info) is scrolled, in lines; drawing clamps it.
    pub popup_scroll: usize,
    pub notice: Option<Shown>,
    pub outbox: Outbox,
    pub keymap: Keymap,
    pub look: Look,
    /// Ring the bell on a direct message or a mention (config `bell`).
    pub bell_enabled: bool,
    /// Count mentions as badges (config `mention_badges`).
    pub mention_badges: bool,
    /// Something changed since the last draw.
    pub dirty: bool,
    pub exit: Option<Exit>,
    ticks: u64,
    onlines: u64,
    reading: Reading,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl App {
    pub fn new(me: impl Into<String>, server: impl Into<String>, look: Look) -> Self {
        Self {
            me: me.into(),
            server: server.into(),
            status: Status::Connecting { attempt: 0 },
            sidebar: Sidebar::default(),
            pane: MessagePane::default(),
            input: Input::default(),
            input_history: InputHistory::default(),
            requests: Requests::default(),
            popup: None,
            popup_scroll: 0,
            notice: None,
            outbox: Outbox::default(),
            keymap: Keymap::default(),
            look,
            bell_enabled: true,
            mention_badges: true,
            dirty: true,
            exit: None,
            ticks: 0,
            onlines: 0,
            reading: Reading::default(),
        }
    }

    /// What to load first: the conversation list from the local history.
    pub fn start(&mut self) -> Vec<Effect> {
        vec![Effect::LoadConversations]
    }

    pub fn online(&self) -> bool {
        self.status == Status::Online
    }

    pub fn set_notice(&mut self, notice: Notice) {
        self.notice = Some(Shown { notice, at_tick: self.ticks, at_online: self.onlines });
        self.dirty = true;
    }

    pub fn notice_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.notice.as_ref().map(|s| s.notice.text())
    }

    /// Drops the notice once what it announced is handled.
    fn settle_notice(&mut self) {
        let Some(shown) = &self.notice else { return };
        let keep = match &shown.notice {
            Notice::Queued { .. } => self.outbox.waiting() > 0,
            Notice::NotSent(_) => self.outbox.failed() > 0,
            Notice::FriendRequest { from } => self.requests.friend_from(from).is_some(),
            Notice::JoinRequest { user, group_id } => self.requests.has_join(user, *group_id),
            Notice::Closing(_) | Notice::NeedsServer => !(self.online() && self.onlines > shown.at_online),
            Notice::NoMatch(_) => true,
            Notice::Outcome(_) => self.ticks.saturating_sub(shown.at_tick) < OUTCOME_SECS,
        };
        if !keep {
            self.notice = None;
            self.dirty = true;
        }
    }

    fn done(&mut self, fx: Vec<Effect>) -> Vec<Effect> {
        self.settle_notice();
        self.dirty = true;
        fx
    }

    // ---- the terminal ----

    pub fn on_terminal(&mut self, event: TermEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
                if matches!(self.notice.as_ref().map(|s| &s.notice), Some(Notice::NoMatch(_))) {
                    self.notice = None;
                }
                if self.popup.is_some() {
                    self.on_popup_key(key, &mut fx);
                } else {
                    self.on_key(key, &mut fx);
                }
            }
            TermEvent::Paste(text) => match &mut self.popup {
                Some(popup) if popup.takes_text() => {
                    if let PopupKey::Searched(query) = popup.paste(&text) {
                        fx.push(Effect::Search(query));
                    }
                }
                // A window with no use for text lets it through to the input.
                Some(_) => {
                    self.close_popup();
                    self.paste(&text);
                }
                None => self.paste(&text),
            },
            TermEvent::Mouse(m) => match m.kind {
                MouseEventKind::ScrollUp => self.pane.scroll_up(WHEEL),
                MouseEventKind::ScrollDown => self.pane.scroll_down(WHEEL),
                _ => {}
            },
            _ => {}
        }
        self.done(fx)
    }

    /// Inserts pasted text as it will be sent: tabs become the spaces they are
    /// drawn as (a tab has no width in the input), and the newline that ends most
    /// copied lines is dropped, so that Enter does not send an empty last line.
    pub fn paste(&mut self, text: &str) {
        let text = text.strip_suffix("\r\n").or_else(|| text.strip_suffix(['\n', '\r'])).unwrap_or(text);
        self.input.insert_str(&text.replace('\t', "    "));
        self.dirty = true;
    }

    pub fn open_popup(&mut self, popup: Popup) {
        self.popup = Some(popup);
        self.popup_scroll = 0;
        self.dirty = true;
    }

    pub fn close_popup(&mut self) {
        self.popup = None;
        self.popup_scroll = 0;
        self.dirty = true;
    }

    fn on_popup_key(&mut self, key: KeyEvent, fx: &mut Vec<Effect>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // A rebound quit key works here too, unless it is a plain character (typed).
        let plain_char =
            matches!(key.code, KeyCode::Char(_)) && !ctrl && !key.modifiers.contains(KeyModifiers::ALT);
        if (ctrl && key.code == KeyCode::Char('c'))
            || (!plain_char && self.keymap.action(&key) == Some(Action::Quit))
        {
            self.exit = Some(Exit::Quit);
            return;
        }
        let Some(popup) = &mut self.popup else { return };
        match popup.on_key(key, &self.requests, &mut self.popup_scroll) {
            PopupKey::Nothing => {}
            PopupKey::Close => self.close_popup(),
            PopupKey::Answer(request, accept) => fx.push(Effect::Call(Call::Answer { request, accept })),
            PopupKey::Searched(query) => fx.push(Effect::Search(query)),
            PopupKey::Jump { with, query } => {
                self.close_popup();
                self.pane.highlight = Some(query);
                self.open(&with, fx);
                self.pane.scroll = 0;
            }
            PopupKey::Secret(request) => {
                self.close_popup();
                fx.push(Effect::Call(Call::Secret(request)));
            }
            PopupKey::TypeThrough(c) => {
                self.close_popup();
                self.input.insert_char(c);
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent, fx: &mut Vec<Effect>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Tab on an `@name` being typed only ever completes it: were it to fall back
        // to its binding (the next conversation) on no match, the draft would go to
        // someone else on Enter.
        if key.code == KeyCode::Tab && key.modifiers.is_empty() {
            match self.complete_mention() {
                Completion::NotAMention => {}
                Completion::Completed => return,
                Completion::NoMatch(prefix) => return self.set_notice(Notice::NoMatch(prefix)),
            }
        }
        if let Some(action) = self.keymap.action(&key) {
            return self.on_action(action, fx);
        }
        match key.code {
            KeyCode::Esc => {
                self.pane.highlight = None;
                self.notice = None;
                if let Some(with) = self.sidebar.selected.clone() {
                    self.outbox.dismiss_failed(&with);
                }
            }
            // F1, not `?`: a message may start with a question mark.
            KeyCode::F(1) => self.open_popup(Popup::Help),
            KeyCode::Char(c) if !ctrl => self.input.insert_char(c),
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Up => {
                if !self.input.up()
                    && let Some(input) = self.input_history.back(&self.input)
                {
                    self.input = input;
                }
            }
            KeyCode::Down => {
                if !self.input.down()
                    && let Some(input) = self.input_history.forward()
                {
                    self.input = input;
                }
            }
            _ => {}
        }
    }

    /// Tab on a word starting with `@`: completes it with a known name (friends,
    /// people in the open conversation).
    pub fn complete_mention(&mut self) -> Completion {
        let names = self.sidebar.friends.iter().map(|f| f.username.as_str());
        let names = names.chain(self.pane.messages.iter().map(|m| m.from.as_str()));
        self.input.complete_mention(names, &self.me)
    }

    fn on_action(&mut self, action: Action, fx: &mut Vec<Effect>) {
        match action {
            Action::Quit => self.exit = Some(Exit::Quit),
            Action::NextConversation => self.step(1, fx),
            Action::PreviousConversation => self.step(-1, fx),
            Action::Requests => self.open_popup(Popup::Requests { selected: 0 }),
            Action::Search => {
                self.open_popup(Popup::Search { query: String::new(), results: Vec::new(), selected: 0 })
            }
            Action::Newline => self.input.newline(),
            Action::ScrollUp => self.pane.scroll_up(PAGE),
            Action::ScrollDown => self.pane.scroll_down(PAGE),
            Action::Send => self.submit(fx),
        }
    }

    fn step(&mut self, by: isize, fx: &mut Vec<Effect>) {
        if let Some(i) = self.sidebar.index_by(by) {
            self.select(i, fx);
        }
    }

    fn select(&mut self, i: usize, fx: &mut Vec<Effect>) {
        if let Some(with) = self.sidebar.select_index(i) {
            self.pane.clear();
            fx.push(Effect::LoadMessages { with, from: None });
        }
    }

    /// Opens `with`, listed or not (a closed conversation's history, a search hit).
    fn open(&mut self, with: &Target, fx: &mut Vec<Effect>) {
        if self.sidebar.entry_mut(with).is_none() {
            // Not a conversation of ours now: its history is there to read.
            self.sidebar.entry_or_new(with).closed = true;
        }
        if let Some(i) = self.sidebar.entries.iter().position(|c| same_target(&c.with, with)) {
            self.select(i, fx);
        }
    }

    /// The text to send, clearing the input; `None` when there is nothing to send.
    pub fn take_input(&mut self) -> Option<String> {
        if self.input.text().trim().is_empty() {
            return None;
        }
        let text = self.input.text();
        self.input.clear();
        // A password typed in a command is never kept.
        if !commands::is_secret(&text) {
            self.input_history.push(text.clone());
        }
        self.pane.scroll = 0;
        Some(text)
    }

    fn submit(&mut self, fx: &mut Vec<Effect>) {
        let Some(text) = self.take_input() else { return };
        match commands::parse(&text) {
            Ok(Some(command)) => self.run_command(command, fx),
            Ok(None) => self.submit_message(commands::unescape(&text), fx),
            Err(usage) => {
                // Keep the typed command to fix it (never one holding a secret).
                if !commands::is_secret(&text) {
                    self.paste(&text);
                }
                self.set_notice(Notice::Outcome(usage));
            }
        }
    }

    /// Queues a message for the open conversation and sends it when online.
    fn submit_message(&mut self, text: String, fx: &mut Vec<Effect>) {
        let Some(to) = self.sidebar.selected.clone() else {
            self.paste(&text);
            return self.set_notice(Notice::Outcome("no conversation open".into()));
        };
        self.outbox.push(crate::ids::client_msg_id(), to, text, now_ms());
        if self.online() {
            fx.push(Effect::Send(self.outbox.take_pending()));
        } else {
            self.set_notice(Notice::Queued { why: None });
        }
    }

    /// `[ID]` of a group command: the given one, or the open group conversation.
    pub fn resolve_group(&self, group_id: Option<u64>) -> Result<u64, String> {
        match (group_id, &self.sidebar.selected) {
            (Some(id), _) => Ok(id),
            (None, Some(Target::Group(id))) => Ok(*id),
            (None, _) => Err("open a group conversation or give its id".into()),
        }
    }

    /// Our last message in the open conversation that can still be recalled.
    pub fn last_own_message(&self) -> Option<u64> {
        self.pane
            .messages
            .iter()
            .rev()
            .find(|m| same_user(&m.from, &self.me) && !m.recalled && m.kind != MessageKind::Recall)
            .map(|m| m.msg_id)
    }

    fn run_command(&mut self, command: Command, fx: &mut Vec<Effect>) {
        let group = |app: &mut App, id: Option<u64>| match app.resolve_group(id) {
            Ok(id) => Some(id),
            Err(e) => {
                app.set_notice(Notice::Outcome(e));
                None
            }
        };
        let call = match command {
            Command::Quit => {
                self.exit = Some(Exit::Quit);
                return;
            }
            Command::Help => return self.open_popup(Popup::Help),
            Command::Requests => return self.open_popup(Popup::Requests { selected: 0 }),
            Command::Passwd => {
                return self.open_popup(Popup::Password(PasswordForm::new(Secret::ChangePassword)));
            }
            Command::DeleteAccount => {
                return self.open_popup(Popup::Password(PasswordForm::new(Secret::DeleteAccount)));
            }
            Command::Search { text } => {
                self.open_popup(Popup::Search { query: text.clone(), results: Vec::new(), selected: 0 });
                return fx.push(Effect::Search(text));
            }
            Command::History { with } => return self.open(&with, fx),
            Command::Read => {
                let (Some(with), Some(seq)) =
                    (self.sidebar.selected.clone(), self.pane.messages.last().map(|m| m.seq))
                else {
                    return self.set_notice(Notice::Outcome("nothing to mark read here".into()));
                };
                if !self.online() {
                    return self.set_notice(Notice::NeedsServer);
                }
                if self.sidebar.is_closed(&with) {
                    return self
                        .set_notice(Notice::Outcome("a closed conversation has no read marker".into()));
                }
                self.reading.announce = Some(with.clone());
                // Also when the local marker is there already: the server may not be.
                return self.want_read(with, seq, fx);
            }
            Command::Recall => match (self.sidebar.selected.clone(), self.last_own_message()) {
                (Some(with), Some(msg_id)) => Call::Recall { with, msg_id },
                _ => return self.set_notice(Notice::Outcome("nothing of yours to recall here".into())),
            },
            Command::Logout => Call::Logout,
            Command::Add { user, note } => Call::AddFriend { user, note },
            Command::Accept { user } => {
                Call::AnswerFriend { known: self.requests.friend_from(&user), user, accept: true }
            }
            Command::Reject { user } => {
                Call::AnswerFriend { known: self.requests.friend_from(&user), user, accept: false }
            }
            Command::Remove { user } => Call::RemoveFriend { user },
            Command::Block { user } => Call::Block { user },
            Command::Unblock { user } => Call::Unblock { user },
            Command::GroupCreate { name } => Call::GroupCreate { name },
            Command::GroupJoin { group_id } => Call::GroupJoin { group_id },
            Command::GroupSearch { query } => Call::GroupSearch { query },
            Command::GroupLeave { group_id } => {
                let Some(group_id) = group(self, group_id) else { return };
                Call::GroupLeave { group_id }
            }
            Command::GroupMembers { group_id } => {
                let Some(group_id) = group(self, group_id) else { return };
                Call::GroupMembers { group_id }
            }
            Command::GroupRequests { group_id } => {
                let Some(group_id) = group(self, group_id) else { return };
                Call::GroupRequests { group_id }
            }
            Command::GroupInfo { group_id } => {
                let Some(group_id) = group(self, group_id) else { return };
                Call::GroupInfo { group_id }
            }
            Command::GroupAnswer { user, accept } => {
                let Some(group_id) = group(self, None) else { return };
                Call::AnswerJoin { group_id, user, accept }
            }
            Command::GroupKick { user } => {
                let Some(group_id) = group(self, None) else { return };
                Call::GroupKick { group_id, user }
            }
            Command::GroupPromote { user } => {
                let Some(group_id) = group(self, None) else { return };
                Call::GroupSetRole { group_id, user, role: Role::Admin }
            }
            Command::GroupDemote { user } => {
                let Some(group_id) = group(self, None) else { return };
                Call::GroupSetRole { group_id, user, role: Role::Member }
            }
            Command::GroupDissolve => {
                let Some(group_id) = group(self, None) else { return };
                Call::GroupDissolve { group_id }
            }
        };
        fx.push(Effect::Call(call));
    }

    /// The user has seen `with` up to `seq`: tell the server (one marker in flight
    /// at a time, the newest wanted next).
    fn want_read(&mut self, with: Target, seq: u64, fx: &mut Vec<Effect>) {
        if !self.online() || self.sidebar.is_closed(&with) {
            return;
        }
        if self.reading.in_flight {
            self.reading.next = Some((with, seq));
        } else {
            self.reading.in_flight = true;
            fx.push(Effect::MarkRead { with, seq });
        }
    }

    fn read_settled(&mut self, fx: &mut Vec<Effect>) {
        self.reading.in_flight = false;
        if let Some((with, seq)) = self.reading.next.take() {
            self.want_read(with, seq, fx);
        }
    }

    // ---- the session ----

    pub fn on_update(&mut self, update: Update) -> Vec<Effect> {
        let mut fx = Vec::new();
        match update {
            Update::Status(Status::LoggedOut) => {
                self.status = Status::LoggedOut;
                self.exit = Some(Exit::LoggedOut);
            }
            Update::Status(status) => {
                if matches!(status, Status::Offline { .. }) {
                    self.outbox.disconnected();
                    self.reading = Reading::default();
                }
                self.status = status;
                if self.online() {
                    self.onlines += 1;
                    fx.push(Effect::LoadConversations);
                    if let Some(with) = self.sidebar.selected.clone() {
                        fx.push(Effect::LoadMessages {
                            with,
                            from: self.pane.messages.first().map(|m| m.seq),
                        });
                    }
                    fx.push(Effect::RefreshSocial);
                    let pending = self.outbox.take_pending();
                    if !pending.is_empty() {
                        fx.push(Effect::Send(pending));
                    }
                }
            }
            Update::CaughtUp { with, new, .. } => {
                if new > 0 && self.sidebar.is_open(&with) {
                    fx.push(Effect::LoadMessages { with, from: self.pane.messages.first().map(|m| m.seq) });
                }
            }
            Update::Event(event) => self.on_event(event, &mut fx),
        }
        self.done(fx)
    }

    fn on_event(&mut self, event: Event, fx: &mut Vec<Effect>) {
        match event {
            Event::Message(m) => self.on_message(m.message, fx),
            Event::Presence(p) => self.sidebar.set_presence(&p.user, p.online),
            Event::FriendRequest(r) => {
                self.set_notice(Notice::FriendRequest { from: r.from.clone() });
                self.requests.add(PendingRequest::Friend {
                    request_id: r.request_id,
                    from: r.from,
                    note: r.note,
                });
            }
            Event::GroupJoinRequest(r) => {
                self.set_notice(Notice::JoinRequest { user: r.user.clone(), group_id: r.group_id });
                self.requests.add(PendingRequest::Group {
                    group_id: r.group_id,
                    request_id: r.request_id,
                    user: r.user,
                    note: r.note,
                });
            }
            Event::FriendResponse(r) => {
                let answer = if r.accepted { "accepted" } else { "declined" };
                self.set_notice(Notice::Outcome(format!("{} {answer} your friend request", r.user)));
                if r.accepted {
                    fx.push(Effect::RefreshSocial);
                }
            }
            Event::FriendRemoved(r) => self.sidebar.friends.retain(|f| !same_user(&f.username, &r.user)),
            Event::GroupJoinResponse(r) => {
                let answer = if r.accepted { "accepted" } else { "declined" };
                self.set_notice(Notice::Outcome(format!(
                    "your request to join #{} was {answer}",
                    r.group_id
                )));
                if r.accepted {
                    fx.push(Effect::RefreshSocial);
                }
            }
            Event::GroupMemberJoined(j) if same_user(&j.user, &self.me) => fx.push(Effect::RefreshSocial),
            Event::GroupRoleChanged(r) if same_user(&r.user, &self.me) => fx.push(Effect::RefreshSocial),
            Event::GroupMemberLeft(l) if same_user(&l.user, &self.me) => {
                self.set_notice(Notice::Outcome(format!("you are no longer in #{}", l.group_id)));
                self.remove_group(l.group_id, fx);
            }
            Event::Read(r) if same_user(&r.user, &self.me) => {
                // Read on another device of ours.
                if let Some(c) = self.sidebar.entry_mut(&r.with) {
                    c.unread = 0;
                    c.mentions = 0;
                }
            }
            Event::GroupDissolved(g) => {
                self.set_notice(Notice::Outcome(format!("group #{} was dissolved", g.group_id)));
                self.remove_group(g.group_id, fx);
            }
            Event::Closing(c) => self.set_notice(Notice::Closing(c.reason)),
            _ => {}
        }
    }

    fn remove_group(&mut self, group_id: u64, fx: &mut Vec<Effect>) {
        self.requests.drop_group(group_id);
        if let Some(now_open) = self.sidebar.remove_group(group_id) {
            self.pane.clear();
            fx.push(Effect::LoadMessages { with: now_open, from: None });
        } else if self.sidebar.selected.is_none() {
            self.pane.clear();
        }
    }

    /// A live message (or one we sent): into the open conversation's pane, or its
    /// entry's unread count; the preview, the bell and the mention badge.
    fn on_message(&mut self, message: Message, fx: &mut Vec<Effect>) {
        let with = conversation_of(&message, &self.me);
        let mine = same_user(&message.from, &self.me);
        let open = self.sidebar.is_open(&with);
        let recall = message.kind == MessageKind::Recall;
        let live = !mine && !recall;
        let direct = live && matches!(message.to, Target::User(_));
        let mentioned = live && !direct && mentions(&message.body, &self.me);
        let (seq, recalls) = (message.seq, message.recalls);
        let entry = self.sidebar.entry_or_new(&with);
        entry.activity = entry.activity.max(message.ts);
        entry.preview = preview(&message);
        if recall {
            if open && let Some(msg_id) = recalls {
                self.pane.mark_recalled(msg_id);
            }
            // A withdrawn message no longer counts as unread: the local history has
            // the count right, and the list is read from it again.
            fx.push(Effect::LoadConversations);
        } else {
            if !open && !mine {
                entry.unread += 1;
            }
            if mentioned && !open && self.mention_badges {
                entry.mentions += 1;
            }
            if open {
                self.pane.insert(message);
                if !mine {
                    self.want_read(with.clone(), seq, fx);
                }
            }
            if (direct || mentioned) && self.bell_enabled {
                fx.push(Effect::Bell);
            }
        }
        if self.sidebar.selected.is_none() {
            self.sidebar.selected = Some(with.clone());
            fx.push(Effect::LoadMessages { with, from: None });
        }
        self.sidebar.sort();
    }

    // ---- finished effects ----

    pub fn on_done(&mut self, done: Done) -> Vec<Effect> {
        let mut fx = Vec::new();
        match done {
            Done::Conversations(list) => {
                let had = self.sidebar.selected.clone();
                self.sidebar.set_entries(list);
                self.open_selected_if_new(had, &mut fx);
            }
            Done::Messages { with, messages } => {
                if self.sidebar.is_open(&with) {
                    // Live messages that came while this was read stay.
                    let last = messages.last().map_or(0, |m| m.seq);
                    let newer: Vec<Message> = self.pane.messages.drain(..).filter(|m| m.seq > last).collect();
                    self.pane.set_messages(messages);
                    self.pane.messages.extend(newer);
                    if let Some(seq) = self.pane.messages.last().map(|m| m.seq) {
                        self.want_read(with, seq, &mut fx);
                    }
                }
            }
            Done::Older { with, messages } => {
                if self.sidebar.is_open(&with) {
                    self.pane.prepend_older(messages);
                } else {
                    self.pane.loading_older = false;
                }
            }
            Done::OlderFailed(text) => {
                self.pane.loading_older = false;
                self.set_notice(Notice::Outcome(text));
            }
            Done::Read { with, .. } => {
                if let Some(c) = self.sidebar.entry_mut(&with) {
                    c.unread = 0;
                    c.mentions = 0;
                }
                if self.reading.announce.as_ref().is_some_and(|a| same_target(a, &with)) {
                    self.reading.announce = None;
                    let name = super::text::target_name(&with);
                    self.set_notice(Notice::Outcome(format!("marked {name} read")));
                }
                self.read_settled(&mut fx);
            }
            Done::ReadFailed(text) => {
                // Said when `/read` asked; a marker set by looking is tried again
                // with the next message or the next connection.
                tracing::warn!(%text, "read marker not set");
                if self.reading.announce.take().is_some() {
                    self.set_notice(Notice::Outcome(text));
                }
                self.read_settled(&mut fx);
            }
            Done::SearchResults { query, results } => {
                if let Some(Popup::Search { query: now, results: shown, selected }) = &mut self.popup
                    && *now == query
                {
                    *shown = results;
                    *selected = 0;
                }
            }
            Done::Sent { client_msg_id, message } => {
                self.outbox.sent(&client_msg_id);
                self.on_message(message, &mut fx);
            }
            Done::SendInterrupted { client_msg_id, error } => {
                tracing::warn!(%error, "send interrupted; queued");
                self.outbox.interrupted(&client_msg_id);
                self.set_notice(Notice::Queued { why: Some(error) });
            }
            Done::SendRefused { client_msg_id, error } => {
                tracing::warn!(%error, "send refused");
                self.outbox.refused(&client_msg_id, error.clone());
                self.set_notice(Notice::NotSent(error));
            }
            Done::Friends(friends) => {
                let had = self.sidebar.selected.clone();
                self.sidebar.set_friends(friends);
                self.open_selected_if_new(had, &mut fx);
            }
            Done::Groups(groups) => {
                let had = self.sidebar.selected.clone();
                self.sidebar.set_groups(groups);
                self.open_selected_if_new(had, &mut fx);
            }
            Done::FriendRequests(incoming) => self.requests.set_friend_requests(incoming),
            Done::GroupRequests { group_id, requests, show } => {
                let count = requests.len();
                self.requests.set_group_requests(group_id, requests);
                if show {
                    // Never over a draft being typed: the keys would go to the window.
                    if self.input.is_empty() {
                        self.open_popup(Popup::Requests { selected: 0 });
                    } else {
                        self.set_notice(Notice::Outcome(format!(
                            "{count} request(s) to join #{group_id}: Ctrl+R to answer"
                        )));
                    }
                }
            }
            Done::Members { group_id, members } => {
                let lines = members
                    .iter()
                    .map(|m| {
                        let dot = if m.online { "●" } else { "○" };
                        format!("{dot} {} ({})", m.username, m.role.as_str())
                    })
                    .collect();
                let title = format!("Members of {}", self.sidebar.title_of(&Target::Group(group_id)));
                self.open_popup(Popup::Info { title, lines });
            }
            Done::Info { title, lines } => self.open_popup(Popup::Info { title, lines }),
            Done::Outcome(text) | Done::Failed(text) | Done::HistoryFailed(text) => {
                self.set_notice(Notice::Outcome(text))
            }
            Done::Changed(text) => {
                self.set_notice(Notice::Outcome(text));
                fx.push(Effect::RefreshSocial);
            }
            Done::Offline => self.set_notice(Notice::NeedsServer),
            Done::Answered { request_id, group, notice } => {
                self.requests.answered(request_id, group);
                if let Some(Popup::Requests { selected }) = &mut self.popup {
                    *selected = (*selected).min(self.requests.len().saturating_sub(1));
                }
                self.set_notice(Notice::Outcome(notice));
                fx.push(Effect::RefreshSocial);
            }
            Done::Recalled { with, msg_id } => {
                if self.sidebar.is_open(&with) {
                    self.pane.mark_recalled(msg_id);
                }
                // The recall is the conversation's newest entry now: no view keeps
                // showing the withdrawn text.
                let me = self.me.clone();
                if let Some(entry) = self.sidebar.entry_mut(&with) {
                    entry.preview = format!("{me}: (message recalled)");
                }
                self.set_notice(Notice::Outcome("message recalled".into()));
            }
            Done::LeftGroup { group_id, notice } => {
                self.set_notice(Notice::Outcome(notice));
                self.remove_group(group_id, &mut fx);
            }
            Done::SessionEnded => self.exit = Some(Exit::Quit),
        }
        self.done(fx)
    }

    /// The list chose a conversation where none was open: load it.
    fn open_selected_if_new(&mut self, had: Option<Target>, fx: &mut Vec<Effect>) {
        if had.is_none()
            && let Some(with) = self.sidebar.selected.clone()
        {
            self.pane.clear();
            fx.push(Effect::LoadMessages { with, from: None });
        }
    }

    // ---- time and drawing ----

    /// Once a second: notices expire, and sends cut by a failed connection go again.
    pub fn on_tick(&mut self) -> Vec<Effect> {
        self.ticks += 1;
        let mut fx = Vec::new();
        if self.online() && self.outbox.waiting() > 0 {
            let pending = self.outbox.take_pending();
            if !pending.is_empty() {
                fx.push(Effect::Send(pending));
            }
        }
        let before = self.notice.clone();
        self.settle_notice();
        if before != self.notice || !fx.is_empty() {
            self.dirty = true;
        }
        fx
    }

    /// After a draw: scrolled past the oldest loaded message, older ones are loaded,
    /// and the scroll stays within the lines there are (`max`).
    pub fn after_draw(&mut self, max: usize) -> Vec<Effect> {
        let mut fx = Vec::new();
        if usize::from(self.pane.scroll) > max {
            if let (Some(before), Some(with)) = (self.pane.older_wanted(), self.sidebar.selected.clone()) {
                self.pane.loading_older = true;
                self.dirty = true;
                fx.push(Effect::LoadOlder { with, before });
            }
            self.pane.clamp_scroll(max);
        }
        fx
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tui::popup::SecretRequest;
    use crate::tui::sidebar::ConversationEntry;
    use chat_proto::event::{self, CloseReason};
    use chat_proto::reply::{Friend, IncomingFriendRequest, JoinRequest, MyGroup};

    pub fn msg(seq: u64, from: &str, to: Target, body: &str, ts: i64) -> Message {
        Message {
            msg_id: 100 + seq,
            seq,
            from: from.into(),
            from_id: 1,
            to,
            body: body.into(),
            ts,
            kind: MessageKind::Text,
            file: None,
            recalls: None,
            recalled: false,
        }
    }

    fn bob() -> Target {
        Target::User("bob".into())
    }

    fn to_me() -> Target {
        Target::User("alice".into())
    }

    /// Alice's screen: bob (newest) and group 7; bob's conversation open.
    fn app() -> App {
        let mut app = App::new("alice", "127.0.0.1:7878", Look::default());
        let mut bob = ConversationEntry::new(bob());
        bob.activity = 20;
        let mut group = ConversationEntry::new(Target::Group(7));
        group.activity = 10;
        app.on_done(Done::Conversations(vec![group, bob]));
        app
    }

    fn online(app: &mut App) -> Vec<Effect> {
        app.on_update(Update::Status(Status::Online))
    }

    fn live(m: Message) -> Update {
        Update::Event(Event::Message(event::Message { message: m }))
    }

    fn key(code: KeyCode) -> TermEvent {
        TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            app.on_terminal(key(KeyCode::Char(c)));
        }
    }

    fn entry(app: &App, with: &Target) -> ConversationEntry {
        app.sidebar.entries.iter().find(|c| same_target(&c.with, with)).expect("listed").clone()
    }

    fn friend(name: &str, online: bool) -> Friend {
        Friend { user_id: 9, username: name.into(), online, blocked: false }
    }

    fn group(id: u64, name: &str, role: Role) -> MyGroup {
        MyGroup { group_id: id, name: name.into(), description: String::new(), role }
    }

    #[test]
    fn the_list_is_sorted_and_its_first_conversation_opened() {
        let mut app = App::new("alice", "x", Look::default());
        let mut bob = ConversationEntry::new(bob());
        bob.activity = 20;
        let fx = app.on_done(Done::Conversations(vec![ConversationEntry::new(Target::Group(7)), bob]));
        assert_eq!(app.sidebar.selected, Some(Target::User("bob".into())));
        assert_eq!(fx, vec![Effect::LoadMessages { with: Target::User("bob".into()), from: None }]);
        assert_eq!(app.sidebar.entries[1].title(), "#7");
    }

    #[test]
    fn live_messages_go_to_the_open_pane_or_count_as_unread() {
        let mut app = app();
        app.on_update(live(msg(1, "bob", to_me(), "hi", 30)));
        app.on_update(live(msg(1, "bob", to_me(), "hi", 30)));
        assert_eq!(app.pane.messages.len(), 1, "once");
        assert_eq!(entry(&app, &bob()).unread, 0);
        app.on_update(live(msg(5, "carol", Target::Group(7), "yo", 40)));
        let g = &app.sidebar.entries[0];
        assert_eq!((g.with.clone(), g.unread, g.preview.as_str()), (Target::Group(7), 1, "carol: yo"));
        assert_eq!(app.sidebar.selected, Some(bob()), "the open conversation stays open");
        // Our own message from another device is not unread.
        app.on_update(live(msg(6, "alice", Target::Group(7), "me", 50)));
        assert_eq!(entry(&app, &Target::Group(7)).unread, 1);
        // A message from a new correspondent lists them.
        app.on_update(live(msg(1, "dave", to_me(), "new", 60)));
        assert_eq!((app.sidebar.entries[0].title(), app.sidebar.entries[0].unread), ("dave".into(), 1));
    }

    /// Read state changes only while connected, and always through the server: the
    /// conversation opened at start, before connecting, stays unread everywhere.
    #[test]
    fn nothing_is_marked_read_before_the_server_can_be_told() {
        let mut app = App::new("alice", "x", Look::default());
        let mut bob_entry = ConversationEntry::new(bob());
        bob_entry.unread = 2;
        app.on_done(Done::Conversations(vec![bob_entry]));
        let loaded = vec![msg(1, "bob", to_me(), "a", 1), msg(2, "bob", to_me(), "b", 2)];
        let fx = app.on_done(Done::Messages { with: bob(), messages: loaded.clone() });
        assert!(fx.is_empty(), "offline: {fx:?}");
        assert_eq!(entry(&app, &bob()).unread, 2, "still unread while offline");
        let fx = app.on_update(live(msg(3, "bob", to_me(), "c", 3)));
        assert!(!fx.iter().any(|e| matches!(e, Effect::MarkRead { .. })), "{fx:?}");

        // Online: the conversation on screen is read up to its end, once at a time.
        let fx = online(&mut app);
        assert!(fx.contains(&Effect::LoadMessages { with: bob(), from: Some(1) }), "{fx:?}");
        let fx = app.on_done(Done::Messages { with: bob(), messages: loaded });
        assert_eq!(app.pane.messages.len(), 3, "the live one stays");
        assert_eq!(fx, vec![Effect::MarkRead { with: bob(), seq: 3 }]);
        let fx = app.on_update(live(msg(4, "bob", to_me(), "d", 4)));
        assert!(!fx.iter().any(|e| matches!(e, Effect::MarkRead { .. })), "one in flight: {fx:?}");
        let fx = app.on_done(Done::Read { with: bob(), seq: 3 });
        assert_eq!(fx, vec![Effect::MarkRead { with: bob(), seq: 4 }], "then the newest");
        assert_eq!(entry(&app, &bob()).unread, 0);
    }

    #[test]
    fn a_recall_updates_every_view_and_is_never_unread() {
        let mut app = app();
        online(&mut app);
        app.on_update(live(msg(1, "bob", to_me(), "oops", 30)));
        let mut recall = msg(2, "bob", to_me(), "", 31);
        recall.kind = MessageKind::Recall;
        recall.recalls = Some(101);
        let fx = app.on_update(live(recall));
        assert!(app.pane.messages[0].recalled);
        assert_eq!(entry(&app, &bob()).preview, "bob: (message recalled)");
        assert!(fx.contains(&Effect::LoadConversations), "the counts are read again: {fx:?}");
        // In a conversation not open: the recall is no unread message.
        app.on_update(live(msg(3, "carol", Target::Group(7), "secret", 40)));
        let mut recall = msg(4, "carol", Target::Group(7), "", 41);
        recall.kind = MessageKind::Recall;
        recall.recalls = Some(103);
        app.on_update(live(recall));
        let g = entry(&app, &Target::Group(7));
        assert_eq!((g.unread, g.preview.as_str()), (1, "carol: (message recalled)"));
        // Our own recall: the pane and the sidebar drop the text at once.
        app.on_done(Done::Sent {
            client_msg_id: "c".into(),
            message: msg(5, "alice", bob(), "SECRET-TOKEN", 50),
        });
        assert_eq!(app.last_own_message(), Some(105));
        let fx = app.on_terminal(TermEvent::Paste("/recall".into()));
        assert!(fx.is_empty());
        let fx = app.on_terminal(key(KeyCode::Enter));
        assert_eq!(fx, vec![Effect::Call(Call::Recall { with: bob(), msg_id: 105 })]);
        app.on_done(Done::Recalled { with: bob(), msg_id: 105 });
        assert!(app.pane.messages.iter().any(|m| m.msg_id == 105 && m.recalled));
        assert_eq!(entry(&app, &bob()).preview, "alice: (message recalled)");
    }

    #[test]
    fn tab_on_a_mention_only_ever_completes() {
        let mut app = app();
        app.on_done(Done::Friends(vec![friend("bobby", true)]));
        type_text(&mut app, "hi @bo");
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "hi @bobby ");
        app.input.clear();
        type_text(&mut app, "secret for bob only @zed");
        let fx = app.on_terminal(key(KeyCode::Tab));
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(app.sidebar.selected, Some(bob()), "no match: the conversation did not change");
        assert!(matches!(&app.notice, Some(Shown { notice: Notice::NoMatch(p), .. }) if p == "zed"));
        // Not on a mention, Tab moves on.
        app.input.clear();
        let fx = app.on_terminal(key(KeyCode::Tab));
        assert_ne!(app.sidebar.selected, Some(bob()));
        assert!(matches!(fx.as_slice(), [Effect::LoadMessages { from: None, .. }]), "{fx:?}");
        assert!(app.notice.is_none(), "the no-match notice went at the next key");
    }

    #[test]
    fn notices_go_when_what_they_announce_is_handled() {
        let mut app = app();
        // Offline: the message waits, and the notice with it.
        type_text(&mut app, "later");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.notice.as_ref().map(|s| s.notice.clone()), Some(Notice::Queued { why: None }));
        let fx = online(&mut app);
        let Some(Effect::Send(jobs)) = fx.iter().find(|e| matches!(e, Effect::Send(_))) else {
            panic!("{fx:?}")
        };
        let id = jobs[0].client_msg_id.clone();
        assert!(app.notice.is_some(), "still queued until the server has it");
        app.on_done(Done::Sent { client_msg_id: id, message: msg(1, "alice", bob(), "later", 5) });
        assert!(app.notice.is_none());
        // A friend request: gone once answered.
        app.on_update(Update::Event(Event::FriendRequest(event::FriendRequest {
            request_id: 4,
            from: "eve".into(),
            from_id: 5,
            note: String::new(),
        })));
        assert!(app.notice_text().is_some_and(|t| t.contains("eve")));
        app.on_done(Done::Answered {
            request_id: 4,
            group: false,
            notice: "accepted eve's friend request".into(),
        });
        assert_eq!(app.notice_text().as_deref(), Some("accepted eve's friend request"));
        // An outcome goes after a while.
        for _ in 0..OUTCOME_SECS {
            app.on_tick();
        }
        assert!(app.notice.is_none());
        // The server closing: said until online again.
        app.on_update(Update::Event(Event::Closing(event::Closing { reason: CloseReason::SessionRevoked })));
        app.on_tick();
        assert!(app.notice_text().is_some_and(|t| t.contains("password was changed")));
        app.on_update(Update::Status(Status::Connecting { attempt: 0 }));
        assert!(app.notice.is_some());
        online(&mut app);
        assert!(app.notice.is_none());
    }

    #[test]
    fn windows_never_swallow_what_is_typed() {
        let mut app = app();
        app.on_terminal(key(KeyCode::F(1)));
        assert_eq!(app.popup, Some(Popup::Help));
        type_text(&mut app, "hello");
        assert!(app.popup.is_none());
        assert_eq!(app.input.text(), "hello");
        // A list of requests that arrives while a draft is typed does not open over it.
        let join =
            JoinRequest { request_id: 1, user: "mallory".into(), user_id: 6, note: String::new(), ts: 0 };
        app.on_done(Done::GroupRequests { group_id: 7, requests: vec![join.clone()], show: true });
        assert!(app.popup.is_none());
        assert!(app.notice_text().is_some_and(|t| t.contains("Ctrl+R")));
        app.input.clear();
        app.on_done(Done::GroupRequests { group_id: 7, requests: vec![join], show: true });
        assert_eq!(app.popup, Some(Popup::Requests { selected: 0 }));
        // `?` is text.
        app.close_popup();
        type_text(&mut app, "?");
        assert_eq!((app.input.text().as_str(), app.popup.is_none()), ("?", true));
    }

    #[test]
    fn passwords_are_asked_for_in_a_masked_form_and_never_kept() {
        let mut app = app();
        app.on_terminal(TermEvent::Paste("/passwd".into()));
        app.on_terminal(key(KeyCode::Enter));
        assert!(matches!(app.popup, Some(Popup::Password(_))));
        for field in ["old pass phrase", "new pass phrase", "new pass phrase"] {
            type_text(&mut app, field);
            let fx = app.on_terminal(key(KeyCode::Enter));
            if field == "old pass phrase" {
                assert!(fx.is_empty());
            }
        }
        assert!(app.popup.is_none());
        // The usage of a secret command is not put back where it could be sent.
        app.on_terminal(TermEvent::Paste("/delete-account hunter2".into()));
        app.on_terminal(key(KeyCode::Enter));
        assert!(app.input.is_empty());
        assert!(
            app.input_history.entries.iter().all(|e| !e.contains("hunter2") && !e.contains("pass phrase"))
        );
    }

    #[test]
    fn the_password_form_sends_what_was_typed() {
        let mut app = app();
        app.open_popup(Popup::Password(PasswordForm::new(Secret::ChangePassword)));
        let mut last = Vec::new();
        for field in ["old one", "new one", "new one"] {
            type_text(&mut app, field);
            last = app.on_terminal(key(KeyCode::Enter));
        }
        assert_eq!(
            last,
            vec![Effect::Call(Call::Secret(SecretRequest::ChangePassword {
                old: "old one".into(),
                new: "new one".into()
            }))]
        );
    }

    #[test]
    fn friends_and_groups_name_and_fill_the_list() {
        let mut app = app();
        app.on_done(Done::Friends(vec![friend("Bob", true), friend("zed", false)]));
        app.on_done(Done::Groups(vec![group(7, "rustaceans", Role::Owner), group(8, "other", Role::Member)]));
        assert_eq!(entry(&app, &bob()).online, Some(true));
        let titles: Vec<String> = app.sidebar.entries.iter().map(ConversationEntry::title).collect();
        for t in ["#7 rustaceans", "zed", "#8 other"] {
            assert!(titles.contains(&t.to_owned()), "{titles:?}");
        }
        assert_eq!(app.sidebar.managed_groups(), vec![7]);
        // Reloading from the history keeps names and presence.
        let mut bob_entry = ConversationEntry::new(bob());
        bob_entry.activity = 30;
        app.on_done(Done::Conversations(vec![bob_entry, ConversationEntry::new(Target::Group(7))]));
        assert_eq!(entry(&app, &bob()).online, Some(true));
        assert_eq!(entry(&app, &Target::Group(7)).title(), "#7 rustaceans");
        app.on_update(Update::Event(Event::Presence(event::Presence {
            user: "zed".into(),
            user_id: 9,
            online: true,
        })));
        assert!(app.sidebar.friends.iter().any(|f| f.username == "zed" && f.online));
    }

    #[test]
    fn requests_are_listed_counted_and_answered() {
        let mut app = app();
        app.on_done(Done::FriendRequests(vec![IncomingFriendRequest {
            request_id: 1,
            from: "eve".into(),
            from_id: 5,
            note: "hi".into(),
            ts: 0,
        }]));
        let join =
            JoinRequest { request_id: 1, user: "mallory".into(), user_id: 6, note: String::new(), ts: 0 };
        app.on_done(Done::GroupRequests { group_id: 7, requests: vec![join], show: false });
        assert_eq!((app.requests.friends(), app.requests.groups()), (1, 1));
        let live_friend = Event::FriendRequest(event::FriendRequest {
            request_id: 2,
            from: "trent".into(),
            from_id: 7,
            note: String::new(),
        });
        app.on_update(Update::Event(live_friend.clone()));
        app.on_update(Update::Event(live_friend));
        assert_eq!(app.requests.friends(), 2, "once");
        app.on_terminal(TermEvent::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)));
        app.on_terminal(key(KeyCode::Down));
        let fx = app.on_terminal(key(KeyCode::Char('a')));
        let request = PendingRequest::Friend { request_id: 2, from: "trent".into(), note: String::new() };
        assert_eq!(fx, vec![Effect::Call(Call::Answer { request, accept: true })]);
        app.on_terminal(key(KeyCode::Down));
        app.on_terminal(key(KeyCode::Down));
        let fx =
            app.on_done(Done::Answered { request_id: 1, group: true, notice: "let mallory join #7".into() });
        assert_eq!(fx, vec![Effect::RefreshSocial]);
        assert_eq!(app.popup, Some(Popup::Requests { selected: 1 }), "the selection stays within the list");
    }

    #[test]
    fn group_commands_default_to_the_open_group_and_leaving_closes_it() {
        let mut app = app();
        assert!(app.resolve_group(None).is_err());
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.resolve_group(None), Ok(7));
        let fx = app.on_terminal(TermEvent::Paste("/group kick eve".into()));
        assert!(fx.is_empty());
        let fx = app.on_terminal(key(KeyCode::Enter));
        assert_eq!(fx, vec![Effect::Call(Call::GroupKick { group_id: 7, user: "eve".into() })]);
        let fx = app.on_done(Done::LeftGroup { group_id: 7, notice: "left #7".into() });
        assert_eq!(app.sidebar.selected, Some(bob()));
        assert_eq!(fx, vec![Effect::LoadMessages { with: bob(), from: None }]);
        assert!(app.sidebar.entries.iter().all(|c| c.with != Target::Group(7)));
        // Being removed by someone else does the same.
        app.on_done(Done::Groups(vec![group(8, "other", Role::Member)]));
        app.on_update(Update::Event(Event::GroupMemberLeft(event::GroupMemberLeft {
            group_id: 8,
            user: "Alice".into(),
            user_id: 1,
            reason: chat_proto::model::LeaveReason::Kicked,
        })));
        assert!(app.sidebar.entries.iter().all(|c| c.with != Target::Group(8)));
        // A closed conversation's history can still be opened, to read only.
        online(&mut app);
        app.on_terminal(TermEvent::Paste("/history #8".into()));
        let fx = app.on_terminal(key(KeyCode::Enter));
        assert_eq!(fx, vec![Effect::LoadMessages { with: Target::Group(8), from: None }]);
        assert_eq!(entry(&app, &Target::Group(8)).title(), "#8 (closed)");
        let fx = app.on_done(Done::Messages {
            with: Target::Group(8),
            messages: vec![msg(1, "carol", Target::Group(8), "x", 1)],
        });
        assert!(fx.is_empty(), "no read marker for a conversation we are not in: {fx:?}");
        app.on_done(Done::Conversations(vec![ConversationEntry::new(bob())]));
        assert!(app.sidebar.is_closed(&Target::Group(8)), "it stays while open");
    }

    #[test]
    fn bell_and_mention_badges_follow_the_switches() {
        let mut app = app();
        let rings = |fx: &[Effect]| fx.contains(&Effect::Bell);
        assert!(!rings(&app.on_update(live(msg(1, "carol", Target::Group(7), "hi all", 30)))));
        assert!(rings(&app.on_update(live(msg(2, "carol", Target::Group(7), "@alice look", 31)))));
        let g = entry(&app, &Target::Group(7));
        assert_eq!((g.unread, g.mentions), (2, 1));
        assert!(rings(&app.on_update(live(msg(1, "dave", to_me(), "psst", 32)))));
        assert!(!rings(&app.on_update(live(msg(3, "alice", Target::User("dave".into()), "@alice", 33)))));
        app.bell_enabled = false;
        app.mention_badges = false;
        assert!(!rings(&app.on_update(live(msg(3, "carol", Target::Group(7), "@alice again", 34)))));
        assert_eq!(entry(&app, &Target::Group(7)).mentions, 1);
        // Opening the conversation clears the badge.
        let i = app.sidebar.entries.iter().position(|c| c.with == Target::Group(7)).expect("group");
        app.sidebar.select_index(i);
        assert_eq!(app.sidebar.entries[i].mentions, 0);
    }

    #[test]
    fn search_jumps_and_highlights() {
        let mut app = app();
        app.on_terminal(TermEvent::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)));
        let fx = app.on_terminal(key(KeyCode::Char('Y')));
        assert_eq!(fx, vec![Effect::Search("Y".into())]);
        app.on_done(Done::SearchResults {
            query: "stale".into(),
            results: vec![(bob(), msg(1, "bob", to_me(), "x", 1))],
        });
        app.on_done(Done::SearchResults {
            query: "Y".into(),
            results: vec![(Target::Group(7), msg(5, "carol", Target::Group(7), "yo", 5))],
        });
        let fx = app.on_terminal(key(KeyCode::Enter));
        assert!(app.popup.is_none());
        assert_eq!(app.sidebar.selected, Some(Target::Group(7)));
        assert_eq!(app.pane.highlight.as_deref(), Some("Y"));
        assert_eq!(fx, vec![Effect::LoadMessages { with: Target::Group(7), from: None }]);
    }

    #[test]
    fn sends_queue_offline_and_go_once_online() {
        let mut app = app();
        type_text(&mut app, "hello");
        assert!(app.on_terminal(key(KeyCode::Enter)).is_empty(), "offline: nothing sent");
        assert_eq!(app.outbox.waiting(), 1);
        let fx = online(&mut app);
        assert!(
            matches!(fx.last(), Some(Effect::Send(jobs)) if jobs[0].to == bob() && jobs[0].body == "hello")
        );
        // The connection drops while it is in flight: sent again once online.
        app.on_update(Update::Status(Status::Offline {
            retry_in: std::time::Duration::from_secs(1),
            reason: "x".into(),
        }));
        assert!(app.on_tick().is_empty(), "not while offline");
        let fx = online(&mut app);
        assert!(fx.iter().any(|e| matches!(e, Effect::Send(jobs) if jobs.len() == 1)));
        // Refused: kept, marked, dismissed with Esc.
        let id = app.outbox.for_conversation(&bob()).next().expect("queued").client_msg_id.clone();
        app.on_done(Done::SendRefused { client_msg_id: id, error: "not_friend".into() });
        assert!(matches!(app.notice.as_ref().map(|s| &s.notice), Some(Notice::NotSent(_))));
        app.on_terminal(key(KeyCode::Esc));
        assert_eq!((app.outbox.len(), app.notice.is_none()), (0, true));
    }

    #[test]
    fn pastes_keep_their_tabs_visible_and_drop_the_trailing_newline() {
        let mut app = app();
        app.on_terminal(TermEvent::Paste("fn main() {\n\tgo();\n}\n".into()));
        assert_eq!(app.input.text(), "fn main() {\n    go();\n}");
        app.input.clear();
        app.on_terminal(TermEvent::Paste("one line\r\n".into()));
        assert_eq!(app.input.text(), "one line");
    }

    #[test]
    fn up_and_down_recall_sent_lines_and_never_keep_passwords() {
        let mut app = app();
        app.on_terminal(key(KeyCode::Up));
        assert!(app.input.is_empty());
        for line in ["one", "two", "two"] {
            type_text(&mut app, line);
            app.on_terminal(key(KeyCode::Enter));
        }
        type_text(&mut app, "/passwd old new");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.input_history.entries, vec!["one", "two"]);
        type_text(&mut app, "draft");
        app.on_terminal(key(KeyCode::Up));
        assert_eq!(app.input.text(), "two");
        app.on_terminal(key(KeyCode::Up));
        app.on_terminal(key(KeyCode::Up));
        assert_eq!(app.input.text(), "one");
        app.on_terminal(key(KeyCode::Down));
        app.on_terminal(key(KeyCode::Down));
        assert_eq!(app.input.text(), "draft");
        assert_eq!(app.pane.scroll, 0);
    }

    #[test]
    fn scrolling_past_the_top_loads_older_once() {
        let mut app = app();
        app.on_done(Done::Messages { with: bob(), messages: vec![msg(5, "bob", to_me(), "e", 5)] });
        app.pane.scroll_up(40);
        let fx = app.after_draw(12);
        assert_eq!(fx, vec![Effect::LoadOlder { with: bob(), before: 5 }]);
        assert_eq!(app.pane.scroll, 12);
        app.pane.scroll_up(40);
        assert!(app.after_draw(12).is_empty(), "already loading");
        app.on_done(Done::Older {
            with: bob(),
            messages: vec![msg(4, "bob", to_me(), "d", 4), msg(5, "bob", to_me(), "e", 5)],
        });
        assert_eq!(app.pane.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![4, 5]);
        app.on_done(Done::Older { with: bob(), messages: Vec::new() });
        assert_eq!(app.pane.older_wanted(), None, "nothing older");
    }

    #[test]
    fn the_server_closing_says_why_and_logged_out_ends() {
        let mut app = app();
        app.on_update(Update::Event(Event::Closing(event::Closing { reason: CloseReason::LoggedOut })));
        assert!(app.notice_text().is_some_and(|n| n.contains("logged out on another device")));
        app.on_update(Update::Status(Status::LoggedOut));
        assert_eq!(app.exit, Some(Exit::LoggedOut));
    }
}
