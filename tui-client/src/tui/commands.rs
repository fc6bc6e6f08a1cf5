//! Slash commands typed in the input box: parsed here, purely; run by the event loop.

/// One parsed slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Add {
        user: String,
        note: Option<String>,
    },
    Accept {
        user: String,
    },
    Reject {
        user: String,
    },
    Remove {
        user: String,
    },
    Block {
        user: String,
    },
    Unblock {
        user: String,
    },
    GroupCreate {
        name: String,
    },
    GroupJoin {
        group_id: u64,
    },
    /// `None`: the open group conversation.
    GroupLeave {
        group_id: Option<u64>,
    },
    GroupMembers {
        group_id: Option<u64>,
    },
    GroupRequests {
        group_id: Option<u64>,
    },
    /// Answers USER's request to join the open group.
    GroupAnswer {
        user: String,
        accept: bool,
    },
    GroupKick {
        user: String,
    },
    GroupPromote {
        user: String,
    },
    GroupDemote {
        user: String,
    },
    GroupDissolve,
    GroupSearch {
        query: String,
    },
    /// `None`: the open group conversation.
    GroupInfo {
        group_id: Option<u64>,
    },
    Recall,
    /// Mark the open conversation read to its end, here and on the server.
    Read,
    /// Change the password: a form asks for each password, masked.
    Passwd,
    /// Log out: revoke this session's token and close.
    Logout,
    /// Delete the account: a form asks for the password, masked.
    DeleteAccount,
    /// Open a conversation's history (a closed one too).
    History {
        with: chat_proto::model::Target,
    },
    Search {
        text: String,
    },
    Requests,
    Quit,
    Help,
}

/// Commands whose arguments are secrets: masked on screen, never kept in the input
/// history.
const SECRET_COMMANDS: &[&str] = &["/passwd", "/delete-account"];

/// Whether `line` carries a secret (see [`SECRET_COMMANDS`]).
pub fn is_secret(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or_default().to_lowercase();
    SECRET_COMMANDS.contains(&first.as_str())
}

/// `line` as shown while typed: after a secret command's name, every character but
/// spaces is a `*`.
pub fn masked(line: &str) -> String {
    if !is_secret(line) {
        return line.to_owned();
    }
    let start = line.len() - line.trim_start().len();
    let name_end = line[start..].find(char::is_whitespace).map_or(line.len(), |i| start + i);
    let tail: String = line[name_end..].chars().map(|c| if c.is_whitespace() { c } else { '*' }).collect();
    format!("{}{tail}", &line[..name_end])
}

/// `Ok(None)`: not a command, send the text as a message (a leading `//` sends a
/// single `/`, see [`unescape`]). `Err`: a command with a usage error.
pub fn parse(text: &str) -> Result<Option<Command>, String> {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix('/') else { return Ok(None) };
    if rest.starts_with('/') {
        return Ok(None);
    }
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or_default().to_lowercase();
    let args: Vec<&str> = words.collect();
    let user = |usage: &str| -> Result<String, String> {
        match args.as_slice() {
            [user] => Ok((*user).to_owned()),
            _ => Err(format!("usage: {usage}")),
        }
    };
    let none =
        |cmd: Command, usage: &str| if args.is_empty() { Ok(cmd) } else { Err(format!("usage: {usage}")) };
    let command = match name.as_str() {
        "add" => match args.split_first() {
            Some((user, _)) => {
                let note = rest_after(rest, 2);
                Command::Add { user: (*user).to_owned(), note: (!note.is_empty()).then(|| note.to_owned()) }
            }
            None => return Err("usage: /add USER [note]".into()),
        },
        "accept" => Command::Accept { user: user("/accept USER")? },
        "reject" => Command::Reject { user: user("/reject USER")? },
        "remove" => Command::Remove { user: user("/remove USER")? },
        "block" => Command::Block { user: user("/block USER")? },
        "unblock" => Command::Unblock { user: user("/unblock USER")? },
        "recall" => none(Command::Recall, "/recall")?,
        "read" => none(Command::Read, "/read")?,
        // Passwords are never typed on the command line: a form asks for them.
        "passwd" => none(Command::Passwd, "/passwd alone: it asks for each password")?,
        "delete-account" => none(Command::DeleteAccount, "/delete-account alone: it asks for the password")?,
        "history" => match args.as_slice() {
            [with] => Command::History { with: parse_target(with) },
            _ => return Err("usage: /history USER|#ID".into()),
        },
        "quit" | "q" => none(Command::Quit, "/quit")?,
        "logout" => none(Command::Logout, "/logout")?,
        "help" => Command::Help,
        "requests" => none(Command::Requests, "/requests")?,
        "search" => {
            let text = rest_after(rest, 1);
            if text.is_empty() {
                return Err("usage: /search TEXT".into());
            }
            Command::Search { text: text.to_owned() }
        }
        "group" => parse_group(rest, &args)?,
        other => return Err(format!("unknown command /{other} (/help lists them)")),
    };
    Ok(Some(command))
}

