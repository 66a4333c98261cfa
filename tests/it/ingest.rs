//! E-mail as an intake channel: real messages (tests/fixtures/mail) delivered to
//! `guichet mail ingest` on standard input, as a mail server does, while the server runs.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};

use crate::mail::{SmtpSink, header};
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

    // Delivered again (a mail server's retry, a mailbox read twice): recorded once, and
    // its attachments stay.
    let files = stored_files(&s.data);
    let (code, stdout, _) = ingest(&s, &fixture("multipart-attachments.eml"));
    assert_eq!(code, 0);
    assert_eq!(outcome(&stdout), json!({"outcome": "ignored", "reason": "already recorded"}));
    assert_eq!(s.list_all("", 10, &s.token("admin")).await.len(), 1);
    assert_eq!(stored_files(&s.data), files);

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
    let sink = SmtpSink::started();
    let s = sink.guichet(&[]).await;

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
    let (_, stdout, _) = ingest(&s, reply.as_bytes());
    assert_eq!(outcome(&stdout)["reason"], "already recorded", "the same reply twice is added once");
    // So does a message whose subject carries the tracking code.
    let tracking = created["tracking_code"].as_str().unwrap();
    let by_subject = format!(
        "From: rene.dupre@example.fr\r\nTo: mairie@guichet.example\r\nSubject: Suite de ma demande {tracking}\r\n\r\nToujours en panne ce soir.\r\n"
    );
    let (_, stdout, _) = ingest(&s, by_subject.as_bytes());
    assert_eq!(outcome(&stdout)["outcome"], "added");
    // A reply with nothing but a photo: the photo joins the request.
    let photo = base64::engine::general_purpose::STANDARD.encode(PNG);
    let photo_only = format!(
        "From: rene.dupre@example.fr\r\nTo: mairie@guichet.example\r\nSubject: Re: {tracking}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\r\n--b\r\n\
         Content-Type: image/png\r\nContent-Disposition: attachment; filename=photo.png\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{photo}\r\n--b--\r\n"
    );
    let (code, stdout, stderr) = ingest(&s, photo_only.as_bytes());
    assert_eq!((code, outcome(&stdout)["outcome"].as_str()), (0, Some("added")), "{stderr}");
    // A very long reply is kept, cut to what a message may hold.
    let long = format!(
        "From: rene.dupre@example.fr\r\nTo: mairie@guichet.example\r\nSubject: Re: {tracking}\r\n\r\n{}\r\n",
        "Encore des détails. ".repeat(1_000)
    );
    let (code, stdout, stderr) = ingest(&s, long.as_bytes());
    assert_eq!((code, outcome(&stdout)["outcome"].as_str()), (0, Some("added")), "{stderr}");
    let d = detail(&s, id).await;
    let names: Vec<&str> =
        d["request"]["attachments"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["photo.png"]);
    let last = d["events"].as_array().unwrap().last().unwrap()["change"]["body"].as_str().unwrap().to_owned();
    assert_eq!(last.chars().count(), 10_000, "cut to the longest message");
    assert!(last.starts_with("Encore des détails.") && last.ends_with("[…]"));
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

    // Someone else answering the citizen's acknowledgement does not write in their
    // request: theirs is a new one.
    let stranger = String::from_utf8(fixture("reply.eml"))
        .unwrap()
        .replace("IN_REPLY_TO", &message_id)
        .replace("rene.dupre@example.fr", "quelquun@example.org");
    let (code, stdout, _) = ingest(&s, stranger.as_bytes());
    assert_eq!(code, 0);
    let other = outcome(&stdout);
    assert_eq!(other["outcome"], "created", "{other}");
    assert_ne!(other["id"], id);
}

#[tokio::test]
async fn a_bounce_of_our_message_is_recorded_on_its_request_and_a_vacation_reply_is_not() {
    let sink = SmtpSink::started();
    let s = sink.guichet(&[]).await;
    let (_, stdout, _) = ingest(&s, &fixture("latin1.eml"));
    let id = outcome(&stdout)["id"].as_u64().unwrap();
    let messages = sink.wait_for(1, 20).await;
    let message_id = header(&messages[0], "Message-ID").unwrap().to_owned();
    let undelivered = |d: &Value| -> Vec<Value> {
        d["events"].as_array().unwrap().iter().filter(|e| e["change"]["type"] == "undelivered").cloned().collect()
    };

    // The citizen's vacation reply names our message too: it is no failure.
    let vacation = String::from_utf8(fixture("vacation.eml")).unwrap().replace("MESSAGE_ID", &message_id);
    let (code, stdout, _) = ingest(&s, vacation.as_bytes());
    assert_eq!((code, outcome(&stdout)["outcome"].as_str()), (0, Some("ignored")));
    let d = detail(&s, id).await;
    assert!(undelivered(&d).is_empty(), "{d}");

    // The mail server's report that the address does not exist: on the request's
    // timeline, for agents, with the server's words; once, however often it comes.
    let dsn = String::from_utf8(fixture("dsn-of-ours.eml")).unwrap().replace("MESSAGE_ID", &message_id);
    for _ in 0..2 {
        let (code, stdout, stderr) = ingest(&s, dsn.as_bytes());
        assert_eq!(code, 0, "{stderr}");
        let bounced = outcome(&stdout);
        assert_eq!(bounced["outcome"], "bounced", "{bounced}");
        assert_eq!(Some(bounced["notification"].as_str().unwrap()), message_id[1..].split('@').next());
    }
    let events = undelivered(&detail(&s, id).await);
    assert_eq!(events.len(), 1, "{events:?}");
    let change = &events[0]["change"];
    assert_eq!(change["medium"], "email");
    assert_eq!(change["to"], "rene.dupre@example.fr");
    assert!(change["reason"].as_str().unwrap().contains("550 5.1.1"), "{change}");
    let (_, tracking) = s.get(&format!("/api/v1/track/{}", outcome(&stdout)["tracking_code"]), None).await;
    assert!(!tracking.to_string().contains("5.1.1"), "not shown to the public: {tracking}");
    let mut agent = crate::browser::signed_in(&s, "dgs@mairie.example", "admin").await;
    let page = agent.get(&s.at(&format!("/agent/demandes/{id}"))).await;
    assert!(page.body.contains("Courriel au demandeur non remis (rene.dupre@example.fr)"), "{}", page.body);
    let journal = agent.get(&s.at("/admin/journal")).await;
    assert!(journal.body.contains("mail.bounced"), "{}", journal.body);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(sink.messages().len(), 1, "a report is never answered");
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

    // Guichet cannot be reached nor its store opened (here, not a directory): the mail
    // server is told to try again later (EX_TEMPFAIL), not to bounce the message.
    let file = s.scratch().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(BIN)
        .args(["mail", "ingest", "--data-dir"])
        .arg(&file)
        .env("GUICHET_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
}
