//! CPU and memory of this process, from /proc.

use std::time::Instant;

/// Seconds of CPU (user + system) process `pid` ("self" for this one) has used.
pub fn cpu_seconds_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name, which is parenthesised and may contain spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident set size in MiB.
pub fn rss_mib() -> f64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0.0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// CPU a process used between `start` and now, as a fraction of one core.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    pid: String,
    cpu: f64,
    wall: Instant,
}

impl CpuMeter {
    pub fn start(pid: &str) -> Self {
        Self { pid: pid.to_string(), cpu: cpu_seconds_of(pid), wall: Instant::now() }
    }

    pub fn cores(&self) -> f64 {
        (cpu_seconds_of(&self.pid) - self.cpu) / self.wall.elapsed().as_secs_f64().max(1e-9)
    }
}
