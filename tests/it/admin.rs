//! The command line's admin tasks, through the running server's socket or on a stopped store.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

#[tokio::test]
async fn admin_tasks_work_with_the_server_stopped_and_running() {
    let mut s = Server::start(&[]).await;
    s.submit("une demande").await;
    s.stop();
    assert!(!s.data.join("admin.sock").exists());

    // Stopped: the command line opens the store itself.
    let offline = s.token("manager");
    let check = s.cli(&["check"]);
    check.assert_ok();
    assert!(check.stdout.contains("consistent"), "{}", check.text());
    let entries = s.audit_entries();
    s.restart().await;
    assert_eq!(s.total(&offline).await, 1, "a token made offline works once the server runs");
    // Running: the same commands go through the socket, and see the server's writes at once.
    let online = s.token("agent");
    assert_eq!(s.get("/api/v1/requests/1", Some(&online)).await.0, 200);
    assert_eq!(s.audit_entries(), entries + 3, "the first-admin link of the restart, the token and the read");
    let bad_role = s.cli(&["admin", "token", "--role", "mayor"]);
    bad_role.assert_failed();
    assert!(bad_role.stderr.contains("admin, manager, agent, elected, guest"), "{}", bad_role.text());
}

// Regression: the admin socket used to be bound by an unchecked background task, after
// `http.addr` was written; when it could not be bound (a socket path over 107 bytes) the
// server ran on without it. It is now bound before the server reports ready, or start fails.
#[test]
fn the_server_serves_its_admin_socket_or_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap().len();
    let data = dir.path().join("d".repeat(110 - base.min(100)));
    assert!(data.join("admin.sock").as_os_str().len() > 107);
    let mut server = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("GUICHET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            // Refusing to start is a fine answer, if it says why.
            let mut log = String::new();
            std::io::Read::read_to_string(server.stderr.as_mut().unwrap(), &mut log).unwrap();
            assert!(!status.success() && log.contains("admin"), "{status}: {log}");
            return;
        }
        if std::fs::read_to_string(data.join("http.addr")).is_ok_and(|a| !a.trim().is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the server neither started nor stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    // It runs: then the admin commands must reach it.
    std::thread::sleep(Duration::from_millis(500));
    let token = guichet(&data, &["admin", "token", "--role", "agent"]);
    server.kill().unwrap();
    server.wait().unwrap();
    token.assert_ok();
}
