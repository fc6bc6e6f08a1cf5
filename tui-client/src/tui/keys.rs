//! Configurable key bindings: the `[keys]` table of `config.toml` maps action names
//! to key strings such as `"ctrl+n"`, `"alt+enter"`, `"tab"` or `"pageup"` (or a
//! list of them). Actions not named keep their default keys.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::KeyList;

/// What a bound key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Send,
    Newline,
    NextConversation,
    PreviousConversation,
    Search,
    Requests,
    Quit,
    ScrollUp,
    ScrollDown,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Send,
        Action::Newline,
        Action::NextConversation,
        Action::PreviousConversation,
        Action::Search,
        Action::Requests,
        Action::Quit,
        Action::ScrollUp,
        Action::ScrollDown,
    ];

    /// The name used in `config.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Send => "send",
            Action::Newline => "newline",
            Action::NextConversation => "next_conversation",
            Action::PreviousConversation => "previous_conversation",
            Action::Search => "search",
            Action::Requests => "requests",
            Action::Quit => "quit",
            Action::ScrollUp => "scroll_up",
            Action::ScrollDown => "scroll_down",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Send => "send / run the command",
            Action::Newline => "new line",
            Action::NextConversation => "next conversation",
            Action::PreviousConversation => "previous conversation",
            Action::Search => "search the history",
            Action::Requests => "friend and join requests",
            Action::Quit => "quit",
            Action::ScrollUp => "scroll up (older)",
            Action::ScrollDown => "scroll down",
        }
    }

    fn defaults(self) -> &'static [&'static str] {
        match self {
            Action::Send => &["enter"],
            Action::Newline => &["alt+enter", "shift+enter"],
            Action::NextConversation => &["ctrl+n", "tab"],
            Action::PreviousConversation => &["ctrl+p", "shift+tab"],
            Action::Search => &["ctrl+f"],
            Action::Requests => &["ctrl+r"],
            Action::Quit => &["ctrl+c"],
            Action::ScrollUp => &["pageup"],
            Action::ScrollDown => &["pagedown"],
        }
    }

    fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// One key with its modifiers, normalised so that it compares with key events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    /// Shift is part of a character (`A`) and of BackTab, not a modifier of its own.
    fn normalise(code: KeyCode, modifiers: KeyModifiers) -> Self {
        let relevant = KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT;
        let mut modifiers = modifiers & relevant;
        let code = match code {
            KeyCode::Tab if modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            KeyCode::Char(c) if modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        if matches!(code, KeyCode::Char(_) | KeyCode::BackTab) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        Self { code, modifiers }
    }

    pub fn of_event(event: &KeyEvent) -> Self {
        Self::normalise(event.code, event.modifiers)
    }

    /// Parses `"ctrl+n"`, `"alt+enter"`, `"shift+tab"`, `"pageup"`, `"f5"`, `"x"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        // A lone `+` is the key itself; otherwise `+` separates modifiers.
        let (mods, key) = match text.rsplit_once('+') {
            Some((mods, "")) if !mods.is_empty() => (mods.strip_suffix('+').unwrap_or(mods), "+"),
            Some((mods, key)) => (mods, key),
            None => ("", text),
        };
        let mut modifiers = KeyModifiers::NONE;
        for m in mods.split('+').filter(|m| !m.is_empty()) {
            modifiers |= match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => KeyModifiers::CONTROL,
                "alt" | "meta" => KeyModifiers::ALT,
                "shift" => KeyModifiers::SHIFT,
                other => return Err(format!("unknown modifier `{other}` in `{text}` (ctrl, alt, shift)")),
            };
        }
        let lower = key.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "esc" | "escape" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            f if f.len() > 1
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = key.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("unknown key `{key}` in `{text}`")),
                }
            }
        };
        Ok(Self::normalise(code, modifiers))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl+")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("Alt+")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift+")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.modifiers.contains(KeyModifiers::CONTROL) => {
                write!(f, "{}", c.to_ascii_uppercase())
            }
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::BackTab => f.write_str("Shift+Tab"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Which keys do what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<Action, Vec<Key>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = Action::ALL
            .into_iter()
            .map(|a| (a, a.defaults().iter().filter_map(|k| Key::parse(k).ok()).collect()))
            .collect();
        Self { bindings }
    }
}

