//! The standard Prometheus process metrics, read from Linux's `/proc` at scrape time.

use std::fs;

use crate::{Collector, FamilyData, MetricFamily};

/// Adds `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds` and
/// `process_start_time_seconds` (client_golang's names and meanings) at each scrape. A
/// value that cannot be read (no `/proc`: not Linux) is left out, never an error.
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    ticks_per_second: f64,
    page_size: f64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl ProcessCollector {
    pub fn new() -> Self {
        ProcessCollector {
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
        }
    }

    fn families(&self, input: &ProcInput) -> Vec<MetricFamily> {
        let gauge = |name: &str, help: &str, value: f64| {
            MetricFamily::new(name, help, FamilyData::Gauge(vec![(vec![], value)]))
        };
        let mut families = Vec::new();
        if let Some(stat) = input.stat.as_deref().and_then(parse_stat) {
            let cpu = (stat.utime_ticks + stat.stime_ticks) as f64 / self.ticks_per_second;
            families.push(MetricFamily::new(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                FamilyData::Counter(vec![(vec![], cpu)]),
            ));
            families.push(gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stat.rss_pages as f64 * self.page_size,
            ));
            families.push(gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stat.vsize_bytes as f64,
            ));
            if let Some(boot) = input.system_stat.as_deref().and_then(parse_boot_time) {
                families.push(gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    boot as f64 + stat.start_ticks as f64 / self.ticks_per_second,
                ));
            }
        }
        if let Some(open) = input.open_fds {
            families.push(gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                open as f64,
            ));
        }
        if let Some(max) = input.limits.as_deref().and_then(parse_max_fds) {
            families.push(gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            ));
        }
        families
    }
}

impl Collector for ProcessCollector {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let input = ProcInput {
            stat: fs::read_to_string("/proc/self/stat").ok(),
            system_stat: fs::read_to_string("/proc/stat").ok(),
            limits: fs::read_to_string("/proc/self/limits").ok(),
            open_fds: fs::read_dir("/proc/self/fd").ok().map(Iterator::count),
        };
        out.extend(self.families(&input));
    }
}

/// What the collector reads, kept apart so the arithmetic is tested on fixed text.
struct ProcInput {
    stat: Option<String>,
    system_stat: Option<String>,
    limits: Option<String>,
    open_fds: Option<usize>,
}

#[derive(Debug, PartialEq)]
struct Stat {
    utime_ticks: u64,
    stime_ticks: u64,
    start_ticks: u64,
    vsize_bytes: u64,
    rss_pages: u64,
}

/// `/proc/self/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        start_ticks: field(22)?,
        vsize_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The `btime` line of `/proc/stat`: boot time, seconds since the epoch.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// The soft limit of `Max open files` in `/proc/self/limits`; `unlimited` is `+Inf`.
fn parse_max_fds(text: &str) -> Option<f64> {
    let soft = text
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(f64::INFINITY)
    } else {
        soft.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    const STAT: &str = "29807 (tern (worker) x) R 29764 29764 18477 0 -1 4194304 97 0 0 0 \
                        250 50 0 0 20 0 1 0 1833263 3133440 394 18446744073709551615 0";
    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units\n\
                          Max processes             96365                96365                processes\n\
                          Max open files            20000                1048576              files\n";

    #[test]
    fn reads_proc_text() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                utime_ticks: 250,
                stime_ticks: 50,
                start_ticks: 1833263,
                vsize_bytes: 3133440,
                rss_pages: 394,
            })
        );
        assert_eq!(parse_stat("1 (x) R 2"), None);
        assert_eq!(
            parse_boot_time("cpu 1 2 3\nbtime 1795611805\nprocesses 9\n"),
            Some(1795611805)
        );
        assert_eq!(parse_max_fds(LIMITS), Some(20000.0));
        assert_eq!(
            parse_max_fds(
                "Max open files            unlimited            unlimited            files"
            ),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn turns_ticks_and_pages_into_seconds_and_bytes() {
        let collector = ProcessCollector {
            ticks_per_second: 100.0,
            page_size: 4096.0,
        };
        let input = ProcInput {
            stat: Some(STAT.to_owned()),
            system_stat: Some("btime 1700000000\n".to_owned()),
            limits: Some(LIMITS.to_owned()),
            open_fds: Some(12),
        };
        let body = crate::Format::Prometheus.encode(&collector.families(&input));
        expect_test::expect![[r#"
            # HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
            # TYPE process_cpu_seconds_total counter
            process_cpu_seconds_total 3
            # HELP process_resident_memory_bytes Resident memory size in bytes.
            # TYPE process_resident_memory_bytes gauge
            process_resident_memory_bytes 1613824
            # HELP process_virtual_memory_bytes Virtual memory size in bytes.
            # TYPE process_virtual_memory_bytes gauge
            process_virtual_memory_bytes 3133440
            # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
            # TYPE process_start_time_seconds gauge
            process_start_time_seconds 1700018332.63
            # HELP process_open_fds Number of open file descriptors.
            # TYPE process_open_fds gauge
            process_open_fds 12
            # HELP process_max_fds Maximum number of open file descriptors.
            # TYPE process_max_fds gauge
            process_max_fds 20000
        "#]]
        .assert_eq(&body);
        let missing = ProcInput {
            stat: None,
            system_stat: None,
            limits: None,
            open_fds: None,
        };
        assert!(collector.families(&missing).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let registry = Registry::new();
        registry.register_collector(ProcessCollector::new());
        let names: Vec<String> = registry.gather().into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds",
                "process_max_fds",
                "process_open_fds",
                "process_resident_memory_bytes",
                "process_start_time_seconds",
                "process_virtual_memory_bytes",
            ]
        );
        let exposition = crate::parse(&crate::encode(&registry, None).1).expect("parses");
        let value = |name: &str| exposition.value(name, &[]).expect(name);
        assert!(value("process_resident_memory_bytes") > 0.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_start_time_seconds") > 1.5e9);
    }
}
