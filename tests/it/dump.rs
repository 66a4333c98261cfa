//! Moving data: export → import → export, and backups taken while the server runs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Requests with a timeline, a new category, an attachment. Returns the tracking codes and
/// the agent token used.
async fn populate(s: &Server) -> (Vec<String>, String) {
    let (admin, agent) = (s.token("admin"), s.token("agent"));
    let category = json!({"id": "marche", "name": "Marché", "department": "accueil", "sla_days": 10,
                          "public": true, "active": true});
    let (status, body) = s.post("/api/v1/admin/categories", Some(&admin), &category).await;
    assert_eq!(status, 201, "{body}");
    let mut codes = Vec::new();
    for i in 0..4 {
        let created = s.submit(&format!("demande {i}")).await;
        let id = created["id"].as_u64().unwrap();
        codes.push(created["tracking_code"].as_str().unwrap().to_owned());
        let path = |what: &str| format!("/api/v1/requests/{id}/{what}");
        assert_eq!(s.post(&path("status"), Some(&agent), &json!({"status": "in_progress"})).await.0, 200);
        let comment = json!({"visibility": "public", "body": format!("Réponse n°{i} : c'est noté.")});
        assert_eq!(s.post(&path("comments"), Some(&agent), &comment).await.0, 200);
    }
    let (status, _) = s.post("/api/v1/requests/2/assignment", Some(&agent), &json!({"assignee": "me"})).await;
    assert_eq!(status, 200);
    let (content_type, body) = multipart(&citizen_request("marche", "Emplacement"), &[("plan.png", PNG)]);
    let (status, created) = s.post_raw("/api/v1/requests", None, &content_type, body).await;
    assert_eq!(status, 201, "{created}");
    codes.push(created["tracking_code"].as_str().unwrap().to_owned());
    (codes, agent)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn export_import_export_is_byte_identical_and_a_second_import_changes_nothing() {
    let mut s = Server::start(&[]).await;
    let (codes, agent) = populate(&s).await;
    // An event, a topic with a post, the portal's settings: they move with the rest.
    let mut admin = crate::browser::signed_in(&s, "dgs@mairie.example", "admin").await;
    let csrf = admin.get(&s.at("/agent/agendas")).await.input("csrf_token").unwrap();
    let event =
        [("csrf_token", csrf.as_str()), ("title", "Conseil"), ("start_date", "2026-12-15"), ("start_time", "18:30")];
    assert_eq!(admin.post_form(&s.at("/agent/agendas/general/nouveau"), &event).await.status, 200);
    let topic = admin.post_form(&s.at("/agent/thematiques"), &[("csrf_token", &csrf), ("title", "Budget")]).await;
    let topic_id = topic.url.split("/agent/thematiques/").nth(1).unwrap().to_owned();
    let action = s.at(&format!("/agent/thematiques/{topic_id}/messages?csrf_token={csrf}"));
    assert_eq!(admin.post_multipart(&action, &[("body", String::new(), b"Premier jet".to_vec())]).await.status, 200);
    s.stop();
    let (a, b, other) = (s.scratch().join("a.jsonl"), s.scratch().join("b.jsonl"), s.scratch().join("other"));

    s.cli(&["export", "-o", path(&a)]).assert_ok();
    let dump = std::fs::read_to_string(&a).unwrap();
    let lines: Vec<Value> = dump.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["format"], "guichet-export");
    assert_eq!(lines.iter().filter(|l| l["kind"] == "request").count(), 5, "{dump}");
    assert!(dump.contains("Réponse n°3") && dump.contains("\"marche\""), "comments and category exported");
    for kind in ["agenda", "event", "topic", "post", "topic_reader"] {
        assert!(lines.iter().any(|l| l["kind"] == kind), "no {kind} in the dump");
    }
    assert!(dump.contains("Premier jet"));
    // A dump whose journal was edited is refused as a whole, and the directory stays empty.
    let forged = s.scratch().join("forged.jsonl");
    std::fs::write(&forged, dump.replacen("\"request.create\"", "\"request.delete\"", 1)).unwrap();
    let refused = guichet(&other, &["import", path(&forged)]);
    refused.assert_failed();
    assert!(refused.stderr.contains("audit chain broken"), "{}", refused.text());
    let imported = guichet(&other, &["import", path(&a)]);
    imported.assert_ok();
    assert!(imported.stdout.contains("\"requests\":5"), "{}", imported.text());
    guichet(&other, &["export", "-o", path(&b)]).assert_ok();
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "export → import → export differs");
    guichet(&other, &["check"]).assert_ok();

    // A second import into the now non-empty directory is refused and changes nothing.
    let again = guichet(&other, &["import", path(&a)]);
    again.assert_failed();
    assert!(again.stderr.contains("empty"), "{}", again.text());
    guichet(&other, &["export", "-o", path(&b)]).assert_ok();
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "the refused import changed the store");

    // The imported instance serves the same requests, and the same tokens still work.
    let copy = Server::start_on(&other, &[]).await;
    for code in &codes {
        let (status, tracking) = copy.get(&format!("/api/v1/track/{code}"), None).await;
        assert_eq!(status, 200, "{code}: {tracking}");
    }
    let (status, detail) = copy.get("/api/v1/requests/2", Some(&agent)).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["request"]["status"], "in_progress");
    assert_eq!(detail["events"].as_array().unwrap().len(), 4, "{detail}");
    assert_eq!(copy.list_ids("assignee=me", 10, &agent).await, [2]);
    let next = copy.submit("après l'import").await;
    assert_eq!(next["id"], 6, "sequences carried over: {next}");
    assert!(next["registration"].as_str().unwrap().ends_with("-000006"), "{next}");
}

