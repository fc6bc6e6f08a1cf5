//! Printing results: plain text for people and shell pipelines, or one JSON object
//! per line with `--json`. Server text is escaped field by field (so a tab or a line
//! break inside a name cannot fake a column or a line) and the whole line once more
//! before it is printed.

use chat_proto::model::{Message, MessageKind, Target};
use chat_tui::display::{escape_keeping_layout, escape_line, json_line, lines};
use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints each of `items` as [`Output::print`] does; as text, an empty list says
    /// `empty` instead of printing nothing (in JSON, no line is no item).
    pub fn list<T: Serialize>(&self, items: &[T], empty: &str, text: impl Fn(&T) -> String) {
        if items.is_empty() && !self.json {
            println!("{empty}");
        }
        for item in items {
            self.print(item, || text(item));
        }
    }

    /// Prints `value` as JSON with `--json`, else `text()`.
    pub fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            match json_line(value) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: cannot encode output: {e}"),
            }
        } else {
            let text = text();
            if !text.is_empty() {
                println!("{}", escape_keeping_layout(&text));
            }
        }
    }
}

pub fn target(t: &Target) -> String {
    match t {
        Target::User(u) => escape_line(u).into_owned(),
        Target::Group(g) => format!("#{g}"),
    }
}

/// One message as a line: `seq  time  from: body`; a multi-line body continues on
/// lines that start with a tab, so every line that does not is a new message.
pub fn message(m: &Message) -> String {
    let secs = m.ts.div_euclid(1000);
    let (h, mi, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let body = match m.kind {
        _ if m.recalled => "(message recalled)".to_owned(),
        MessageKind::Recall => format!("(recalled message {})", m.recalls.unwrap_or(0)),
        MessageKind::File => match &m.file {
            Some(f) => format!("[file {} ({} bytes)] {}", escape_line(&f.name), f.size, m.body),
            None => m.body.clone(),
        },
        MessageKind::Text => m.body.clone(),
    };
    let body = lines(&body).collect::<Vec<_>>().join("\n\t");
    format!("{}\t{h:02}:{mi:02}:{s:02}Z\t{}: {body}", m.seq, escape_line(&m.from))
}

#[cfg(test)]
mod tests {
    use chat_proto::model::{FileInfo, Message, MessageKind, Target};

    use super::*;

    fn hostile(body: &str) -> Message {
        Message {
            msg_id: 1,
            seq: 7,
            from: "mal\u{1b}[31mlory".into(),
            from_id: 2,
            to: Target::User("bob".into()),
            body: body.into(),
            ts: 0,
            kind: MessageKind::Text,
            file: None,
            recalls: None,
            recalled: false,
        }
    }

    #[test]
    fn a_message_line_shows_controls_escaped_and_keeps_continuations() {
        let line = message(&hostile("\u{1b}]0;pwned\u{7}\u{1b}[2J\nnext\tcol\u{9b}"));
        assert_eq!(
            line,
            "7\t00:00:00Z\tmal\\u{1b}[31mlory: \\u{1b}]0;pwned\\u{7}\\u{1b}[2J\n\tnext    col\\u{9b}"
        );
        let mut file = hostile("");
        file.kind = MessageKind::File;
        file.file =
            Some(FileInfo { file_id: 1, name: "a\u{202e}txt.exe".into(), size: 3, sha256: String::new() });
        assert!(message(&file).contains(r"[file a\u{202e}txt.exe (3 bytes)]"), "{}", message(&file));
        assert_eq!(target(&Target::User("x\u{7}".into())), r"x\u{7}");
    }
}
