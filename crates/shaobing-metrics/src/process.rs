//! The standard `process_*` series, read from `/proc/self` at each scrape. prometheus's own
//! collector needs the `process` feature and the procfs crate; these five figures need a few
//! lines of parsing.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntGauge, Opts};

#[derive(Debug)]
pub(crate) struct ProcessCollector {
    cpu: Gauge,
    rss: IntGauge,
    fds: IntGauge,
    threads: IntGauge,
    start: Gauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    #[allow(clippy::expect_used)] // static definitions: a failure is a programming error
    pub(crate) fn new() -> Self {
        let cpu =
            Gauge::with_opts(Opts::new("process_cpu_seconds_total", "User and system CPU time spent, in seconds."))
                .expect("static metric definition");
        let rss = IntGauge::new("process_resident_memory_bytes", "Resident memory size in bytes.")
            .expect("static metric definition");
        let fds = IntGauge::new("process_open_fds", "Open file descriptors.").expect("static metric definition");
        let threads = IntGauge::new("process_threads", "Operating-system threads.").expect("static metric definition");
        let start = Gauge::new("process_start_time_seconds", "Start time of the process since the epoch, in seconds.")
            .expect("static metric definition");
        let descs =
            [cpu.desc(), rss.desc(), fds.desc(), threads.desc(), start.desc()].into_iter().flatten().cloned().collect();
        Self { cpu, rss, fds, threads, start, descs }
    }
}

/// What `/proc/self/stat` says, in the units the series use.
#[derive(Debug, PartialEq)]
struct Stat {
    cpu_secs: f64,
    threads: i64,
    rss_bytes: i64,
    start_secs_after_boot: f64,
}

/// Fields after the command name (which may hold spaces and parentheses), per proc(5).
fn parse_stat(text: &str, ticks: f64, page: i64) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse::<f64>().ok();
    // `rest` starts at field 3 (state): utime is field 14, so index 11.
    Some(Stat {
        cpu_secs: (num(11)? + num(12)?) / ticks,
        threads: num(17)? as i64,
        start_secs_after_boot: num(19)? / ticks,
        rss_bytes: num(21)? as i64 * page,
    })
}

/// Clock ticks per second and the page size, for `/proc/self/stat`'s units.
#[allow(unsafe_code)] // sysconf is a plain C call with an integer argument
fn system_units() -> (i64, i64) {
    // SAFETY: sysconf only reads system constants; an unknown name returns -1.
    unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (ticks, page) = system_units();
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        if let Some(s) = stat.as_deref().and_then(|t| parse_stat(t, ticks.max(1) as f64, page.max(1))) {
            self.cpu.set(s.cpu_secs);
            self.rss.set(s.rss_bytes);
            self.threads.set(s.threads);
            self.start.set(boot_time().unwrap_or(0.0) + s.start_secs_after_boot);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.fds.set(dir.count() as i64);
        }
        [self.cpu.collect(), self.rss.collect(), self.fds.collect(), self.threads.collect(), self.start.collect()]
            .into_iter()
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "4242 (shaobing (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 \
                    123456789 300 18446744073709551615";
        let stat = parse_stat(line, 100.0, 4096).unwrap();
        assert_eq!(stat, Stat { cpu_secs: 3.0, threads: 7, start_secs_after_boot: 10.0, rss_bytes: 300 * 4096 });
    }

    #[test]
    fn this_process_reports_itself() {
        let families = ProcessCollector::new().collect();
        let value = |name: &str| {
            let f = families.iter().find(|f| f.name() == name).unwrap();
            f.get_metric()[0].get_gauge().get_value()
        };
        assert!(value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(value("process_open_fds") >= 3.0 && value("process_threads") >= 1.0);
        assert!(value("process_start_time_seconds") > 1.7e9);
    }
}
