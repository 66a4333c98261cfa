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

/// Runs `guichet federation ARGS` against the running server `s`; its JSON answer.
fn federation(s: &Server, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["federation"];
    full.extend_from_slice(args);
    let run = s.cli(&full);
    run.assert_ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.text()))
}

fn federation_fails(s: &Server, args: &[&str]) -> String {
    let mut full = vec!["federation"];
    full.extend_from_slice(args);
    let run = s.cli(&full);
    assert!(!run.status.success(), "accepted: {}", run.text());
    run.text()
}

async fn instance(name: &str, kind: &str) -> Server {
    let name = format!("instance.name={name}");
    let kind_setting = format!("instance.kind={kind}");
    let code = if kind == "epci" { "instance.siren=200067007" } else { "instance.insee_code=67482" };
    Server::start(&[
        "--set",
        &name,
        "--set",
        &kind_setting,
        "--set",
        code,
        "--set",
        "federation.allow_private_addresses=true",
    ])
    .await
}

#[tokio::test]
async fn two_instances_pair_by_invitation_fingerprint_and_short_code() {
    let epci = instance("Communauté de communes du Ried", "epci").await;
    let commune = instance("Commune d'Exemple", "commune").await;
    let other = instance("Commune voisine", "commune").await;

    // The EPCI's admin makes an invitation; the commune's admin pastes it.
    let invitation = federation(&epci, &["invite"]);
    let link = invitation["link"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{}/federation/v1/invitation#", epci.url)), "{link}");
    assert_eq!(invitation["fingerprint"].as_str().unwrap().len(), 79, "64 hex digits in groups of four");

    // A link whose fingerprint is not the EPCI's key: refused before anything is sent.
    let forged_fp = format!("{}{}", &link[..link.len() - 4], "0000");
    assert!(federation_fails(&commune, &["join", &forged_fp]).contains("does not have the key"));
    assert_eq!(federation(&epci, &["peers"]), serde_json::json!([]));
    // A wrong secret: the EPCI refuses, and the invitation stays usable.
    let (head, tail) = link.split_once("secret=").unwrap();
    let wrong_secret = format!("{head}secret=AAAAAAAAAAAAAAAAAAAAAA{}", &tail[tail.find('&').unwrap()..]);
    assert!(federation_fails(&commune, &["join", &wrong_secret]).contains("refused the pairing (403"));
    // An invitation that does not exist: the same refusal, nothing to learn from it.
    let (head, tail) = link.split_once("id=").unwrap();
    let unknown_id = format!("{head}id={}{}", "0".repeat(32), &tail[32..]);
    assert!(federation_fails(&commune, &["join", &unknown_id]).contains("refused the pairing (403"));

    let joined = federation(&commune, &["join", &link]);
    assert_eq!(joined["base_url"], epci.url);
    assert_eq!(joined["name"], "Communauté de communes du Ried");
    assert_eq!(joined["kind"], "epci");
    assert_eq!(joined["code"], "200067007");
    assert_eq!(joined["status"], "awaiting_their_approval");
    let code = joined["short_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 9);

    // The EPCI's admin sees the same short code, then approves: both sides are paired.
    let peers = federation(&epci, &["peers"]);
    assert_eq!(peers.as_array().unwrap().len(), 1, "{peers}");
    assert_eq!(peers[0]["base_url"], commune.url);
    assert_eq!(peers[0]["name"], "Commune d'Exemple");
    assert_eq!(peers[0]["status"], "awaiting_our_approval");
    assert_eq!(peers[0]["short_code"], code, "both screens show the same digits");
    // Approving needs the code the other admin read out: another code changes nothing.
    assert!(federation_fails(&epci, &["approve", &commune.url, "--code", "0000 0000"]).contains("not the code"));
    assert_eq!(federation(&epci, &["peers"])[0]["status"], "awaiting_our_approval");
    let approved = federation(&epci, &["approve", &commune.url, "--code", &code]);
    assert_eq!(approved["told"], true, "{approved}");
    assert_eq!(federation(&epci, &["peers"])[0]["status"], "active");
    assert_eq!(federation(&commune, &["peers"])[0]["status"], "active");

    // The invitation was single use.
    assert!(federation_fails(&other, &["join", &link]).contains("refused the pairing"));
    assert_eq!(federation(&epci, &["peers"]).as_array().unwrap().len(), 1);
    // Approving an instance that never asked: there is nothing to approve.
    assert!(federation_fails(&other, &["approve", &epci.url, "--code", &code]).contains("peer not found"));
    // Revoked: frozen, not deleted; a new invitation pairs it again.
    assert_eq!(federation(&epci, &["revoke", &commune.url])["status"], "revoked");
    assert_eq!(federation(&epci, &["peers"])[0]["status"], "revoked");
    let again = federation(&epci, &["invite"])["link"].as_str().unwrap().to_owned();
    assert_eq!(federation(&commune, &["join", &again])["short_code"], code, "the same keys, the same code");
    assert_eq!(federation(&epci, &["peers"])[0]["status"], "awaiting_our_approval");
    // Peers and invitations are in backups and dumps, like everything else.
    let backup = epci.scratch().join("backup");
    epci.cli(&["backup", backup.to_str().unwrap()]).assert_ok();
    let dump = std::fs::read_to_string(backup.join("guichet.jsonl")).unwrap();
    assert!(dump.contains("\"kind\":\"peer\"") && dump.contains(&commune.url), "no peer in the backup");
    assert!(dump.contains("\"kind\":\"pair_invitation\""));
    // Every step is journaled.
    let mut admin = crate::browser::signed_in(&epci, "dgs@cc-ried.example", "admin").await;
    let journal = admin.get(&epci.at("/admin/journal")).await.body;
    for action in ["federation.invite", "federation.pair_request", "federation.approve", "federation.revoke"] {
        assert!(journal.contains(action), "{action} not journaled");
    }
}

#[tokio::test]
async fn admins_pair_their_instances_from_the_federation_page() {
    let epci = instance("Communauté de communes du Ried", "epci").await;
    let commune = instance("Commune d'Exemple", "commune").await;
    let mut epci_admin = crate::browser::signed_in(&epci, "dgs@cc-ried.example", "admin").await;
    let mut commune_admin = crate::browser::signed_in(&commune, "secretariat@exemple.example", "admin").await;

    let page = epci_admin.get(&epci.at("/admin/federation")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf_token").unwrap();
    let invited = epci_admin.post_form(&epci.at("/admin/federation/invitation"), &[("csrf_token", &csrf)]).await;
    assert_eq!(invited.status, 200);
    let start = invited.body.find(&format!("{}/federation/v1/invitation#", epci.url)).expect("the link is shown");
    let link = invited.body[start..].split('<').next().unwrap().replace("&amp;", "&").replace("&#38;", "&");

    // A link pasted wrong: said so, kept in the field, nothing paired.
    let c_csrf = commune_admin.get(&commune.at("/admin/federation")).await.input("csrf_token").unwrap();
    let broken = commune_admin
        .post_form(&commune.at("/admin/federation/adhesion"), &[("csrf_token", &c_csrf), ("link", "https://x")])
        .await;
    assert_eq!(broken.status, 422);
    assert!(
        broken.body.contains("pas une invitation valable") && broken.body.contains(">https://x</textarea>"),
        "{}",
        broken.body
    );

    let joined = commune_admin
        .post_form(&commune.at("/admin/federation/adhesion"), &[("csrf_token", &c_csrf), ("link", &link)])
        .await;
    assert_eq!(joined.status, 200, "{}", joined.body);
    assert!(joined.body.contains("Demande envoyée à Communauté de communes du Ried"), "{}", joined.body);
    let code = federation(&commune, &["peers"])[0]["short_code"].as_str().unwrap().to_owned();
    assert!(joined.body.contains(&code), "the short code is shown");

    let listed = epci_admin.get(&epci.at("/admin/federation")).await;
    assert!(
        listed.body.contains("Commune d'Exemple") || listed.body.contains("Commune d&#39;Exemple"),
        "{}",
        listed.body
    );
    assert!(listed.body.contains(&code) && listed.body.contains("À approuver ici"));
    let approved = epci_admin
        .post_form(
            &epci.at("/admin/federation/approbation"),
            &[("csrf_token", &csrf), ("peer", &commune.url), ("short_code", &code)],
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert!(approved.body.contains("est appariée"), "{}", approved.body);
    assert!(commune_admin.get(&commune.at("/admin/federation")).await.body.contains("Appariée"));
    // Without the admin's CSRF token, nothing happens.
    let forged = epci_admin.post_form(&epci.at("/admin/federation/revocation"), &[("peer", &commune.url)]).await;
    assert_eq!(forged.status, 400, "refused as a forged form");
    assert_eq!(federation(&epci, &["peers"])[0]["status"], "active");
}

/// A `pair.request` as a joiner would send it, but made here: `origin` claimed, signed with
/// `key`, with the proof computed from the invitation `link`.
fn pair_request(link: &str, origin: &str, key: &ed25519_dalek::SigningKey, inviter: &str) -> Vec<u8> {
    use base64::Engine;
    use guichet::federation::{
        Context, Identity, InvitationLink, Value, add_signature, key_document, proof, public_key,
    };
    let link = InvitationLink::parse(link).unwrap();
    let identity = Identity {
        base_url: origin.into(),
        name: "Commune d'Exemple".into(),
        kind: "commune".into(),
        code: "67482".into(),
    };
    let now = jiff::Timestamp::now().as_millisecond();
    let document = key_document(&identity, key, &[], now);
    let inviter_doc: serde_json::Value = serde_json::from_str(inviter).unwrap();
    let inviter_key =
        inviter_doc["keys"].as_object().unwrap().values().next().unwrap()["public_key"].as_str().unwrap().to_owned();
    assert!(public_key(&inviter_key).is_some());
    let mine = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let text = |s: &str| Value::String(s.to_owned());
    let mut message = Value::Object(
        [
            ("v".to_owned(), Value::Int(1)),
            ("id".to_owned(), text(&guichet::federation::new_id(now, [1; 10]))),
            ("type".to_owned(), text("pair.request")),
            ("origin".to_owned(), text(origin)),
            ("key".to_owned(), text(&guichet::federation::key_id(&key.verifying_key()))),
            ("to".to_owned(), Value::Array(vec![text(&link.base_url)])),
            ("created_at".to_owned(), Value::Int(now)),
            (
                "object".to_owned(),
                Value::Object(
                    [
                        ("kind".to_owned(), text("pairing")),
                        ("id".to_owned(), text(&link.id)),
                        ("version".to_owned(), Value::Int(1)),
                    ]
                    .into(),
                ),
            ),
            (
                "content".to_owned(),
                Value::Object(
                    [
                        ("key_document".to_owned(), document),
                        ("proof".to_owned(), text(&proof(&link.secret, &link.id, &inviter_key, &mine))),
                    ]
                    .into(),
                ),
            ),
        ]
        .into(),
    );
    add_signature(&mut message, origin, key, Context::Pairing);
    message.canonical()
}

#[tokio::test]
async fn an_invitation_holder_cannot_pair_in_another_instances_name() {
    let epci = instance("Communauté de communes du Ried", "epci").await;
    let commune = instance("Commune d'Exemple", "commune").await;
    let link = federation(&epci, &["invite"])["link"].as_str().unwrap().to_owned();
    let inviter = epci.http.get(epci.at("/.well-known/guichet/keys")).send().await.unwrap().text().await.unwrap();
    let post = |body: Vec<u8>| {
        let (http, url) = (epci.http.clone(), epci.at("/federation/v1/pair"));
        async move { http.post(url).body(body).send().await.unwrap().status().as_u16() }
    };
    // The secret, a valid proof, a signed document — but the key is not the one the
    // commune's address serves: refused, nothing pinned, the invitation still usable.
    let impostor = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    assert_eq!(post(pair_request(&link, &commune.url, &impostor, &inviter)).await, 403);
    assert_eq!(federation(&epci, &["peers"]), serde_json::json!([]));
    // The same made with the commune's own key (as its instance would): accepted.
    let seed: [u8; 32] = std::fs::read(commune.data.join("instance.key")).unwrap().try_into().unwrap();
    let own = ed25519_dalek::SigningKey::from_bytes(&seed);
    assert_eq!(post(pair_request(&link, &commune.url, &own, &inviter)).await, 200);
    assert_eq!(federation(&epci, &["peers"])[0]["status"], "awaiting_our_approval");
}

#[tokio::test]
async fn forged_pairing_messages_are_refused() {
    let epci = instance("Communauté de communes du Ried", "epci").await;
    let post = |body: Vec<u8>| {
        let url = epci.at("/federation/v1/pair");
        let http = epci.http.clone();
        async move { http.post(url).header("content-type", "application/json").body(body).send().await.unwrap().status() }
    };
    assert_eq!(post(b"{\"v\":1,\"v\":1}".to_vec()).await, 422, "duplicate keys");
    assert_eq!(post(b"not json".to_vec()).await, 422);
    assert_eq!(post(vec![b' '; 100 * 1024]).await, 413);
    // Well-formed but for another instance, or of another type.
    let other =
        r#"{"v":1,"type":"pair.request","origin":"http://127.0.0.1:1","to":["https://autre.example"]}"#.to_owned();
    assert_eq!(post(other.into_bytes()).await, 422);
    let forward = format!(r#"{{"v":1,"type":"request.forward","origin":"http://127.0.0.1:1","to":["{}"]}}"#, epci.url);
    assert_eq!(post(forward.into_bytes()).await, 422);
    // A pair.request without the sender's signed key document: refused like every pairing
    // failure at the inviter (the same 403), so that nothing can be learnt from it.
    federation(&epci, &["invite"]);
    let unsigned = format!(
        r#"{{"v":1,"type":"pair.request","origin":"http://127.0.0.1:1","to":["{}"],"content":{{}},"object":{{"id":"x"}}}}"#,
        epci.url
    );
    assert_eq!(post(unsigned.into_bytes()).await, 403);
    assert_eq!(federation(&epci, &["peers"]), serde_json::json!([]), "nothing paired");
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
    // The commune signs with the vectors' key, the EPCI with the seed of 32 bytes 0x02.
    let commune_key = vectors["public_key"].as_str().unwrap().to_owned();
    use base64::Engine;
    let epci_key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key().as_bytes());
    let dir = format!("{SCRIPTS}/../fixtures/federation/messages");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let message: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let key = if message["origin"] == "https://epci.example" { epci_key.as_str() } else { commune_key.as_str() };
        let (ok, report) = node("verify_message.mjs", &[key], &std::fs::read(&path).unwrap());
        assert!(ok, "{}: {report}", path.display());
        // And a changed byte is caught.
        let tampered = String::from_utf8(std::fs::read(&path).unwrap()).unwrap().replace("\"v\":1", "\"v\":2");
        assert!(!node("verify_message.mjs", &[key], tampered.as_bytes()).0, "{}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 18, "one golden file per message type sent between instances");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
