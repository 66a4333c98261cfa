//! People who log in: agents' accounts, what they may see, sign-in links and guest invitations.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::actor::Role;
use super::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Created by a first login; waits for an admin's approval.
    Pending,
    Active,
    /// Switched off by an admin; its sessions are revoked.
    Disabled,
}

/// Which requests an account sees. Agents and managers see their departments; elected
/// officials the departments of their delegations; guests what they were invited to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ids")]
pub enum Scope {
    /// Every request (admins, API tokens, and agents of a small commune with one secretary).
    #[default]
    All,
    Departments(Vec<String>),
    /// Guests: these requests only.
    Requests(Vec<u64>),
}

impl Scope {
    pub fn covers_department(&self, department: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Departments(ids) => ids.iter().any(|d| d == department),
            Scope::Requests(_) => false,
        }
    }

    pub fn covers_request(&self, id: u64, department: &str) -> bool {
        match self {
            Scope::Requests(ids) => ids.contains(&id),
            other => other.covers_department(department),
        }
    }
}

/// An identity at an OpenID provider that logged in as this account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkedIdentity {
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// `acc-` and 16 hex digits; what the audit journal and assignments name.
    pub id: String,
    /// Lower-cased; the key accounts are linked by.
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub status: AccountStatus,
    pub scope: Scope,
    /// SIRET of the organisation, as the provider reported it (ProConnect).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub siret: String,
    #[serde(default)]
    pub identities: Vec<LinkedIdentity>,
    /// Guests lose access at this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<Timestamp>,
}

impl Account {
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.given_name, self.family_name);
        let name = name.trim();
        if name.is_empty() { self.email.clone() } else { name.to_owned() }
    }

    /// Whether the account may be used at `now`.
    pub fn usable_at(&self, now: Timestamp) -> bool {
        self.status == AccountStatus::Active && self.expires_at.is_none_or(|end| now < end)
    }
}

/// Normalises an e-mail address for comparison, or explains why it is not one.
pub fn normalize_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let invalid = || Error::invalid("invalid_email", "email", format!("{raw:?} is not an e-mail address"));
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if local.is_empty() || !domain_ok || email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c == '<') {
        return Err(invalid());
    }
    Ok(email)
}

/// The domain of a normalised e-mail address.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, domain)| domain)
}

/// Rules that let a first login in without waiting for an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoApproval {
    /// Lower-case e-mail domains, such as `mairie-exemple.fr`.
    pub email_domains: Vec<String>,
    /// 14-digit SIRET numbers of the organisation.
    pub sirets: Vec<String>,
    /// Role and scope given to accounts approved this way.
    pub role: Role,
}

impl AutoApproval {
    pub fn matches(&self, email: &str, siret: &str) -> bool {
        let domain = email_domain(email);
        self.email_domains.iter().any(|d| d == domain) || (!siret.is_empty() && self.sirets.iter().any(|s| s == siret))
    }
}

/// What a single-use sign-in link does when it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LinkPurpose {
    /// First start with no admin: whoever opens it becomes the first admin.
    Bootstrap,
    /// Signs in to an existing account (an invited agent, or a guest).
    SignIn { account: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInLink {
    pub purpose: LinkPurpose,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Who made it: an account id, or `cli`/`system`.
    pub created_by: String,
}

/// What a guest is invited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Invitation {
    Request(u64),
    Topic(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuestStatus {
    /// Waits for an admin's or a manager's approval.
    Proposed,
    Approved,
    Revoked,
}

/// An external person invited to one request (topics come with their own feature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Guest {
    pub id: String,
    /// The account the guest signs in to; created at approval.
    pub account: String,
    pub email: String,
    pub name: String,
    pub invitation: Invitation,
    pub status: GuestStatus,
    pub invited_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    pub created_at: Timestamp,
    /// End of access.
    pub ends_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(normalize_email("  Marie.Dupont@Mairie-Exemple.FR ").unwrap(), "marie.dupont@mairie-exemple.fr");
        for bad in ["", "marie", "@mairie.fr", "marie@", "marie@fr", "ma rie@mairie.fr", "a@b..", "x@.fr"] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(email_domain("a@mairie.fr"), "mairie.fr");
    }

    #[test]
    fn auto_approval_by_domain_or_siret() {
        let rule = AutoApproval {
            email_domains: vec!["mairie.fr".into()],
            sirets: vec!["21670482500019".into()],
            role: Role::Agent,
        };
        assert!(rule.matches("a@mairie.fr", ""));
        assert!(!rule.matches("a@sub.mairie.fr", ""));
        assert!(rule.matches("a@gmail.com", "21670482500019"));
        assert!(!rule.matches("a@gmail.com", ""));
        let none = AutoApproval { email_domains: vec![], sirets: vec![], role: Role::Agent };
        assert!(!none.matches("a@mairie.fr", ""));
    }

    #[test]
    fn scopes() {
        let d = Scope::Departments(vec!["voirie".into()]);
        assert!(d.covers_request(1, "voirie") && !d.covers_request(1, "eau"));
        let g = Scope::Requests(vec![7]);
        assert!(g.covers_request(7, "eau") && !g.covers_request(8, "eau") && !g.covers_department("eau"));
        assert!(Scope::All.covers_request(1, "x"));
    }

    #[test]
    fn expired_or_pending_accounts_are_not_usable() {
        let now: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
        let mut a = Account {
            id: "acc-1".into(),
            email: "a@b.fr".into(),
            given_name: String::new(),
            family_name: String::new(),
            role: Role::Guest,
            status: AccountStatus::Active,
            scope: Scope::Requests(vec![1]),
            siret: String::new(),
            identities: vec![],
            expires_at: Some("2026-05-01T10:00:00Z".parse().unwrap()),
            created_at: now,
            last_login_at: None,
        };
        assert!(!a.usable_at(now));
        a.expires_at = None;
        assert!(a.usable_at(now));
        a.status = AccountStatus::Pending;
        assert!(!a.usable_at(now));
        assert_eq!(a.display_name(), "a@b.fr");
    }
}
