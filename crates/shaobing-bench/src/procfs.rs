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

/// CPU of this process's threads by what they do, told apart by their names.
#[derive(Debug, Clone)]
pub struct ThreadCpu {
    start: Vec<(String, &'static str, f64)>,
    wall: Instant,
}

/// The groups threads fall in, by the prefix of their name; the rest is `other`.
const GROUPS: [(&str, &str); 4] = [
    ("inference-", "inference"),
    ("keyframes-", "key-frame decode and scale"),
    ("receive", "receive (RTSP, depacketise)"),
    ("analysis", "analysis (gate, fire, rules)"),
];

impl ThreadCpu {
    pub fn start() -> Self {
        Self { start: threads(), wall: Instant::now() }
    }

    /// Cores each group used since the start, thread by thread (a thread that ended meanwhile
    /// is not counted).
    pub fn cores(&self) -> Vec<(String, f64)> {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        let mut sums: Vec<(String, f64)> =
            GROUPS.iter().map(|(_, g)| *g).chain(["other"]).map(|g| (g.to_string(), 0.0)).collect();
        for (tid, group, secs) in threads() {
            let before = self.start.iter().find(|(t, _, _)| *t == tid).map_or(0.0, |(_, _, s)| *s);
            if let Some(sum) = sums.iter_mut().find(|(g, _)| g == group) {
                sum.1 += (secs - before).max(0.0) / wall;
            }
        }
        sums
    }
}

/// This process's threads: id, group and seconds of CPU.
fn threads() -> Vec<(String, &'static str, f64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().to_string();
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let name = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map_or("", |(n, _)| n);
        let group = GROUPS.iter().find(|(prefix, _)| name.starts_with(prefix)).map_or("other", |(_, g)| g);
        let secs = cpu_seconds_of(&format!("self/task/{tid}"));
        out.push((tid, group, secs));
    }
    out
}
