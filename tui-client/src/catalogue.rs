//! Every command chat-tui has, listed once: its subcommand (`chat-tui friends add
//! USER`), its slash command in the TUI (`/add USER`), and what it does. The TUI's
//! help is drawn from here, and a test holds the two surfaces to it: each
//! subcommand and each slash command has its entry, and an entry with one form
//! only says why.

/// One command in both of its forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The subcommand with its arguments, after `chat-tui`.
    pub cli: Option<&'static str>,
    /// The slash command with its arguments.
    pub slash: Option<&'static str>,
    pub about: &'static str,
    /// Why the other form does not exist, when one is `None`.
    pub only: Option<&'static str>,
}

const fn both(cli: &'static str, slash: &'static str, about: &'static str) -> Entry {
    Entry { cli: Some(cli), slash: Some(slash), about, only: None }
}

const fn cli_only(cli: &'static str, about: &'static str, why: &'static str) -> Entry {
    Entry { cli: Some(cli), slash: None, about, only: Some(why) }
}

const fn slash_only(slash: &'static str, about: &'static str, why: &'static str) -> Entry {
    Entry { cli: None, slash: Some(slash), about, only: Some(why) }
}

pub const COMMANDS: &[Entry] = &[
    cli_only("register USER", "create an account and log in to it", "the TUI asks at its start"),
    cli_only("login USER", "log in and save the session", "the TUI asks at its start"),
    both("logout", "/logout", "log out: this session's token is revoked"),
    cli_only("whoami", "who is logged in, and where", "the status bar shows it"),
    both("passwd", "/passwd", "change your password (asked for in masked fields)"),
    both("delete-account", "/delete-account", "delete your account for good (masked)"),
    cli_only("send --to WITH TEXT", "send a message", "type it and press Enter"),
    both("history --with WITH", "/history USER|#ID", "show a conversation, closed ones too"),
    cli_only("tail", "print events as they come", "the TUI is the live view"),
    both("read --with WITH", "/read", "mark the conversation read (every device)"),
    both("recall MSG_ID", "/recall", "recall your last message here"),
    cli_only("conversations", "conversations with unread counts", "the sidebar lists them"),
    cli_only("friends list", "your friends, with presence", "the sidebar lists them"),
    both("friends add USER", "/add USER [note]", "ask USER to be your friend"),
    both("friends accept USER", "/accept USER", "accept USER's friend request"),
    both("friends reject USER", "/reject USER", "reject USER's friend request"),
    both("friends remove USER", "/remove USER", "remove a friend"),
    both("friends block USER", "/block USER", "block a user"),
    both("friends unblock USER", "/unblock USER", "unblock a user"),
    both("friends requests", "/requests", "pending friend and join requests"),
    cli_only("groups list", "your groups and your role", "the sidebar lists them"),
    both("groups create NAME", "/group create NAME", "create a group"),
    both("groups join ID", "/group join ID", "ask to join group ID"),
    both("groups leave ID", "/group leave [ID]", "leave a group (default: the open one)"),
    both("groups members ID", "/group members [ID]", "list a group's members"),
    both("groups requests ID", "/group requests [ID]", "pending join requests of a group"),
    both("groups accept ID USER", "/group accept USER", "let USER join the group"),
    both("groups reject ID USER", "/group reject USER", "turn down USER's request to join"),
    both("groups kick ID USER", "/group kick USER", "remove USER from the group"),
    both("groups promote ID USER", "/group promote USER", "make USER an admin of the group"),
    both("groups demote ID USER", "/group demote USER", "make USER a member of the group"),
    both("groups dissolve ID", "/group dissolve", "dissolve the group (owner)"),
    both("groups search TEXT", "/group search TEXT", "find groups by name, to join"),
    both("groups info ID", "/group info [ID]", "a group's name, owner and size"),
    slash_only("/search TEXT", "search the local history", "`history --local` prints it for grep"),
    slash_only("/quit", "quit", "subcommands end by themselves"),
    slash_only("/help", "this help", "`chat-tui --help`"),
    slash_only("//text", "send text starting with /", "`send` takes any text"),
];

/// The slash commands and what they do, for the TUI's help.
pub fn slash_help() -> impl Iterator<Item = (&'static str, &'static str)> {
    COMMANDS.iter().filter_map(|e| Some((e.slash?, e.about)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_both_forms_or_says_why() {
        for e in COMMANDS {
            assert!(e.cli.is_some() || e.slash.is_some(), "{e:?}");
            assert_eq!(e.cli.is_some() && e.slash.is_some(), e.only.is_none(), "{e:?}");
        }
    }

    /// Each slash form parses, with sample values for its placeholders.
    #[test]
    fn every_slash_form_is_a_command() {
        for (slash, _) in slash_help() {
            let sample = slash
                .replace("USER|#ID", "bob")
                .replace(" [note]", " hi")
                .replace(" [ID]", " 7")
                .replace("USER", "bob")
                .replace("NAME", "club")
                .replace("TEXT", "hello")
                .replace("ID", "7");
            match crate::tui::commands::parse(&sample) {
                Ok(Some(_)) => {}
                Ok(None) if slash == "//text" => {}
                other => panic!("{slash} ({sample}): {other:?}"),
            }
        }
    }
}
