//! chat-bench: a load generator for chat-server.
//!
//! Each scenario builds its users, friendships and groups, runs for a bounded time,
//! prints what it saw, and ends with one line of JSON holding every figure. The exit
//! status is non-zero when a message was lost or duplicated or anything failed.
//!
//! Run it pinned to a core of its own, e.g.
//! `taskset -c 1 chat-bench --server-pid $(pidof chat-server) pairs --pairs 100`;
//! with one CPU it runs a single-threaded runtime. Idle and storm scenarios with many
//! connections need `ulimit -n` above their count (the bench raises its soft limit
//! to the hard one by itself where it can).

mod conn;
mod delivery;
mod frame;
mod procfs;
mod report;
mod scenario;
mod setup;
mod stats;

use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::procfs::Probe;
use crate::report::Report;
use crate::scenario::Ctx;
use crate::scenario::fanout::FanoutArgs;
use crate::scenario::idle::IdleArgs;
use crate::scenario::pairs::PairsArgs;
use crate::scenario::resume_storm::StormArgs;
use crate::setup::Server;

/// Load generator for chat-server. Speaks its protocol over TCP on 127.0.0.0/8 only.
#[derive(Debug, Parser)]
#[command(name = "chat-bench", version, about)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// The server, HOST:PORT on 127.0.0.0/8.
    #[arg(long, global = true, default_value = "127.0.0.1:7878")]
    server: String,
    /// The server's pid, to report its RSS (VmRSS) and CPU use over the measured phase.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Prefix of this run's usernames (default: random), so runs against one database
    /// do not collide.
    #[arg(long, global = true)]
    prefix: Option<String>,
    /// Local addresses to connect from, round robin (e.g. 127.0.0.2,127.0.0.3), for more
    /// connections than one address has ephemeral ports.
    #[arg(long, global = true, value_delimiter = ',')]
    source_ips: Vec<Ipv4Addr>,
    /// Connections registering accounts at once (the server hashes passwords one per
    /// core, so a few keep it busy).
    #[arg(long, global = true, default_value_t = 8)]
    setup_concurrency: usize,
    /// Runtime threads (default: the CPUs this process may run on; 1 runs a
    /// single-threaded runtime).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Pairs of friends, each a closed loop of direct messages.
    Pairs(PairsArgs),
    /// One group; its owner sends at a fixed rate to every other member.
    Fanout(FanoutArgs),
    /// Many idle authenticated connections: the server's memory per connection.
    Idle(IdleArgs),
    /// Many clients resuming their sessions at once.
    ResumeStorm(StormArgs),
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Scenario::Pairs(_) => "pairs",
            Scenario::Fanout(_) => "fanout",
            Scenario::Idle(_) => "idle",
            Scenario::ResumeStorm(_) => "resume-storm",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads =
        cli.common.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    };
    let mut report = Report::new(cli.scenario.name());
    report.set("threads", threads.max(1));
    match runtime {
        Ok(runtime) => {
            if let Err(e) = runtime.block_on(run(cli, &mut report)) {
                report.error(format!("{e:#}"));
            }
            // Connections left by a failed scenario end with the runtime; don't wait.
            runtime.shutdown_background();
        }
        Err(e) => report.error(format!("cannot start the runtime: {e}")),
    }
    report.emit()
}

async fn run(cli: Cli, report: &mut Report) -> Result<()> {
    let common = cli.common;
    let addr = loopback_addr(&common.server)?;
    if let Some(ip) = common.source_ips.iter().find(|ip| !ip.is_loopback()) {
        bail!("--source-ips {ip} is not on 127.0.0.0/8");
    }
    match procfs::raise_nofile_limit() {
        Ok(Some((before, after))) => println!("raised the open-files limit from {before} to {after}"),
        Ok(None) => {}
        Err(e) => println!("could not raise the open-files limit ({e:#}); set it with `ulimit -n`"),
    }
    let prefix = common.prefix.unwrap_or_else(random_prefix);
    report.set("server", addr.to_string());
    report.set("prefix", &prefix);
    let probe = common.server_pid.map(Probe::of_pid).transpose()?;
    let server = Server::probe(addr, common.source_ips, prefix).await?;
    let ctx = Ctx { server, probe, setup_concurrency: common.setup_concurrency.max(1) };
    match &cli.scenario {
        Scenario::Pairs(args) => scenario::pairs::run(ctx, args, report).await,
        Scenario::Fanout(args) => scenario::fanout::run(ctx, args, report).await,
        Scenario::Idle(args) => scenario::idle::run(ctx, args, report).await,
        Scenario::ResumeStorm(args) => scenario::resume_storm::run(ctx, args, report).await,
    }
}

/// Resolves `server`, keeping to 127.0.0.0/8: the bench never loads anything else.
fn loopback_addr(server: &str) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> =
        server.to_socket_addrs().with_context(|| format!("--server {server}"))?.collect();
    addrs
        .into_iter()
        .find(|a| matches!(a, SocketAddr::V4(v4) if v4.ip().is_loopback()))
        .with_context(|| format!("--server {server} is not on 127.0.0.0/8"))
}

/// Five hex digits from the process's random hasher keys, the pid and the time.
fn random_prefix() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    format!("{:05x}", h.finish() & 0xf_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_addresses_off_loopback() {
        assert!(loopback_addr("127.0.0.1:7878").is_ok());
        assert!(loopback_addr("127.0.0.5:1").is_ok());
        assert!(loopback_addr("10.0.0.1:7878").is_err());
        assert!(loopback_addr("[::1]:7878").is_err());
    }

    #[test]
    fn random_prefixes_are_valid_usernames() {
        let p = random_prefix();
        assert_eq!(p.len(), 5);
        setup::check_names(&p, "s", 100_000).unwrap();
    }

    #[test]
    fn cli_parses_every_scenario() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "chat-bench",
            "pairs",
            "--pairs",
            "10",
            "--duration",
            "3",
            "--server-pid",
            "1",
        ])
        .unwrap();
        assert!(matches!(cli.scenario, Scenario::Pairs(ref a) if a.pairs == 10));
        assert_eq!(cli.common.server_pid, Some(1));
        let cli = Cli::try_parse_from(["chat-bench", "--source-ips", "127.0.0.2,127.0.0.3", "idle"]).unwrap();
        assert_eq!(cli.common.source_ips.len(), 2);
        assert!(Cli::try_parse_from(["chat-bench", "resume-storm", "--clients", "5"]).is_ok());
        assert!(Cli::try_parse_from(["chat-bench", "fanout", "--members", "1"]).is_err());
    }
}
