//! E-mail as an intake channel: real messages (tests/fixtures/mail) delivered to
//! `guichet mail ingest` on standard input, as a mail server does, while the server runs.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::mail::{SmtpSink, header, smtp_settings};
use crate::support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mail");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// Runs `guichet mail ingest` with `message` on standard input: exit code, stdout, stderr.
fn ingest(s: &Server, message: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(["mail", "ingest", "--data-dir"])
        .arg(&s.data)
        .env("GUICHET_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn outcome(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn detail(s: &Server, id: u64) -> Value {
    let (status, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&s.token("admin"))).await;
    assert_eq!(status, 200, "{detail}");
    detail
}

#[tokio::test]
async fn messages_become_requests_with_their_sender_attachments_and_accents() {
    let s = Server::start(&[]).await;

    // Multipart, quoted-printable UTF-8, base64 attachments: a photo and a PDF kept, an
    // executable refused (and said so in the request).
    let (code, stdout, stderr) = ingest(&s, &fixture("multipart-attachments.eml"));
    assert_eq!(code, 0, "{stderr}");
    let created = outcome(&stdout);
    assert_eq!(created["outcome"], "created", "{created}");
    let d = detail(&s, created["id"].as_u64().unwrap()).await;
    let r = &d["request"];
    assert_eq!(r["channel"], "email");
    assert_eq!(r["category"], "autre");
    assert_eq!(r["subject"], "Trottoir abîmé rue de l'Église");
    assert_eq!(r["contact"]["name"], "Françoise Léger");
    assert_eq!(r["contact"]["email"], "francoise.leger@example.fr");
    assert_eq!(r["notify"], "email");
    let description = r["description"].as_str().unwrap();
    assert!(
        description.contains("n°12 rue de l'Église est défoncé : une personne âgée est tombée hier."),
        "{description}"
    );
    assert!(description.contains("facture.exe"), "the refused attachment is named: {description}");
    let names: Vec<&str> = r["attachments"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["trottoir.png", "assurance.pdf"]);
    assert_eq!(r["attachments"][0]["media_type"], "image/png");

    // ISO-8859-1, in the subject's encoded words and in the body.
    let (code, stdout, _) = ingest(&s, &fixture("latin1.eml"));
    assert_eq!(code, 0);
    let r = detail(&s, outcome(&stdout)["id"].as_u64().unwrap()).await["request"].clone();
    assert_eq!(r["subject"], "Lampadaire éteint place du Marché");
    assert_eq!(r["contact"]["name"], "René Dupré");
    assert!(r["description"].as_str().unwrap().contains("Ça fait déjà une semaine."), "{r}");

    // HTML only: text, never markup, scripts or trackers.
    let (code, stdout, _) = ingest(&s, &fixture("html-only.eml"));
    assert_eq!(code, 0);
    let r = detail(&s, outcome(&stdout)["id"].as_u64().unwrap()).await["request"].clone();
    let description = r["description"].as_str().unwrap();
    assert!(description.contains("Des graffitis sont apparus sur le mur de l'école."), "{description}");
    for forbidden in ["<", "alert", "pixel", "color"] {
        assert!(!description.contains(forbidden), "{forbidden:?} in {description}");
    }
}

#[tokio::test]
async fn replies_join_their_request_and_automatic_messages_are_never_answered() {
    let scratch = tempfile::tempdir().unwrap();
    let mut sink = SmtpSink::new(scratch.path());
    sink.start();
    let settings = smtp_settings(sink.port);
    let s = Server::start(&settings.iter().map(String::as_str).collect::<Vec<_>>()).await;

    // A request by e-mail: its sender gets the acknowledgement.
    let (code, stdout, _) = ingest(&s, &fixture("latin1.eml"));
    assert_eq!(code, 0);
    let created = outcome(&stdout);
    let id = created["id"].as_u64().unwrap();
    let messages = sink.wait_for(1, 20).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(header(&messages[0], "X-Envelope-To"), Some("rene.dupre@example.fr"));
    let message_id = header(&messages[0], "Message-ID").unwrap().to_owned();

    // Answering that acknowledgement adds to the request (its In-Reply-To names it).
    let reply = String::from_utf8(fixture("reply.eml")).unwrap().replace("IN_REPLY_TO", &message_id);
    let (code, stdout, stderr) = ingest(&s, reply.as_bytes());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(outcome(&stdout), json!({"outcome": "added", "id": id}));
    // So does a message whose subject carries the tracking code.
    let tracking = created["tracking_code"].as_str().unwrap();
    let by_subject = format!(
        "From: rene.dupre@example.fr\r\nTo: mairie@guichet.example\r\nSubject: Suite de ma demande {tracking}\r\n\r\nToujours en panne ce soir.\r\n"
    );
    let (_, stdout, _) = ingest(&s, by_subject.as_bytes());
    assert_eq!(outcome(&stdout)["outcome"], "added");
    let events = detail(&s, id).await["events"].clone();
    let bodies: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["change"]["body"].as_str()).collect();
    assert!(bodies.iter().any(|b| b.contains("La plaque est toujours descellée ce matin.")), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains("Toujours en panne ce soir.")), "{bodies:?}");

    // An auto-reply and a bounce: set aside, no request, nothing sent back.
    let before = s.list_all("", 50, &s.token("admin")).await.len();
    for name in ["autoreply.eml", "bounce.eml"] {
        let (code, stdout, _) = ingest(&s, &fixture(name));
        assert_eq!(code, 0, "{name}");
        assert_eq!(outcome(&stdout)["outcome"], "ignored", "{name}: {stdout}");
    }
    assert_eq!(s.list_all("", 50, &s.token("admin")).await.len(), before);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 1, "no answer to automatic messages: no mail loop");
}

#[tokio::test]
async fn oversized_and_unreadable_messages_are_refused_with_a_notice_and_change_nothing() {
    let s = Server::start(&["--set", "inbound_mail.max_message_mib=1"]).await;
    let journal = s.audit_entries();
    let mut big = b"From: a@example.fr\r\nTo: mairie@guichet.example\r\nSubject: gros\r\n\r\n".to_vec();
    big.resize(2 << 20, b'x');
    let (code, _, stderr) = ingest(&s, &big);
    assert_eq!(code, 65, "EX_DATAERR: the mail server bounces it with the notice");
    assert!(stderr.contains("dépasse 1 Mo"), "{stderr}");
    let (code, _, stderr) = ingest(&s, b"");
    assert_eq!(code, 65, "{stderr}");
    assert_eq!(s.audit_entries(), journal, "nothing recorded");
    assert!(s.list_all("", 10, &s.token("admin")).await.is_empty());
}
