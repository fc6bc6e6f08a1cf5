//! The scenarios, one module each, and what they share: the run context and the
//! timing flags of the traffic scenarios.

pub mod fanout;
pub mod idle;
pub mod pairs;
pub mod resume_storm;

use std::time::Duration;

use anyhow::{Result, bail};

use crate::procfs::Probe;
use crate::report::Report;
use crate::setup::Server;

/// Sessions opened (connect + `resume`) at once during setup.
pub const SESSION_CONCURRENCY: usize = 64;

/// What every scenario starts from.
#[derive(Debug)]
pub struct Ctx {
    pub server: Server,
    /// The server process, when its pid was given.
    pub probe: Option<Probe>,
    /// Connections registering accounts at once.
    pub setup_concurrency: usize,
}

/// Phases of a traffic scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Timing {
    /// Seconds of measured traffic.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    pub duration: Duration,
    /// Seconds of traffic before the measured phase, not measured.
    #[arg(long, default_value = "2", value_parser = parse_secs)]
    pub warmup: Duration,
    /// Longest wait, once senders stop, for the last replies and deliveries.
    #[arg(long, default_value = "5", value_parser = parse_secs)]
    pub drain: Duration,
    /// Pad each message body to this many bytes (default: as short as it gets, ~30).
    #[arg(long, default_value_t = 0)]
    pub body_size: usize,
}

impl Timing {
    pub fn check(&self, ctx: &Ctx) -> Result<()> {
        if self.duration.is_zero() {
            bail!("--duration must be above 0");
        }
        if self.body_size as u64 > ctx.server.hello.max_body {
            bail!(
                "--body-size {} is above the server's max_body {}",
                self.body_size,
                ctx.server.hello.max_body
            );
        }
        Ok(())
    }

    pub fn describe(&self, report: &mut Report) {
        report.set("duration_s", self.duration.as_secs_f64());
        report.set("warmup_s", self.warmup.as_secs_f64());
        report.set("drain_s", self.drain.as_secs_f64());
        report.set("body_size", self.body_size);
    }
}

/// Seconds, fractions allowed, up to a day.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{s:?} is not a number of seconds: {e}"))?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s} is not between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}