/// `/group SUB ...`
fn parse_group(rest: &str, args: &[&str]) -> Result<Command, String> {
    let sub = args.first().map(|s| s.to_lowercase()).unwrap_or_default();
    let more = args.get(1..).unwrap_or_default();
    let id = |usage: &str| -> Result<Option<u64>, String> {
        match more {
            [] => Ok(None),
            [id] => id.trim_start_matches('#').parse().map(Some).map_err(|_| format!("usage: {usage}")),
            _ => Err(format!("usage: {usage}")),
        }
    };
    let user = |usage: &str| -> Result<String, String> {
        match more {
            [user] => Ok((*user).to_owned()),
            _ => Err(format!("usage: {usage}")),
        }
    };
    Ok(match sub.as_str() {
        "create" => {
            let name = rest_after(rest, 2);
            if name.is_empty() {
                return Err("usage: /group create NAME".into());
            }
            Command::GroupCreate { name: name.to_owned() }
        }
        "join" => match id("/group join ID")? {
            Some(group_id) => Command::GroupJoin { group_id },
            None => return Err("usage: /group join ID".into()),
        },
        "leave" => Command::GroupLeave { group_id: id("/group leave [ID]")? },
        "members" => Command::GroupMembers { group_id: id("/group members [ID]")? },
        "requests" => Command::GroupRequests { group_id: id("/group requests [ID]")? },
        "accept" => Command::GroupAnswer { user: user("/group accept USER")?, accept: true },
        "reject" => Command::GroupAnswer { user: user("/group reject USER")?, accept: false },
        "kick" => Command::GroupKick { user: user("/group kick USER")? },
        "promote" => Command::GroupPromote { user: user("/group promote USER")? },
        "demote" => Command::GroupDemote { user: user("/group demote USER")? },
        "search" => {
            let query = rest_after(rest, 2);
            if query.is_empty() {
                return Err("usage: /group search TEXT".into());
            }
            Command::GroupSearch { query: query.to_owned() }
        }
        "info" => Command::GroupInfo { group_id: id("/group info [ID]")? },
        "dissolve" if more.is_empty() => Command::GroupDissolve,
        "dissolve" => return Err("usage: /group dissolve".into()),
        _ => {
            return Err(
                "usage: /group create|join|leave|members|requests|kick|promote|demote|dissolve|search|info"
                    .into(),
            );
        }
    })
}

/// `#12` is a group; anything else a user.
fn parse_target(word: &str) -> chat_proto::model::Target {
    match word.strip_prefix('#').and_then(|id| id.parse().ok()) {
        Some(id) => chat_proto::model::Target::Group(id),
        None => chat_proto::model::Target::User(word.to_owned()),
    }
}

/// The text after the first `n` whitespace-separated words, trimmed, spacing inside
/// kept (for notes, names and search text).
fn rest_after(text: &str, n: usize) -> &str {
    let mut rest = text.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.trim_end()
}

