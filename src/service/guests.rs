//! Guests: external partners invited to one request or one topic, approved by an admin or a
//! manager, signing in with single-use links and losing access at the invitation's end date.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::accounts::{IssuedLink, LinkMail, guest_account_tx, link_url, new_account_id, put_sign_in_link};
use super::permission::{Action, require, require_request};
use super::topics::TopicService;
use super::{Core, new_secret, random_u64};
use crate::domain::account::{Guest, GuestStatus, Invitation, normalize_email};
use crate::domain::actor::Actor;
use crate::domain::catalogue::validate_text;
use crate::domain::{Error, Result};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGuest {
    pub email: String,
    pub name: String,
    /// The request the guest is invited to…
    #[serde(default)]
    pub request: Option<u64>,
    /// …or the topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// End of access; at most a year away.
    pub ends_at: Timestamp,
}

#[derive(Clone)]
pub struct GuestService {
    core: Arc<Core>,
}

impl GuestService {
    pub fn new(core: Arc<Core>) -> Self {
        GuestService { core }
    }

    /// Proposes a guest on a request, or in a topic, that the inviter can see.
    pub async fn invite(&self, actor: &Actor, input: NewGuest) -> Result<Guest> {
        require(actor, Action::InviteGuests)?;
        let invitation = match (input.request, &input.topic) {
            (Some(id), None) => {
                let request = self.core.repos.requests.get(id)?.ok_or(Error::not_found("request"))?;
                require_request(actor, Action::ReadRequests, request.id, &request.department)?;
                Invitation::Request(request.id)
            }
            (None, Some(topic)) => {
                let topic = TopicService::new(self.core.clone()).topic(actor, topic)?;
                Invitation::Topic(topic.id)
            }
            _ => return Err(Error::invalid("invalid_invitation", "request", "a request or a topic, not both")),
        };
        let email = normalize_email(&input.email)?;
        validate_text("name", &input.name, 120, true)?;
        let now = self.core.clock.now();
        if input.ends_at <= now || input.ends_at > now + jiff::SignedDuration::from_hours(24 * 366) {
            return Err(Error::invalid("invalid_date", "ends_at", "the end of access is in the coming year"));
        }
        let guest = Guest {
            id: format!("gst-{:016x}", random_u64()?),
            account: String::new(),
            email,
            name: input.name.trim().to_owned(),
            invitation: invitation.clone(),
            status: GuestStatus::Proposed,
            invited_by: actor.id.clone(),
            approved_by: None,
            created_at: now,
            ends_at: input.ends_at,
        };
        let (repos, actor, proposed) = (self.core.repos.clone(), actor.clone(), guest.clone());
        self.core
            .store
            .write(move |tx| {
                repos.accounts.put_guest(tx, &proposed)?;
                let details =
                    serde_json::json!({"email": proposed.email, "invitation": invitation, "ends_at": proposed.ends_at});
                repos.audit.append(tx, now, &actor, "guest.invite", format!("guest:{}", proposed.id), details)?;
                Ok(())
            })
            .await?;
        Ok(guest)
    }

    pub fn list(&self, actor: &Actor) -> Result<Vec<Guest>> {
        require(actor, Action::InviteGuests)?;
        let mut guests = self.core.repos.accounts.guests()?;
        guests.sort_by_key(|g| std::cmp::Reverse(g.created_at));
        Ok(guests)
    }

    /// Approves a proposed guest: their account is created (or found) and a first sign-in
    /// link returned, to be handed to them.
    pub async fn approve(&self, actor: &Actor, id: &str) -> Result<(Guest, IssuedLink)> {
        require(actor, Action::ApproveGuests)?;
        let (secret, hash) = new_secret()?;
        let new_id = new_account_id()?;
        let now = self.core.clock.now();
        let expires_at = now + self.core.settings.auth.guest_link_validity;
        let (repos, actor, id) = (self.core.repos.clone(), actor.clone(), id.to_owned());
        let mail = LinkMail::new(&self.core, &secret, expires_at, true)?;
        let emailed = mail.is_some();
        let guest = self
            .core
            .store
            .write(move |tx| {
                let mut guest = repos.accounts.guest_tx(tx, &id)?.ok_or(Error::not_found("guest"))?;
                if guest.status != GuestStatus::Proposed {
                    return Err(Error::conflict("not_proposed", "this invitation was already decided").into());
                }
                if guest.ends_at <= now {
                    return Err(Error::conflict("ended", "this invitation has already ended").into());
                }
                let account = guest_account_tx(&repos, tx, &guest.email, &guest.name, &new_id, now)?;
                repos.accounts.put(tx, &account)?;
                guest.account.clone_from(&account.id);
                guest.status = GuestStatus::Approved;
                guest.approved_by = Some(actor.id.clone());
                repos.accounts.put_guest(tx, &guest)?;
                let target = format!("guest:{}", guest.id);
                put_sign_in_link(&repos, tx, &hash, &account.id, (now, expires_at), &actor, target)?;
                let details = serde_json::json!({"account": account.id, "ends_at": guest.ends_at});
                repos.audit.append(tx, now, &actor, "guest.approve", format!("guest:{}", guest.id), details)?;
                if let Some(mail) = &mail {
                    mail.queue(&repos, tx, &guest.email, now)?;
                }
                Ok(guest)
            })
            .await?;
        Ok((guest, IssuedLink { url: link_url(&self.core.settings.public_url, &secret), expires_at, emailed }))
    }

    /// A new sign-in link for an approved guest (links are single-use and short-lived).
    pub async fn link(&self, actor: &Actor, id: &str) -> Result<IssuedLink> {
        require(actor, Action::InviteGuests)?;
        let guest = self.core.repos.accounts.guest(id)?.ok_or(Error::not_found("guest"))?;
        let now = self.core.clock.now();
        if guest.status != GuestStatus::Approved || guest.ends_at <= now {
            return Err(Error::conflict("not_active", "this invitation is not approved or has ended"));
        }
        let (secret, hash) = new_secret()?;
        let expires_at = now + self.core.settings.auth.guest_link_validity;
        let (repos, actor) = (self.core.repos.clone(), actor.clone());
        let mail = LinkMail::new(&self.core, &secret, expires_at, false)?;
        let emailed = mail.is_some();
        self.core
            .store
            .write(move |tx| {
                let target = format!("guest:{}", guest.id);
                put_sign_in_link(&repos, tx, &hash, &guest.account, (now, expires_at), &actor, target)?;
                if let Some(mail) = &mail {
                    mail.queue(&repos, tx, &guest.email, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(IssuedLink { url: link_url(&self.core.settings.public_url, &secret), expires_at, emailed })
    }

    /// Ends an invitation now (proposed or approved).
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<Guest> {
        require(actor, Action::ApproveGuests)?;
        let (repos, actor, id, now) = (self.core.repos.clone(), actor.clone(), id.to_owned(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                let mut guest = repos.accounts.guest_tx(tx, &id)?.ok_or(Error::not_found("guest"))?;
                guest.status = GuestStatus::Revoked;
                repos.accounts.put_guest(tx, &guest)?;
                repos.audit.append(
                    tx,
                    now,
                    &actor,
                    "guest.revoke",
                    format!("guest:{}", guest.id),
                    serde_json::Value::Null,
                )?;
                Ok(guest)
            })
            .await
    }
}
