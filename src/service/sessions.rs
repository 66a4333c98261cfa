//! Sessions: opened by a login, found by the cookie's secret, ended by logout, by an admin,
//! by inactivity or by their absolute lifetime.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::permission::{Action, require};
use super::{AuthSettings, Core, new_secret, secret_hash};
use crate::domain::account::{Account, Guest, GuestStatus, Invitation, Scope};
use crate::domain::actor::{Actor, Role};
use crate::domain::{Error, Result};
use crate::store::sessions::{LoginState, Session};
use crate::store::{Repos, Tx, TxResult};

/// A session just opened: the secret goes into the cookie, never into the store.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub csrf: String,
    pub account: String,
}

/// A session about to be opened by a login: its secrets, drawn before the write, and how
/// the login was made.
#[derive(Debug, Clone)]
pub(crate) struct SessionDraft {
    secret: String,
    hash: Vec<u8>,
    csrf: String,
    /// `oidc` or `link`.
    method: &'static str,
    acr: String,
    id_token: String,
}

impl SessionDraft {
    pub(crate) fn new(method: &'static str, acr: &str, id_token: &str) -> Result<SessionDraft> {
        let (secret, hash) = new_secret()?;
        let (csrf, _) = new_secret()?;
        Ok(SessionDraft { secret, hash, csrf, method, acr: acr.to_owned(), id_token: id_token.to_owned() })
    }
}

/// The person behind a valid session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub actor: Actor,
    pub account: Account,
    pub csrf: String,
    /// When the session ends without further activity, and at the latest.
    pub idle_ends_at: Timestamp,
    pub ends_at: Timestamp,
}

#[derive(Clone)]
pub struct SessionService {
    core: Arc<Core>,
}

