//! The conversation list: one entry per conversation (and per friend or group with
//! none yet), newest activity first, with unread counts, mention badges, presence
//! and a preview of the last message; the open conversation is its selection.

use chat_proto::model::{Message, MessageKind, Role, Target};
use chat_proto::reply::{Friend, MyGroup};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState};
use unicode_width::UnicodeWidthStr;

use super::look::{Look, truncate};
use super::text::{same_target, same_user};
use crate::display::escape_line;
use crate::history::StoredConversation;

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
    /// Not in the server's listing (a group left, a friendship ended): opened to
    /// read its history only.
    pub closed: bool,
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
            closed: false,
        }
    }

    /// How the list names it: `bob`, or `#12 name` for a group.
    pub fn title(&self) -> String {
        let title = match (&self.with, &self.group_name) {
            (Target::User(name), _) => name.clone(),
            (Target::Group(id), Some(name)) => format!("#{id} {name}"),
            (Target::Group(id), None) => format!("#{id}"),
        };
        if self.closed { format!("{title} (closed)") } else { title }
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
            closed: false,
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

/// The list, the friends and groups it is completed from, and the selection.
#[derive(Debug, Clone, Default)]
pub struct Sidebar {
    /// Newest activity first.
    pub entries: Vec<ConversationEntry>,
    /// The open conversation, if any.
    pub selected: Option<Target>,
    pub friends: Vec<Friend>,
    pub groups: Vec<MyGroup>,
}

impl Sidebar {
    /// Replaces the entries (from the local history), keeping presence, group names
    /// and mention badges; selects the first one if none was.
    pub fn set_entries(&mut self, list: Vec<ConversationEntry>) {
        let mut old = std::mem::take(&mut self.entries);
        self.entries = list;
        // A closed conversation opened to read stays while it is open.
        if let Some(i) = old
            .iter()
            .position(|o| o.closed && self.selected.as_ref().is_some_and(|s| same_target(s, &o.with)))
            && !self.entries.iter().any(|c| same_target(&c.with, &old[i].with))
        {
            self.entries.push(old.remove(i));
        }
        for c in &mut self.entries {
            if let Some(o) = old.iter().find(|o| same_target(&o.with, &c.with)) {
                c.online = c.online.or(o.online);
                if c.group_name.is_none() {
                    c.group_name.clone_from(&o.group_name);
                }
                if c.unread > 0 {
                    c.mentions = o.mentions;
                }
            }
        }
        self.decorate();
    }

    pub fn set_friends(&mut self, friends: Vec<Friend>) {
        self.friends = friends;
        self.decorate();
    }

    pub fn set_groups(&mut self, groups: Vec<MyGroup>) {
        self.groups = groups;
        self.decorate();
    }

    /// Presence and group names from the friend and group lists, and an entry for
    /// every friend and group that has no conversation yet (to start one).
    fn decorate(&mut self) {
        for f in &self.friends {
            let with = Target::User(f.username.clone());
            if !self.entries.iter().any(|c| same_target(&c.with, &with)) {
                self.entries.push(ConversationEntry::new(with));
            }
        }
        for g in &self.groups {
            let with = Target::Group(g.group_id);
            if !self.entries.iter().any(|c| same_target(&c.with, &with)) {
                self.entries.push(ConversationEntry::new(with));
            }
        }
        for c in &mut self.entries {
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
            self.selected = self.entries.first().map(|c| c.with.clone());
        }
    }

    pub fn sort(&mut self) {
        self.entries.sort_by_key(|c| std::cmp::Reverse(c.activity));
    }

    pub fn selected_index(&self) -> Option<usize> {
        let s = self.selected.as_ref()?;
        self.entries.iter().position(|c| same_target(&c.with, s))
    }

    pub fn is_open(&self, with: &Target) -> bool {
        self.selected.as_ref().is_some_and(|s| same_target(s, with))
    }

    pub fn entry_mut(&mut self, with: &Target) -> Option<&mut ConversationEntry> {
        self.entries.iter_mut().find(|c| same_target(&c.with, with))
    }

    pub fn is_closed(&self, with: &Target) -> bool {
        self.entries.iter().any(|c| c.closed && same_target(&c.with, with))
    }

    /// The entry of `with`, made if there is none.
    pub fn entry_or_new(&mut self, with: &Target) -> &mut ConversationEntry {
        let i = match self.entries.iter().position(|c| same_target(&c.with, with)) {
            Some(i) => i,
            None => {
                self.entries.push(ConversationEntry::new(with.clone()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i]
    }

    /// Opens entry `i`; returns the conversation when it was not open already.
    pub fn select_index(&mut self, i: usize) -> Option<Target> {
        let c = self.entries.get_mut(i)?;
        // Mentions are seen once the conversation is on screen; unread counts fall
        // only when the server has the read marker.
        c.mentions = 0;
        let with = c.with.clone();
        if self.is_open(&with) {
            return None;
        }
        self.selected = Some(with.clone());
        Some(with)
    }

    /// The entry `step` rows down (negative: up), wrapping.
    pub fn index_by(&self, step: isize) -> Option<usize> {
        let n = self.entries.len();
        if n == 0 {
            return None;
        }
        Some(match self.selected_index() {
            Some(i) => (i as isize + step).rem_euclid(n as isize) as usize,
            None => 0,
        })
    }

    pub fn set_presence(&mut self, user: &str, online: bool) {
        for c in &mut self.entries {
            if matches!(&c.with, Target::User(u) if same_user(u, user)) {
                c.online = Some(online);
            }
        }
        for f in &mut self.friends {
            if same_user(&f.username, user) {
                f.online = online;
            }
        }
    }

    /// Drops a group we are no longer in; the open conversation moves to the first
    /// one left when it was that group (returned, to load).
    pub fn remove_group(&mut self, group_id: u64) -> Option<Target> {
        let gone = Target::Group(group_id);
        self.groups.retain(|g| g.group_id != group_id);
        self.entries.retain(|c| !same_target(&c.with, &gone));
        if !self.is_open(&gone) {
            return None;
        }
        self.selected = self.entries.first().map(|c| c.with.clone());
        self.selected.clone()
    }

    /// Groups we own or administer: their join requests are ours to answer.
    pub fn managed_groups(&self) -> Vec<u64> {
        self.groups
            .iter()
            .filter(|g| matches!(g.role, Role::Owner | Role::Admin))
            .map(|g| g.group_id)
            .collect()
    }

    pub fn title_of(&self, with: &Target) -> String {
        self.entries
            .iter()
            .find(|c| same_target(&c.with, with))
            .map_or_else(|| ConversationEntry::new(with.clone()).title(), ConversationEntry::title)
    }

    pub fn draw(&self, look: Look, frame: &mut Frame, area: Rect) {
        let inner_width = usize::from(area.width.saturating_sub(2));
        let items: Vec<ListItem> = self
            .entries
            .iter()
            .map(|c| {
                let mut spans = Vec::new();
                if let Target::User(_) = c.with {
                    let (dot, colour) = match c.online {
                        Some(true) => ("● ", Color::Green),
                        _ => ("○ ", Color::DarkGray),
                    };
                    spans.push(Span::styled(dot, look.paint(Style::new().fg(colour))));
                } else {
                    spans.push(Span::raw("  "));
                }
                let mut badge = if c.unread > 0 { format!(" ({})", c.unread) } else { String::new() };
                if c.mentions > 0 {
                    badge.push_str(&format!(" @{}", c.mentions));
                }
                let title_room = inner_width.saturating_sub(2 + badge.width());
                spans.push(Span::styled(
                    truncate(&escape_line(&c.title()), title_room),
                    if c.unread > 0 { Style::new().add_modifier(Modifier::BOLD) } else { Style::new() },
                ));
                if !badge.is_empty() {
                    spans.push(Span::styled(badge, look.paint(Style::new().fg(Color::Yellow).bold())));
                }
                let preview = Line::styled(
                    format!("  {}", truncate(&escape_line(&c.preview), inner_width.saturating_sub(2))),
                    look.dim(),
                );
                ListItem::new(vec![Line::from(spans), preview])
            })
            .collect();
        let list = List::new(items)
            .block(Block::new().borders(Borders::ALL).title(" Conversations "))
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
        let mut state = ListState::default().with_selected(self.selected_index());
        frame.render_stateful_widget(list, area, &mut state);
    }
}
