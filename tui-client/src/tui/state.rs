//! The TUI's state: what is on screen and what the keys do to it. No I/O here: the
//! event loop in [`super`] feeds it session updates and key actions, and
//! [`super::render`] draws it.

use chat_proto::Event;
use chat_proto::model::{Message, MessageKind, Target};

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
}

impl ConversationEntry {
    pub fn new(with: Target) -> Self {
        Self { with, unread: 0, activity: 0, preview: String::new(), online: None, group_name: None }
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
}

/// What the event loop must do after an update, beyond redrawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    /// The open conversation's messages should be reloaded from the history.
    ReloadMessages,
    /// The conversation list should be reloaded from the history.
    ReloadConversations,
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
            scroll: 0,
            pending_friend_requests: 0,
            pending_group_requests: 0,
            notice: None,
            no_color,
            utc_offset_secs: 0,
            dirty: true,
            quit: false,
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
        self.sort();
        if self.selected.is_none() {
            self.selected = self.conversations.first().map(|c| c.with.clone());
        }
        self.dirty = true;
    }

    /// Replaces the open conversation's messages (oldest first).
    pub fn set_messages(&mut self, messages: Vec<Message>) {
        self.messages = messages;
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

    pub fn paste(&mut self, text: &str) {
        self.input.insert_str(text);
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
        self.scroll = 0;
        self.dirty = true;
        Some(text)
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
                self.status = status;
                if online { Effect::ReloadConversations } else { Effect::None }
            }
            Update::CaughtUp { with, new } => {
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
                Effect::None
            }
            Event::FriendRequest(_) => {
                self.pending_friend_requests += 1;
                Effect::None
            }
            Event::GroupJoinRequest(_) => {
                self.pending_group_requests += 1;
                Effect::None
            }
            Event::Read(r) if same_user(&r.user, &self.user) => {
                // Read on another device of ours.
                if let Some(c) = self.conversations.iter_mut().find(|c| same_target(&c.with, &r.with)) {
                    c.unread = 0;
                }
                Effect::None
            }
            Event::GroupDissolved(g) => {
                let gone = Target::Group(g.group_id);
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
        }
        if self.selected.is_none() {
            self.selected = Some(with);
        }
        self.sort();
        Effect::None
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
    fn scrolling_saturates() {
        let mut app = app();
        app.scroll_down(3);
        assert_eq!(app.scroll, 0);
        app.scroll_up(5);
        app.scroll_down(2);
        assert_eq!(app.scroll, 3);
    }
}
