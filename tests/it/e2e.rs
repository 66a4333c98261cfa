//! End-to-end tests in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `node tests/e2e/run.mjs SCENARIO` (playwright-core), every page audited by axe-core
//! (WCAG 2.1 A and AA; a serious or critical violation fails the scenario). See
//! `tests/e2e/README.md`. Screenshots go to `target/e2e/`.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::Server;

const RUNNER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/run.mjs");
const OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e");

/// Runs one scenario against `s` and panics, with its JSON report, unless it passed.
async fn scenario(s: &Server, name: &'static str, env: &[(&'static str, String)]) -> Value {
    let mut command = Command::new("node");
    command
        .arg(RUNNER)
        .arg(name)
        .env("GUICHET_URL", &s.url)
        .env("E2E_OUT", OUT)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node must be installed (tests/run installs Chromium and the packages of tests/e2e)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = stdout.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok());
    let shown = report.as_ref().map(|r| serde_json::to_string_pretty(r).unwrap()).unwrap_or_else(|| stdout.to_string());
    assert!(
        output.status.success() && report.as_ref().is_some_and(|r| r["ok"] == true),
        "end-to-end scenario {name} failed ({}):\n{shown}\nstderr:\n{stderr}\nserver log:\n{}",
        output.status,
        s.log()
    );
    report.unwrap()
}

/// The first-admin link the server printed in its log.
fn bootstrap_link(s: &Server) -> String {
    let log = s.log();
    let line = log.lines().rev().find(|l| l.contains("no administrator yet")).expect("the link is in the log");
    // The log may be coloured: `url=` can have escape sequences between its letters.
    let path = line.find("/auth/link/").unwrap_or_else(|| panic!("no link in {line:?}"));
    let start = line[..path].rfind("http").unwrap_or_else(|| panic!("no URL in {line:?}"));
    line[start..].split(|c: char| c.is_whitespace() || c == '\x1b').next().unwrap().to_owned()
}

/// A request sent with the API is followed on `/suivi`, with and without JavaScript: a
/// mistyped code shows an error the input points to, the right one shows the status.
#[tokio::test]
async fn a_citizen_follows_a_request_on_the_tracking_page_in_chromium() {
    let s = Server::start(&[]).await;
    let report = scenario(&s, "tracking", &[]).await;
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(6), "{report}");
}

/// The first administrator confirms the printed link with the keyboard only, after an
/// empty try, reaches `/espace` and logs out.
#[tokio::test]
async fn the_first_admin_signs_in_with_the_keyboard_and_out_in_chromium() {
    let s = Server::start(&[]).await;
    let link = bootstrap_link(&s);
    assert!(link.starts_with("http") && link.contains("/auth/link/"), "{link}");
    scenario(&s, "first-admin", &[("LINK", link)]).await;
}
