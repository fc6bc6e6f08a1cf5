//! The TUI's state: what is on screen and what the keys do to it. No I/O here: the
//! event loop in [`super`] feeds it session updates and key actions, and
//! [`super::render`] draws it.

use chat_proto::Event;
use chat_proto::event::CloseReason;
use chat_proto::model::{Message, MessageKind, Role, Target};
use chat_proto::reply::{Friend, IncomingFriendRequest, JoinRequest, Member, MyGroup};

use super::queue::Outbox;

use crate::history::{StoredConversation, conversation_of};
use crate::session::{Status, Update};

/// One row of the conversation list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationEntry {
    pub with: Target,
    pub unread: u64,
    /// Milliseconds since the Unix epoch of the last entry.
    pub activity: i64,
    /// The last message's text, one line.
    pub preview: String,
    /// For a friend: whether they are online, once a presence event told us.
    pub online: Option<bool>,
    /// For a group: its name, when known.
    pub group_name: Option<String>,
    /// Unread mentions of our name (`@me`).
    pub mentions: u64,
}

impl ConversationEntry {
    pub fn new(with: Target) -> Self {
        Self {
            with,
            unread: 0,
            activity: 0,
            preview: String::new(),
            online: None,
            group_name: None,
            mentions: 0,
        }
    }

    /// How the list names it: `bob`, or `#12 name` for a group.
    pub fn title(&self) -> String {
        match (&self.with, &self.group_name) {
            (Target::User(name), _) => name.clone(),
            (Target::Group(id), Some(name)) => format!("#{id} {name}"),
            (Target::Group(id), None) => format!("#{id}"),
        }
    }
}

impl From<&StoredConversation> for ConversationEntry {
    fn from(c: &StoredConversation) -> Self {
        Self {
            with: c.with.clone(),
            unread: c.unread,
            activity: c.activity,
            preview: c.last_message.as_ref().map(preview).unwrap_or_default(),
            online: None,
            group_name: None,
            mentions: 0,
        }
    }
}

