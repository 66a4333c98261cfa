//! E-mail as an intake channel: one RFC 5322 message (from `guichet mail ingest`, which a
//! mail server runs for each message it delivers) becomes a request on the e-mail channel,
//! with the sender as contact and the attachments; or, when its subject or headers carry a
//! tracking code (or answer one of our messages), a citizen message on that request.
//! Auto-replies, bounces and list mail are recognised and set aside, never answered.

use std::sync::Arc;

use mail_parser::{Message, MessageParser, MimeHeaders};
use serde::Serialize;
use sha2::Digest;

use super::Core;
use super::mail;
use super::requests::{NewAttachment, RequestService};
use crate::domain::actor::Actor;
use crate::domain::media::clean_file_name;
use crate::domain::request::{Channel, Contact, MAX_COMMENT, MAX_DESCRIPTION, MAX_SUBJECT, NewRequest, Notify};
use crate::domain::tracking::TrackingCode;
use crate::domain::{Error, Result};

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Ingested {
    Created {
        id: u64,
        registration: String,
        tracking_code: String,
    },
    Added {
        id: u64,
    },
    /// An automatic message (auto-reply, bounce, list): kept out, not answered.
    Ignored {
        reason: String,
    },
    /// A delivery report about one of our messages: recorded on its request.
    Bounced {
        notification: String,
    },
}

#[derive(Clone)]
pub struct InboundService {
    core: Arc<Core>,
    requests: RequestService,
    /// The category of requests made from e-mails.
    category: String,
    max_bytes: usize,
}

impl InboundService {
    pub fn new(core: Arc<Core>, category: String, max_bytes: usize) -> Self {
        InboundService { requests: RequestService::new(core.clone()), core, category, max_bytes }
    }

