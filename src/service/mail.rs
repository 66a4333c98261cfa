//! E-mail (and SMS) to citizens and agents through the durable outbox: messages are queued in the same write as
//! the change they tell about (a request received, its status changed, a public answer),
//! and one background sender delivers them over SMTP (rustls; STARTTLS or implicit TLS).
//! An unreachable server delays messages, never loses them (retried with a growing wait);
//! a permanent refusal is recorded on the message and in the journal. Each message carries
//! its own Message-ID, `Auto-Submitted: auto-generated` (so that auto-replies stay quiet),
//! and how to stop messages about the request.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::Core;
use crate::domain::actor::Actor;
use crate::domain::notification::{Address, Delivery, Medium, Notification, NotificationKind, backoff};
use crate::domain::request::{Change, Notify, Request, RequestEvent};
use crate::domain::{Error, Result};
use crate::l10n::Locale;
use crate::store::{Repos, Tx, TxResult};

mod html;
mod sms;

use html::html_of;
pub use sms::SmsGateway;

/// What delivers the outbox: e-mail, SMS, or both.
pub struct Senders {
    pub mail: Option<Mailer>,
    pub sms: Option<SmsGateway>,
    pub retry_base: SignedDuration,
}

/// How the sender reaches the mail server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// From `[smtp]`: `security` is `starttls`, `tls` or `none` (loopback relay only).
    pub fn new(
        host: &str,
        port: u16,
        security: &str,
        credentials: Option<(String, String)>,
        from: &str,
    ) -> anyhow::Result<Mailer> {
        let builder = match security {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(port).timeout(Some(Duration::from_secs(30)));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Mailer { transport: builder.build(), from: from.parse()? })
    }
}

/// What a citizen is told: a new request's acknowledgement (`detail`: its text), a new
/// status (`detail`: its name) or a public answer (`detail`: the answer).
pub struct News<'a> {
    pub kind: NotificationKind,
    pub detail: &'a str,
    /// The notification's id, drawn before the write.
    pub id: &'a str,
    pub at: Timestamp,
}

/// Queues an e-mail to the citizen of `request`, inside the write that makes the change,
/// when e-mail is set up and the citizen chose it.
pub fn queue_for_citizen(
    core_settings: &super::Settings,
    repos: &Repos,
    tx: &Tx<'_>,
    request: &Request,
    news: &News<'_>,
) -> TxResult<()> {
    let News { kind, detail, id, at: now } = *news;
    let l = Locale::french();
    let tracking = format!("{}/suivi/{}", core_settings.public_url, request.tracking_code);
    let values = [
        ("registration", request.registration.as_str()),
        ("subject", request.subject.as_str()),
        ("detail", detail),
        ("tracking", tracking.as_str()),
        ("collectivite", core_settings.instance_name.as_str()),
    ];
    let notification = |medium: Medium, to: &str, subject: String, text: String| {
        Notification::new(id.to_owned(), kind, Address { medium, to, subject, text }, Some(request.id), now)
    };
    if request.notify == Notify::Sms && core_settings.sms_enabled && !request.contact.phone.is_empty() {
        let key = match kind {
            NotificationKind::Acknowledgement => "sms.ack",
            NotificationKind::Status => "sms.status",
            _ => "sms.reply",
        };
        let text = fill(l.t(key), &values);
        return repos.outbox.put(tx, &notification(Medium::Sms, &request.contact.phone, String::new(), text), None);
    }
    if !core_settings.mail_enabled || request.notify != Notify::Email || request.contact.email.is_empty() {
        return Ok(());
    }
    // The category's own wording, where it has one.
    let own = repos.catalogue.category_tx(tx, &request.category)?.map(|c| c.messages).unwrap_or_default();
    let wording = |own: &str, default: &str| fill(if own.trim().is_empty() { l.t(default) } else { own }, &values);
    let (subject, body) = match kind {
        NotificationKind::Acknowledgement => {
            let intro = own.acknowledgement.trim();
            let body =
                if intro.is_empty() { detail.to_owned() } else { format!("{}\n\n{detail}", fill(intro, &values)) };
            (fill(l.t("mail.ack_subject"), &values), body)
        }
        NotificationKind::Status => {
            (fill(l.t("mail.status_subject"), &values), wording(&own.status, "mail.status_body"))
        }
        _ => (fill(l.t("mail.reply_subject"), &values), wording(&own.reply, "mail.reply_body")),
    };
    let stop = format!("{tracking}#messages");
    let footer = fill(
        l.t("mail.footer"),
        &[("tracking", &tracking), ("stop", &stop), ("collectivite", &core_settings.instance_name)],
    );
    let text = format!("{body}\n\n{SIGNATURE}{footer}\n");
    repos.outbox.put(tx, &notification(Medium::Email, &request.contact.email, subject, text), None)
}