#[tokio::test]
async fn import_and_export_refuse_to_run_beside_the_server() {
    let s = Server::start(&[]).await;
    let manager = s.token("manager");
    s.submit("une demande").await;
    let dump = s.scratch().join("dump.jsonl");
    std::fs::write(&dump, "{\"format\":\"guichet-export\",\"format_version\":1}\n").unwrap();

    let import = s.cli(&["import", path(&dump)]);
    import.assert_failed();
    assert!(import.stderr.contains("server is running") && import.stderr.contains("stop"), "{}", import.text());
    let export = s.cli(&["export", "-o", path(&s.scratch().join("out.jsonl"))]);
    export.assert_failed();
    assert!(export.stderr.contains("stop it") && export.stderr.contains("backup"), "{}", export.text());
    assert!(!s.scratch().join("out.jsonl").exists(), "no partial export");
    let restore = s.cli(&["restore", path(s.scratch())]);
    restore.assert_failed();
    assert!(restore.stderr.contains("server is running"), "{}", restore.text());
    assert_eq!(s.total(&manager).await, 1, "the running server is untouched");
    assert_eq!(s.get("/readyz", None).await.0, 200);
}

// Regression: `import` used to accept a data directory a server had already run on (catalogue
// seeded, tokens issued, no request yet), and broke its audit chain. It must refuse it.
#[tokio::test]
async fn import_refuses_a_data_directory_a_server_has_already_used() {
    let mut source = Server::start(&[]).await;
    source.submit("une demande").await;
    source.stop();
    let dump = source.scratch().join("a.jsonl");
    source.cli(&["export", "-o", path(&dump)]).assert_ok();

    let mut used = Server::start(&[]).await;
    for _ in 0..6 {
        used.token("agent");
    }
    used.stop();
    let entries_before = used.audit_entries();
    let import = used.cli(&["import", path(&dump)]);
    assert!(!import.status.success(), "import into a used data directory: {}", import.text());
    assert_eq!(used.audit_entries(), entries_before, "the refused import changed the journal");
}