impl Keymap {
    /// The defaults with the `[keys]` table's entries in place of theirs.
    pub fn from_config(table: &BTreeMap<String, KeyList>) -> Result<Self, String> {
        let mut map = Self::default();
        for (name, keys) in table {
            let action = Action::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                format!("[keys]: unknown action `{name}` (known: {})", names.join(", "))
            })?;
            let parsed = keys
                .as_slice()
                .iter()
                .map(|k| Key::parse(k).map_err(|e| format!("[keys] {name}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            map.bindings.insert(action, parsed);
        }
        Ok(map)
    }

    /// The action bound to a key event, if any.
    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        let key = Key::of_event(event);
        self.bindings.iter().find(|(_, keys)| keys.contains(&key)).map(|(a, _)| *a)
    }

    /// The first key bound to `action`, for hints.
    pub fn first_key(&self, action: Action) -> String {
        self.bindings
            .get(&action)
            .and_then(|k| k.first())
            .map_or_else(|| "(unbound)".into(), ToString::to_string)
    }

    /// `Ctrl+N, Tab` for the help pop-up.
    pub fn describe_keys(&self, action: Action) -> String {
        let keys = self.bindings.get(&action).map(Vec::as_slice).unwrap_or_default();
        if keys.is_empty() {
            return "(unbound)".into();
        }
        keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn parses_keys() {
        assert_eq!(
            Key::parse("ctrl+n"),
            Ok(Key { code: KeyCode::Char('n'), modifiers: KeyModifiers::CONTROL })
        );
        assert_eq!(Key::parse("Ctrl+N").map(|k| k.code), Ok(KeyCode::Char('n')));
        assert_eq!(Key::parse("alt+enter"), Ok(Key { code: KeyCode::Enter, modifiers: KeyModifiers::ALT }));
        assert_eq!(Key::parse("shift+tab").map(|k| k.code), Ok(KeyCode::BackTab));
        assert_eq!(Key::parse("pageup").map(|k| k.code), Ok(KeyCode::PageUp));
        assert_eq!(Key::parse("f5").map(|k| k.code), Ok(KeyCode::F(5)));
        assert_eq!(Key::parse("ctrl++").map(|k| k.code), Ok(KeyCode::Char('+')));
        assert_eq!(Key::parse("space").map(|k| k.code), Ok(KeyCode::Char(' ')));
        assert!(Key::parse("hyper+x").unwrap_err().contains("unknown modifier `hyper`"));
        assert!(Key::parse("ctrl+nope").unwrap_err().contains("unknown key `nope`"));
        assert!(Key::parse("").is_err());
        assert_eq!(Key::parse("ctrl+alt+x").map(|k| k.to_string()), Ok("Ctrl+Alt+X".into()));
    }

    #[test]
    fn defaults_and_overrides() {
        let map = Keymap::default();
        assert_eq!(
            map.action(&ev(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(Action::NextConversation)
        );
        assert_eq!(
            map.action(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::PreviousConversation)
        );
        assert_eq!(map.action(&ev(KeyCode::Enter, KeyModifiers::NONE)), Some(Action::Send));
        assert_eq!(map.action(&ev(KeyCode::Enter, KeyModifiers::ALT)), Some(Action::Newline));
        assert_eq!(map.action(&ev(KeyCode::Char('n'), KeyModifiers::NONE)), None);
        assert_eq!(map.describe_keys(Action::NextConversation), "Ctrl+N, Tab");

        let mut table = BTreeMap::new();
        table.insert("next_conversation".to_owned(), KeyList::One("alt+j".into()));
        table.insert("scroll_up".to_owned(), KeyList::Many(vec!["pageup".into(), "ctrl+u".into()]));
        let map = Keymap::from_config(&table).expect("valid");
        assert_eq!(map.action(&ev(KeyCode::Char('j'), KeyModifiers::ALT)), Some(Action::NextConversation));
        assert_eq!(map.action(&ev(KeyCode::Char('n'), KeyModifiers::CONTROL)), None);
        assert_eq!(map.action(&ev(KeyCode::Char('u'), KeyModifiers::CONTROL)), Some(Action::ScrollUp));
        assert_eq!(
            map.action(&ev(KeyCode::Char('p'), KeyModifiers::CONTROL)),
            Some(Action::PreviousConversation)
        );

        table.insert("teleport".to_owned(), KeyList::One("ctrl+t".into()));
        assert!(Keymap::from_config(&table).unwrap_err().contains("unknown action `teleport`"));
        table.remove("teleport");
        table.insert("quit".to_owned(), KeyList::One("ctrl+zz".into()));
        assert!(Keymap::from_config(&table).unwrap_err().contains("[keys] quit: unknown key `zz`"));
    }
}
