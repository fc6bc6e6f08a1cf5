//! A scenario's results: human-readable lines as they come, then one JSON line with
//! every figure, and the exit status.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::procfs::{Probe, Sample};

#[derive(Debug)]
pub struct Report {
    fields: Map<String, Value>,
    errors: Vec<String>,
}

impl Report {
    pub fn new(scenario: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("scenario".into(), json!(scenario));
        Self { fields, errors: Vec::new() }
    }

    pub fn set(&mut self, key: &str, value: impl Serialize) {
        self.fields.insert(key.to_owned(), serde_json::to_value(value).unwrap_or(Value::Null));
    }

    pub fn extend(&mut self, more: Map<String, Value>) {
        self.fields.extend(more);
    }

    /// Something that makes the run fail; printed now and listed in the JSON.
    pub fn error(&mut self, message: impl Into<String>) {
        let message = message.into();
        println!("ERROR: {message}");
        self.errors.push(message);
    }

    /// Adds the server's RSS and CPU over the measured phase (null without
    /// --server-pid) and the bench's own CPU, and prints them.
    pub fn usage(&mut self, server: Option<(&Probe, Sample, Sample)>, bench: Option<(Sample, Sample)>) {
        match server {
            Some((probe, before, after)) => {
                let cpu = probe.cpu_pct(&before, &after);
                println!(
                    "server: RSS {} KiB (was {} KiB), CPU {cpu:.1}% of one core over the measured phase",
                    after.rss_kib, before.rss_kib
                );
                self.set("server_rss_kib", after.rss_kib);
                self.set("server_rss_before_kib", before.rss_kib);
                self.set("server_cpu_pct", cpu);
            }
            None => {
                self.set("server_rss_kib", Value::Null);
                self.set("server_rss_before_kib", Value::Null);
                self.set("server_cpu_pct", Value::Null);
            }
        }
        match bench {
            Some((before, after)) => {
                let cpu = Probe::of_self().cpu_pct(&before, &after);
                println!("bench: CPU {cpu:.1}% of one core, RSS {} KiB", after.rss_kib);
                self.set("bench_cpu_pct", cpu);
            }
            None => self.set("bench_cpu_pct", Value::Null),
        }
    }

    /// Prints the JSON line (last) and returns the exit status: failure on any error.
    pub fn emit(mut self) -> ExitCode {
        let ok = self.errors.is_empty();
        self.fields.insert("ok".into(), json!(ok));
        self.fields.insert("errors".into(), json!(self.errors));
        println!("{}", Value::Object(self.fields));
        if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}