/// What a guest sees: the requests of their approved invitations that have not ended.
pub fn effective_scope(account: &Account, guests: &[Guest], now: Timestamp) -> Scope {
    if account.role != Role::Guest {
        return account.scope.clone();
    }
    let mut ids: Vec<u64> = guests
        .iter()
        .filter(|g| g.account == account.id && g.status == GuestStatus::Approved && now < g.ends_at)
        .filter_map(|g| match g.invitation {
            Invitation::Request(id) => Some(id),
            Invitation::Topic(_) => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Scope::Requests(ids)
}

/// The topics a guest was invited to, by approved invitations that have not ended.
pub fn guest_topics(account: &str, guests: &[Guest], now: Timestamp) -> Vec<String> {
    guests
        .iter()
        .filter(|g| g.account == account && g.status == GuestStatus::Approved && now < g.ends_at)
        .filter_map(|g| match &g.invitation {
            Invitation::Topic(id) => Some(id.clone()),
            Invitation::Request(_) => None,
        })
        .collect()
}

/// Whether an account may sign in: anyone usable, and guests while one of their
/// invitations (to a request or a topic) is approved and running.
pub fn may_sign_in(account: &Account, guests: &[Guest], now: Timestamp) -> bool {
    account.usable_at(now)
        && (account.role != Role::Guest
            || guests.iter().any(|g| g.account == account.id && g.status == GuestStatus::Approved && now < g.ends_at))
}

/// Time allowed between leaving for the provider and coming back.
const LOGIN_MAX_AGE: SignedDuration = SignedDuration::from_mins(30);

/// Sessions are marked as used at most this often, so that reading pages does not write.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);

impl SessionService {
    pub fn new(core: Arc<Core>) -> Self {
        SessionService { core }
    }

    /// Stores a new session inside a login's write.
    pub(crate) fn open_session(
        repos: &Repos,
        tx: &Tx<'_>,
        auth: &AuthSettings,
        account: &Account,
        now: Timestamp,
        draft: &SessionDraft,
    ) -> TxResult<NewSession> {
        let session = Session {
            account: account.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + auth.session_max,
            csrf: draft.csrf.clone(),
            method: draft.method.to_owned(),
            acr: draft.acr.clone(),
            id_token: draft.id_token.clone(),
        };
        repos.sessions.put_session(tx, &draft.hash, &session)?;
        Ok(NewSession { secret: draft.secret.clone(), csrf: draft.csrf.clone(), account: account.id.clone() })
    }

    /// The signed-in person for a cookie's secret, if the session is alive and the account
    /// usable. Marks the session as used (durably, at most once a minute).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<SignedIn>> {
        if secret.len() != 43 {
            return Ok(None);
        }
        let hash = secret_hash(secret);
        let repos = &self.core.repos;
        let Some(session) = repos.sessions.session(&hash)? else { return Ok(None) };
        let now = self.core.clock.now();
        let auth = &self.core.settings.auth;
        let idle_end = session.last_seen_at + auth.session_idle;
        let Some(account) = repos.accounts.get(&session.account)? else { return Ok(None) };
        if session.expires_at <= now || idle_end <= now || !account.usable_at(now) {
            let repos = repos.clone();
            self.core
                .store
                .write(move |tx| {
                    repos.sessions.remove_session(tx, &hash)?;
                    Ok(())
                })
                .await?;
            return Ok(None);
        }
        let guests = if account.role == Role::Guest { repos.accounts.guests()? } else { Vec::new() };
        let scope = effective_scope(&account, &guests, now);
        if !may_sign_in(&account, &guests, now) {
            return Ok(None);
        }
        let touched = now.duration_since(session.last_seen_at) >= TOUCH_EVERY;
        let idle_ends_at = if touched { now + auth.session_idle } else { idle_end };
        if touched {
            let repos = repos.clone();
            let mut touched = session.clone();
            touched.last_seen_at = now;
            self.core
                .store
                .write(move |tx| {
                    // Not if it was revoked meanwhile.
                    if repos.sessions.session_tx(tx, &hash)?.is_some() {
                        repos.sessions.put_session(tx, &hash, &touched)?;
                    }
                    Ok(())
                })
                .await?;
        }
        let step_up = auth.admin_acr.is_empty() || session.acr == auth.admin_acr || session.method == "link";
        let actor = Actor::account(account.id.clone(), account.role, scope, step_up);
        let ends_at = session.expires_at;
        Ok(Some(SignedIn { actor, account, csrf: session.csrf, idle_ends_at: idle_ends_at.min(ends_at), ends_at }))
    }

    /// Keeps a login started at the provider until its callback.
    pub async fn begin_login(&self, state: &str, login: LoginState) -> Result<()> {
        let (repos, hash) = (self.core.repos.clone(), secret_hash(state));
        self.core.store.write(move |tx| repos.sessions.put_login(tx, &hash, &login)).await
    }

    /// The login a callback's `state` belongs to; good once, for half an hour.
    pub async fn take_login(&self, state: &str) -> Result<Option<LoginState>> {
        if state.len() < 32 || state.len() > 128 {
            return Ok(None);
        }
        let (repos, hash) = (self.core.repos.clone(), secret_hash(state));
        let Some(_) = repos.sessions.login(&hash)? else { return Ok(None) };
        let cutoff = self.core.clock.now() - LOGIN_MAX_AGE;
        let login = self.core.store.write(move |tx| repos.sessions.take_login(tx, &hash)).await?;
        Ok(login.filter(|l| l.created_at > cutoff))
    }

    /// Ends a session; returns the ID token of its login, for the provider's logout.
    pub async fn logout(&self, secret: &str) -> Result<Option<String>> {
        let hash = secret_hash(secret);
        let (repos, now) = (self.core.repos.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                let Some(session) = repos.sessions.remove_session(tx, &hash)? else { return Ok(None) };
                let account = repos.accounts.get_tx(tx, &session.account)?;
                let (role, id) = account.map_or((Role::Agent, session.account.clone()), |a| (a.role, a.id));
                let who = Actor::account(id.clone(), role, Scope::All, false);
                repos.audit.append(tx, now, &who, "logout", format!("account:{id}"), serde_json::Value::Null)?;
                Ok(Some(session.id_token))
            })
            .await
    }

    /// An admin ends every session of an account.
    pub async fn revoke_all(&self, actor: &Actor, account: &str) -> Result<usize> {
        require(actor, Action::ManageAccounts)?;
        self.core.repos.accounts.get(account)?.ok_or(Error::not_found("account"))?;
        let hashes = self.core.repos.sessions.sessions_of(account)?;
        let (repos, actor, account, now) =
            (self.core.repos.clone(), actor.clone(), account.to_owned(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                for hash in &hashes {
                    repos.sessions.remove_session(tx, hash)?;
                }
                let details = serde_json::json!({"sessions": hashes.len()});
                repos.audit.append(tx, now, &actor, "session.revoke", format!("account:{account}"), details)?;
                Ok(hashes.len())
            })
            .await
    }

    /// Removes expired sessions, logins in progress and links.
    pub async fn sweep(&self) -> Result<usize> {
        let now = self.core.clock.now();
        let repos = self.core.repos.clone();
        let expired = super::blocking(move || repos.sessions.expired(now, now - LOGIN_MAX_AGE)).await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let count = expired.sessions.len() + expired.logins.len() + expired.links.len();
        let repos = self.core.repos.clone();
        let expired = Arc::new(expired);
        self.core.store.write(move |tx| repos.sessions.remove_expired(tx, &expired)).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
