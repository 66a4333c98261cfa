//! A small run of the benchmark, so that it keeps working. Figures are not held to the
//! targets here (a debug build on 2,000 requests says nothing about speed): the full run is
//! `guichet-bench run`, and its results are in BENCHMARKS.md.

use std::process::Command;

/// The number at the start of a table cell ("0.42 s (…)" → 0.42).
fn leading_number(cell: &str) -> Option<f64> {
    let end = cell.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(cell.len());
    cell[..end].parse().ok()
}

/// The cells after the first of the table row named `label`.
fn row<'a>(report: &'a str, label: &str) -> Vec<&'a str> {
    let line = report
        .lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{report}"));
    line.trim_matches('|').split('|').skip(1).map(str::trim).collect()
}

#[test]
fn the_benchmark_runs_end_to_end_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_guichet-bench"))
        .args(["run", "--requests", "2000", "--iterations", "50", "--intake-seconds", "1", "--clients", "4"])
        .args(["--guichet", env!("CARGO_BIN_EXE_guichet"), "--work-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));

    for label in [
        "generation",
        "import",
        "cold start",
        "idle memory",
        "size on disk",
        "durable intake",
        "durable intake latency",
    ] {
        let cells = row(&report, label);
        let figure = leading_number(cells[0]).unwrap_or_else(|| panic!("no figure for {label}: {cells:?}"));
        assert!(figure > 0.0, "{label}: {cells:?}");
    }
    let latency = row(&report, "durable intake latency");
    let p99 = latency[0].split(", ").nth(1).and_then(leading_number);
    assert!(p99.is_some_and(|p| p > 0.0), "{latency:?}");
    for label in [
        "inbox page",
        "tracking lookup",
        "dashboard",
        "page: portal home",
        "page: request form",
        "page: tracking",
        "page: inbox",
        "page: request",
        "page: dashboard",
        "page: board",
        "page: map (500 requests)",
        "page: accounts",
    ] {
        let cells = row(&report, label);
        // server p50, p99, max, client p50, p99
        for cell in &cells[..5] {
            let figure = leading_number(cell).unwrap_or_else(|| panic!("no figure for {label}: {cells:?}"));
            assert!(figure > 0.0, "{label}: {cells:?}");
        }
        assert!(cells[6] == "yes" || cells[6] == "**no**", "{label}: {cells:?}");
    }
    assert!(report.contains("rows per page"), "{report}");
}

#[test]
fn the_signature_benchmark_signs_and_checks_real_messages() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_guichet-bench")).args(["signatures", "--count", "200"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // "… signing 32.3 µs, checking 66.0 µs (…) = 15146 checks/s on one core"
    let after = |marker: &str| text.split(marker).nth(1).and_then(leading_number);
    for (what, value) in [("signing", after("signing ")), ("checking", after("checking ")), ("rate", after("= "))] {
        assert!(value.is_some_and(|v| v > 0.0), "no {what} figure in {text:?}");
    }
    assert!(text.contains("200 of each"), "{text}");
}

#[test]
fn the_bare_sled_benchmark_measures_each_way_of_writing() {
    let work = tempfile::tempdir().unwrap();
    for mode in [&["--plain"][..], &["--keys", "3"], &["--keys", "3", "--log"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_guichet-bench"))
            .args(["bare-sled", "--writers", "4", "--seconds", "1", "--work-dir"])
            .arg(work.path())
            .args(mode)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mode:?}: {text}\n{}", String::from_utf8_lossy(&out.stderr));
        // "bare sled: 21629 durable writes/s (4 writers, …, 18628 shared flushes)"
        let rate = text.strip_prefix("bare sled: ").and_then(leading_number);
        assert!(rate.is_some_and(|r| r > 0.0), "{mode:?}: {text}");
        let flushes = text.split(", ").last().and_then(leading_number);
        assert!(flushes.is_some_and(|f| f > 0.0), "{mode:?}: {text}");
    }
    assert!(!work.path().join("bare-sled").exists(), "the store is removed after the run");
}

#[test]
fn the_bare_sled_memory_benchmark_opens_a_filled_store_in_a_process_of_its_own() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_guichet-bench"))
        .args(["bare-sled-memory", "--records", "2000", "--keys", "3", "--work-dir"])
        .arg(work.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // "bare sled: 2000 records × 3 keys = 6000 keys; a process that opens the store: 9.1 MiB …"
    assert!(text.contains("= 6000 keys"), "{text}");
    let resident = text.split("opens the store: ").nth(1).and_then(leading_number);
    assert!(resident.is_some_and(|r| r > 1.0), "{text}");
    assert!(work.path().join("bare-sled-memory-2000-3/filled").exists(), "the filled store is kept for the next run");
}

#[test]
fn the_federation_benchmark_drains_a_backlog_between_two_instances() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_guichet-bench"))
        .args(["federation", "--messages", "200", "--clients", "4", "--guichet", env!("CARGO_BIN_EXE_guichet")])
        .arg("--work-dir")
        .arg(dir.path().join("federation"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(leading_number(row(&report, "backlog drained")[0]).is_some_and(|s| s > 0.0), "{report}");
    assert!(leading_number(row(&report, "delivered, verified, durably applied")[0]).is_some_and(|r| r > 0.0));
    assert!(row(&report, "received at the EPCI")[0].starts_with("200 replies, converged: true"), "{report}");
}
