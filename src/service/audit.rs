//! Reading and verifying the audit journal.

use std::sync::Arc;

use super::permission::{Action, require};
use super::{Core, blocking};
use crate::domain::Result;
use crate::domain::actor::Actor;
use crate::domain::audit::AuditEntry;
use crate::store::audit::Verification;

#[derive(Clone)]
pub struct AuditService {
    core: Arc<Core>,
}

impl AuditService {
    pub fn new(core: Arc<Core>) -> Self {
        AuditService { core }
    }

    /// Walks the whole chain (off the async workers: it reads every entry).
    pub async fn verify(&self, actor: &Actor) -> Result<Verification> {
        require(actor, Action::ReadAudit)?;
        let repos = self.core.repos.clone();
        blocking(move || repos.audit.verify()).await
    }

    pub fn latest(&self, actor: &Actor, limit: usize) -> Result<Vec<AuditEntry>> {
        require(actor, Action::ReadAudit)?;
        self.core.repos.audit.latest(limit.min(1000))
    }
}
