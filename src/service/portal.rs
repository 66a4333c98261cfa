//! The portal settings admins change from the web pages (accessibility mention and
//! statement, legal notice, accent colour, logo, public map). The configuration gives the
//! values until an admin first saves; from then on the stored ones apply. Pages read a
//! snapshot that changes only when a change is durably written.

use std::sync::{Arc, RwLock};

use super::Core;
use super::permission::{Action, require};
use crate::domain::actor::Actor;
use crate::domain::portal::{Logo, PortalSettings};
use crate::domain::{Error, Result};

/// What every page shows of the collectivité.
#[derive(Debug)]
pub struct Site {
    /// The instance name, from the configuration (it names the instance to its peers).
    pub name: String,
    pub portal: PortalSettings,
}

/// The texts, colour and switch an admin edits in one form (the logo has its own).
#[derive(Debug, Clone)]
pub struct PortalChange {
    pub accessibility_status: String,
    pub accessibility_statement: String,
    pub legal_notice: String,
    pub accent_color: String,
    pub public_map: bool,
}

#[derive(Clone)]
pub struct PortalService {
    core: Arc<Core>,
    current: Arc<RwLock<Arc<Site>>>,
}

impl PortalService {
    /// The stored settings if an admin saved some, else `configured`.
    pub fn new(core: Arc<Core>, configured: PortalSettings) -> Result<Self> {
        let portal = core.repos.meta.portal()?.unwrap_or(configured);
        let site = Site { name: core.settings.instance_name.clone(), portal };
        Ok(PortalService { core, current: Arc::new(RwLock::new(Arc::new(site))) })
    }

    pub fn site(&self) -> Arc<Site> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub async fn update(&self, actor: &Actor, change: PortalChange) -> Result<Arc<Site>> {
        self.apply(actor, "portal.update", move |p| {
            p.accessibility_status = change.accessibility_status.trim().to_owned();
            p.accessibility_statement = change.accessibility_statement.trim().replace("\r\n", "\n");
            p.legal_notice = change.legal_notice.trim().replace("\r\n", "\n");
            p.accent_color = change.accent_color.trim().to_ascii_lowercase();
            p.public_map = change.public_map;
        })
        .await
    }

    /// Replaces the logo (`Some`) or removes it.
    pub async fn set_logo(&self, actor: &Actor, logo: Option<Logo>) -> Result<Arc<Site>> {
        let action = if logo.is_some() { "portal.logo" } else { "portal.logo_removed" };
        self.apply(actor, action, move |p| p.logo = logo.clone()).await
    }

    /// Changes the settings in one durable write with its audit entry, then publishes them.
    /// The change applies to the stored settings read inside the write, so two admins
    /// saving at once do not undo each other's changes.
    async fn apply(
        &self,
        actor: &Actor,
        action: &'static str,
        change: impl Fn(&mut PortalSettings) + Send + Sync + 'static,
    ) -> Result<Arc<Site>> {
        require(actor, Action::ManageInstance)?;
        let configured = self.site().portal.clone();
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        let written = self
            .core
            .store
            .write(move |tx| {
                let stored = repos.meta.portal_tx(tx)?;
                let revision = stored.as_ref().map_or(0, |s| s.revision) + 1;
                let mut portal = stored.unwrap_or_else(|| configured.clone());
                change(&mut portal);
                portal.revision = revision;
                portal.validate()?;
                repos.meta.put_portal(tx, &portal)?;
                let mut details = serde_json::to_value(&portal).unwrap_or_default();
                if let (Some(logo), Some(map)) = (&portal.logo, details.as_object_mut()) {
                    // The journal names the logo; it does not carry the image.
                    let described = format!("{} ({} octets)", logo.media_type, logo.bytes.len());
                    map.insert("logo".into(), described.into());
                }
                repos.audit.append(tx, now, &actor, action, "portal".into(), details)?;
                Ok(portal)
            })
            .await?;
        let site = Arc::new(Site { name: self.core.settings.instance_name.clone(), portal: written });
        let mut current = self.current.write().map_err(|_| Error::Internal("portal settings lock".into()))?;
        if current.portal.revision < site.portal.revision {
            *current = site.clone();
        }
        Ok(site)
    }
}
