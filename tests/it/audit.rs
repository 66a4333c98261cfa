//! The audit journal: every change and every read of personal data is chained, and
//! tampering with the store is detected and named.

use guichet::domain::audit::AuditEntry;
use serde_json::{Value, json};

use crate::support::*;

/// A few requests worked by an agent, with an attachment.
async fn populate(s: &Server, agent: &str) -> u64 {
    for i in 0..3 {
        let id = s.submit(&format!("demande {i}")).await["id"].as_u64().unwrap();
        let (status, _) =
            s.post(&format!("/api/v1/requests/{id}/status"), Some(agent), &json!({"status": "in_progress"})).await;
        assert_eq!(status, 200);
    }
    let (content_type, body) = multipart(&citizen_request("voirie", "avec photo"), &[("photo.png", PNG)]);
    let (status, created) = s.post_raw("/api/v1/requests", None, &content_type, body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_u64().unwrap()
}

#[tokio::test]
async fn changes_and_reads_of_personal_data_are_journaled_in_an_intact_chain() {
    let s = Server::start(&[]).await;
    let agent = s.token("agent");
    let with_photo = populate(&s, &agent).await;
    let verify = s.cli(&["audit", "verify"]);
    verify.assert_ok();
    assert!(verify.stdout.contains("intact"), "{}", verify.text());
    // Catalogue seed, agenda seed, first-admin link, token, 3 × (create, status), create
    // with photo.
    let entries = s.audit_entries();
    assert_eq!(entries, 11);

    // Reading a request (its contact details) and downloading its file are journaled...
    assert_eq!(s.get("/api/v1/requests/1", Some(&agent)).await.0, 200);
    assert_eq!(s.audit_entries(), entries + 1, "an agent's read of a request is journaled");
    let (_, detail) = s.get(&format!("/api/v1/requests/{with_photo}"), Some(&agent)).await;
    let sha = detail["request"]["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    let download = s.http.get(s.at(&format!("/api/v1/requests/{with_photo}/attachments/{sha}"))).bearer_auth(&agent);
    assert_eq!(download.send().await.unwrap().status(), 200);
    assert_eq!(s.audit_entries(), entries + 3);
    // ...lists (no contact details), public tracking, refused and failed calls are not.
    s.list_all("", 2, &agent).await;
    let code = detail["request"]["tracking_code"].as_str().unwrap().to_owned();
    assert_eq!(s.get(&format!("/api/v1/track/{code}"), None).await.0, 200);
    assert_eq!(s.get("/api/v1/requests/424242", Some(&agent)).await.0, 404);
    assert_eq!(s.get("/api/v1/requests/1", None).await.0, 401);
    assert_eq!(s.audit_entries(), entries + 3);
    let check = s.cli(&["check"]);
    check.assert_ok();
    assert!(check.stdout.contains(&format!("audit chain intact ({} entries)", entries + 3)), "{}", check.text());
}

/// Opens the store of a stopped server, lets `change` alter the `audit_entry` tree, flushes.
fn edit_journal(data: &std::path::Path, change: impl FnOnce(&sled::Tree)) {
    let db = sled::open(data.join("store")).unwrap();
    let tree = db.open_tree("audit_entry").unwrap();
    change(&tree);
    db.flush().unwrap();
}

/// Entry `seq`: the version byte and the JSON.
fn entry(tree: &sled::Tree, seq: u64) -> (u8, Value) {
    let value = tree.get(seq.to_be_bytes()).unwrap().unwrap_or_else(|| panic!("no audit entry {seq}"));
    (value[0], serde_json::from_slice(&value[1..]).unwrap())
}

fn put(tree: &sled::Tree, seq: u64, version: u8, entry: &Value) {
    let mut bytes = vec![version];
    bytes.extend(serde_json::to_vec(entry).unwrap());
    tree.insert(seq.to_be_bytes(), bytes).unwrap();
}

#[tokio::test]
async fn tampering_with_the_journal_in_the_store_is_detected_and_named() {
    let mut s = Server::start(&[]).await;
    let agent = s.token("agent");
    populate(&s, &agent).await;
    let entries = s.audit_entries();
    s.stop();

    // Entry 5 (the first request) now claims another target; the version byte is kept, the
    // hash is not redone.
    let mut original = None;
    edit_journal(&s.data, |tree| {
        let (version, mut value) = entry(tree, 5);
        assert_eq!(version, 1);
        assert!(value["target"].as_str().unwrap().starts_with("request:"), "{value}");
        original = Some(value.clone());
        value["target"] = json!("request:999");
        put(tree, 5, version, &value);
    });
    let verify = s.cli(&["audit", "verify"]);
    verify.assert_failed();
    assert!(verify.stderr.contains("entry 5"), "the broken entry is named: {}", verify.text());
    assert!(!verify.stdout.contains("intact"), "{}", verify.text());
    let check = s.cli(&["check"]);
    check.assert_failed();
    assert!(check.stderr.contains("entry 5"), "{}", check.text());

    // Put back as it was, the chain is whole again: the change alone broke it.
    edit_journal(&s.data, |tree| put(tree, 5, 1, original.as_ref().unwrap()));
    assert_eq!(s.audit_entries(), entries);

    // Rehashing the changed entry does not help: the next one no longer links to it.
    edit_journal(&s.data, |tree| {
        let mut forged: AuditEntry = serde_json::from_value(original.clone().unwrap()).unwrap();
        forged.target = "request:999".into();
        forged.hash = forged.compute_hash();
        put(tree, 5, 1, &serde_json::to_value(&forged).unwrap());
    });
    let verify = s.cli(&["audit", "verify"]);
    verify.assert_failed();
    assert!(verify.stderr.contains("entry 6"), "{}", verify.text());
    edit_journal(&s.data, |tree| put(tree, 5, 1, original.as_ref().unwrap()));

    // Removing the last entry is detected too.
    edit_journal(&s.data, |tree| {
        tree.remove(entries.to_be_bytes()).unwrap().expect("the last entry");
    });
    let verify = s.cli(&["audit", "verify"]);
    verify.assert_failed();
    assert!(verify.stderr.contains(&format!("entry {entries}")), "{}", verify.text());

    // And a restarted server reports it through its admin socket.
    s.restart().await;
    let verify = s.cli(&["audit", "verify"]);
    verify.assert_failed();
    assert!(verify.stderr.contains(&format!("entry {entries}")), "{}", verify.text());
}

// Regression: `check` and `audit verify` used to read a running server's store while writes
// went on, and reported problems that did not exist. They now run with writes held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_verify_tell_the_truth_while_the_server_is_busy() {
    let s = Server::start(&[]).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (http, url, stop) = (s.http.clone(), s.at("/api/v1/requests"), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = http.post(&url).json(&citizen_request("voirie", &format!("{w}/{i}"))).send().await;
                assert_eq!(response.unwrap().status(), 201);
                i += 1;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let data = s.data.clone();
    let runs = tokio::task::spawn_blocking(move || {
        (0..4).flat_map(|_| [guichet(&data, &["check"]), guichet(&data, &["audit", "verify"])]).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    s.cli(&["check"]).assert_ok();
    s.cli(&["audit", "verify"]).assert_ok();
    let wrong: Vec<String> = runs.iter().filter(|r| !r.status.success()).map(|r| r.stderr.clone()).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} runs reported problems during writes:\n{}",
        wrong.len(),
        runs.len(),
        wrong.join("")
    );
}
