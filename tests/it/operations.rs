//! Operations: the audit chain and tampering, export/import, backup/restore, configuration,
//! HTTPS, the instance key.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::json;

use crate::support::*;

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Some requests with a timeline, a new category and an attachment.
async fn populate(s: &Server) -> Vec<String> {
    let admin = s.token("admin");
    let mut codes = Vec::new();
    for i in 0..4 {
        let created = s.submit(&format!("demande {i}")).await;
        let id = created["id"].as_u64().unwrap();
        codes.push(created["tracking_code"].as_str().unwrap().to_owned());
        s.post(&format!("/api/v1/requests/{id}/status"), Some(&admin), &json!({"status": "in_progress"})).await;
        s.post(
            &format!("/api/v1/requests/{id}/comments"),
            Some(&admin),
            &json!({"visibility": "public", "body": "Vu."}),
        )
        .await;
    }
    let category = json!({"id": "marche", "name": "Marché", "department": "accueil", "sla_days": 10, "public": true, "active": true});
    let (status, _) = s.post("/api/v1/admin/categories", Some(&admin), &category).await;
    assert_eq!(status, 201);
    let (ct, body) = multipart(&citizen_request("voirie", "avec photo"), &[("photo.png", PNG)]);
    let resp =
        s.http.post(format!("{}/api/v1/requests", s.url)).header("content-type", ct).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    codes
}

#[tokio::test]
async fn the_audit_chain_detects_tampering_with_the_store() {
    let mut s = Server::start(&[]).await;
    populate(&s).await;
    let agent = s.token("agent");
    let before = s.cli(&["audit", "verify"]);
    assert!(before.status.success(), "{}", text(&before));
    let count = |out: &std::process::Output| -> u64 {
        String::from_utf8_lossy(&out.stdout).split_whitespace().rev().nth(1).unwrap().parse().unwrap()
    };
    let entries = count(&before);
    s.get("/api/v1/requests/1", Some(&agent)).await;
    let after_read = s.cli(&["audit", "verify"]);
    assert_eq!(count(&after_read), entries + 1, "an agent's read of personal data is journaled");

    assert!(s.terminate());
    {
        let db = sled::open(s.data.join("store")).unwrap();
        let tree = db.open_tree("audit_entry").unwrap();
        let key = 3u64.to_be_bytes();
        let value = tree.get(key).unwrap().unwrap();
        let mut entry: serde_json::Value = serde_json::from_slice(&value[1..]).unwrap();
        entry["target"] = json!("request:999");
        let mut tampered = vec![value[0]];
        tampered.extend(serde_json::to_vec(&entry).unwrap());
        tree.insert(key, tampered).unwrap();
        db.flush().unwrap();
    }
    let verify = s.cli(&["audit", "verify"]);
    assert!(!verify.status.success());
    assert!(text(&verify).contains("entry 3"), "{}", text(&verify));
}

#[tokio::test]
async fn export_import_export_is_identical_and_import_refuses_to_overwrite() {
    let mut s = Server::start(&[]).await;
    populate(&s).await;
    let dir = s.dir.path().to_owned();
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let refused = s.cli(&["import", a.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("stop"), "{}", text(&refused));
    assert!(s.terminate());

    let out = s.cli(&["export", "-o", a.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let other = dir.join("other");
    let out = cli_on(&other, &["import", a.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = cli_on(&other, &["export", "-o", b.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "export → import → export differs");
    let check = cli_on(&other, &["check"]);
    assert!(check.status.success(), "{}", text(&check));

    let again = cli_on(&other, &["import", a.to_str().unwrap()]);
    assert!(!again.status.success(), "import into a store that holds data");
    let out = cli_on(&other, &["export", "-o", b.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "the refused import changed nothing");
}

#[tokio::test]
async fn a_backup_taken_while_running_restores_everything() {
    let s = Server::start(&[]).await;
    let codes = populate(&s).await;
    let backup = s.dir.path().join("backup");
    let out = s.cli(&["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(backup.join("guichet.jsonl").is_file() && backup.join("instance.key").is_file());

    let restored = s.dir.path().join("restored");
    let out = cli_on(&restored, &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let key_mode = std::fs::metadata(restored.join("instance.key")).unwrap().permissions().mode();
    assert_eq!(key_mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read(restored.join("instance.key")).unwrap(),
        std::fs::read(s.data.join("instance.key")).unwrap()
    );
    let twice = cli_on(&restored, &["restore", backup.to_str().unwrap()]);
    assert!(!twice.status.success(), "restoring over a store is refused");

    let mut copy = Server::start(&[]).await;
    copy.kill9();
    std::fs::remove_dir_all(&copy.data).unwrap();
    std::fs::rename(&restored, &copy.data).unwrap();
    copy.launch().await;
    for code in &codes {
        let (status, tracking) = copy.get(&format!("/api/v1/track/{code}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(tracking["status"], "in_progress");
    }
    let agent = copy.token("agent");
    let (_, detail) = copy.get("/api/v1/requests/5", Some(&agent)).await;
    let sha = detail["request"]["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    let file = copy
        .http
        .get(format!("{}/api/v1/requests/5/attachments/{sha}", copy.url))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(file.bytes().await.unwrap().as_ref(), PNG);
    let (_, categories) = copy.get("/api/v1/categories", None).await;
    assert!(categories.as_array().unwrap().iter().any(|c| c["id"] == "marche"));
}

#[test]
fn an_invalid_configuration_lists_every_problem_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--data-dir", dir.path().to_str().unwrap(), "--set", "log.level=loud"])
        .env("GUICHET_HTTP__BIND", "nowhere")
        .env("GUICHET_STORAGE__CACHE_CAPACITY_MIB", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in ["[http] bind", "[log] level", "GUICHET_STORAGE__CACHE_CAPACITY_MIB"] {
        assert!(err.contains(expected), "{expected} not reported:\n{err}");
    }
    assert!(!dir.path().join("store").exists(), "nothing was created");
}

#[tokio::test]
async fn the_example_configuration_runs_and_the_instance_key_is_private() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/guichet.example.toml");
    let s = Server::start(&["--config", example]).await;
    let (status, _) = s.get("/healthz", None).await;
    assert_eq!(status, 200);
    let mode = std::fs::metadata(s.data.join("instance.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::metadata(s.data.join("admin.sock")).unwrap().permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn https_with_the_configured_certificate() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let cert = format!("http.tls_cert={fixtures}/cert.pem");
    let key = format!("http.tls_key={fixtures}/key.pem");
    let s = Server::start(&["--set", &cert, "--set", &key]).await;
    assert!(s.url.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(&std::fs::read(format!("{fixtures}/ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(root).build().unwrap();
    let resp = client.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let plain = s.url.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err(), "no plain HTTP on a TLS port");
}
