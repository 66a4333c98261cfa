//! Federation: the published key document, checked by another implementation (Node's JSON
//! and ed25519, tests/federation/verify_document.mjs), and the signature test vectors.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::*;

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/federation");

fn node(script: &str, args: &[&str], input: &[u8]) -> (bool, String) {
    let mut child = Command::new("node")
        .arg(format!("{SCRIPTS}/{script}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn the_key_document_is_published_self_signed_in_canonical_json() {
    let s = Server::start(&["--set", "instance.insee_code=67482", "--set", "instance.name=Commune d'Exemple"]).await;
    let response = s.http.get(s.at("/.well-known/guichet/keys")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.bytes().await.unwrap();
    let (ok, report) = node("verify_document.mjs", &[], &body);
    assert!(ok, "{report}");
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["base_url"], s.url);
    // The key it publishes is the instance's own (from its key file).
    let seed: [u8; 32] = std::fs::read(s.data.join("instance.key")).unwrap().try_into().unwrap();
    let own = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(report["public_key_hex"], hex(own.as_bytes()));
    let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["name"], "Commune d'Exemple");
    assert_eq!(document["kind"], "commune");
    assert_eq!(document["code"], "67482");
    assert!(document["valid_until"].as_i64().unwrap() > jiff::Timestamp::now().as_millisecond());
    // Nothing secret in it.
    let text = String::from_utf8_lossy(&body);
    use base64::Engine;
    for encoded in [base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed), hex(&seed)] {
        assert!(!text.contains(&encoded), "the private key is published");
    }
}

#[test]
fn the_signature_vectors_are_those_of_an_independent_implementation() {
    let (ok, report) = node("sign_vectors.mjs", &["--check"], b"");
    assert!(ok, "{report}");
}

#[test]
fn every_golden_message_verifies_with_an_independent_implementation() {
    let vectors: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{SCRIPTS}/../fixtures/federation/signatures.json")).unwrap())
            .unwrap();
    let key = vectors["public_key"].as_str().unwrap();
    let dir = format!("{SCRIPTS}/../fixtures/federation/messages");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let (ok, report) = node("verify_message.mjs", &[key], &std::fs::read(&path).unwrap());
        assert!(ok, "{}: {report}", path.display());
        // And a changed byte is caught.
        let tampered = String::from_utf8(std::fs::read(&path).unwrap()).unwrap().replace("\"v\":1", "\"v\":2");
        assert!(!node("verify_message.mjs", &[key], tampered.as_bytes()).0, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 1);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
