//! API tokens for scripts and integrations: printed once, stored as a SHA-256 hash, bound
//! to a role.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Core;
use super::permission::{Action, require};
use crate::domain::account::Scope;
use crate::domain::actor::{Actor, Role};
use crate::domain::audit::hex;
use crate::domain::catalogue::validate_text;
use crate::domain::{Error, Result};
use crate::store::tokens::ApiToken;

const PREFIX: &str = "gtk_";

#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub id: String,
    pub role: Role,
    pub label: String,
    /// The secret, shown once and never stored.
    pub token: String,
}

#[derive(Clone)]
pub struct TokenService {
    core: Arc<Core>,
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl TokenService {
    pub fn new(core: Arc<Core>) -> Self {
        TokenService { core }
    }

    pub async fn issue(&self, actor: &Actor, role: Role, label: String) -> Result<IssuedToken> {
        require(actor, Action::ManageTokens)?;
        validate_text("label", &label, 120, false)?;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| Error::Internal(e.to_string()))?;
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let hashed = hash(&token);
        let id = hex(&hashed[..6]);
        let now = self.core.clock.now();
        let record = ApiToken { id: id.clone(), role, label: label.clone(), created_at: now, revoked: false };
        let (repos, actor) = (self.core.repos.clone(), actor.clone());
        self.core
            .store
            .write(move |tx| {
                repos.tokens.put(tx, &hashed, &record)?;
                let details = serde_json::json!({"role": role, "label": record.label});
                repos.audit.append(tx, now, &actor, "token.create", format!("token:{}", record.id), details)?;
                Ok(())
            })
            .await?;
        Ok(IssuedToken { id, role, label, token })
    }

    /// The agent a bearer token stands for, if it is valid and not revoked.
    pub fn authenticate(&self, secret: &str) -> Result<Option<Actor>> {
        if !secret.starts_with(PREFIX) || secret.len() > 100 {
            return Ok(None);
        }
        let token = self.core.repos.tokens.by_hash(&hash(secret))?;
        Ok(token.filter(|t| !t.revoked).map(|t| {
            let mut actor = Actor::agent(format!("token:{}", t.id), t.role);
            if t.role == Role::Guest {
                // Guests see what they are invited to, and a token is invited to nothing.
                actor.scope = Scope::Requests(Vec::new());
            }
            actor
        }))
    }

    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<()> {
        require(actor, Action::ManageTokens)?;
        let (hashed, mut token) =
            self.core.repos.tokens.all()?.into_iter().find(|(_, t)| t.id == id).ok_or(Error::not_found("token"))?;
        token.revoked = true;
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                repos.tokens.put(tx, &hashed, &token)?;
                repos.audit.append(
                    tx,
                    now,
                    &actor,
                    "token.revoke",
                    format!("token:{}", token.id),
                    serde_json::Value::Null,
                )?;
                Ok(())
            })
            .await
    }

    pub fn list(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        require(actor, Action::ManageTokens)?;
        Ok(self.core.repos.tokens.all()?.into_iter().map(|(_, t)| t).collect())
    }
}
