//! Reads a mailbox over IMAP (implicit TLS, rustls) every few seconds: each message not yet
//! recorded goes through the same intake as `guichet mail ingest`, then is marked with the
//! keyword `$GuichetDone` (and as read), so it stays in the mailbox where people can still
//! see it; a person opening it first does not hide it from Guichet. (A server that lets no
//! client create keywords gets the read flag alone, and then only unread messages are
//! taken.) A message is marked only once it is recorded (or refused for good): a server or
//! store that fails leaves it as it is, to be read again at the next round. A message larger than the limit is not downloaded; its
//! sender is told, unless it is an automatic message.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use mail_parser::MessageParser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Core;
use super::inbound::{InboundService, automatic};
use super::mail::{SIGNATURE, fill, new_id};
use crate::domain::notification::{Address, Medium, Notification, NotificationKind};
use crate::domain::{Error, Result};
use crate::l10n::Locale;

/// Messages read at most in one round (the rest wait for the next).
const PER_ROUND: usize = 50;

/// Where the mailbox is and how to get in.
#[derive(Clone)]
pub struct Mailbox {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub folder: String,
    pub every: Duration,
    tls: TlsConnector,
}

impl Mailbox {
    /// `ca_file`: a PEM certificate to trust besides the public authorities.
    pub fn new(
        host: &str,
        port: u16,
        (username, password): (String, String),
        folder: &str,
        every: Duration,
        ca_file: &str,
    ) -> anyhow::Result<Mailbox> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if !ca_file.is_empty() {
            for certificate in CertificateDer::pem_file_iter(ca_file)? {
                roots.add(certificate?)?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Mailbox {
            host: host.to_owned(),
            port,
            username,
            password,
            folder: folder.to_owned(),
            every,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub recorded: usize,
    pub refused: usize,
    /// Left unread for the next round (a failure here).
    pub left: usize,
}

/// The longest a round may take (a connection that hangs silently must not stop intake).
const ROUND_LIMIT: Duration = Duration::from_secs(300);

/// The keyword that marks a message as recorded, where the server lets clients create
/// keywords: people reading the mailbox do not touch it, as they do `\Seen`.
const DONE: &str = "$GuichetDone";

/// Reads the mailbox until the process ends.
pub async fn run(core: Arc<Core>, mailbox: Mailbox) {
    let s = &core.settings;
    let inbound = InboundService::new(core.clone(), s.inbound_category.clone(), s.inbound_max_bytes);
    loop {
        match tokio::time::timeout(ROUND_LIMIT, round(&core, &inbound, &mailbox)).await {
            Ok(Ok(r)) if r != Round::default() => tracing::info!(?r, mailbox = %mailbox.host, "mailbox read"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, mailbox = %mailbox.host, "reading the mailbox"),
            Err(_) => {
                tracing::error!(mailbox = %mailbox.host, "reading the mailbox took more than five minutes: given up")
            }
        }
        tokio::time::sleep(mailbox.every).await;
    }
}

/// Reads the messages not yet recorded, once.
pub async fn round(core: &Arc<Core>, inbound: &InboundService, mailbox: &Mailbox) -> anyhow::Result<Round> {
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect((mailbox.host.as_str(), mailbox.port)))
        .await??;
    let name = ServerName::try_from(mailbox.host.clone())?;
    let tls = mailbox.tls.connect(name, tcp).await?;
    let mut client = async_imap::Client::new(tls);
    client.read_response().await?.ok_or_else(|| anyhow::anyhow!("the server said nothing"))?;
    let mut session = client.login(&mailbox.username, &mailbox.password).await.map_err(|(e, _)| e)?;
    let folder = session.select(&mailbox.folder).await?;
    // Our own keyword where the server allows new ones; else the read flag.
    let keyword = folder.permanent_flags.iter().any(|f| matches!(f, async_imap::types::Flag::MayCreate));
    let (search, mark) = if keyword {
        (format!("UNKEYWORD {DONE}"), format!("+FLAGS.SILENT ({DONE} \\Seen)"))
    } else {
        ("UNSEEN".to_owned(), "+FLAGS.SILENT (\\Seen)".to_owned())
    };
    let mut waiting: Vec<u32> = session.uid_search(&search).await?.into_iter().collect();
    waiting.sort_unstable();
    let mut done = Round::default();
    for uid in waiting.into_iter().take(PER_ROUND) {
        let set = uid.to_string();
        // The size and the headers first: an oversized message is not downloaded. Only the
        // answer about this message counts (servers may add news about others).
        let heads: Vec<_> = session.uid_fetch(&set, "(RFC822.SIZE BODY.PEEK[HEADER])").await?.try_collect().await?;
        let head = heads.iter().find(|f| f.uid == Some(uid));
        let (Some(size), Some(header)) = (head.and_then(|h| h.size), head.and_then(|h| h.header())) else {
            done.left += 1;
            continue;
        };
        let outcome = if size as usize > core.settings.inbound_max_bytes {
            refuse_oversized(core, header).await
        } else {
            let bodies: Vec<_> = session.uid_fetch(&set, "BODY.PEEK[]").await?.try_collect().await?;
            match bodies.iter().find(|f| f.uid == Some(uid)).and_then(|f| f.body()) {
                Some(raw) => inbound.ingest(raw).await.map(|_| ()),
                None => {
                    done.left += 1;
                    continue;
                }
            }
        };
        match outcome {
            Ok(()) => done.recorded += 1,
            Err(e) if e.is_refusal() => {
                tracing::info!(error = %e, "a message from the mailbox was refused");
                done.refused += 1;
            }
            Err(e) => {
                // Left as it is: read again at the next round.
                tracing::warn!(error = %e, "a message from the mailbox could not be recorded now");
                done.left += 1;
                continue;
            }
        }
        let _: Vec<_> = session.uid_store(&set, &mark).await?.try_collect().await?;
    }
    session.logout().await?;
    Ok(done)
}

/// Tells the sender of a message too large to be read that it was not recorded (a mail
/// server does that for messages delivered to `guichet mail ingest`).
async fn refuse_oversized(core: &Arc<Core>, header: &[u8]) -> Result<()> {
    let max_mib = (core.settings.inbound_max_bytes >> 20).to_string();
    let refusal = Err(Error::TooLarge { message: format!("larger than {max_mib} MiB") });
    let Some(message) = MessageParser::default().parse_headers(header) else { return refusal };
    let sender = message.from().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_owned();
    if !core.settings.mail_enabled || sender.is_empty() || automatic(&message).is_some() {
        return refusal;
    }
    let l = Locale::french();
    let subject = message.subject().unwrap_or_default().to_owned();
    let values = [
        ("collectivite", core.settings.instance_name.as_str()),
        ("max", max_mib.as_str()),
        ("subject", subject.as_str()),
        ("portal", core.settings.public_url.as_str()),
    ];
    let now = core.clock.now();
    let address = Address {
        medium: Medium::Email,
        to: &sender,
        subject: fill(l.t("mail.too_large_subject"), &values),
        text: format!(
            "{}

{SIGNATURE}{}
",
            fill(l.t("mail.too_large_body"), &values),
            fill(l.t("mail.automatic"), &values)
        ),
    };
    let notice = Notification::new(new_id()?, NotificationKind::Refusal, address, None, now);
    let repos = core.repos.clone();
    core.store.write(move |tx| repos.outbox.put(tx, &notice, None)).await?;
    core.wake_mailer.notify_one();
    refusal
}