    pub async fn ingest(&self, raw: &[u8]) -> Result<Ingested> {
        if raw.len() > self.max_bytes {
            return Err(Error::TooLarge {
                message: format!(
                    "Votre message dépasse {} Mo et n'a pas été enregistré. Envoyez les pièces jointes en \
                     plusieurs fois, ou faites votre demande sur le site de la mairie.",
                    self.max_bytes >> 20
                ),
            });
        }
        let message = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| Error::invalid("unreadable", "message", "not an e-mail message"))?;
        if let Some(reason) = automatic(&message) {
            if is_bounce(&message)
                && let Some(id) = mail::record_bounce(&self.core, raw, bounce_reason(raw)).await?
            {
                return Ok(Ingested::Bounced { notification: id });
            }
            return Ok(Ingested::Ignored { reason: reason.to_owned() });
        }
        let from = message.from().and_then(|a| a.first());
        let email = from.and_then(|a| a.address()).unwrap_or_default().trim().to_owned();
        if email.is_empty() {
            return Ok(Ingested::Ignored { reason: "no sender".into() });
        }
        let name = from.and_then(|a| a.name()).unwrap_or_default().trim().to_owned();
        let subject = message.subject().unwrap_or_default().trim().to_owned();
        let text = body_text(&message);

        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for part in message.attachments() {
            let name = clean_file_name(part.attachment_name().unwrap_or("piece-jointe"));
            if files.len() >= self.core.settings.max_files {
                skipped.push(name);
                continue;
            }
            match self.store_file(part.contents()).await {
                Ok(file) => files.push(NewAttachment { file, name }),
                // Its type or size: named in the request, the rest recorded.
                Err(e) if e.is_refusal() => skipped.push(name),
                // The store failed: nothing is recorded, the message is tried again later.
                Err(e) => {
                    for f in &files {
                        self.core.files.release(&f.file, false);
                    }
                    return Err(e);
                }
            }
        }
        let mut text = if skipped.is_empty() {
            text
        } else {
            format!("{text}\n\n[Pièces jointes non retenues (type, taille ou nombre) : {}]", skipped.join(", "))
        };
        let result = match self.record(&message, &email, name, subject, &mut text, &files).await {
            // Delivered again (a mail server's retry, a mailbox read twice): recorded once.
            Err(Error::Conflict { code: "already_recorded", .. }) => {
                Ok(Ingested::Ignored { reason: "already recorded".into() })
            }
            other => other,
        };
        for f in &files {
            self.core.files.release(&f.file, matches!(result, Ok(Ingested::Created { .. } | Ingested::Added { .. })));
        }
        result
    }

    /// Adds the message to the request it answers, or makes a new request of it.
    async fn record(
        &self,
        message: &Message<'_>,
        email: &str,
        name: String,
        subject: String,
        text: &mut String,
        files: &[NewAttachment],
    ) -> Result<Ingested> {
        // What names this message: its Message-ID, from this sender.
        let once = message.message_id().map(|id| {
            let digest = sha2::Sha256::digest(format!("{id}\0{}", email.to_ascii_lowercase()).as_bytes());
            format!("mail:{}", crate::domain::audit::hex(&digest))
        });
        if let Some(code) = self.tracking_code(message, email) {
            let body = cut(text, MAX_COMMENT);
            match self.requests.add_citizen_message(&code, body, files.to_vec(), once.clone()).await {
                Ok(()) => {
                    let id = self.core.repos.requests.id_by_tracking_code(&code)?.unwrap_or_default();
                    return Ok(Ingested::Added { id });
                }
                Err(e @ Error::Conflict { code: "already_recorded", .. }) => return Err(e),
                // A closed request: the message starts a new one.
                Err(Error::Conflict { .. } | Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if text.trim().is_empty() {
            *text = subject.clone();
        }
        let input = NewRequest {
            category: self.category.clone(),
            subject: subject.chars().take(MAX_SUBJECT).collect(),
            description: cut(text, MAX_DESCRIPTION),
            contact: Contact { name: name.chars().take(120).collect(), email: email.to_owned(), ..Contact::default() },
            notify: Some(Notify::Email),
            location: None,
        };
        let created = self
            .requests
            .create_once(&Actor::system("mail"), Channel::Email, input, None, files.to_vec(), once)
            .await?;
        Ok(Ingested::Created {
            id: created.request.id,
            registration: created.request.registration,
            tracking_code: created.request.tracking_code.to_string(),
        })
    }

    /// A tracking code in the subject (the code is the credential, as on the tracking page),
    /// or the request one of our messages to its citizen was about, when the citizen answers
    /// it from the address it went to.
    fn tracking_code(&self, message: &Message<'_>, sender: &str) -> Option<TrackingCode> {
        let subject = message.subject().unwrap_or_default();
        let from_subject = subject
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.len() >= 12)
            .find_map(|w| TrackingCode::parse(w).ok());
        if from_subject.is_some() {
            return from_subject;
        }
        let mut ids: Vec<String> = Vec::new();
        for header in [message.in_reply_to(), message.references()] {
            if let Some(list) = header.as_text_list() {
                ids.extend(list.iter().map(|s| s.to_string()));
            } else if let Some(one) = header.as_text() {
                ids.push(one.to_owned());
            }
        }
        ids.iter().find_map(|id| {
            let local = id.trim_matches(['<', '>']).split('@').next()?;
            let notification = self.core.repos.outbox.get(local).ok()??;
            if !notification.kind.is_for_citizen() || !notification.to.eq_ignore_ascii_case(sender) {
                return None;
            }
            let request = self.core.repos.requests.get(notification.request?).ok()??;
            Some(request.tracking_code)
        })
    }

    async fn store_file(&self, bytes: &[u8]) -> Result<crate::store::files::StoredFile> {
        let s = &self.core.settings;
        let mut upload = self.core.files.begin(s.max_file_bytes, &s.allowed_types).await?;
        upload.write(bytes).await?;
        upload.finish().await
    }
}

/// Why a message is automatic (and must not be answered nor become a request), if it is:
/// RFC 3834 `Auto-Submitted`, `Precedence: bulk/junk/list`, an empty return path (bounces),
/// a delivery report (RFC 3464), a mailing list, or an auto-reply that says so.
pub fn automatic(message: &Message<'_>) -> Option<&'static str> {
    let raw = |name: &str| message.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if raw("Auto-Submitted").is_some_and(|v| v != "no") {
        return Some("auto-submitted");
    }
    if raw("Precedence").is_some_and(|v| ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str())) {
        return Some("precedence");
    }
    if raw("Return-Path").is_some_and(|v| v == "<>" || v.is_empty()) {
        return Some("empty return path");
    }
    if is_report(message) {
        return Some("delivery report");
    }
    if raw("X-Autoreply").is_some() || raw("X-Autorespond").is_some() || raw("List-Id").is_some() {
        return Some("auto-reply or list");
    }
    if from_mailer(message) {
        return Some("mailer daemon");
    }
    None
}

/// Whether an automatic message is a delivery failure report (not an auto-reply, which
/// also names the message it answers): a delivery report, or a message from the mailer.
fn is_bounce(message: &Message<'_>) -> bool {
    is_report(message) || from_mailer(message)
}

/// A delivery report (RFC 3464: `multipart/report`).
fn is_report(message: &Message<'_>) -> bool {
    message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart") && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
    })
}

/// Sent by a mail server itself rather than a person.
fn from_mailer(message: &Message<'_>) -> bool {
    let sender =
        message.from().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_ascii_lowercase();
    sender.starts_with("mailer-daemon@") || sender.starts_with("postmaster@")
}

/// At most `max` characters of `text`, cut at a character boundary, with a mark when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mark = "\n[…]";
    let mut out: String = text.chars().take(max - mark.chars().count()).collect();
    out.push_str(mark);
    out
}

/// What a delivery report says went wrong: its `Diagnostic-Code`, else its `Status`.
fn bounce_reason(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().chars().take(300).collect::<String>())
        })
    };
    match field("Diagnostic-Code").or_else(|| field("Status")) {
        Some(detail) => format!("bounce: {detail}"),
        None => "bounce".to_owned(),
    }
}

/// The text of a message: its plain text part, or its HTML made into text (never shown as
/// HTML), with whitespace tidied.
fn body_text(message: &Message<'_>) -> String {
    let text = message.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut out = String::new();
    let mut blank = 0;
    for line in lines {
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}
