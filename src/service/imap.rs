//! Reads a mailbox over IMAP (implicit TLS, rustls) every few seconds: each unread message
//! goes through the same intake as `guichet mail ingest`, then is marked as read, so it
//! stays in the mailbox where people can still see it. A message is marked only once it
//! is recorded (or refused for good): a server or store that fails leaves it unread, to be
//! read again at the next round. A message larger than the limit is not downloaded; its
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

/// Reads the mailbox until the process ends.
pub async fn run(core: Arc<Core>, mailbox: Mailbox) {
    let s = &core.settings;
    let inbound = InboundService::new(core.clone(), s.inbound_category.clone(), s.inbound_max_bytes);
    loop {
        match round(&core, &inbound, &mailbox).await {
            Ok(r) if r != Round::default() => tracing::info!(?r, mailbox = %mailbox.host, "mailbox read"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, mailbox = %mailbox.host, "reading the mailbox"),
        }
        tokio::time::sleep(mailbox.every).await;
    }
}

/// Reads the unread messages once.
pub async fn round(core: &Arc<Core>, inbound: &InboundService, mailbox: &Mailbox) -> anyhow::Result<Round> {
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect((mailbox.host.as_str(), mailbox.port)))
        .await??;
    let name = ServerName::try_from(mailbox.host.clone())?;
    let tls = mailbox.tls.connect(name, tcp).await?;
    let mut client = async_imap::Client::new(tls);
    client.read_response().await?.ok_or_else(|| anyhow::anyhow!("the server said nothing"))?;
    let mut session = client.login(&mailbox.username, &mailbox.password).await.map_err(|(e, _)| e)?;
    session.select(&mailbox.folder).await?;
    let mut unread: Vec<u32> = session.uid_search("UNSEEN").await?.into_iter().collect();
    unread.sort_unstable();
    let mut done = Round::default();
    for uid in unread.into_iter().take(PER_ROUND) {
        let uid = uid.to_string();
        // The size and the headers first: an oversized message is not downloaded.
        let heads: Vec<_> = session.uid_fetch(&uid, "(RFC822.SIZE BODY.PEEK[HEADER])").await?.try_collect().await?;
        let Some(head) = heads.first() else { continue };
        let size = head.size.unwrap_or(0) as usize;
        let outcome = if size > core.settings.inbound_max_bytes {
            refuse_oversized(core, head.header().unwrap_or_default()).await
        } else {
            let bodies: Vec<_> = session.uid_fetch(&uid, "BODY.PEEK[]").await?.try_collect().await?;
            let raw = bodies.first().and_then(|f| f.body()).unwrap_or_default();
            inbound.ingest(raw).await.map(|_| ())
        };
        match outcome {
            Ok(()) => done.recorded += 1,
            Err(e) if e.is_refusal() => {
                tracing::info!(error = %e, "a message from the mailbox was refused");
                done.refused += 1;
            }
            Err(e) => {
                // Left unread: read again at the next round.
                tracing::warn!(error = %e, "a message from the mailbox could not be recorded now");
                done.left += 1;
                continue;
            }
        }
        let _: Vec<_> = session.uid_store(&uid, "+FLAGS.SILENT (\\Seen)").await?.try_collect().await?;
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
