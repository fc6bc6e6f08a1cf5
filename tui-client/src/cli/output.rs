//! Printing results: plain text for people and shell pipelines, or one JSON object
//! per line with `--json`.

use chat_proto::model::{Message, MessageKind, Target};
use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON with `--json`, else `text()`.
    pub fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string(value) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: cannot encode output: {e}"),
            }
        } else {
            let text = text();
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }
}

pub fn target(t: &Target) -> String {
    match t {
        Target::User(u) => u.clone(),
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
            Some(f) => format!("[file {} ({} bytes)] {}", f.name, f.size, m.body),
            None => m.body.clone(),
        },
        MessageKind::Text => m.body.clone(),
    };
    let body = body.replace('\n', "\n\t");
    format!("{}\t{h:02}:{mi:02}:{s:02}Z\t{}: {body}", m.seq, m.from)
}
