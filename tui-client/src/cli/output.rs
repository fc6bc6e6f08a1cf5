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

/// How times are shown: in the machine's time zone, as the TUI shows them, with
/// the date when it is not today's.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now_ms: i64,
    pub utc_offset_secs: i64,
}

impl Clock {
    /// This machine's time and time zone now.
    pub fn local() -> Self {
        let now = chrono::Local::now();
        Self { now_ms: now.timestamp_millis(), utc_offset_secs: i64::from(now.offset().local_minus_utc()) }
    }

    /// `HH:MM:SS` today, `YYYY-MM-DD HH:MM:SS` on any other day.
    pub fn time(&self, ts_ms: i64) -> String {
        let local = |ms: i64| ms.div_euclid(1000) + self.utc_offset_secs;
        let (secs, today) = (local(ts_ms), local(self.now_ms).div_euclid(86_400));
        let (day, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let clock = format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
        if day == today {
            return clock;
        }
        let (y, m, d) = chat_tui::tui::look::civil_from_days(day);
        format!("{y:04}-{m:02}-{d:02} {clock}")
    }
}

/// One message as a line: `seq  time  from: body`; a multi-line body continues on
/// lines that start with a tab, so every line that does not is a new message.
pub fn message(m: &Message) -> String {
    message_at(m, &Clock::local())
}

/// [`message`] with the time shown by `clock`.
pub fn message_at(m: &Message, clock: &Clock) -> String {
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
    format!("{}\t{}\t{}: {body}", m.seq, clock.time(m.ts), escape_line(&m.from))
}

#[cfg(test)]
mod tests {
    use chat_proto::model::{FileInfo, Message, MessageKind, Target};

    use super::*;

    #[test]
    fn times_are_local_with_the_date_when_not_today() {
        // 2025-12-07 23:30:00 UTC is 2025-12-08 00:30:00 at UTC+1.
        let ts = 1_765_150_200_000;
        let berlin = |now_ms| Clock { now_ms, utc_offset_secs: 3600 };
        assert_eq!(berlin(ts + 60_000).time(ts), "00:30:00", "the same local day");
        assert_eq!(berlin(ts + 86_400_000).time(ts), "2025-12-08 00:30:00", "the next day");
        let utc = Clock { now_ms: ts, utc_offset_secs: 0 };
        assert_eq!(utc.time(ts), "23:30:00");
        assert_eq!(utc.time(ts - 86_400_000), "2025-12-06 23:30:00");
    }

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
        let today = Clock { now_ms: 5_000, utc_offset_secs: 0 };
        let line = message_at(&hostile("\u{1b}]0;pwned\u{7}\u{1b}[2J\nnext\tcol\u{9b}"), &today);
        assert_eq!(
            line,
            "7\t00:00:00\tmal\\u{1b}[31mlory: \\u{1b}]0;pwned\\u{7}\\u{1b}[2J\n\tnext    col\\u{9b}"
        );
        let mut file = hostile("");
        file.kind = MessageKind::File;
        file.file =
            Some(FileInfo { file_id: 1, name: "a\u{202e}txt.exe".into(), size: 3, sha256: String::new() });
        assert!(message(&file).contains(r"[file a\u{202e}txt.exe (3 bytes)]"), "{}", message(&file));
        assert_eq!(target(&Target::User("x\u{7}".into())), r"x\u{7}");
    }
}
