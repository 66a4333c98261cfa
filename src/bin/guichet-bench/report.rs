//! Figures and their presentation: percentiles, the machine, the Markdown report.

use std::fmt::Write as _;
use std::path::Path;

/// Durations in milliseconds, sorted once.
#[derive(Debug, Clone, Default)]
pub struct Stats(Vec<f64>);

impl Stats {
    pub fn new(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Stats(values)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile (`q` in 0..=1); 0 when empty.
    pub fn at(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = (q * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or(0.0)
    }
}

/// The CPU model, the number of CPUs and the memory of this machine.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = proc_field(&meminfo, "MemTotal:").unwrap_or(0.0);
    format!("{model}, {cpus} CPUs, {:.1} GiB RAM", mem_kib / 1024.0 / 1024.0)
}

/// A `Name:  1234 kB` field of a /proc file, in KiB.
fn proc_field(text: &str, name: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
}

/// Resident and peak resident memory of a process, in bytes.
pub fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name| proc_field(&status, name).map(|kib| (kib * 1024.0) as u64);
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(peak)) => Ok((rss, peak)),
        _ => anyhow::bail!("no VmRSS in /proc/{pid}/status"),
    }
}

/// Total size of the files under `path`.
pub fn dir_size(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// One line of the main table.
pub struct Row {
    pub metric: &'static str,
    pub figure: String,
    pub target: &'static str,
    /// `None` when there is no target.
    pub met: Option<bool>,
}

/// Latencies of one kind of query.
pub struct QueryRow {
    pub name: &'static str,
    pub server: Stats,
    pub client: Stats,
    pub target: &'static str,
    pub met: bool,
    pub note: String,
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "—",
    }
}

/// The Markdown report.
pub fn render(header: &[String], rows: &[Row], queries: &[QueryRow], notes: &[String]) -> String {
    let mut out = String::from("# Guichet benchmark\n\n");
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    out.push_str("\n| metric | figure | target | met |\n|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(out, "| {} | {} | {} | {} |", r.metric, r.figure, r.target, verdict(r.met));
    }
    out.push_str(
        "\nQueries, sequential, one connection; server-side time from the `Server-Timing` header.\n\n\
         | query | server p50 (ms) | server p99 (ms) | server max (ms) | client p50 (ms) | client p99 (ms) \
         | target | met | notes |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for q in queries {
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
            q.name,
            q.server.at(0.5),
            q.server.at(0.99),
            q.server.max(),
            q.client.at(0.5),
            q.client.at(0.99),
            q.target,
            verdict(Some(q.met)),
            q.note
        );
    }
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s = Stats::new((1..=100).rev().map(f64::from).collect());
        assert_eq!(s.at(0.5), 50.0);
        assert_eq!(s.at(0.99), 99.0);
        assert_eq!(s.at(1.0), 100.0);
        assert_eq!(s.max(), 100.0);
        assert_eq!(Stats::default().at(0.99), 0.0);
    }
}