/// Fills `{name}` placeholders in one pass, so that a value that happens to contain a
/// placeholder (a citizen's subject) is never filled in turn. Unknown names stay as written.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| {
            let name = &after[..close];
            values.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v, close))
        });
        match known {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The signature separator (RFC 3676): mail programs show what follows as a footer.
pub const SIGNATURE: &str = "-- \n";

/// Queues an e-mail to an agent or a department's mailbox about `request` (a new request
/// waiting, or one assigned to them), inside the write that makes the change. Only the
/// registration number, the subject and a link: the rest is read in Guichet.
pub fn queue_for_agents(
    core_settings: &super::Settings,
    repos: &Repos,
    tx: &Tx<'_>,
    request: &Request,
    to: &str,
    news: &News<'_>,
) -> TxResult<()> {
    if !core_settings.mail_enabled || to.is_empty() {
        return Ok(());
    }
    let l = Locale::french();
    let (subject_key, body_key) = match news.kind {
        NotificationKind::Assigned => ("mail.assigned_subject", "mail.assigned_body"),
        _ => ("mail.new_subject", "mail.new_body"),
    };
    let link = format!("{}/agent/demandes/{}", core_settings.public_url, request.id);
    let values = [
        ("registration", request.registration.as_str()),
        ("subject", request.subject.as_str()),
        ("link", link.as_str()),
        ("collectivite", core_settings.instance_name.as_str()),
    ];
    let fill = |key: &str| fill(l.t(key), &values);
    let address = Address {
        medium: Medium::Email,
        to,
        subject: fill(subject_key),
        text: format!(
            "{}
",
            fill(body_key)
        ),
    };
    let notification = Notification::new(news.id.to_owned(), news.kind, address, Some(request.id), news.at);
    repos.outbox.put(tx, &notification, None)
}

/// What the web pages see of the outbox.
#[derive(Clone)]
pub struct MailService {
    core: Arc<Core>,
}

impl MailService {
    pub fn new(core: Arc<Core>) -> Self {
        MailService { core }
    }

    /// The messages waiting to be sent (all of them counted, the first `limit` listed),
    /// for the admin who wonders why citizens received nothing.
    pub fn pending(&self, actor: &Actor, limit: usize) -> Result<(usize, Vec<Notification>)> {
        super::permission::require(actor, super::permission::Action::ManageInstance)?;
        self.core.repos.outbox.pending(limit)
    }
}

/// A fresh notification id.
pub fn new_id() -> Result<String> {
    Ok(format!("ntf-{:016x}", super::random_u64()?))
}

/// Delivers what is due, then waits for the next due message or a wake-up; runs until the
/// process ends.
pub async fn run(core: Arc<Core>, senders: Senders, portal: super::portal::PortalService) {
    let host = core
        .settings
        .public_url
        .split("://")
        .nth(1)
        .unwrap_or("guichet")
        .split(['/', ':'])
        .next()
        .unwrap_or("guichet")
        .to_owned();
    // Outcomes the store failed to record, by message: kept so that a message is never sent
    // twice because its sending could not be written down.
    let mut unrecorded: std::collections::HashMap<String, Outcome> = std::collections::HashMap::new();
    loop {
        let now = core.clock.now();
        let due = match core.repos.outbox.due(now.as_millisecond(), 20) {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "reading the outbox");
                Vec::new()
            }
        };
        let mut failed_records = false;
        for notification in &due {
            // Sent already, but the store could not say so: record it again, never resend.
            let known = unrecorded.remove(&notification.id);
            let outcome = match (known, notification.medium, &senders.mail, &senders.sms) {
                (Some(outcome), ..) => outcome,
                _ if stopped(&core, notification) => Outcome::Stopped,
                (None, Medium::Email, Some(mailer), _) => {
                    let site = portal.site();
                    deliver(mailer, &host, notification, &site.name, &site.portal.accent_color).await
                }
                (None, Medium::Sms, _, Some(gateway)) => gateway.send(&notification.to, &notification.text).await,
                // Its way out is not set up (any more): it waits, it is not dropped.
                _ => Outcome::Later("not configured".into()),
            };
            if let Err(e) = record(&core, senders.retry_base, notification, outcome.clone()).await {
                tracing::error!(error = %e, id = %notification.id, "recording a delivery");
                unrecorded.insert(notification.id.clone(), outcome);
                failed_records = true;
            }
        }
        if failed_records {
            // The store is failing: give it a moment rather than spin.
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if due.len() == 20 {
            continue;
        }
        let wait = match core.repos.outbox.next_due_ms() {
            Ok(Some(ms)) => {
                Duration::from_millis((ms as i64 - core.clock.now().as_millisecond()).clamp(50, 5_000) as u64)
            }
            _ => Duration::from_secs(5),
        };
        tokio::select! {
            () = core.wake_mailer.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Whether the citizen asked for no more messages about the request since this one was
/// queued.
fn stopped(core: &Core, n: &Notification) -> bool {
    if !n.kind.is_for_citizen() {
        return false;
    }
    let request = n.request.and_then(|id| core.repos.requests.get(id).ok().flatten());
    request.is_some_and(|r| r.notify == Notify::None)
}

/// What happened to one attempt.
#[derive(Debug, Clone)]
enum Outcome {
    Sent,
    /// Not sent: the citizen opted out.
    Stopped,
    /// Try again later (server unreachable, busy, or a temporary refusal).
    Later(String),
    /// Refused for good.
    Refused(String),
}

async fn deliver(mailer: &Mailer, host: &str, n: &Notification, sender: &str, accent: &str) -> Outcome {
    let to: Mailbox = match n.to.parse() {
        Ok(to) => to,
        Err(e) => return Outcome::Refused(format!("address: {e}")),
    };
    let message = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(n.subject.clone())
        .message_id(Some(format!("<{}@{host}>", n.id)))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()));
    let message = match html_of(n, sender, accent) {
        Ok(html) => message.multipart(MultiPart::alternative_plain_html(n.text.clone(), html)),
        Err(e) => {
            tracing::warn!(error = %e, id = %n.id, "sending the text part alone");
            message.header(ContentType::TEXT_PLAIN).body(n.text.clone())
        }
    };
    let message = match message {
        Ok(m) => m,
        Err(e) => return Outcome::Refused(format!("message: {e}")),
    };
    match mailer.transport.send(message).await {
        Ok(_) => Outcome::Sent,
        Err(e) if e.is_permanent() => Outcome::Refused(e.to_string()),
        Err(e) => Outcome::Later(e.to_string()),
    }
}

async fn record(core: &Arc<Core>, retry_base: SignedDuration, n: &Notification, outcome: Outcome) -> Result<()> {
    let now = core.clock.now();
    let mut next = n.clone();
    let failed_for_good = match outcome {
        Outcome::Sent => {
            next.delivery = Delivery::Sent { at: now };
            None
        }
        Outcome::Stopped => {
            next.delivery = Delivery::Stopped { at: now };
            None
        }
        Outcome::Later(error) => {
            next.attempts += 1;
            let jitter = (super::random_u64()? % 1000) as f64 / 1000.0;
            next.next_attempt_at = now + backoff(retry_base, next.attempts, jitter);
            tracing::warn!(id = %n.id, attempts = next.attempts, error = %error, next = %next.next_attempt_at, "message delayed");
            next.last_error = error;
            None
        }
        Outcome::Refused(reason) => {
            next.attempts += 1;
            next.delivery = Delivery::Failed { at: now, reason: reason.clone() };
            next.last_error = reason.clone();
            Some(reason)
        }
    };
    if next.kind == NotificationKind::SignInLink && next.delivery != Delivery::Pending {
        // The link is a credential: once the message has left (or never will), it is not kept.
        next.text = Locale::french().t("mail.link_removed").to_owned();
    }
    let (repos, previous) = (core.repos.clone(), n.clone());
    core.store
        .write(move |tx| {
            // Only the sender changes a queued message: the stored one is `previous`.
            repos.outbox.put(tx, &next, Some(&previous))?;
            if let Some(reason) = &failed_for_good {
                let action = if next.medium == Medium::Sms { "sms.failed" } else { "mail.failed" };
                undelivered(&repos, tx, &next, action, reason, now)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::Internal(format!("outbox: {e}")))
}

/// Records on the journal, and on the request's timeline when it went to the citizen,
/// that a message did not reach its recipient.
fn undelivered(
    repos: &Repos,
    tx: &Tx<'_>,
    n: &Notification,
    action: &str,
    reason: &str,
    now: Timestamp,
) -> TxResult<()> {
    let details = serde_json::json!({"to": n.to, "kind": n.kind.as_str(), "reason": reason, "notification": n.id});
    let target = n.request.map_or_else(|| format!("notification:{}", n.id), |id| format!("request:{id}"));
    let system = Actor::system("mail");
    repos.audit.append(tx, now, &system, action, target, details)?;
    let Some(id) = n.request.filter(|_| n.kind.is_for_citizen()) else { return Ok(()) };
    let old = repos.requests.get_tx(tx, id)?;
    let mut new = old.clone();
    new.events += 1;
    let change = Change::Undelivered { medium: n.medium, to: n.to.clone(), reason: reason.to_owned() };
    let event = RequestEvent { seq: new.events, at: now, actor: system, change };
    repos.requests.update(tx, &old, &new, &event)
}

/// A delivery report (RFC 3464) or a bounce about one of our messages: the message is
/// marked failed and the request says so. Returns the message's id, or `None` when the
/// report is about nothing we sent.
pub async fn record_bounce(core: &Arc<Core>, raw: &[u8], reason: String) -> Result<Option<String>> {
    let Some(id) = bounced_id(raw) else { return Ok(None) };
    if core.repos.outbox.get(&id)?.is_none() {
        return Ok(None);
    }
    let (repos, now, found) = (core.repos.clone(), core.clock.now(), id.clone());
    core.store
        .write(move |tx| {
            let Some(old) = repos.outbox.get_tx(tx, &found)? else { return Ok(()) };
            if matches!(old.delivery, Delivery::Failed { .. }) {
                // The same report twice: once is enough.
                return Ok(());
            }
            let mut next = old.clone();
            next.delivery = Delivery::Failed { at: now, reason: reason.clone() };
            next.last_error = reason.clone();
            repos.outbox.put(tx, &next, Some(&old))?;
            let action = if next.medium == Medium::Sms { "sms.bounced" } else { "mail.bounced" };
            undelivered(&repos, tx, &next, action, &reason, now)
        })
        .await?;
    Ok(Some(id))
}

/// The id of our notification a bounce is about: the local part of one of our Message-IDs
/// (`<ntf-…@host>`), quoted in the report's returned headers or its references.
fn bounced_id(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    text.match_indices("<ntf-").find_map(|(at, _)| {
        let hex = text.get(at + 5..at + 21)?;
        let well_formed = hex.bytes().all(|b| b.is_ascii_hexdigit()) && text[at + 21..].starts_with('@');
        well_formed.then(|| format!("ntf-{hex}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_stay() {
        let values = [("subject", "Panne {detail}"), ("detail", "Résolue")];
        assert_eq!(fill("{subject} : {detail} {autre} {", &values), "Panne {detail} : Résolue {autre} {");
        assert_eq!(fill("", &values), "");
    }
}
