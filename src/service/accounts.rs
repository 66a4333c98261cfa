//! Accounts: first logins through the provider, approval, roles and scopes, and the
//! single-use sign-in links that work with no provider at all (first admin, invitations).

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::permission::{Action, require};
use super::sessions::{NewSession, SessionDraft, SessionService};
use super::{Core, new_secret, random_u64, secret_hash};
use crate::domain::account::{Account, AccountStatus, LinkPurpose, LinkedIdentity, Scope, SignInLink, normalize_email};
use crate::domain::actor::{Actor, Role};
use crate::domain::catalogue::validate_text;
use crate::domain::notification::{Address, Medium, Notification, NotificationKind};
use crate::domain::{Error, Result};
use crate::store::{Repos, Tx, TxResult};

/// Who the provider says logged in, after every check of the ID token and userinfo.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub siret: String,
    pub acr: String,
    pub id_token: String,
}

/// Outcome of a login.
#[derive(Debug)]
pub enum LoginOutcome {
    SignedIn(NewSession),
    /// The account exists but waits for an admin's approval.
    Pending {
        email: String,
    },
}

/// Changes an admin makes to an account; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    pub role: Option<Role>,
    pub status: Option<AccountStatus>,
    pub scope: Option<Scope>,
}

/// A sign-in link as shown once to whoever made it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedLink {
    pub url: String,
    pub expires_at: Timestamp,
    /// Also sent to the person by e-mail.
    #[serde(default)]
    pub emailed: bool,
}

#[derive(Clone)]
pub struct AccountService {
    core: Arc<Core>,
    sessions: SessionService,
}

pub(crate) fn new_account_id() -> Result<String> {
    Ok(format!("acc-{:016x}", random_u64()?))
}

impl AccountService {
    pub fn new(core: Arc<Core>) -> Self {
        AccountService { sessions: SessionService::new(core.clone()), core }
    }

    /// Links a provider login to the account with the same verified e-mail address, or
    /// creates that account: pending, unless an auto-approval rule matches. Everything,
    /// including the session and the audit entries, is written at once.
    pub async fn complete_login(&self, identity: VerifiedIdentity) -> Result<LoginOutcome> {
        let email = normalize_email(&identity.email)?;
        let now = self.core.clock.now();
        let draft = SessionDraft::new("oidc", &identity.acr, &identity.id_token)?;
        let new_id = new_account_id()?;
        let repos = self.core.repos.clone();
        let auth = self.core.settings.auth.clone();
        let step_up = auth.admin_acr.is_empty() || identity.acr == auth.admin_acr;
        // The refusals are recorded (account and audit) before they are answered: hence a
        // result inside the write's result.
        self.core
            .store
            .write(move |tx| {
                let mut created = false;
                let mut account = match repos.accounts.by_email_tx(tx, &email)? {
                    Some(account) => account,
                    None => {
                        created = true;
                        let approved = auth.auto_approval.matches(&email, &identity.siret);
                        Account {
                            id: new_id.clone(),
                            email: email.clone(),
                            given_name: identity.given_name.clone(),
                            family_name: identity.family_name.clone(),
                            role: if approved { auth.auto_approval.role } else { Role::Agent },
                            status: if approved { AccountStatus::Active } else { AccountStatus::Pending },
                            scope: Scope::All,
                            siret: identity.siret.clone(),
                            identities: Vec::new(),
                            expires_at: None,
                            created_at: now,
                            last_login_at: None,
                        }
                    }
                };
                let linked = LinkedIdentity { issuer: identity.issuer.clone(), subject: identity.subject.clone() };
                if !account.identities.contains(&linked) {
                    account.identities.push(linked);
                }
                if account.given_name.is_empty() && account.family_name.is_empty() {
                    account.given_name.clone_from(&identity.given_name);
                    account.family_name.clone_from(&identity.family_name);
                }
                if !identity.siret.is_empty() {
                    account.siret.clone_from(&identity.siret);
                }
                let who = Actor::account(account.id.clone(), account.role, Scope::All, step_up);
                let target = format!("account:{}", account.id);
                if created {
                    let details = serde_json::json!({"email": account.email, "status": account.status,
                        "role": account.role, "issuer": identity.issuer});
                    repos.audit.append(tx, now, &who, "account.create", target.clone(), details)?;
                }
                let outcome = if account.role == Role::Guest {
                    // Guests sign in with their links only.
                    repos.audit.append(tx, now, &who, "login.refused", target, serde_json::json!({"why": "guest"}))?;
                    Err(Error::Forbidden)
                } else if !account.usable_at(now) {
                    let why = if account.status == AccountStatus::Pending { "pending" } else { "disabled" };
                    repos.audit.append(tx, now, &who, "login.refused", target, serde_json::json!({"why": why}))?;
                    if account.status == AccountStatus::Pending {
                        Ok(LoginOutcome::Pending { email: account.email.clone() })
                    } else {
                        Err(Error::Forbidden)
                    }
                } else {
                    account.last_login_at = Some(now);
                    let session = SessionService::open_session(&repos, tx, &auth, &account, now, &draft)?;
                    let details = serde_json::json!({"method": "oidc", "acr": identity.acr});
                    repos.audit.append(tx, now, &who, "login", target, details)?;
                    Ok(LoginOutcome::SignedIn(session))
                };
                repos.accounts.put(tx, &account)?;
                Ok(outcome)
            })
            .await?
    }

