//! Secrets users hold: sessions, logins in progress at the provider, and single-use sign-in
//! links. Each is stored under the SHA-256 of its secret, so a copy of the store gives no
//! live session or usable link.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{self, Versioned};
use super::keys::Key;
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::domain::account::SignInLink;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub account: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// Absolute end, whatever the activity.
    pub expires_at: Timestamp,
    /// Token that state-changing forms and cookie-authenticated API calls must carry.
    pub csrf: String,
    /// How the login was made: `oidc` or `link`.
    pub method: String,
    /// Authentication level reached at the provider (`acr`), empty if none was given.
    #[serde(default)]
    pub acr: String,
    /// ID token of the login, sent back to the provider as `id_token_hint` at logout.
    #[serde(default)]
    pub id_token: String,
}

impl Versioned for Session {
    const KIND: &'static str = "session";
    const VERSION: u8 = 1;
}

/// A login started at the provider, waiting for its callback; kept in the store so that a
/// restart in between does not break it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    pub pkce_verifier: String,
    pub nonce: String,
    /// Local path to return to after the login.
    pub return_to: String,
    /// The `acr` value asked for, if any.
    #[serde(default)]
    pub acr: String,
    pub created_at: Timestamp,
}

impl Versioned for LoginState {
    const KIND: &'static str = "login_state";
    const VERSION: u8 = 1;
}

impl Versioned for SignInLink {
    const KIND: &'static str = "sign_in_link";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct SessionRepo {
    sessions: sled::Tree,
    sessions_id: TreeId,
    by_account: sled::Tree,
    by_account_id: TreeId,
    logins: sled::Tree,
    logins_id: TreeId,
    links: sled::Tree,
    links_id: TreeId,
}

impl SessionRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<SessionRepo> {
        let (sessions, sessions_id) = builder.tree("session_by_hash")?;
        let (by_account, by_account_id) = builder.tree("account_session")?;
        let (logins, logins_id) = builder.tree("login_state_by_hash")?;
        let (links, links_id) = builder.tree("sign_in_link_by_hash")?;
        Ok(SessionRepo { sessions, sessions_id, by_account, by_account_id, logins, logins_id, links, links_id })
    }

    pub fn session(&self, hash: &[u8]) -> Result<Option<Session>> {
        self.sessions.get(hash).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn session_tx(&self, tx: &Tx<'_>, hash: &[u8]) -> TxResult<Option<Session>> {
        Ok(tx.get(self.sessions_id, hash)?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_session(&self, tx: &Tx<'_>, hash: &[u8], session: &Session) -> TxResult<()> {
        tx.insert(self.sessions_id, hash, &codec::encode(session)?)?;
        tx.insert(self.by_account_id, &account_key(&session.account, hash), &[])
    }

    pub fn remove_session(&self, tx: &Tx<'_>, hash: &[u8]) -> TxResult<Option<Session>> {
        let Some(bytes) = tx.get(self.sessions_id, hash)? else { return Ok(None) };
        let session: Session = codec::decode(&bytes)?;
        tx.remove(self.sessions_id, hash)?;
        tx.remove(self.by_account_id, &account_key(&session.account, hash))?;
        Ok(Some(session))
    }

    /// Hashes of the sessions of an account.
    pub fn sessions_of(&self, account: &str) -> Result<Vec<Vec<u8>>> {
        let prefix = Key::new().str(account).into_bytes();
        self.by_account
            .scan_prefix(&prefix)
            .map(|item| item.map(|(k, _)| k[prefix.len()..].to_vec()).map_err(store_error))
            .collect()
    }

    pub fn login(&self, hash: &[u8]) -> Result<Option<LoginState>> {
        self.logins.get(hash).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn put_login(&self, tx: &Tx<'_>, hash: &[u8], login: &LoginState) -> TxResult<()> {
        tx.insert(self.logins_id, hash, &codec::encode(login)?)
    }

    /// Removes a login state and returns it: a state is good for one callback.
    pub fn take_login(&self, tx: &Tx<'_>, hash: &[u8]) -> TxResult<Option<LoginState>> {
        let found = tx.get(self.logins_id, hash)?.map(|v| codec::decode::<LoginState>(&v)).transpose()?;
        if found.is_some() {
            tx.remove(self.logins_id, hash)?;
        }
        Ok(found)
    }

    pub fn link(&self, hash: &[u8]) -> Result<Option<SignInLink>> {
        self.links.get(hash).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn put_link(&self, tx: &Tx<'_>, hash: &[u8], link: &SignInLink) -> TxResult<()> {
        tx.insert(self.links_id, hash, &codec::encode(link)?)
    }

    /// Removes a link and returns it: a link is good for one use.
    pub fn take_link(&self, tx: &Tx<'_>, hash: &[u8]) -> TxResult<Option<SignInLink>> {
        let found = tx.get(self.links_id, hash)?.map(|v| codec::decode::<SignInLink>(&v)).transpose()?;
        if found.is_some() {
            tx.remove(self.links_id, hash)?;
        }
        Ok(found)
    }

    /// Keys of what has expired at `now`: sessions (absolute end), logins older than
    /// `login_max_age`, links past their end. Read outside any write; removed by the caller.
    pub fn expired(&self, now: Timestamp, login_cutoff: Timestamp) -> Result<Expired> {
        let mut expired = Expired::default();
        for item in self.sessions.iter() {
            let (k, v) = item.map_err(store_error)?;
            if codec::decode::<Session>(&v)?.expires_at <= now {
                expired.sessions.push(k.to_vec());
            }
        }
        for item in self.logins.iter() {
            let (k, v) = item.map_err(store_error)?;
            if codec::decode::<LoginState>(&v)?.created_at <= login_cutoff {
                expired.logins.push(k.to_vec());
            }
        }
        for item in self.links.iter() {
            let (k, v) = item.map_err(store_error)?;
            if codec::decode::<SignInLink>(&v)?.expires_at <= now {
                expired.links.push(k.to_vec());
            }
        }
        Ok(expired)
    }

    pub fn remove_expired(&self, tx: &Tx<'_>, expired: &Expired) -> TxResult<()> {
        for hash in &expired.sessions {
            self.remove_session(tx, hash)?;
        }
        for hash in &expired.logins {
            tx.remove(self.logins_id, hash)?;
        }
        for hash in &expired.links {
            tx.remove(self.links_id, hash)?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct Expired {
    pub sessions: Vec<Vec<u8>>,
    pub logins: Vec<Vec<u8>>,
    pub links: Vec<Vec<u8>>,
}

impl Expired {
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.logins.is_empty() && self.links.is_empty()
    }
}

fn account_key(account: &str, hash: &[u8]) -> Vec<u8> {
    let mut key = Key::new().str(account).into_bytes();
    key.extend_from_slice(hash);
    key
}