#[tokio::test]
async fn a_backup_taken_while_running_restores_everything() {
    let s = Server::start(&[]).await;
    let (codes, agent) = populate(&s).await;
    let backup = s.scratch().join("backup");
    let run = s.cli(&["backup", path(&backup)]);
    run.assert_ok();
    assert!(backup.join("guichet.jsonl").is_file(), "{}", run.text());
    assert_eq!(stored_files(&backup), 1, "the attachment is in the backup");
    assert_eq!(
        std::fs::read(backup.join("instance.key")).unwrap(),
        std::fs::read(s.data.join("instance.key")).unwrap()
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(backup.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!((manifest["requests"].as_u64(), manifest["files"].as_u64()), (Some(5), Some(1)), "{manifest}");
    s.cli(&["backup", path(&backup)]).assert_failed();
    assert_eq!(s.get("/readyz", None).await.0, 200, "the server keeps running");

    let restored = s.scratch().join("restored");
    guichet(&restored, &["restore", path(&backup)]).assert_ok();
    let mode = std::fs::metadata(restored.join("instance.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the restored key is private");
    let twice = guichet(&restored, &["restore", path(&backup)]);
    twice.assert_failed();
    assert!(twice.stderr.contains("already holds a store"), "{}", twice.text());
    let not_a_backup = guichet(&s.scratch().join("elsewhere"), &["restore", path(s.scratch())]);
    not_a_backup.assert_failed();

    let copy = Server::start_on(&restored, &[]).await;
    for code in &codes {
        let (status, tracking) = copy.get(&format!("/api/v1/track/{code}"), None).await;
        assert_eq!(status, 200, "{code}: {tracking}");
    }
    let (_, tracking) = copy.get(&format!("/api/v1/track/{}", codes[0]), None).await;
    assert_eq!(tracking["status"], "in_progress");
    let (status, detail) = copy.get("/api/v1/requests/5", Some(&agent)).await;
    assert_eq!(status, 200, "tokens are restored: {detail}");
    let sha = detail["request"]["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    let file = copy.http.get(copy.at(&format!("/api/v1/requests/5/attachments/{sha}"))).bearer_auth(&agent);
    assert_eq!(file.send().await.unwrap().bytes().await.unwrap().as_ref(), PNG);
    let (_, categories) = copy.get("/api/v1/categories", None).await;
    assert!(categories.as_array().unwrap().iter().any(|c| c["id"] == "marche"));
    copy.cli(&["check"]).assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_burst_of_writes_holds_every_earlier_request() {
    let s = Server::start(&[]).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (http, url, acknowledged, stop) =
            (s.http.clone(), s.at("/api/v1/requests"), acknowledged.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response =
                    http.post(&url).json(&citizen_request("voirie", &format!("{w}/{i}"))).send().await.unwrap();
                assert_eq!(response.status(), 201);
                let created: Value = response.json().await.unwrap();
                acknowledged.lock().unwrap().push(created["tracking_code"].as_str().unwrap().to_owned());
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_backup = acknowledged.lock().unwrap().clone();
    let backup = s.scratch().join("backup");
    let (data, target) = (s.data.clone(), backup.clone());
    tokio::task::spawn_blocking(move || guichet(&data, &["backup", path(&target)]).assert_ok().stdout.clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let after = acknowledged.lock().unwrap().len();
    assert!(
        before_backup.len() > 8 && after > before_backup.len(),
        "writes before and after: {}, {after}",
        before_backup.len()
    );

    let restored = s.scratch().join("restored");
    guichet(&restored, &["restore", path(&backup)]).assert_ok();
    let check = guichet(&restored, &["check"]);
    check.assert_ok();
    let dump = s.scratch().join("restored.jsonl");
    guichet(&restored, &["export", "-o", path(&dump)]).assert_ok();
    let text = std::fs::read_to_string(&dump).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let in_backup: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "request")
        .map(|l| l["value"]["tracking_code"].as_str().unwrap())
        .collect();
    for code in &before_backup {
        assert!(in_backup.contains(code.as_str()), "{code}, acknowledged before the backup, is missing from it");
    }
    assert!(in_backup.len() <= after, "the backup holds requests nobody created");
}

#[tokio::test]
async fn a_dump_written_by_the_first_release_is_imported_upgraded_and_served() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/migrations/dump-v1.jsonl");
    let lines: Vec<Value> =
        std::fs::read_to_string(fixture).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "request").map(|l| &l["value"]).collect();
    assert!(requests.iter().all(|r| r.get("notify").is_none()), "version 1 had no notification preference");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    guichet(&data, &["import", fixture]).assert_ok();
    guichet(&data, &["check"]).assert_ok();

    let s = Server::start_on(&data, &[]).await;
    let manager = s.token("manager");
    for request in &requests {
        let (status, tracking) =
            s.get(&format!("/api/v1/track/{}", request["tracking_code"].as_str().unwrap()), None).await;
        assert_eq!(status, 200, "{tracking}");
        assert_eq!(tracking["registration"], request["registration"]);
        let (status, detail) = s.get(&format!("/api/v1/requests/{}", request["id"]), Some(&manager)).await;
        assert_eq!(status, 200, "{detail}");
        let with_email = request["contact"]["email"].as_str().is_some_and(|e| !e.is_empty());
        assert_eq!(detail["request"]["notify"], if with_email { "email" } else { "none" }, "{detail}");
    }
    assert_eq!(s.total(&manager).await, requests.len() as u64, "counters rebuilt from the records");
    assert_eq!(s.submit("après la migration").await["id"], requests.len() + 1, "sequences carried over");
    s.cli(&["audit", "verify"]).assert_ok();
}