    pub fn list(&self, actor: &Actor) -> Result<Vec<Account>> {
        require(actor, Action::ManageAccounts)?;
        let mut accounts = self.core.repos.accounts.all()?;
        accounts.sort_by(|a, b| {
            (a.status != AccountStatus::Pending, &a.email).cmp(&(b.status != AccountStatus::Pending, &b.email))
        });
        Ok(accounts)
    }

    /// Colleagues a request can be assigned to: active agents, managers, elected officials
    /// and admins, by name.
    pub fn assignable(&self, actor: &Actor) -> Result<Vec<(String, String)>> {
        require(actor, Action::WorkRequests)?;
        let mut people: Vec<(String, String)> = self
            .core
            .repos
            .accounts
            .all()?
            .into_iter()
            .filter(|a| a.status == AccountStatus::Active && a.role != Role::Guest)
            .map(|a| (a.id.clone(), a.display_name()))
            .collect();
        people.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(people)
    }

    /// Every account's name by id, to show people rather than identifiers to those who
    /// read requests (timelines and assignees name them).
    pub fn names(&self, actor: &Actor) -> Result<std::collections::BTreeMap<String, String>> {
        require(actor, Action::ReadRequests)?;
        Ok(self.core.repos.accounts.all()?.into_iter().map(|a| (a.id.clone(), a.display_name())).collect())
    }

    pub fn get(&self, id: &str) -> Result<Account> {
        self.core.repos.accounts.get(id)?.ok_or(Error::not_found("account"))
    }

    /// Approves, changes the role or scope, disables or re-enables an account. Disabling
    /// revokes its sessions in the same write.
    pub async fn change(&self, actor: &Actor, id: &str, change: AccountChange) -> Result<Account> {
        require(actor, Action::ManageAccounts)?;
        if change.role == Some(Role::Guest) {
            return Err(Error::invalid("invalid_role", "role", "guests are invited through /api/v1/guests"));
        }
        if let Some(scope) = &change.scope {
            self.check_scope(scope)?;
        }
        let (repos, actor, id, now) = (self.core.repos.clone(), actor.clone(), id.to_owned(), self.core.clock.now());
        let sessions = self.core.repos.sessions.sessions_of(&id)?;
        self.core
            .store
            .write(move |tx| {
                let mut account = repos.accounts.get_tx(tx, &id)?.ok_or(Error::not_found("account"))?;
                if account.role == Role::Guest {
                    return Err(Error::conflict("guest_account", "guest accounts follow their invitations").into());
                }
                if account.id == actor.id
                    && (change.status.is_some_and(|s| s != AccountStatus::Active)
                        || change.role.is_some_and(|r| r != Role::Admin))
                {
                    return Err(
                        Error::conflict("own_account", "an admin cannot demote or disable their own account").into()
                    );
                }
                let before = (account.role, account.status, account.scope.clone());
                if let Some(role) = change.role {
                    account.role = role;
                }
                if let Some(status) = change.status {
                    account.status = status;
                }
                if let Some(scope) = change.scope.clone() {
                    account.scope = scope;
                }
                let target = format!("account:{}", account.id);
                if before.1 == AccountStatus::Pending && account.status == AccountStatus::Active {
                    repos.audit.append(
                        tx,
                        now,
                        &actor,
                        "account.approve",
                        target.clone(),
                        serde_json::json!({"role": account.role}),
                    )?;
                }
                if before.0 != account.role {
                    let details = serde_json::json!({"from": before.0, "to": account.role});
                    repos.audit.append(tx, now, &actor, "account.role", target.clone(), details)?;
                }
                if before.2 != account.scope {
                    repos.audit.append(
                        tx,
                        now,
                        &actor,
                        "account.scope",
                        target.clone(),
                        serde_json::json!({"scope": account.scope}),
                    )?;
                }
                if before.1 != account.status && account.status != AccountStatus::Active {
                    for hash in &sessions {
                        repos.sessions.remove_session(tx, hash)?;
                    }
                    let details = serde_json::json!({"status": account.status, "sessions_revoked": sessions.len()});
                    repos.audit.append(tx, now, &actor, "account.disable", target.clone(), details)?;
                }
                repos.accounts.put(tx, &account)?;
                Ok(account)
            })
            .await
    }