/// A one-line summary of a message for the conversation list.
pub fn preview(m: &Message) -> String {
    let text = if m.recalled || m.kind == MessageKind::Recall {
        "(message recalled)".to_owned()
    } else if let Some(file) = &m.file {
        format!("[file] {}", file.name)
    } else {
        m.body.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    format!("{}: {text}", m.from)
}

/// Does `body` mention `@me` (case-insensitively, as a whole name)?
pub fn mentions(body: &str, me: &str) -> bool {
    let body = body.to_lowercase();
    let needle = format!("@{}", me.to_lowercase());
    body.match_indices(&needle).any(|(i, _)| {
        let before_ok = body[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after_ok =
            body[i + needle.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        before_ok && after_ok
    })
}

/// Byte range of the first case-insensitive occurrence of `needle` in `text`.
pub fn find_ci(text: &str, needle: &str) -> Option<(usize, usize)> {
    let needle: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    if needle.is_empty() {
        return None;
    }
    for (start, _) in text.char_indices() {
        let mut got: Vec<char> = Vec::new();
        for (i, c) in text[start..].char_indices() {
            got.extend(c.to_lowercase());
            if !needle.starts_with(&got) {
                break;
            }
            if got.len() == needle.len() {
                return Some((start, start + i + c.len_utf8()));
            }
        }
    }
    None
}

/// A request waiting for our answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingRequest {
    Friend { request_id: u64, from: String, note: String },
    Group { group_id: u64, request_id: u64, user: String, note: String },
}

impl PendingRequest {
    pub fn request_id(&self) -> u64 {
        match self {
            PendingRequest::Friend { request_id, .. } | PendingRequest::Group { request_id, .. } => {
                *request_id
            }
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(self, PendingRequest::Group { .. })
    }
}

/// A window drawn over the screen; Esc closes it.
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
}

/// What a server operation started by a command returned.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    /// Done; the text says what happened.
    Notice(String),
    /// The account is gone, or logged out: the interface closes.
    SessionEnded,
    /// Lines to show in a pop-up.
    Info {
        title: String,
        lines: Vec<String>,
    },
    /// Done, and friends or groups changed: fetch them again.
    Changed(String),
    Failed(String),
    Friends(Vec<Friend>),
    Groups(Vec<MyGroup>),
    FriendRequests(Vec<IncomingFriendRequest>),
    /// `show`: open the requests pop-up.
    GroupRequests {
        group_id: u64,
        requests: Vec<JoinRequest>,
        show: bool,
    },
    Members {
        group_id: u64,
        members: Vec<Member>,
    },
    /// A request was answered: it leaves the list.
    Answered {
        request_id: u64,
        group: bool,
        notice: String,
    },
    Recalled {
        msg_id: u64,
    },
    /// Older messages of a conversation (oldest first; empty: there are none).
    Older {
        with: Target,
        messages: Vec<Message>,
    },
    OlderFailed(String),
    /// We left (or dissolved) a group.
    LeftGroup {
        group_id: u64,
        notice: String,
    },
}

/// Same user? Usernames are case-insensitive.
pub fn same_user(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The multi-line input box: lines and a cursor (line, char index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub lines: Vec<String>,
    pub row: usize,
    /// In chars, not bytes.
    pub col: usize,
}

impl Default for Input {
    fn default() -> Self {
        Self { lines: vec![String::new()], row: 0, col: 0 }
    }
}

impl Input {
    fn line_mut(&mut self) -> &mut String {
        if self.lines.is_empty() {
            self.lines.push(String::new());
            self.row = 0;
        }
        self.row = self.row.min(self.lines.len() - 1);
        &mut self.lines[self.row]
    }

    fn byte_at(line: &str, col: usize) -> usize {
        line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
    }

    pub fn insert_char(&mut self, c: char) {
        if c == '\n' {
            return self.newline();
        }
        if c == '\r' || (c.is_control() && c != '\t') {
            return;
        }
        let col = self.col;
        let line = self.line_mut();
        let at = Self::byte_at(line, col);
        line.insert(at, c);
        self.col += 1;
    }

    pub fn newline(&mut self) {
        let col = self.col;
        let line = self.line_mut();
        let at = Self::byte_at(line, col);
        let rest = line.split_off(at);
        self.row += 1;
        self.lines.insert(self.row, rest);
        self.col = 0;
    }

    /// Pasted text: newlines become new lines, never a send.
    pub fn insert_str(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        for c in text.chars() {
            self.insert_char(c);
        }
    }

    /// Backspace: the char before the cursor, joining lines at the start of one.
    pub fn backspace(&mut self) {
        if self.col > 0 {
            let col = self.col;
            let line = self.line_mut();
            let at = Self::byte_at(line, col - 1);
            line.remove(at);
            self.col -= 1;
        } else if self.row > 0 && self.row < self.lines.len() {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
            self.lines[self.row].push_str(&line);
        }
    }

    pub fn left(&mut self) {
        if self.col > 0 {
            self.col -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
        }
    }

    pub fn right(&mut self) {
        let len = self.lines.get(self.row).map_or(0, |l| l.chars().count());
        if self.col < len {
            self.col += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = 0;
        }
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(String::is_empty)
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// An input holding `text`, the cursor at its end.
    pub fn from_text(text: &str) -> Self {
        let mut input = Self::default();
        input.insert_str(text);
        input
    }

    /// Moves the cursor a line up; false on the first line.
    pub fn up(&mut self) -> bool {
        if self.row == 0 {
            return false;
        }
        self.row -= 1;
        self.col = self.col.min(self.lines[self.row].chars().count());
        true
    }

    /// Moves the cursor a line down; false on the last line.
    pub fn down(&mut self) -> bool {
        if self.row + 1 >= self.lines.len() {
            return false;
        }
        self.row += 1;
        self.col = self.col.min(self.lines[self.row].chars().count());
        true
    }
}

/// Lines sent from the input, for Up/Down recall as in a shell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputHistory {
    /// Oldest first.
    pub entries: Vec<String>,
    /// The entry being shown; `None` while editing the draft.
    pub pos: Option<usize>,
    /// What was being typed before going back.
    pub draft: Option<Input>,
}

/// Most lines kept for recall.
const INPUT_HISTORY_MAX: usize = 500;

impl InputHistory {
    pub fn push(&mut self, text: String) {
        if self.entries.last() != Some(&text) {
            self.entries.push(text);
            if self.entries.len() > INPUT_HISTORY_MAX {
                self.entries.remove(0);
            }
        }
        self.pos = None;
        self.draft = None;
    }

    /// Up: the previous entry (saving the draft first), if any.
    pub fn back(&mut self, current: &Input) -> Option<Input> {
        let pos = match self.pos {
            None if self.entries.is_empty() => return None,
            None => {
                self.draft = Some(current.clone());
                self.entries.len() - 1
            }
            Some(0) => return None,
            Some(p) => p - 1,
        };
        self.pos = Some(pos);
        self.entries.get(pos).map(|t| Input::from_text(t))
    }

    /// Down: the next entry, or the draft after the newest.
    pub fn forward(&mut self) -> Option<Input> {
        let pos = self.pos?;
        if pos + 1 < self.entries.len() {
            self.pos = Some(pos + 1);
            self.entries.get(pos + 1).map(|t| Input::from_text(t))
        } else {
            self.pos = None;
            Some(self.draft.take().unwrap_or_default())
        }
    }
}

/// What Tab did to the word at the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The word is no `@name`: the key may do what else it is bound to.
    NotAMention,
    Completed,
    /// An `@name` nobody matches: said in a notice, and the key does nothing else.
    NoMatch,
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
pub struct App {
    pub user: String,
    pub server: String,
    pub status: Status,
    /// Newest activity first.
    pub conversations: Vec<ConversationEntry>,
    /// The open conversation, if any.
    pub selected: Option<Target>,
    /// The open conversation's messages, oldest first.
    pub messages: Vec<Message>,
    pub input: Input,
    /// Sent lines, for Up/Down.
    pub input_history: InputHistory,
    /// Loading older messages of the open conversation is under way.
    pub loading_older: bool,
    /// The open conversation has nothing older than its first loaded message.
    pub no_older: bool,
    /// Key bindings (config `[keys]`).
    pub keymap: super::keys::Keymap,
    /// Lines scrolled up from the bottom of the message pane (0: following the end).
    pub scroll: u16,
    pub pending_friend_requests: usize,
    pub pending_group_requests: usize,
    /// A one-line notice for the status bar (e.g. a failed send).
    pub notice: Option<String>,
    /// Draw without colours (`NO_COLOR`).
    pub no_color: bool,
    /// Offset of the local time zone from UTC, in seconds, for times and dates.
    pub utc_offset_secs: i64,
    /// Something changed since the last draw.
    pub dirty: bool,
    pub quit: bool,
    pub friends: Vec<Friend>,
    pub groups: Vec<MyGroup>,
    /// Requests waiting for our answer, oldest first.
    pub requests: Vec<PendingRequest>,
    pub popup: Option<Popup>,
    /// How far a text pop-up (help, info) is scrolled, in lines; render clamps it.
    pub popup_scroll: usize,
    /// Text highlighted in the message pane (the last search).
    pub highlight: Option<String>,
    pub outbox: Outbox,
    /// Ring the bell on a direct message or a mention (config `bell`).
    pub bell_enabled: bool,
    /// Count mentions as badges (config `mention_badges`).
    pub mention_badges: bool,
    /// The bell should ring (the event loop rings it and clears this).
    pub bell: bool,
}

/// What the event loop must do after an update, beyond redrawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    /// The open conversation's messages should be reloaded from the history.
    ReloadMessages,
    /// The conversation list should be reloaded from the history.
    ReloadConversations,
    /// Friends, groups or requests changed on the server: fetch them again.
    RefreshSocial,
    /// The saved session was refused: stop and ask to log in again.
    LoggedOut,
}

impl App {
    pub fn new(user: impl Into<String>, server: impl Into<String>, no_color: bool) -> Self {
        Self {
            user: user.into(),
            server: server.into(),
            status: Status::Connecting { attempt: 0 },
            conversations: Vec::new(),
            selected: None,
            messages: Vec::new(),
            input: Input::default(),
            input_history: InputHistory::default(),
            loading_older: false,
            no_older: false,
            keymap: super::keys::Keymap::default(),
            scroll: 0,
            pending_friend_requests: 0,
            pending_group_requests: 0,
            notice: None,
            no_color,
            utc_offset_secs: 0,
            dirty: true,
            quit: false,
            friends: Vec::new(),
            groups: Vec::new(),
            requests: Vec::new(),
            popup: None,
            popup_scroll: 0,
            highlight: None,
            outbox: Outbox::default(),
            bell_enabled: true,
            mention_badges: true,
            bell: false,
        }
    }

    /// Replaces the conversation list (from the history), keeping presence, group
    /// names and the selection; selects the first one if none was.
    pub fn set_conversations(&mut self, list: Vec<ConversationEntry>) {
        let old = std::mem::take(&mut self.conversations);
        self.conversations = list;
        for c in &mut self.conversations {
            if let Some(o) = old.iter().find(|o| same_target(&o.with, &c.with)) {
                c.online = c.online.or(o.online);
                if c.group_name.is_none() {
                    c.group_name.clone_from(&o.group_name);
                }
            }
            if self.selected.as_ref().is_some_and(|s| same_target(s, &c.with)) {
                c.unread = 0;
            }
        }
        self.decorate();
        self.sort();
        if self.selected.is_none() {
            self.selected = self.conversations.first().map(|c| c.with.clone());
        }
        self.dirty = true;
    }

    /// Replaces the open conversation's messages (oldest first).
    pub fn set_messages(&mut self, messages: Vec<Message>) {
        self.messages = messages;
        self.no_older = false;
        self.loading_older = false;
        self.dirty = true;
    }

    fn sort(&mut self) {
        self.conversations.sort_by_key(|c| std::cmp::Reverse(c.activity));
    }

    pub fn selected_index(&self) -> Option<usize> {
        let s = self.selected.as_ref()?;
        self.conversations.iter().position(|c| same_target(&c.with, s))
    }

    pub fn is_open(&self, with: &Target) -> bool {
        self.selected.as_ref().is_some_and(|s| same_target(s, with))
    }

    fn select_index(&mut self, i: usize) {
        let Some(c) = self.conversations.get_mut(i) else { return };
        c.unread = 0;
        c.mentions = 0;
        let with = c.with.clone();
        if !self.is_open(&with) {
            self.selected = Some(with);
            self.messages.clear();
            self.scroll = 0;
        }
        self.dirty = true;
    }

    /// Opens the next conversation down the list (wrapping); the caller loads its
    /// messages.
    pub fn select_next(&mut self) {
        if self.conversations.is_empty() {
            return;
        }
        let i = self.selected_index().map_or(0, |i| (i + 1) % self.conversations.len());
        self.select_index(i);
    }

    pub fn select_previous(&mut self) {
        if self.conversations.is_empty() {
            return;
        }
        let n = self.conversations.len();
        let i = self.selected_index().map_or(0, |i| (i + n - 1) % n);
        self.select_index(i);
    }

    pub fn type_char(&mut self, c: char) {
        self.input.insert_char(c);
        self.dirty = true;
    }

    pub fn insert_newline(&mut self) {
        self.input.newline();
        self.dirty = true;
    }

    /// Inserts pasted text as it will be sent: tabs become the spaces they are
    /// drawn as (a tab has no width in the input), and the newline that ends most
    /// copied lines is dropped, so that Enter does not send an empty last line.
    pub fn paste(&mut self, text: &str) {
        let text = text.strip_suffix("\r\n").or_else(|| text.strip_suffix(['\n', '\r'])).unwrap_or(text);
        self.input.insert_str(&text.replace('\t', "    "));
        self.dirty = true;
    }

    pub fn backspace(&mut self) {
        self.input.backspace();
        self.dirty = true;
    }

    pub fn cursor_left(&mut self) {
        self.input.left();
        self.dirty = true;
    }

    pub fn cursor_right(&mut self) {
        self.input.right();
        self.dirty = true;
    }

    /// The text to send, clearing the input; `None` when there is nothing to send.
    pub fn submit(&mut self) -> Option<String> {
        if self.input.text().trim().is_empty() {
            return None;
        }
        let text = self.input.text();
        self.input.clear();
        // A password typed in a command is never kept.
        if !super::commands::is_secret(&text) {
            self.input_history.push(text.clone());
        }
        self.scroll = 0;
        self.dirty = true;
        Some(text)
    }

    /// Up in the input: the line above, or the previous sent line.
    pub fn input_up(&mut self) {
        if !self.input.up()
            && let Some(input) = self.input_history.back(&self.input)
        {
            self.input = input;
        }
        self.dirty = true;
    }

    /// Down in the input: the line below, or the next sent line (then the draft).
    pub fn input_down(&mut self) {
        if !self.input.down()
            && let Some(input) = self.input_history.forward()
        {
            self.input = input;
        }
        self.dirty = true;
    }

    /// Where older messages must come from once the view is scrolled past the
    /// oldest loaded one: the open conversation and its oldest seq. `None` when
    /// loading already, nothing is loaded, or there is nothing older.
    pub fn older_wanted(&self) -> Option<(Target, u64)> {
        if self.loading_older || self.no_older {
            return None;
        }
        let oldest = self.messages.first()?.seq;
        if oldest <= 1 {
            return None;
        }
        Some((self.selected.clone()?, oldest))
    }

    /// Puts older messages (oldest first) in front of the loaded ones. The scroll
    /// counts lines from the bottom, so the lines on screen stay where they are.
    /// An empty page means there is nothing older.
    pub fn prepend_older(&mut self, with: &Target, older: Vec<Message>) {
        self.loading_older = false;
        if !self.is_open(with) {
            return;
        }
        let oldest = self.messages.first().map_or(u64::MAX, |m| m.seq);
        let mut older: Vec<Message> = older.into_iter().filter(|m| m.seq < oldest).collect();
        older.sort_by_key(|m| m.seq);
        older.dedup_by_key(|m| m.seq);
        if older.is_empty() {
            self.no_older = true;
        }
        older.append(&mut self.messages);
        self.messages = older;
        self.dirty = true;
    }

    /// Keeps the scroll within the lines there are (`max`: lines above the view
    /// when at the top).
    pub fn clamp_scroll(&mut self, max: usize) {
        let max = u16::try_from(max).unwrap_or(u16::MAX);
        if self.scroll > max {
            self.scroll = max;
        }
    }

    pub fn scroll_up(&mut self, lines: u16) {
        self.scroll = self.scroll.saturating_add(lines);
        self.dirty = true;
    }

    pub fn scroll_down(&mut self, lines: u16) {
        self.scroll = self.scroll.saturating_sub(lines);
        self.dirty = true;
    }

    pub fn set_notice(&mut self, notice: impl Into<String>) {
        self.notice = Some(notice.into());
        self.dirty = true;
    }

    /// Presence and group names from the friend and group lists, and an entry for
    /// every friend and group that has no conversation yet (to start one).
    fn decorate(&mut self) {
        for f in &self.friends {
            let with = Target::User(f.username.clone());
            if !self.conversations.iter().any(|c| same_target(&c.with, &with)) {
                self.conversations.push(ConversationEntry::new(with));
            }
        }
        for g in &self.groups {
            let with = Target::Group(g.group_id);
            if !self.conversations.iter().any(|c| same_target(&c.with, &with)) {
                self.conversations.push(ConversationEntry::new(with));
            }
        }
        for c in &mut self.conversations {
            match &c.with {
                Target::User(u) => {
                    if let Some(f) = self.friends.iter().find(|f| same_user(&f.username, u)) {
                        c.online = Some(f.online);
                    }
                }
                Target::Group(id) => {
                    if let Some(g) = self.groups.iter().find(|g| g.group_id == *id) {
                        c.group_name = Some(g.name.clone());
                    }
                }
            }
        }
        self.sort();
        if self.selected.is_none() {
            self.selected = self.conversations.first().map(|c| c.with.clone());
        }
    }

    fn recount(&mut self) {
        self.pending_friend_requests = self.requests.iter().filter(|r| !r.is_group()).count();
        self.pending_group_requests = self.requests.iter().filter(|r| r.is_group()).count();
        if let Some(Popup::Requests { selected }) = &mut self.popup {
            *selected = (*selected).min(self.requests.len().saturating_sub(1));
        }
    }

    fn add_request(&mut self, request: PendingRequest) {
        if !self
            .requests
            .iter()
            .any(|r| r.request_id() == request.request_id() && r.is_group() == request.is_group())
        {
            self.requests.push(request);
            // Friend requests first, each kind oldest first.
            self.requests.sort_by_key(PendingRequest::is_group);
        }
        self.recount();
    }

    /// Groups we own or administer: their join requests are ours to answer.
    pub fn managed_groups(&self) -> Vec<u64> {
        self.groups
            .iter()
            .filter(|g| matches!(g.role, Role::Owner | Role::Admin))
            .map(|g| g.group_id)
            .collect()
    }

    /// `[ID]` of a group command: the given one, or the open group conversation.
    pub fn resolve_group(&self, group_id: Option<u64>) -> Result<u64, String> {
        match (group_id, &self.selected) {
            (Some(id), _) => Ok(id),
            (None, Some(Target::Group(id))) => Ok(*id),
            (None, _) => Err("open a group conversation or give its id".into()),
        }
    }

    /// Our last message in the open conversation that can still be recalled.
    pub fn last_own_message(&self) -> Option<u64> {
        self.messages
            .iter()
            .rev()
            .find(|m| same_user(&m.from, &self.user) && !m.recalled && m.kind != MessageKind::Recall)
            .map(|m| m.msg_id)
    }

    /// Applies the result of a command's server operation.
    pub fn apply_op(&mut self, result: OpResult) -> Effect {
        self.dirty = true;
        match result {
            OpResult::Notice(text) => self.notice = Some(text),
            OpResult::Changed(text) => {
                self.notice = Some(text);
                return Effect::RefreshSocial;
            }
            OpResult::Failed(text) => self.notice = Some(text),
            OpResult::Older { with, messages } => self.prepend_older(&with, messages),
            OpResult::OlderFailed(text) => {
                self.loading_older = false;
                self.notice = Some(text);
            }
            OpResult::Friends(friends) => {
                self.friends = friends;
                self.decorate();
            }
            OpResult::Groups(groups) => {
                self.groups = groups;
                self.decorate();
            }
            OpResult::FriendRequests(incoming) => {
                self.requests.retain(PendingRequest::is_group);
                let friends = incoming.into_iter().map(|r| PendingRequest::Friend {
                    request_id: r.request_id,
                    from: r.from,
                    note: r.note,
                });
                self.requests.splice(0..0, friends);
                self.recount();
            }
            OpResult::GroupRequests { group_id, requests, show } => {
                self.requests
                    .retain(|r| !matches!(r, PendingRequest::Group { group_id: g, .. } if *g == group_id));
                for r in requests {
                    self.requests.push(PendingRequest::Group {
                        group_id,
                        request_id: r.request_id,
                        user: r.user,
                        note: r.note,
                    });
                }
                self.recount();
                if show {
                    self.popup = Some(Popup::Requests { selected: 0 });
                }
            }
            OpResult::Info { title, lines } => self.open_popup(Popup::Info { title, lines }),
            OpResult::SessionEnded => self.quit = true,
            OpResult::Members { group_id, members } => {
                let lines = members
                    .iter()
                    .map(|m| {
                        let dot = if m.online { "●" } else { "○" };
                        format!("{dot} {} ({})", m.username, m.role.as_str())
                    })
                    .collect();
                let title = match self.groups.iter().find(|g| g.group_id == group_id) {
                    Some(g) => format!("Members of #{group_id} {}", g.name),
                    None => format!("Members of #{group_id}"),
                };
                self.popup = Some(Popup::Info { title, lines });
            }
            OpResult::Answered { request_id, group, notice } => {
                self.requests.retain(|r| !(r.request_id() == request_id && r.is_group() == group));
                self.recount();
                self.notice = Some(notice);
                return Effect::RefreshSocial;
            }
            OpResult::Recalled { msg_id } => {
                if let Some(m) = self.messages.iter_mut().find(|m| m.msg_id == msg_id) {
                    m.recalled = true;
                }
                // The recall is the conversation's newest entry now: the sidebar must
                // not keep showing the withdrawn text.
                let you = self.user.clone();
                if let Some(entry) = self.selected_entry_mut() {
                    entry.preview = format!("{you}: (message recalled)");
                }
                self.notice = Some("message recalled".into());
            }
            OpResult::LeftGroup { group_id, notice } => {
                self.notice = Some(notice);
                return self.remove_group(group_id);
            }
        }
        Effect::None
    }

    /// The sidebar entry of the open conversation.
    fn selected_entry_mut(&mut self) -> Option<&mut ConversationEntry> {
        let selected = self.selected.clone()?;
        self.conversations.iter_mut().find(|c| same_target(&c.with, &selected))
    }

    fn remove_group(&mut self, group_id: u64) -> Effect {
        let gone = Target::Group(group_id);
        self.groups.retain(|g| g.group_id != group_id);
        self.requests.retain(|r| !matches!(r, PendingRequest::Group { group_id: g, .. } if *g == group_id));
        self.recount();
        self.conversations.retain(|c| !same_target(&c.with, &gone));
        if self.is_open(&gone) {
            self.selected = None;
            self.messages.clear();
            if let Some(first) = self.conversations.first() {
                self.selected = Some(first.with.clone());
                return Effect::ReloadMessages;
            }
        }
        Effect::None
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

    /// Moves the selection of a list pop-up by `delta`, within its rows.
    pub fn popup_move(&mut self, delta: isize) {
        let len = match &self.popup {
            Some(Popup::Requests { .. }) => self.requests.len(),
            Some(Popup::Search { results, .. }) => results.len(),
            _ => 0,
        };
        match &mut self.popup {
            Some(Popup::Requests { selected } | Popup::Search { selected, .. }) => {
                *selected = selected.saturating_add_signed(delta).min(len.saturating_sub(1));
            }
            // Text pop-ups scroll instead; longer ones than any screen do not exist.
            Some(Popup::Help | Popup::Info { .. }) => {
                self.popup_scroll = self.popup_scroll.saturating_add_signed(delta).min(200);
            }
            None => {}
        }
        self.dirty = true;
    }

    /// The request selected in the requests pop-up.
    pub fn selected_request(&self) -> Option<&PendingRequest> {
        match &self.popup {
            Some(Popup::Requests { selected }) => self.requests.get(*selected),
            _ => None,
        }
    }

    /// The search pop-up's query, to run after it changed.
    pub fn search_query(&self) -> Option<&str> {
        match &self.popup {
            Some(Popup::Search { query, .. }) => Some(query),
            _ => None,
        }
    }

    /// Edits the search pop-up's query: `Some(c)` types, `None` erases.
    pub fn search_edit(&mut self, c: Option<char>) {
        if let Some(Popup::Search { query, selected, .. }) = &mut self.popup {
            match c {
                Some(c) => query.push(c),
                None => {
                    query.pop();
                }
            }
            *selected = 0;
            self.dirty = true;
        }
    }

    pub fn set_search_results(&mut self, found: Vec<(Target, Message)>) {
        if let Some(Popup::Search { results, selected, .. }) = &mut self.popup {
            *results = found;
            *selected = 0;
            self.dirty = true;
        }
    }

    /// Enter in the search pop-up: opens the selected result's conversation (the
    /// caller loads its messages) with the query highlighted.
    pub fn search_jump(&mut self) -> Option<Target> {
        let Some(Popup::Search { query, results, selected }) = self.popup.take() else { return None };
        self.dirty = true;
        let (with, _) = results.get(selected)?.clone();
        self.highlight = Some(query);
        if !self.conversations.iter().any(|c| same_target(&c.with, &with)) {
            self.conversations.push(ConversationEntry::new(with.clone()));
        }
        if let Some(i) = self.conversations.iter().position(|c| same_target(&c.with, &with)) {
            self.select_index(i);
        }
        self.scroll = 0;
        Some(with)
    }

    /// Queues a composed message for the open conversation.
    pub fn queue_message(&mut self, client_msg_id: String, body: String, now_ms: i64) -> Result<(), String> {
        let to = self.selected.clone().ok_or("no conversation open")?;
        self.outbox.push(client_msg_id, to, body, now_ms);
        self.dirty = true;
        Ok(())
    }

    /// Tab on a word starting with `@`: completes it with a known name (friends,
    /// people in the open conversation). Returns whether it did.
    pub fn complete_mention(&mut self) -> Completion {
        let Some(line) = self.input.lines.get(self.input.row) else { return Completion::NotAMention };
        let before: String = line.chars().take(self.input.col).collect();
        let word_start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[word_start..];
        let Some(prefix) = word.strip_prefix('@') else { return Completion::NotAMention };
        let prefix = prefix.to_lowercase();
        let mut names: Vec<&str> = self.friends.iter().map(|f| f.username.as_str()).collect();
        names.extend(self.messages.iter().map(|m| m.from.as_str()));
        names.retain(|n| n.to_lowercase().starts_with(&prefix) && !same_user(n, &self.user));
        names.sort_unstable();
        names.dedup_by(|a, b| same_user(a, b));
        let Some(name) = names.iter().find(|n| n.len() > prefix.len()).or(names.first()) else {
            self.set_notice(format!("no one here to complete @{prefix} with"));
            return Completion::NoMatch;
        };
        let rest: String = name.chars().skip(prefix.chars().count()).collect();
        for c in rest.chars().chain([' ']) {
            self.input.insert_char(c);
        }
        self.dirty = true;
        Completion::Completed
    }

    /// Applies what the session reported.
    pub fn apply(&mut self, update: Update) -> Effect {
        self.dirty = true;
        match update {
            Update::Status(Status::LoggedOut) => {
                self.status = Status::LoggedOut;
                Effect::LoggedOut
            }
            Update::Status(status) => {
                let online = status == Status::Online;
                if matches!(status, Status::Offline { .. }) {
                    self.outbox.disconnected();
                }
                self.status = status;
                if online { Effect::ReloadConversations } else { Effect::None }
            }
            Update::CaughtUp { with, new, .. } => {
                if new > 0 && self.is_open(&with) {
                    Effect::ReloadMessages
                } else {
                    Effect::None
                }
            }
            Update::Event(event) => self.apply_event(event),
        }
    }

    fn apply_event(&mut self, event: Event) -> Effect {
        match event {
            Event::Message(m) => self.apply_message(m.message),
            Event::Presence(p) => {
                for c in &mut self.conversations {
                    if matches!(&c.with, Target::User(u) if same_user(u, &p.user)) {
                        c.online = Some(p.online);
                    }
                }
                for f in &mut self.friends {
                    if same_user(&f.username, &p.user) {
                        f.online = p.online;
                    }
                }
                Effect::None
            }
            Event::FriendRequest(r) => {
                self.notice = Some(format!("friend request from {} (Ctrl+R)", r.from));
                self.add_request(PendingRequest::Friend {
                    request_id: r.request_id,
                    from: r.from,
                    note: r.note,
                });
                Effect::None
            }
            Event::GroupJoinRequest(r) => {
                self.notice = Some(format!("{} asks to join #{} (Ctrl+R)", r.user, r.group_id));
                self.add_request(PendingRequest::Group {
                    group_id: r.group_id,
                    request_id: r.request_id,
                    user: r.user,
                    note: r.note,
                });
                Effect::None
            }
            Event::FriendResponse(r) => {
                let answer = if r.accepted { "accepted" } else { "declined" };
                self.notice = Some(format!("{} {answer} your friend request", r.user));
                if r.accepted { Effect::RefreshSocial } else { Effect::None }
            }
            Event::FriendRemoved(r) => {
                self.friends.retain(|f| !same_user(&f.username, &r.user));
                Effect::None
            }
            Event::GroupJoinResponse(r) => {
                let answer = if r.accepted { "accepted" } else { "declined" };
                self.notice = Some(format!("your request to join #{} was {answer}", r.group_id));
                if r.accepted { Effect::RefreshSocial } else { Effect::None }
            }
            Event::GroupMemberJoined(j) if same_user(&j.user, &self.user) => Effect::RefreshSocial,
            Event::GroupRoleChanged(r) if same_user(&r.user, &self.user) => Effect::RefreshSocial,
            Event::GroupMemberLeft(l) if same_user(&l.user, &self.user) => {
                self.notice = Some(format!("you are no longer in #{}", l.group_id));
                self.remove_group(l.group_id)
            }
            Event::Read(r) if same_user(&r.user, &self.user) => {
                // Read on another device of ours.
                if let Some(c) = self.conversations.iter_mut().find(|c| same_target(&c.with, &r.with)) {
                    c.unread = 0;
                }
                Effect::None
            }
            Event::GroupDissolved(g) => {
                self.notice = Some(format!("group #{} was dissolved", g.group_id));
                self.remove_group(g.group_id)
            }
            Event::Closing(c) => {
                self.set_notice(closing_notice(c.reason));
                Effect::None
            }
            _ => Effect::None,
        }
    }

    /// A live message: appended to the open conversation when it belongs to it,
    /// otherwise it raises that conversation's unread count.
    fn apply_message(&mut self, message: Message) -> Effect {
        let with = conversation_of(&message, &self.user);
        let mine = same_user(&message.from, &self.user);
        let index = match self.conversations.iter().position(|c| same_target(&c.with, &with)) {
            Some(i) => i,
            None => {
                self.conversations.push(ConversationEntry::new(with.clone()));
                self.conversations.len() - 1
            }
        };
        let open = self.is_open(&with);
        let live = !mine && message.kind != MessageKind::Recall;
        let direct = live && matches!(message.to, Target::User(_));
        let mentioned = live && !direct && mentions(&message.body, &self.user);
        let entry = &mut self.conversations[index];
        entry.activity = entry.activity.max(message.ts);
        if message.kind == MessageKind::Recall {
            if let Some(m) = self.messages.iter_mut().find(|m| open && Some(m.msg_id) == message.recalls) {
                m.recalled = true;
            }
            entry.preview = preview(&message);
        } else {
            entry.preview = preview(&message);
            if open {
                if !self.messages.iter().any(|m| m.seq == message.seq) {
                    let at = self.messages.partition_point(|m| m.seq < message.seq);
                    self.messages.insert(at, message);
                }
            } else if !mine {
                entry.unread += 1;
            }
            if (direct || mentioned) && self.bell_enabled {
                self.bell = true;
            }
            if mentioned && !open && self.mention_badges {
                entry.mentions += 1;
            }
        }
        if self.selected.is_none() {
            self.selected = Some(with);
        }
        self.sort();
        Effect::None
    }
}

/// What the user is told when the server closes the connection, and why.
pub fn closing_notice(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Shutdown => "the server is restarting; reconnecting",
        CloseReason::SessionRevoked => {
            "your password was changed on another device: this session ended (a change made on this machine carries on)"
        }
        CloseReason::LoggedOut => "this session was logged out on another device",
        CloseReason::SessionExpired => "your session expired: log in again",
        CloseReason::AccountDeleted => "your account was deleted",
        CloseReason::TooSlow => "the connection fell behind; reconnecting and catching up",
        CloseReason::IdleTimeout | CloseReason::AuthTimeout => "the connection timed out; reconnecting",
    }
}

/// Same conversation? User names compare case-insensitively.
pub fn same_target(a: &Target, b: &Target) -> bool {
    match (a, b) {
        (Target::User(x), Target::User(y)) => same_user(x, y),
        (Target::Group(x), Target::Group(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chat_proto::event;

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

    fn app() -> App {
        let mut app = App::new("alice", "127.0.0.1:7878", false);
        let mut bob = ConversationEntry::new(Target::User("bob".into()));
        bob.activity = 20;
        let mut group = ConversationEntry::new(Target::Group(7));
        group.activity = 10;
        app.set_conversations(vec![group, bob]);
        app
    }

    fn live(m: Message) -> Update {
        Update::Event(Event::Message(event::Message { message: m }))
    }

    #[test]
    fn conversations_sorted_and_first_selected() {
        let app = app();
        assert_eq!(app.conversations[0].with, Target::User("bob".into()));
        assert_eq!(app.selected, Some(Target::User("bob".into())));
        assert_eq!(app.conversations[1].title(), "#7");
    }

    #[test]
    fn live_message_appends_to_open_or_raises_unread() {
        let mut app = app();
        app.apply(live(msg(1, "bob", Target::User("alice".into()), "hi", 30)));
        assert_eq!(app.messages.len(), 1);
        assert_eq!(app.conversations[0].unread, 0);
        // Duplicate is ignored.
        app.apply(live(msg(1, "bob", Target::User("alice".into()), "hi", 30)));
        assert_eq!(app.messages.len(), 1);

        app.apply(live(msg(5, "carol", Target::Group(7), "yo", 40)));
        assert_eq!(app.messages.len(), 1);
        let g = &app.conversations[0];
        assert_eq!((g.with.clone(), g.unread, g.preview.as_str()), (Target::Group(7), 1, "carol: yo"));
        // The selection stays on bob even though the group moved up.
        assert_eq!(app.selected, Some(Target::User("bob".into())));

        // Our own message from another device does not count as unread.
        app.apply(live(msg(6, "alice", Target::Group(7), "me", 50)));
        assert_eq!(app.conversations[0].unread, 1);

        // A message from a new correspondent creates the conversation.
        app.apply(live(msg(1, "dave", Target::User("alice".into()), "new", 60)));
        assert_eq!(app.conversations[0].with, Target::User("dave".into()));
        assert_eq!(app.conversations[0].unread, 1);
    }

    #[test]
    fn recall_marks_the_open_message() {
        let mut app = app();
        app.apply(live(msg(1, "bob", Target::User("alice".into()), "oops", 30)));
        let mut recall = msg(2, "bob", Target::User("alice".into()), "", 31);
        recall.kind = MessageKind::Recall;
        recall.recalls = Some(101);
        app.apply(live(recall));
        assert_eq!(app.messages.len(), 1);
        assert!(app.messages[0].recalled);
    }

    #[test]
    fn the_server_closing_says_why() {
        let mut app = app();
        let closing = |reason| Update::Event(Event::Closing(event::Closing { reason }));
        app.apply(closing(CloseReason::SessionRevoked));
        assert!(
            app.notice.as_deref().is_some_and(|n| n.contains("password was changed")),
            "{:?}",
            app.notice
        );
        app.apply(closing(CloseReason::LoggedOut));
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("logged out on another device")));
    }

    #[test]
    fn status_presence_and_requests() {
        let mut app = app();
        assert_eq!(app.apply(Update::Status(Status::Online)), Effect::ReloadConversations);
        assert_eq!(app.status, Status::Online);
        app.apply(Update::Event(Event::Presence(event::Presence {
            user: "Bob".into(),
            user_id: 2,
            online: true,
        })));
        assert_eq!(app.conversations[0].online, Some(true));
        app.apply(Update::Event(Event::FriendRequest(event::FriendRequest {
            request_id: 1,
            from: "eve".into(),
            from_id: 5,
            note: String::new(),
        })));
        assert_eq!(app.pending_friend_requests, 1);
        assert_eq!(app.apply(Update::Status(Status::LoggedOut)), Effect::LoggedOut);
    }

    #[test]
    fn select_wraps_and_clears_unread() {
        let mut app = app();
        app.apply(live(msg(5, "carol", Target::Group(7), "yo", 5)));
        assert_eq!(app.conversations[1].unread, 1);
        app.select_next();
        assert_eq!(app.selected, Some(Target::Group(7)));
        assert_eq!(app.conversations[1].unread, 0);
        app.select_next();
        assert_eq!(app.selected, Some(Target::User("bob".into())));
        app.select_previous();
        assert_eq!(app.selected, Some(Target::Group(7)));
    }

    #[test]
    fn input_editing_and_submit() {
        let mut app = app();
        assert_eq!(app.submit(), None);
        for c in "你好".chars() {
            app.type_char(c);
        }
        app.insert_newline();
        app.paste("a\r\nb");
        assert_eq!(app.input.lines, vec!["你好", "a", "b"]);
        app.backspace();
        app.backspace();
        assert_eq!(app.input.lines, vec!["你好", "a"]);
        app.cursor_left();
        app.cursor_left();
        app.backspace();
        assert_eq!(app.input.lines, vec!["你", "a"]);
        app.type_char('!');
        assert_eq!(app.input.text(), "你!\na");
        assert_eq!(app.submit().as_deref(), Some("你!\na"));
        assert!(app.input.is_empty());
        app.type_char(' ');
        assert_eq!(app.submit(), None);
    }

    #[test]
    fn passwords_typed_in_commands_are_never_kept() {
        let mut app = app();
        app.paste("/passwd old-secret new-secret");
        assert_eq!(app.submit().as_deref(), Some("/passwd old-secret new-secret"));
        app.paste("hello");
        app.submit();
        assert_eq!(app.input_history.entries, vec!["hello"]);
    }

    #[test]
    fn up_and_down_recall_sent_lines_like_a_shell() {
        let mut app = app();
        // Nothing sent yet: Up does nothing, and never scrolls.
        app.input_up();
        assert!(app.input.is_empty());
        assert_eq!(app.scroll, 0);
        for line in ["one", "two", "two"] {
            app.paste(line);
            app.submit();
        }
        assert_eq!(app.input_history.entries, vec!["one", "two"]);
        app.paste("draft");
        app.input_up();
        assert_eq!(app.input.text(), "two");
        app.input_up();
        assert_eq!(app.input.text(), "one");
        app.input_up();
        assert_eq!(app.input.text(), "one");
        app.input_down();
        assert_eq!(app.input.text(), "two");
        app.input_down();
        assert_eq!(app.input.text(), "draft");
        assert_eq!(app.input.col, 5);
        app.input_down();
        assert_eq!(app.input.text(), "draft");
        assert_eq!(app.scroll, 0);
        // In a multi-line input Up/Down move between its lines first.
        app.input.clear();
        app.paste("a\nb");
        app.input_up();
        assert_eq!((app.input.text().as_str(), app.input.row), ("a\nb", 0));
        app.input_up();
        assert_eq!(app.input.text(), "two");
    }

    #[test]
    fn older_messages_are_prepended_and_the_view_stays() {
        let mut app = app();
        let bob = Target::User("bob".into());
        let to_me = || Target::User("alice".into());
        assert_eq!(app.older_wanted(), None);
        app.set_messages(vec![msg(5, "bob", to_me(), "e", 5), msg(6, "bob", to_me(), "f", 6)]);
        app.scroll_up(40);
        assert_eq!(app.older_wanted(), Some((bob.clone(), 5)));
        app.loading_older = true;
        assert_eq!(app.older_wanted(), None);
        // Duplicates and newer ones are dropped; the scroll (from the bottom) stays.
        app.prepend_older(
            &bob,
            vec![
                msg(3, "bob", to_me(), "c", 3),
                msg(4, "bob", to_me(), "d", 4),
                msg(5, "bob", to_me(), "e", 5),
            ],
        );
        assert!(!app.loading_older);
        assert_eq!(app.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
        assert_eq!(app.scroll, 40);
        assert_eq!(app.older_wanted(), Some((bob.clone(), 3)));
        // A page for another conversation is ignored.
        app.prepend_older(&Target::Group(7), vec![msg(1, "x", Target::Group(7), "z", 1)]);
        assert_eq!(app.messages.len(), 4);
        // An empty page: nothing older, stop asking.
        app.prepend_older(&bob, Vec::new());
        assert_eq!(app.older_wanted(), None);
        app.clamp_scroll(12);
        assert_eq!(app.scroll, 12);
        // Seq 1 is the start of the conversation.
        app.set_messages(vec![msg(1, "bob", to_me(), "a", 1)]);
        assert_eq!(app.older_wanted(), None);
    }

    #[test]
    fn scrolling_saturates() {
        let mut app = app();
        app.scroll_down(3);
        assert_eq!(app.scroll, 0);
        app.scroll_up(5);
        app.scroll_down(2);
        assert_eq!(app.scroll, 3);
    }

    fn friend(name: &str, online: bool) -> Friend {
        Friend { user_id: 9, username: name.into(), online, blocked: false }
    }

    fn group(id: u64, name: &str, role: Role) -> MyGroup {
        MyGroup { group_id: id, name: name.into(), description: String::new(), role }
    }

    #[test]
    fn startup_data_names_groups_and_adds_friends() {
        let mut app = app();
        app.apply_op(OpResult::Friends(vec![friend("Bob", true), friend("zed", false)]));
        app.apply_op(OpResult::Groups(vec![
            group(7, "rustaceans", Role::Owner),
            group(8, "other", Role::Member),
        ]));
        assert_eq!(app.conversations[0].online, Some(true));
        let titles: Vec<String> = app.conversations.iter().map(ConversationEntry::title).collect();
        assert!(titles.contains(&"#7 rustaceans".to_owned()), "{titles:?}");
        assert!(titles.contains(&"zed".to_owned()) && titles.contains(&"#8 other".to_owned()), "{titles:?}");
        assert_eq!(app.managed_groups(), vec![7]);
        // Reloading from the history keeps names and presence.
        let mut bob = ConversationEntry::new(Target::User("bob".into()));
        bob.activity = 30;
        app.set_conversations(vec![bob, ConversationEntry::new(Target::Group(7))]);
        assert_eq!(app.conversations[0].online, Some(true));
        assert!(app.conversations.iter().any(|c| c.title() == "#7 rustaceans"));
        // Presence events update the friend list too.
        app.apply(Update::Event(Event::Presence(event::Presence {
            user: "zed".into(),
            user_id: 9,
            online: true,
        })));
        assert!(app.friends.iter().any(|f| f.username == "zed" && f.online));
    }

    #[test]
    fn requests_are_listed_counted_and_answered() {
        let mut app = app();
        app.apply_op(OpResult::FriendRequests(vec![IncomingFriendRequest {
            request_id: 1,
            from: "eve".into(),
            from_id: 5,
            note: "hi".into(),
            ts: 0,
        }]));
        let join =
            JoinRequest { request_id: 1, user: "mallory".into(), user_id: 6, note: String::new(), ts: 0 };
        app.apply_op(OpResult::GroupRequests { group_id: 7, requests: vec![join], show: false });
        assert_eq!((app.pending_friend_requests, app.pending_group_requests), (1, 1));
        assert!(app.popup.is_none());
        // Live events add to the list, without duplicates.
        let live_friend = Event::FriendRequest(event::FriendRequest {
            request_id: 2,
            from: "trent".into(),
            from_id: 7,
            note: String::new(),
        });
        app.apply(Update::Event(live_friend.clone()));
        app.apply(Update::Event(live_friend));
        app.apply(Update::Event(Event::GroupJoinRequest(event::GroupJoinRequest {
            group_id: 7,
            request_id: 3,
            user: "oscar".into(),
            user_id: 8,
            note: String::new(),
        })));
        assert_eq!((app.pending_friend_requests, app.pending_group_requests), (2, 2));
        app.open_popup(Popup::Requests { selected: 0 });
        app.popup_move(1);
        assert_eq!(
            app.selected_request(),
            Some(&PendingRequest::Friend { request_id: 2, from: "trent".into(), note: String::new() })
        );
        app.popup_move(10);
        assert_eq!(app.selected_request().map(PendingRequest::request_id), Some(3));
        let effect =
            app.apply_op(OpResult::Answered { request_id: 3, group: true, notice: "accepted oscar".into() });
        assert_eq!(effect, Effect::RefreshSocial);
        assert_eq!((app.pending_friend_requests, app.pending_group_requests), (2, 1));
        // The selection stays within the shorter list.
        assert_eq!(app.selected_request().map(PendingRequest::request_id), Some(1));
        assert_eq!(app.notice.as_deref(), Some("accepted oscar"));
    }

    #[test]
    fn group_defaults_recall_and_leaving() {
        let mut app = app();
        assert!(app.resolve_group(None).is_err());
        assert_eq!(app.resolve_group(Some(3)), Ok(3));
        app.select_next();
        assert_eq!(app.resolve_group(None), Ok(7));
        app.set_messages(vec![
            msg(1, "alice", Target::Group(7), "mine", 1),
            msg(2, "carol", Target::Group(7), "theirs", 2),
        ]);
        assert_eq!(app.last_own_message(), Some(101));
        app.conversations.iter_mut().find(|c| c.with == Target::Group(7)).unwrap().preview =
            "alice: mine".into();
        app.apply_op(OpResult::Recalled { msg_id: 101 });
        assert!(app.messages[0].recalled);
        let entry = app.conversations.iter().find(|c| c.with == Target::Group(7)).unwrap();
        assert_eq!(entry.preview, "alice: (message recalled)", "the sidebar does not keep the text");
        assert_eq!(app.last_own_message(), None);
        let effect = app.apply_op(OpResult::LeftGroup { group_id: 7, notice: "left #7".into() });
        assert_eq!(effect, Effect::ReloadMessages);
        assert_eq!(app.selected, Some(Target::User("bob".into())));
        assert!(app.conversations.iter().all(|c| c.with != Target::Group(7)));
        app.apply_op(OpResult::Members { group_id: 9, members: vec![] });
        assert!(matches!(&app.popup, Some(Popup::Info { title, .. }) if title == "Members of #9"));
    }

    #[test]
    fn mentions_and_case_insensitive_find() {
        assert!(mentions("hey @Alice, look", "alice"));
        assert!(mentions("@alice", "ALICE"));
        assert!(!mentions("@alicex hi", "alice"));
        assert!(!mentions("mail me at bob@alice", "alice"));
        assert!(!mentions("alice", "alice"));
        assert_eq!(find_ci("Hello World", "world"), Some((6, 11)));
        assert_eq!(find_ci("ÄBC", "äb"), Some((0, 3)));
        assert_eq!(find_ci("abc", "x"), None);
        assert_eq!(find_ci("abc", ""), None);
    }

    #[test]
    fn bell_and_mention_badges_follow_the_switches() {
        let mut app = app();
        app.apply(live(msg(1, "carol", Target::Group(7), "hi all", 30)));
        assert!(!app.bell);
        app.apply(live(msg(2, "carol", Target::Group(7), "@alice look", 31)));
        assert!(app.bell);
        let g = app.conversations.iter().find(|c| c.with == Target::Group(7)).expect("group");
        assert_eq!((g.unread, g.mentions), (2, 1));
        app.bell = false;
        app.apply(live(msg(1, "dave", Target::User("alice".into()), "psst", 32)));
        assert!(app.bell);
        // Our own messages never ring.
        app.bell = false;
        app.apply(live(msg(3, "alice", Target::User("dave".into()), "@alice", 33)));
        assert!(!app.bell);
        // Switched off.
        app.bell_enabled = false;
        app.mention_badges = false;
        app.apply(live(msg(3, "carol", Target::Group(7), "@alice again", 34)));
        assert!(!app.bell);
        let g = app.conversations.iter().find(|c| c.with == Target::Group(7)).expect("group");
        assert_eq!(g.mentions, 1);
        // Opening the conversation clears the badge.
        let i = app.conversations.iter().position(|c| c.with == Target::Group(7)).expect("group");
        app.select_index(i);
        assert_eq!(app.conversations[i].mentions, 0);
    }

    #[test]
    fn search_popup_jumps_and_highlights() {
        let mut app = app();
        app.open_popup(Popup::Search { query: String::new(), results: Vec::new(), selected: 0 });
        app.search_edit(Some('Y'));
        app.search_edit(Some('x'));
        app.search_edit(None);
        assert_eq!(app.search_query(), Some("Y"));
        app.set_search_results(vec![(Target::Group(7), msg(5, "carol", Target::Group(7), "yo", 5))]);
        app.popup_move(5);
        assert_eq!(app.search_jump(), Some(Target::Group(7)));
        assert!(app.popup.is_none());
        assert_eq!(app.selected, Some(Target::Group(7)));
        assert_eq!(app.highlight.as_deref(), Some("Y"));
        // Nothing to jump to.
        app.open_popup(Popup::Search { query: "q".into(), results: Vec::new(), selected: 0 });
        assert_eq!(app.search_jump(), None);
    }

    #[test]
    fn queued_messages_and_offline_status() {
        let mut app = app();
        app.queue_message("id1".into(), "hello".into(), 1).expect("queued");
        assert_eq!(app.outbox.waiting(), 1);
        let jobs = app.outbox.take_pending();
        assert_eq!(jobs[0].to, Target::User("bob".into()));
        // The connection drops while it is in flight: pending again.
        app.apply(Update::Status(Status::Offline {
            retry_in: std::time::Duration::from_secs(1),
            reason: "x".into(),
        }));
        assert_eq!(app.outbox.take_pending().len(), 1);
        app.selected = None;
        assert!(app.queue_message("id2".into(), "x".into(), 1).is_err());
    }

    #[test]
    fn pastes_keep_their_tabs_visible_and_drop_the_trailing_newline() {
        let mut app = app();
        app.paste("fn main() {\n\tgo();\n}\n");
        assert_eq!(app.input.text(), "fn main() {\n    go();\n}");
        app.input.clear();
        app.paste("one line\r\n");
        assert_eq!(app.input.text(), "one line");
    }

    #[test]
    fn tab_completes_names() {
        let mut app = app();
        app.apply_op(OpResult::Friends(vec![friend("bobby", true)]));
        for c in "hi @bo".chars() {
            app.type_char(c);
        }
        assert_eq!(app.complete_mention(), Completion::Completed);
        assert_eq!(app.input.text(), "hi @bobby ");
        app.input.clear();
        app.type_char('x');
        assert_eq!(app.complete_mention(), Completion::NotAMention);
        // A mention nobody matches is still a mention: it is not completed, and it
        // is not anything else either (the caller must not fall back to another
        // use of the key).
        app.input.clear();
        for c in "@zed".chars() {
            app.type_char(c);
        }
        assert_eq!(app.complete_mention(), Completion::NoMatch);
        assert_eq!(app.input.text(), "@zed");
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("@zed")));
    }
}
