//! E-mail to citizens through a real SMTP server (Python's aiosmtpd, installed by tests/run):
//! what is sent and when, the way to stop messages, and delivery that survives the server
//! being down and Guichet being killed: every message arrives exactly once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/smtp_sink.py");
const SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/site");

/// An SMTP server on loopback that keeps every message it accepts as a file.
pub struct SmtpSink {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl SmtpSink {
    /// A new server, started.
    pub fn started() -> SmtpSink {
        let mut sink = SmtpSink::stopped();
        sink.start();
        sink
    }

    /// A new server, not started yet.
    pub fn stopped() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        SmtpSink { dir: tempfile::tempdir().unwrap(), port, child: None }
    }

    /// A Guichet that sends through this server, with `extra` flags.
    pub async fn guichet(&self, extra: &[&str]) -> Server {
        let settings = smtp_settings(self.port);
        let mut args: Vec<&str> = settings.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        Server::start(&args).await
    }

    pub fn start(&mut self) {
        let mut child = Command::new("python3")
            .arg(SINK)
            .arg(self.dir.path())
            .arg(self.port.to_string())
            .env("PYTHONPATH", SITE)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be installed (tests/run installs aiosmtpd)");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.starts_with("listening"), "the SMTP server did not start: {first:?}");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, as text, in order of arrival.
    fn received(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else { return Vec::new() };
        let mut files: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "eml")).collect();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }

    /// The messages received so far, sign-in links left out (signing in a test browser
    /// sends one), in order of arrival.
    pub fn messages(&self) -> Vec<String> {
        self.received().into_iter().filter(|m| !is_sign_in_link(m)).collect()
    }

    /// The sign-in links received so far.
    pub fn sign_in_links(&self) -> Vec<String> {
        self.received().into_iter().filter(|m| is_sign_in_link(m)).collect()
    }

    /// Waits until `count` messages have arrived (at most `seconds`).
    pub async fn wait_for(&self, count: usize, seconds: u64) -> Vec<String> {
        self.wait(count, seconds, SmtpSink::messages).await
    }

    async fn wait(&self, count: usize, seconds: u64, which: fn(&SmtpSink) -> Vec<String>) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let messages = which(self);
            if messages.len() >= count || Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn is_sign_in_link(message: &str) -> bool {
    decode_body(message).contains("/auth/link/")
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn smtp_settings(port: u16) -> Vec<String> {
    [
        "smtp.host=127.0.0.1".to_owned(),
        format!("smtp.port={port}"),
        "smtp.security=none".into(),
        "smtp.from=Mairie de Guichet <mairie@guichet.example>".into(),
        "smtp.retry_base_seconds=1".into(),
    ]
    .into_iter()
    .flat_map(|s| ["--set".to_owned(), s])
    .collect()
}

pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

async fn citizen(s: &Server, email: &str, notify: &str, description: &str) -> serde_json::Value {
    let mut request = citizen_request("voirie", description);
    request["contact"]["email"] = json!(email);
    request["notify"] = json!(notify);
    let (status, created) = s.post("/api/v1/requests", None, &request).await;
    assert_eq!(status, 201, "{created}");
    created
}

#[tokio::test]
async fn citizens_who_chose_email_get_the_acknowledgement_status_changes_and_answers_and_can_stop_them() {
    let mut sink = SmtpSink::started();
    let s = sink.guichet(&[]).await;
    let agent = s.token("agent");

    let created = citizen(&s, "marie.dupont@example.fr", "email", "Lampadaire éteint rue Haute").await;
    let quiet = citizen(&s, "paul@example.fr", "none", "Banc cassé").await;
    let code = created["tracking_code"].as_str().unwrap();
    let registration = created["registration"].as_str().unwrap();
    let messages = sink.wait_for(1, 20).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let ack = &messages[0];
    assert_eq!(header(ack, "X-Envelope-To"), Some("marie.dupont@example.fr"));
    assert_eq!(header(ack, "From"), Some("\"Mairie de Guichet\" <mairie@guichet.example>"));
    assert_eq!(header(ack, "Auto-Submitted"), Some("auto-generated"), "auto-replies must not answer it");
    assert!(header(ack, "Message-ID").is_some_and(|id| id.starts_with("<ntf-")), "{ack}");
    assert!(header(ack, "Subject").is_some_and(|s| s.contains(registration) || s.contains("=?utf-8?")), "{ack}");
    let body = decode_body(ack);
    let stop_link = format!("/suivi/{code}#messages");
    for expected in [code, registration, "Date maximale de traitement", "Ne plus recevoir de messages", &stop_link] {
        assert!(body.contains(expected), "{expected:?} missing from\n{body}");
    }
    // The same words in HTML, for mail programs that show it: the stop link is a link.
    let html = decode_html(ack);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<html lang=\"fr\">"), "{html}");
    assert!(html.contains(registration) && html.contains("Date maximale de traitement"), "{html}");
    assert!(html.contains(&format!("href=\"{}\"", s.at(&stop_link))), "{html}");

    // A status change and a public answer are sent; an internal note is not.
    let id = created["id"].as_u64().unwrap();
    let path = |what: &str| format!("/api/v1/requests/{id}/{what}");
    assert_eq!(s.post(&path("status"), Some(&agent), &json!({"status": "in_progress"})).await.0, 200);
    let reply = json!({"visibility": "public", "body": "Nous intervenons jeudi matin."});
    assert_eq!(s.post(&path("comments"), Some(&agent), &reply).await.0, 200);
    let note = json!({"visibility": "internal", "body": "Prévoir la nacelle."});
    assert_eq!(s.post(&path("comments"), Some(&agent), &note).await.0, 200);
    let quiet_id = quiet["id"].as_u64().unwrap();
    let status = json!({"status": "in_progress"});
    assert_eq!(s.post(&format!("/api/v1/requests/{quiet_id}/status"), Some(&agent), &status).await.0, 200);
    let messages = sink.wait_for(3, 20).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages = if messages.len() == 3 { sink.messages() } else { messages };
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(decode_body(&messages[1]).contains("En cours de traitement"));
    assert!(decode_body(&messages[2]).contains("Nous intervenons jeudi matin."));
    assert!(!messages.iter().any(|m| decode_body(m).contains("nacelle")), "internal notes stay inside");
    assert!(!messages.iter().any(|m| m.contains("paul@example.fr")), "who chose nothing gets nothing");

    // Stopped from the tracking page (a POST: a mail scanner following the link changes
    // nothing), no more messages, not even one still waiting for the mail server then.
    let page = s.http.get(s.at(&format!("/suivi/{code}/messages"))).send().await.unwrap();
    assert_ne!(page.status(), 200, "a GET changes nothing");
    sink.stop();
    assert_eq!(s.post(&path("status"), Some(&agent), &json!({"status": "waiting"})).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = s.http.post(s.at(&format!("/suivi/{code}/messages"))).send().await.unwrap();
    assert!(stopped.status().is_redirection() || stopped.status() == 200, "{}", stopped.status());
    sink.start();
    assert_eq!(s.post(&path("status"), Some(&agent), &json!({"status": "in_progress"})).await.0, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(sink.messages().len(), 3, "nothing after the citizen stopped the messages");

    // An address the mail server refuses for good: on the request's timeline, for agents.
    let unknown = citizen(&s, "inconnu@example.fr", "email", "Poubelle renversée").await;
    let unknown_id = unknown["id"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let undelivered = loop {
        let (_, detail) = s.get(&format!("/api/v1/requests/{unknown_id}"), Some(&agent)).await;
        let events = detail["events"].as_array().unwrap().clone();
        if let Some(e) = events.iter().find(|e| e["change"]["type"] == "undelivered") {
            break e["change"].clone();
        }
        assert!(Instant::now() < deadline, "no refusal recorded: {detail}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(undelivered["to"], "inconnu@example.fr");
    assert!(undelivered["reason"].as_str().unwrap().contains("5.1.1"), "{undelivered}");
    assert_eq!(sink.messages().len(), 3);
}

#[tokio::test]
async fn a_burst_of_messages_survives_the_smtp_server_being_down_and_guichet_being_killed() {
    let mut sink = SmtpSink::stopped();
    let mut s = sink.guichet(&[]).await;

    // The server is down: 20 requests are acknowledged on the web, their e-mails wait.
    let mut expected = BTreeMap::new();
    for i in 0..20 {
        let created = citizen(&s, &format!("citoyen{i}@example.fr"), "email", &format!("Signalement {i}")).await;
        expected.insert(created["registration"].as_str().unwrap().to_owned(), format!("citoyen{i}@example.fr"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(sink.messages().is_empty());
    // An admin sees them waiting, tried and failed; an agent does not see that page.
    let mut admin = crate::browser::signed_in(&s, "dgs@mairie.example", "admin").await;
    let page = admin.get(&s.at("/admin/courriels")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let count = page.body.split("Messages en attente : <strong>").nth(1).and_then(|r| r.split('<').next());
    assert!(count.and_then(|c| c.parse::<usize>().ok()).is_some_and(|c| c >= 20), "{}", page.body);
    assert!(page.body.contains("Accusé de réception") && page.body.contains("citoyen0@example.fr"), "{}", page.body);
    let mut agent = crate::browser::signed_in(&s, "voirie@mairie.example", "agent").await;
    assert_eq!(agent.get(&s.at("/admin/courriels")).await.status, 403);
    // Guichet is killed and restarted: the queue is in the store.
    s.kill9();
    s.restart().await;
    sink.start();
    let messages = sink.wait_for(20, 30).await;
    assert_eq!(messages.len(), 20, "every queued message after the restart");

    // Down again in the middle of a second burst, then back. (Stopped a moment after the
    // last file appeared: the server writes a message before it answers "250", and a message
    // whose acceptance never reached Guichet is, rightly, sent again. SMTP cannot close that
    // window; the test does not aim into it.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sink.stop();
    for i in 20..30 {
        let created = citizen(&s, &format!("citoyen{i}@example.fr"), "email", &format!("Signalement {i}")).await;
        expected.insert(created["registration"].as_str().unwrap().to_owned(), format!("citoyen{i}@example.fr"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sink.start();
    let messages = sink.wait_for(30, 40).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = if messages.len() >= 30 { sink.messages() } else { messages };

    // Exactly once each: 30 messages, 30 Message-IDs, one per request, to its citizen.
    assert_eq!(messages.len(), 30, "{} messages", messages.len());
    let mut ids: Vec<&str> = messages.iter().filter_map(|m| header(m, "Message-ID")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 30, "a message arrived twice");
    for (registration, to) in &expected {
        let found: Vec<&String> = messages.iter().filter(|m| decode_body(m).contains(registration.as_str())).collect();
        assert_eq!(found.len(), 1, "{registration}");
        assert_eq!(header(found[0], "X-Envelope-To"), Some(to.as_str()));
    }
}

/// The text part of a message, decoded (by mail-parser, an independent MIME reader), with
/// its lines ending in `\n`.
pub fn decode_body(message: &str) -> String {
    let parsed = mail_parser::MessageParser::default().parse(message.as_bytes()).expect("a MIME message");
    parsed.body_text(0).map(|t| t.replace("\r\n", "\n")).unwrap_or_default()
}

/// The HTML part of a message, decoded.
fn decode_html(message: &str) -> String {
    let parsed = mail_parser::MessageParser::default().parse(message.as_bytes()).expect("a MIME message");
    parsed.html_part(0).and_then(|p| p.text_contents()).map(str::to_owned).unwrap_or_default()
}

#[tokio::test]
async fn a_category_words_its_own_messages_and_keeps_the_legal_mentions() {
    let sink = SmtpSink::started();
    let s = sink.guichet(&[]).await;
    let mut admin = crate::browser::signed_in(&s, "dgs@mairie.example", "admin").await;
    let page = admin.get(&s.at("/admin/categories/voirie")).await;
    let csrf = page.input("csrf_token").unwrap();
    let form = |status: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", "Voirie".to_owned()),
            ("department", "technique".to_owned()),
            ("sla_days", "15".to_owned()),
            ("public", "1".to_owned()),
            ("active", "1".to_owned()),
            (
                "message_acknowledgement",
                "Les nids-de-poule sont bouchés sous 48 heures.\r\nMerci de votre signalement.".to_owned(),
            ),
            ("message_status", status.to_owned()),
        ]
    };
    // A status text that lost {detail} would hide what changed: refused, nothing saved.
    let refused = admin.post_values(&s.at("/admin/categories/voirie"), &form("Votre demande a avancé.")).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("{detail}") && refused.body.contains("aria-invalid"), "{}", refused.body);
    let saved = admin
        .post_values(
            &s.at("/admin/categories/voirie"),
            &form("{registration} ({subject}) : {detail}. La voirie, {collectivite}."),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let edit = admin.get(&s.at("/admin/categories/voirie")).await;
    assert!(edit.body.contains("Merci de votre signalement.</textarea>"), "kept in the form: {}", edit.body);

    let created = citizen(&s, "marie.dupont@example.fr", "email", "Nid-de-poule rue Haute {detail}").await;
    let messages = sink.wait_for(1, 20).await;
    let ack = decode_body(&messages[0]);
    assert!(
        ack.starts_with("Les nids-de-poule sont bouchés sous 48 heures.\nMerci de votre signalement.\n\n"),
        "{ack}"
    );
    for legal in ["Date maximale de traitement", created["tracking_code"].as_str().unwrap()] {
        assert!(ack.contains(legal), "{legal:?} missing: the legal mentions follow the introduction\n{ack}");
    }
    let id = created["id"].as_u64().unwrap();
    let status = json!({"status": "in_progress"});
    assert_eq!(s.post(&format!("/api/v1/requests/{id}/status"), Some(&s.token("agent")), &status).await.0, 200);
    let messages = sink.wait_for(2, 20).await;
    let text = decode_body(&messages[1]);
    let registration = created["registration"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("{registration} (Voirie) : En cours de traitement. La voirie, Commune de Guichet.")),
        "{text}"
    );
}

#[tokio::test]
async fn invitations_and_sign_in_links_go_by_email_and_the_link_is_not_kept() {
    let sink = SmtpSink::started();
    let mut s = sink.guichet(&[]).await;

    // An agent invited from the command line: the link is printed and e-mailed.
    let run = s.cli(&["admin", "invite", "--email", "voirie@mairie.example", "--role", "agent"]);
    run.assert_ok();
    let agent_link = run.stdout.trim().to_owned();
    assert!(run.stderr.contains("also sent to them by e-mail"), "{}", run.text());
    let messages = sink.wait(1, 20, SmtpSink::sign_in_links).await;
    assert_eq!(header(&messages[0], "X-Envelope-To"), Some("voirie@mairie.example"));
    assert!(decode_body(&messages[0]).contains(&format!("ouvrez ce lien : {agent_link}")), "{}", messages[0]);
    assert!(decode_html(&messages[0]).contains(&format!("href=\"{agent_link}\"")));

    // A guest approved, then sent a new link: two messages, each with its own link, and
    // the one received works.
    let request = s.submit("un trottoir effondré").await["id"].as_u64().unwrap();
    let ends_at = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).to_string();
    let proposal =
        json!({"email": "bureau@etudes.example", "name": "Bureau d'études", "request": request, "ends_at": ends_at});
    let (status, guest) = s.post("/api/v1/guests", Some(&s.token("agent")), &proposal).await;
    assert_eq!(status, 201, "{guest}");
    let manager = s.token("manager");
    let gid = guest["id"].as_str().unwrap();
    let (status, approved) = s.post(&format!("/api/v1/guests/{gid}/approve"), Some(&manager), &json!({})).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["link"]["emailed"], true);
    let (status, again) = s.post(&format!("/api/v1/guests/{gid}/link"), Some(&manager), &json!({})).await;
    assert_eq!(status, 200, "{again}");
    let messages = sink.wait(3, 20, SmtpSink::sign_in_links).await;
    let to_guest: Vec<String> = messages
        .iter()
        .filter(|m| header(m, "X-Envelope-To") == Some("bureau@etudes.example"))
        .map(|m| decode_body(m))
        .collect();
    assert_eq!(to_guest.len(), 2, "{messages:?}");
    assert!(to_guest[0].contains(approved["link"]["url"].as_str().unwrap()), "{}", to_guest[0]);
    assert!(to_guest[1].contains(again["url"].as_str().unwrap()), "{}", to_guest[1]);
    let mut browser = crate::browser::Browser::new();
    let confirm = browser.get(again["url"].as_str().unwrap()).await;
    assert_eq!(confirm.status, 200, "the e-mailed link works: {}", confirm.body);

    // Once sent, the links are no longer in the store (nor in its exports).
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.stop();
    let dump = s.scratch().join("dump.jsonl");
    s.cli(&["export", "-o", dump.to_str().unwrap()]).assert_ok();
    let dump = std::fs::read_to_string(dump).unwrap();
    assert!(!dump.contains("/auth/link/"), "a sign-in link was kept");
    assert_eq!(dump.matches("lien de connexion retiré après l'envoi").count(), 3);
}

#[tokio::test]
async fn a_departments_mailbox_hears_of_new_requests_and_agents_of_what_they_are_given() {
    let sink = SmtpSink::started();
    let s = sink.guichet(&[]).await;
    let admin = s.token("admin");
    let technique =
        json!({"id": "technique", "name": "Services techniques", "email": "st@mairie.example", "active": true});
    let (status, body) = s.put("/api/v1/departments/technique", Some(&admin), &technique).await;
    assert_eq!(status, 200, "{body}");
    s.cli(&["admin", "invite", "--email", "voirie@mairie.example", "--role", "agent"]).assert_ok();
    let (_, accounts) = s.get("/api/v1/accounts", Some(&admin)).await;
    let agent_id = accounts.as_array().unwrap().iter().find(|a| a["email"] == "voirie@mairie.example").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A request for the technical department, from a citizen who wants no e-mail.
    let created = citizen(&s, "", "none", "Nid-de-poule avenue Foch").await;
    let messages = sink.wait_for(1, 20).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(header(&messages[0], "X-Envelope-To"), Some("st@mairie.example"));
    let id = created["id"].as_u64().unwrap();
    assert!(decode_body(&messages[0]).contains(&format!("/agent/demandes/{id}")));
    assert!(!decode_body(&messages[0]).contains("avenue Foch"), "the description stays in Guichet");

    // Given to an agent by someone else: the agent hears of it; taken for oneself: nobody.
    let path = format!("/api/v1/requests/{id}/assignment");
    assert_eq!(s.post(&path, Some(&admin), &json!({"assignee": agent_id})).await.0, 200);
    let messages = sink.wait_for(2, 20).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(header(&messages[1], "X-Envelope-To"), Some("voirie@mairie.example"));
    assert!(decode_body(&messages[1]).contains("vous a été attribuée"));
    assert_eq!(s.post(&path, Some(&admin), &json!({"assignee": "me"})).await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 2);
}

/// A stand-in for an SMS provider's HTTP gateway (none can be reached from here): it
/// records what it is sent, answers 503 to the first message (a temporary failure), and
/// 400 for one number (a refusal).
struct Gateway {
    url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
}

impl Gateway {
    async fn start() -> Gateway {
        use axum::extract::Query;
        use axum::http::{HeaderMap, StatusCode};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/send?to={{to}}&text={{text}}", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (log, calls) = (received.clone(), std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)));
        let app = axum::Router::new().route(
            "/send",
            axum::routing::post(move |headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>| {
                let (log, calls) = (log.clone(), calls.clone());
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let to = q.get("to").cloned().unwrap_or_default();
                    if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    if to == "0600000000" {
                        return StatusCode::BAD_REQUEST;
                    }
                    log.lock().unwrap().push((to, q.get("text").cloned().unwrap_or_default(), auth));
                    StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Gateway { url, received }
    }
}

#[tokio::test]
async fn citizens_who_chose_sms_get_short_messages_through_the_gateway() {
    let gateway = Gateway::start().await;
    let url = format!("sms.url={}", gateway.url);
    let s = Server::start(&[
        "--set",
        &url,
        "--set",
        "sms.auth_header=Authorization: Bearer jeton-sms",
        "--set",
        "smtp.retry_base_seconds=1",
    ])
    .await;
    let mut request = citizen_request("voirie", "Poubelle renversée");
    request["contact"]["phone"] = json!("06 12 34 56 78");
    request["notify"] = json!("sms");
    let (status, created) = s.post("/api/v1/requests", None, &request).await;
    assert_eq!(status, 201, "{created}");
    let mut refused = citizen_request("voirie", "Numéro refusé");
    refused["contact"]["phone"] = json!("0600000000");
    refused["notify"] = json!("sms");
    let (status, refused) = s.post("/api/v1/requests", None, &refused).await;
    assert_eq!(status, 201);

    // The first attempt meets a 503 and is tried again; the refused number is journaled.
    let deadline = Instant::now() + Duration::from_secs(20);
    while gateway.received.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = gateway.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let (to, text, auth) = &received[0];
    assert_eq!(to, "06 12 34 56 78");
    assert_eq!(auth, "Bearer jeton-sms");
    assert!(text.contains(created["registration"].as_str().unwrap()) && text.contains("/suivi/"), "{text}");
    assert!(text.chars().count() <= 160, "one SMS: {} characters", text.chars().count());
    let mut admin = crate::browser::signed_in(&s, "dgs@mairie.example", "admin").await;
    let journal = admin.get(&s.at("/admin/journal")).await.body;
    assert!(journal.contains("SMS refusé par la passerelle"), "the refusal is journaled");
    let (_, detail) = s.get(&format!("/api/v1/requests/{}", refused["id"]), Some(&s.token("agent"))).await;
    let events = detail["events"].as_array().unwrap();
    let undelivered = events.iter().find(|e| e["change"]["type"] == "undelivered").expect("on the timeline");
    assert_eq!(undelivered["change"]["medium"], "sms");
    assert_eq!(undelivered["change"]["to"], "0600000000");
}
