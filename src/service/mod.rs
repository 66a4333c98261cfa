//! Use cases. Every state change passes through here, is checked against the permission
//! table, and is written with its audit entry in one durable transaction.

pub mod accounts;
pub mod acknowledgement;
pub mod agendas;
pub mod audit;
pub mod catalogue;
pub mod digest;
pub mod guests;
pub mod imap;
pub mod inbound;
pub mod mail;
pub mod permission;
pub mod portal;
pub mod requests;
pub mod sessions;
#[cfg(test)]
pub mod testing;
pub mod tokens;
pub mod topics;

use std::sync::Arc;

use base64::Engine;

use crate::clock::Clock;
use crate::domain::holidays::HolidayCalendar;
use crate::domain::{Error, Result};
use crate::store::files::FileStore;
use crate::store::{Repos, Store};

/// Instance settings the use cases need (built from the configuration at start-up).
#[derive(Debug, Clone)]
pub struct Settings {
    pub instance_name: String,
    pub public_url: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub contact_address: String,
    pub appeal_text: String,
    pub calendar: HolidayCalendar,
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_request_bytes: u64,
    pub allowed_types: Vec<String>,
    pub auth: AuthSettings,
    /// Whether e-mail is set up (`[smtp] host`): messages are queued only then.
    pub mail_enabled: bool,
    /// Whether an SMS gateway is set up (`[sms] url`).
    pub sms_enabled: bool,
    /// Category and size limit of requests made from received e-mails.
    pub inbound_category: String,
    pub inbound_max_bytes: usize,
}

/// Accounts, sessions and links (from `[auth]` and `[oidc]`).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub session_idle: jiff::SignedDuration,
    pub session_max: jiff::SignedDuration,
    pub auto_approval: crate::domain::account::AutoApproval,
    pub link_validity: jiff::SignedDuration,
    pub guest_link_validity: jiff::SignedDuration,
    /// `acr` needed for administrative actions; empty: none.
    pub admin_acr: String,
}

/// What every service shares.
pub struct Core {
    pub store: Store,
    pub repos: Repos,
    pub files: FileStore,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Wakes the e-mail sender when a message is queued.
    pub wake_mailer: Arc<tokio::sync::Notify>,
    /// Signs and queues the messages to paired instances.
    pub outbox: Arc<crate::federation::Outbox>,
}

/// A new secret for a user to hold (session, link, state): 256 random bits, URL-safe, and
/// the SHA-256 under which it is stored.
pub(crate) fn new_secret() -> Result<(String, Vec<u8>)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("random source: {e}")))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = secret_hash(&secret);
    Ok((secret, hash))
}

/// How secrets are looked up: by their SHA-256, never stored in clear.
pub(crate) fn secret_hash(secret: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).to_vec()
}

pub(crate) fn random_u64() -> Result<u64> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("random source: {e}")))?;
    Ok(u64::from_le_bytes(bytes))
}

/// Runs blocking store work (scans, exports) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}
