//! What /proc tells about the server (and the bench itself): resident memory and CPU
//! time, sampled around a measured phase; and the open-files limit.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub rss_kib: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub at: Instant,
}

/// Reads `/proc/{pid}` (`pid` "self" for the bench).
#[derive(Debug, Clone)]
pub struct Probe {
    pid: String,
    ticks_per_sec: u64,
}

impl Probe {
    pub fn of_pid(pid: u32) -> Result<Self> {
        let probe = Self { pid: pid.to_string(), ticks_per_sec: clock_ticks() };
        probe.sample().with_context(|| format!("cannot read /proc/{pid}: is the server running?"))?;
        Ok(probe)
    }

    pub fn of_self() -> Self {
        Self { pid: "self".to_owned(), ticks_per_sec: clock_ticks() }
    }

    pub fn sample(&self) -> Result<Sample> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS in /proc/PID/status")?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // The command name (field 2) may hold spaces and parentheses; fields after
        // its closing parenthesis are plain. utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc/PID/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Result<u64> {
            fields.get(n - 3).and_then(|v| v.parse().ok()).context("malformed /proc/PID/stat")
        };
        let cpu_ticks = field(14)? + field(15)?;
        Ok(Sample { rss_kib, cpu_ticks, at: Instant::now() })
    }

    /// CPU used between two samples, in percent of one core.
    pub fn cpu_pct(&self, before: &Sample, after: &Sample) -> f64 {
        let wall = after.at.duration_since(before.at);
        let cpu = Duration::from_secs_f64(
            after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / self.ticks_per_sec as f64,
        );
        if wall.is_zero() { 0.0 } else { (cpu.as_secs_f64() / wall.as_secs_f64() * 1000.0).round() / 10.0 }
    }
}

/// Clock ticks per second of /proc/PID/stat (USER_HZ): 100 on every common Linux
/// ABI, asked of `getconf` in case this one differs.
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// This process's open-files limit: (soft, hard), `None` for unlimited.
pub fn nofile_limit() -> Result<(Option<u64>, Option<u64>)> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits.lines().find(|l| l.starts_with("Max open files")).context("no open-files limit")?;
    let mut values = line["Max open files".len()..].split_whitespace();
    let parse = |v: Option<&str>| -> Result<Option<u64>> {
        match v {
            Some("unlimited") => Ok(None),
            Some(n) => Ok(Some(n.parse()?)),
            None => bail!("malformed open-files limit"),
        }
    };
    Ok((parse(values.next())?, parse(values.next())?))
}

/// Raises the soft open-files limit to the hard one. The bench forbids unsafe code
/// and has no libc binding, so it asks util-linux `prlimit` to do it for this pid.
/// Returns (before, after) when it changed the limit.
pub fn raise_nofile_limit() -> Result<Option<(u64, u64)>> {
    let (soft, hard) = nofile_limit()?;
    let target = match hard {
        Some(h) => h,
        // The kernel caps "unlimited" at fs.nr_open.
        None => std::fs::read_to_string("/proc/sys/fs/nr_open")?.trim().parse()?,
    };
    let Some(soft) = soft.filter(|&s| s < target) else { return Ok(None) };
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={target}:{target}"))
        .stderr(std::process::Stdio::null())
        .status()
        .context("cannot run prlimit")?;
    if !status.success() {
        bail!("prlimit failed ({status})");
    }
    Ok(nofile_limit()?.0.map(|now| (soft, now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let probe = Probe::of_self();
        let a = probe.sample().unwrap();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = probe.sample().unwrap();
        assert!(a.rss_kib > 0 && b.cpu_ticks >= a.cpu_ticks);
        assert!(probe.cpu_pct(&a, &b) >= 0.0);
        assert!(nofile_limit().is_ok());
    }
}
