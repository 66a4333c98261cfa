//! Attachments of shared requests travel by hash (docs/federation.md, section 10): a
//! `request.forward` names each file (SHA-256, name, type, size); the holder fetches it
//! from the origin only — `GET /federation/v1/files/{sha256}`, signed like a delivery —
//! checks its hash, size and type, and attaches it. The origin serves a file only to a
//! peer it forwarded a request holding that file to.

use std::time::Duration;

use super::auth::{AuthError, Delivery};
use super::canonical::Value;
use super::message::Message;
use super::pairing::Federation;
use super::peer::{Peer, PeerStatus};
use super::records::{Side, Wanted};
use crate::domain::actor::Actor;
use crate::domain::request::Attachment;
use crate::domain::{Error, Result};
use crate::service::requests::{WriteContext, commit_change_tx};
use crate::store::{Tx, TxResult};

pub fn file_path(sha256: &str) -> String {
    format!("/federation/v1/files/{sha256}")
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Inside the write that records a forwarded request: the files it names, to fetch.
pub fn want_tx(ctx: &WriteContext, tx: &Tx<'_>, peer: &Peer, request: u64, m: &Message) -> TxResult<()> {
    let Some(Value::Array(files)) = m.content.get("attachments") else { return Ok(()) };
    for file in files.iter().take(ctx.settings.max_files) {
        let sha256 = file.get("sha256").and_then(Value::as_str).unwrap_or_default();
        let size = match file.get("size") {
            Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        if !is_sha256(sha256) || size == 0 {
            continue;
        }
        let name = file.get("name").and_then(Value::as_str).unwrap_or("piece-jointe").chars().take(200).collect();
        let wanted = Wanted {
            request,
            peer: peer.base_url.clone(),
            sha256: sha256.to_owned(),
            name,
            size,
            attempts: 0,
            next_at: 0,
            last_error: String::new(),
        };
        ctx.repos.federation.put_wanted(tx, &wanted)?;
    }
    Ok(())
}

impl Federation {
    /// `GET /federation/v1/files/{sha256}`: the bytes of a file of a request forwarded
    /// to the signing peer (checked as a delivery is, the body being empty).
    pub async fn serve_file(&self, path: &str, authorization: Option<&str>, sha256: &str) -> Result<Vec<u8>> {
        let peer = self.authenticate(("GET", path, b""), authorization).map_err(auth_error)?;
        let (repos, now) = (self.core.repos.clone(), self.core.clock.now());
        // Only a file of a request forwarded to that peer.
        let mut shared = None;
        for link in repos.federation.links()? {
            if link.peer != peer.base_url || link.side != Side::Origin {
                continue;
            }
            if repos.requests.get(link.request)?.is_some_and(|r| r.attachments.iter().any(|a| a.sha256 == sha256)) {
                shared = Some(link.request);
                break;
            }
        }
        let request = shared.ok_or(Error::not_found("file"))?;
        let bytes = self.core.files.read(sha256).await?;
        let (audit, actor) = (repos.audit.clone(), Actor::peer(&peer.base_url));
        let details = serde_json::json!({"sha256": sha256});
        self.core
            .store
            .write(move |tx| {
                audit.append(
                    tx,
                    now,
                    &actor,
                    "request.attachment_read",
                    format!("request:{request}"),
                    details.clone(),
                )?;
                Ok(())
            })
            .await?;
        Ok(bytes)
    }

    /// Fetches the files waiting to be fetched whose time has come, one at a time.
    pub(super) async fn fetch_due_files(&self) {
        let wanted = match self.core.repos.federation.wanted() {
            Ok(wanted) => wanted,
            Err(e) => return tracing::error!(error = %e, "federation: cannot read the files to fetch"),
        };
        for w in wanted {
            if w.next_at > self.core.clock.now().as_millisecond() {
                continue;
            }
            let outcome = self.fetch_file(&w).await;
            if let Err(e) = self.fetched(w, outcome).await {
                tracing::error!(error = %e, "federation: cannot record a fetched file");
            }
        }
    }

    /// One attempt: the file, checked and stored (held until `fetched` attaches it).
    async fn fetch_file(&self, w: &Wanted) -> std::result::Result<crate::store::files::StoredFile, String> {
        let peer = self.core.repos.peers.peer(&w.peer).map_err(|e| e.to_string())?;
        if !peer.is_some_and(|p| p.status == PeerStatus::Active) {
            return Err("the peer is not active".into());
        }
        let path = file_path(&w.sha256);
        let delivery = Delivery {
            method: "GET",
            path: &path,
            origin: self.me(),
            destination: &w.peer,
            ts: self.core.clock.now().as_millisecond(),
        };
        let authorization = delivery.authorization(&self.core.outbox.ring().current(), b"");
        let request =
            self.client.request(reqwest::Method::GET, &format!("{}{path}", w.peer)).map_err(|e| e.to_string())?;
        let mut response =
            request.header("authorization", authorization).send().await.map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("{}", response.status()));
        }
        let s = &self.core.settings;
        let mut upload = self.core.files.begin(s.max_file_bytes, &s.allowed_types).await.map_err(|e| e.to_string())?;
        while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
            upload.write(&chunk).await.map_err(|e| e.to_string())?;
        }
        let file = upload.finish().await.map_err(|e| e.to_string())?;
        if file.sha256 != w.sha256 || file.size != w.size {
            self.core.files.release(&file, false);
            return Err("the file received is not the one named (hash or size)".into());
        }
        Ok(file)
    }

    /// Attaches a fetched file to its request, or records the failure and when to try
    /// again (doubling, up to an hour).
    async fn fetched(
        &self,
        w: Wanted,
        outcome: std::result::Result<crate::store::files::StoredFile, String>,
    ) -> Result<()> {
        let (ctx, now) = (WriteContext::of(&self.core), self.core.clock.now());
        let max_files = self.core.settings.max_files;
        match outcome {
            Ok(file) => {
                let stored = file.clone();
                let written = self
                    .core
                    .store
                    .write(move |tx| {
                        if ctx.repos.federation.wanted_tx(tx, w.request, &w.sha256)?.is_none() {
                            return Ok(());
                        }
                        ctx.repos.federation.remove_wanted(tx, w.request, &w.sha256)?;
                        let old = ctx.repos.requests.get_tx(tx, w.request)?;
                        if old.attachments.iter().any(|a| a.sha256 == w.sha256) {
                            return Ok(());
                        }
                        let mut new = old.clone();
                        let attachment = Attachment {
                            sha256: stored.sha256.clone(),
                            name: w.name.clone(),
                            media_type: stored.media_type.to_owned(),
                            size: stored.size,
                            added_at: now,
                        };
                        let change = new.attach(attachment, max_files.max(old.attachments.len() + 1))?;
                        let actor = Actor::peer(&w.peer);
                        commit_change_tx(&ctx, tx, &actor, "request.attach", &old, new, change, now)?;
                        Ok(())
                    })
                    .await;
                self.core.files.release(&file, written.is_ok());
                written
            }
            Err(error) => {
                tracing::warn!(peer = %w.peer, sha256 = %w.sha256, error = %error, "federation: a file could not be fetched");
                // The delivery backoff: doubling from `retry_base_seconds`, at most an hour.
                let attempts = w.attempts.saturating_add(1);
                let wait = super::delivery::backoff(self.retry_base, attempts, super::delivery::jitter()?);
                let retry = Wanted {
                    attempts,
                    next_at: now.as_millisecond() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
                    last_error: error.chars().take(300).collect(),
                    ..w
                };
                self.core
                    .store
                    .write(move |tx| {
                        // Still wanted (not fetched meanwhile).
                        if ctx.repos.federation.wanted_tx(tx, retry.request, &retry.sha256)?.is_some() {
                            ctx.repos.federation.put_wanted(tx, &retry)?;
                        }
                        Ok(())
                    })
                    .await
            }
        }
    }
}

fn auth_error(e: AuthError) -> Error {
    match e {
        AuthError::UnknownPeer | AuthError::WrongDestination => Error::Forbidden,
        _ => Error::Unauthorized,
    }
}

/// Fetches files as they become due.
pub async fn fetch_loop(federation: std::sync::Arc<Federation>) {
    loop {
        federation.fetch_due_files().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
