//! A small run of the benchmark, so that it keeps working (figures are not asserted against
//! targets here: speed is measured by `guichet-bench run`, see BENCHMARKS.md).

use std::process::Command;

#[test]
fn the_benchmark_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_guichet-bench"))
        .args(["run", "--requests", "2000", "--iterations", "50", "--intake-seconds", "1", "--clients", "4"])
        .args(["--guichet", env!("CARGO_BIN_EXE_guichet"), "--work-dir"])
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}{}", String::from_utf8_lossy(&out.stderr));
    let figure = |label: &str| -> f64 {
        let line = report.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label} missing:\n{report}"));
        let value = line.split(label).nth(1).unwrap().trim_start_matches([':', ' ', '|']);
        value.split([' ', '|']).next().unwrap().parse().unwrap_or_else(|_| panic!("no figure in {line:?}"))
    };
    for label in ["cold start", "idle memory", "size on disk", "durable intake"] {
        assert!(figure(label) > 0.0, "{label} in:\n{report}");
    }
    for label in ["inbox page (department + status, by due date, 50 rows)", "tracking lookup", "dashboard counters"] {
        assert!(figure(label) > 0.0, "{label} in:\n{report}");
    }
}