    fn check_scope(&self, scope: &Scope) -> Result<()> {
        match scope {
            Scope::All => Ok(()),
            Scope::Requests(_) => Err(Error::invalid("invalid_scope", "scope", "request scopes are for guests")),
            Scope::Departments(ids) => {
                for id in ids {
                    if self.core.repos.catalogue.department(id)?.is_none() {
                        return Err(Error::invalid("unknown_department", "scope", format!("no department {id:?}")));
                    }
                }
                Ok(())
            }
        }
    }

    /// Creates the account of an agent (active, with its role) and a sign-in link for them.
    /// Works with no provider: the link is how they get in; with one, they can also log in
    /// there with the same e-mail address.
    pub async fn invite(&self, actor: &Actor, email: &str, role: Role, scope: Scope) -> Result<IssuedLink> {
        require(actor, Action::ManageAccounts)?;
        let email = normalize_email(email)?;
        if role == Role::Guest {
            return Err(Error::invalid("invalid_role", "role", "guests are invited through /api/v1/guests"));
        }
        self.check_scope(&scope)?;
        let (secret, hash) = new_secret()?;
        let new_id = new_account_id()?;
        let now = self.core.clock.now();
        let expires_at = now + self.core.settings.auth.link_validity;
        let (repos, actor) = (self.core.repos.clone(), actor.clone());
        let mail = LinkMail::new(&self.core, &secret, expires_at, true)?;
        let emailed = mail.is_some();
        self.core
            .store
            .write(move |tx| {
                let account = match repos.accounts.by_email_tx(tx, &email)? {
                    Some(existing) if existing.role == Role::Guest => {
                        return Err(Error::conflict("guest_account", "this address belongs to a guest").into());
                    }
                    Some(existing) => existing,
                    None => {
                        let account = Account {
                            id: new_id.clone(),
                            email: email.clone(),
                            given_name: String::new(),
                            family_name: String::new(),
                            role,
                            status: AccountStatus::Active,
                            scope: scope.clone(),
                            siret: String::new(),
                            identities: Vec::new(),
                            expires_at: None,
                            created_at: now,
                            last_login_at: None,
                        };
                        repos.accounts.put(tx, &account)?;
                        let details = serde_json::json!({"email": email, "role": role, "scope": account.scope});
                        repos.audit.append(
                            tx,
                            now,
                            &actor,
                            "account.invite",
                            format!("account:{}", account.id),
                            details,
                        )?;
                        account
                    }
                };
                let target = format!("account:{}", account.id);
                put_sign_in_link(&repos, tx, &hash, &account.id, (now, expires_at), &actor, target)?;
                if let Some(mail) = &mail {
                    mail.queue(&repos, tx, &account.email, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(IssuedLink { url: self.link_url(&secret), expires_at, emailed })
    }

    pub fn link_url(&self, secret: &str) -> String {
        link_url(&self.core.settings.public_url, secret)
    }

    /// On a start with no active admin, a link that makes its user the first admin.
    pub async fn bootstrap_link(&self) -> Result<Option<IssuedLink>> {
        let has_admin =
            self.core.repos.accounts.all()?.iter().any(|a| a.role == Role::Admin && a.status == AccountStatus::Active);
        if has_admin {
            return Ok(None);
        }
        let (secret, hash) = new_secret()?;
        let now = self.core.clock.now();
        let expires_at = now + self.core.settings.auth.link_validity;
        let repos = self.core.repos.clone();
        self.core
            .store
            .write(move |tx| {
                let link = SignInLink {
                    purpose: LinkPurpose::Bootstrap,
                    created_at: now,
                    expires_at,
                    created_by: "system".into(),
                };
                repos.sessions.put_link(tx, &hash, &link)?;
                let details = serde_json::json!({"expires_at": expires_at});
                repos.audit.append(
                    tx,
                    now,
                    &Actor::system("start-up"),
                    "link.bootstrap",
                    "account:".into(),
                    details,
                )?;
                Ok(())
            })
            .await?;
        Ok(Some(IssuedLink { url: self.link_url(&secret), expires_at, emailed: false }))
    }

    /// What a link would do, without using it (for the confirmation page).
    pub fn peek_link(&self, secret: &str) -> Result<SignInLink> {
        let link = self.core.repos.sessions.link(&secret_hash(secret))?.ok_or(Error::not_found("link"))?;
        if link.expires_at <= self.core.clock.now() {
            return Err(Error::not_found("link"));
        }
        Ok(link)
    }

    /// Uses a single-use link: it is gone afterwards, whatever happens next. A bootstrap
    /// link needs the first admin's e-mail address and name.
    pub async fn use_link(&self, secret: &str, first_admin: Option<(String, String, String)>) -> Result<NewSession> {
        let hash = secret_hash(secret);
        let now = self.core.clock.now();
        let draft = SessionDraft::new("link", "", "")?;
        let new_id = new_account_id()?;
        let admin = match first_admin {
            Some((email, given, family)) => {
                validate_text("given_name", &given, 100, true)?;
                validate_text("family_name", &family, 100, true)?;
                Some((normalize_email(&email)?, given.trim().to_owned(), family.trim().to_owned()))
            }
            None => None,
        };
        let (repos, auth) = (self.core.repos.clone(), self.core.settings.auth.clone());
        let guests_of = self.core.repos.accounts.guests()?;
        self.core
            .store
            .write(move |tx| {
                let link = repos.sessions.take_link(tx, &hash)?.filter(|l| l.expires_at > now);
                let Some(link) = link else { return Err(Error::not_found("link").into()) };
                let mut account = match &link.purpose {
                    LinkPurpose::SignIn { account } => {
                        repos.accounts.get_tx(tx, account)?.ok_or(Error::not_found("account"))?
                    }
                    LinkPurpose::Bootstrap => {
                        let Some((email, given, family)) = admin.clone() else {
                            return Err(Error::invalid("missing_field", "email", "give your e-mail address").into());
                        };
                        let mut account = repos.accounts.by_email_tx(tx, &email)?.unwrap_or(Account {
                            id: new_id.clone(),
                            email: email.clone(),
                            given_name: given,
                            family_name: family,
                            role: Role::Admin,
                            status: AccountStatus::Active,
                            scope: Scope::All,
                            siret: String::new(),
                            identities: Vec::new(),
                            expires_at: None,
                            created_at: now,
                            last_login_at: None,
                        });
                        account.role = Role::Admin;
                        account.status = AccountStatus::Active;
                        account.scope = Scope::All;
                        let who = Actor::account(account.id.clone(), Role::Admin, Scope::All, true);
                        let details = serde_json::json!({"email": account.email});
                        repos.audit.append(
                            tx,
                            now,
                            &who,
                            "account.bootstrap",
                            format!("account:{}", account.id),
                            details,
                        )?;
                        account
                    }
                };
                let scope = super::sessions::effective_scope(&account, &guests_of, now);
                let who = Actor::account(account.id.clone(), account.role, scope, true);
                let target = format!("account:{}", account.id);
                if !super::sessions::may_sign_in(&account, &guests_of, now) {
                    repos.audit.append(
                        tx,
                        now,
                        &who,
                        "login.refused",
                        target,
                        serde_json::json!({"method": "link"}),
                    )?;
                    return Ok(Err(Error::Forbidden));
                }
                account.last_login_at = Some(now);
                repos.accounts.put(tx, &account)?;
                let session = SessionService::open_session(&repos, tx, &auth, &account, now, &draft)?;
                repos.audit.append(tx, now, &who, "login", target, serde_json::json!({"method": "link"}))?;
                Ok(Ok(session))
            })
            .await?
    }

    /// A login that came back from the provider and failed its checks, for the journal.
    pub async fn record_login_failure(&self, reason: &'static str) -> Result<()> {
        let (repos, now) = (self.core.repos.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                let details = serde_json::json!({"reason": reason});
                repos.audit.append(tx, now, &Actor::system("oidc"), "login.failed", "login".into(), details)?;
                Ok(())
            })
            .await
    }

    pub fn sessions(&self) -> &SessionService {
        &self.sessions
    }
}

/// Where a sign-in link's secret is used.
pub(crate) fn link_url(public_url: &str, secret: &str) -> String {
    format!("{public_url}/auth/link/{secret}")
}

/// A sign-in link to send by e-mail, in the write that creates it, when e-mail is set up.
pub(crate) struct LinkMail {
    id: String,
    subject: String,
    text: String,
}

impl LinkMail {
    /// `first`: an invitation (else a new link for someone already invited).
    pub(crate) fn new(core: &Core, secret: &str, expires_at: Timestamp, first: bool) -> Result<Option<LinkMail>> {
        let s = &core.settings;
        if !s.mail_enabled {
            return Ok(None);
        }
        let l = crate::l10n::Locale::french();
        let url = link_url(&s.public_url, secret);
        let until = l.date_time(&expires_at);
        let values = [("collectivite", s.instance_name.as_str()), ("link", url.as_str()), ("until", until.as_str())];
        let (subject, body) = if first {
            ("mail.invitation_subject", "mail.invitation_body")
        } else {
            ("mail.link_subject", "mail.link_body")
        };
        Ok(Some(LinkMail {
            id: super::mail::new_id()?,
            subject: super::mail::fill(l.t(subject), &values),
            text: format!("{}\n", super::mail::fill(l.t(body), &values)),
        }))
    }

    pub(crate) fn queue(&self, repos: &crate::store::Repos, tx: &Tx<'_>, to: &str, now: Timestamp) -> TxResult<()> {
        let address = Address { medium: Medium::Email, to, subject: self.subject.clone(), text: self.text.clone() };
        let notification = Notification::new(self.id.clone(), NotificationKind::SignInLink, address, None, now);
        repos.outbox.put(tx, &notification, None)
    }
}

/// Stores a single-use link that signs in to `account`, valid from `at.0` until `at.1`, and
/// journals its creation on `target`.
pub(crate) fn put_sign_in_link(
    repos: &Repos,
    tx: &Tx<'_>,
    hash: &[u8],
    account: &str,
    (now, expires_at): (Timestamp, Timestamp),
    actor: &Actor,
    target: String,
) -> TxResult<()> {
    let link = SignInLink {
        purpose: LinkPurpose::SignIn { account: account.to_owned() },
        created_at: now,
        expires_at,
        created_by: actor.id.clone(),
    };
    repos.sessions.put_link(tx, hash, &link)?;
    repos.audit.append(tx, now, actor, "link.create", target, serde_json::json!({"expires_at": expires_at}))?;
    Ok(())
}

/// Used by the guest service: the account a guest signs in to, created or found by e-mail.
pub(crate) fn guest_account_tx(
    repos: &Repos,
    tx: &Tx<'_>,
    email: &str,
    name: &str,
    new_id: &str,
    now: Timestamp,
) -> TxResult<Account> {
    match repos.accounts.by_email_tx(tx, email)? {
        Some(account) if account.role == Role::Guest => Ok(account),
        Some(_) => {
            Err(Error::conflict("agent_account", "this address belongs to an agent; agents need no invitation").into())
        }
        None => Ok(Account {
            id: new_id.to_owned(),
            email: email.to_owned(),
            given_name: name.to_owned(),
            family_name: String::new(),
            role: Role::Guest,
            status: AccountStatus::Active,
            scope: Scope::Requests(Vec::new()),
            siret: String::new(),
            identities: Vec::new(),
            expires_at: None,
            created_at: now,
            last_login_at: None,
        }),
    }
}