/// The text to send for input that is not a command: `//x` sends `/x`.
pub fn unescape(text: &str) -> String {
    match text.trim_start().strip_prefix("//") {
        Some(_) => text.replacen("//", "/", 1),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Command {
        parse(text).expect("parses").expect("a command")
    }

    #[test]
    fn plain_text_is_not_a_command() {
        assert_eq!(parse("hello /there"), Ok(None));
        assert_eq!(parse("//escaped"), Ok(None));
        assert_eq!(unescape("//escaped"), "/escaped");
        assert_eq!(unescape("a // b"), "a // b");
    }

    #[test]
    fn friend_commands() {
        assert_eq!(ok("/add bob"), Command::Add { user: "bob".into(), note: None });
        assert_eq!(
            ok("/add bob  hi  there "),
            Command::Add { user: "bob".into(), note: Some("hi  there".into()) }
        );
        assert_eq!(ok("/accept Bob"), Command::Accept { user: "Bob".into() });
        assert_eq!(ok("/reject bob"), Command::Reject { user: "bob".into() });
        assert_eq!(ok("/remove bob"), Command::Remove { user: "bob".into() });
        assert_eq!(ok("/block bob"), Command::Block { user: "bob".into() });
        assert_eq!(ok("/UNBLOCK bob"), Command::Unblock { user: "bob".into() });
        assert!(parse("/add").is_err());
        assert!(parse("/accept a b").is_err());
    }

    #[test]
    fn group_commands() {
        assert_eq!(ok("/group create rust fans"), Command::GroupCreate { name: "rust fans".into() });
        assert_eq!(ok("/group join 12"), Command::GroupJoin { group_id: 12 });
        assert_eq!(ok("/group join #12"), Command::GroupJoin { group_id: 12 });
        assert_eq!(ok("/group leave"), Command::GroupLeave { group_id: None });
        assert_eq!(ok("/group leave 3"), Command::GroupLeave { group_id: Some(3) });
        assert_eq!(ok("/group members"), Command::GroupMembers { group_id: None });
        assert_eq!(ok("/group search book  club"), Command::GroupSearch { query: "book  club".into() });
        assert_eq!(ok("/group info #7"), Command::GroupInfo { group_id: Some(7) });
        assert_eq!(ok("/group info"), Command::GroupInfo { group_id: None });
        assert_eq!(ok("/passwd"), Command::Passwd);
        assert_eq!(ok("/delete-account"), Command::DeleteAccount);
        // Passwords with spaces cannot be told apart on one line: the form asks.
        assert!(parse("/passwd old pw new pw").is_err());
        assert!(parse("/delete-account pw").is_err());
        assert_eq!(ok("/history #7"), Command::History { with: chat_proto::model::Target::Group(7) });
        assert_eq!(
            ok("/history Bob"),
            Command::History { with: chat_proto::model::Target::User("Bob".into()) }
        );
        assert!(parse("/history").is_err());
        assert_eq!(ok("/logout"), Command::Logout);
        assert_eq!(masked("/passwd hunter2 x y"), "/passwd ******* * *");
        assert_eq!(masked("/PASSWD abc"), "/PASSWD ***");
        assert_eq!(masked("/delete-account secret"), "/delete-account ******");
        assert_eq!(masked("hello /passwd x"), "hello /passwd x");
        assert!(is_secret(" /passwd a b") && !is_secret("/password a"));
        assert_eq!(ok("/group requests 4"), Command::GroupRequests { group_id: Some(4) });
        assert_eq!(ok("/group kick eve"), Command::GroupKick { user: "eve".into() });
        assert_eq!(ok("/read"), Command::Read);
        assert!(parse("/read 5").is_err());
        assert_eq!(ok("/group accept Eve"), Command::GroupAnswer { user: "Eve".into(), accept: true });
        assert_eq!(ok("/group reject eve"), Command::GroupAnswer { user: "eve".into(), accept: false });
        assert!(parse("/group accept").is_err());
        assert_eq!(ok("/group promote eve"), Command::GroupPromote { user: "eve".into() });
        assert_eq!(ok("/group demote eve"), Command::GroupDemote { user: "eve".into() });
        assert_eq!(ok("/group dissolve"), Command::GroupDissolve);
        assert!(parse("/group join x").is_err());
        assert!(parse("/group join").is_err());
        assert!(parse("/group create").is_err());
        assert!(parse("/group").is_err());
        assert!(parse("/group dance").is_err());
    }

    #[test]
    fn other_commands() {
        assert_eq!(ok("/recall"), Command::Recall);
        assert_eq!(ok("/search  Hello World "), Command::Search { text: "Hello World".into() });
        assert!(parse("/search").is_err());
        assert_eq!(ok("/quit"), Command::Quit);
        assert_eq!(ok(" /help "), Command::Help);
        assert_eq!(ok("/requests"), Command::Requests);
        assert!(parse("/frobnicate").unwrap_err().contains("unknown command"));
    }
}
