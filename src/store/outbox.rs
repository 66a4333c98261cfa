//! The notification outbox: every message by id, and the pending ones ordered by the time
//! of their next attempt (`due`: next attempt in ms, big-endian, then the id).

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::domain::notification::{Delivery, Notification};

impl Versioned for Notification {
    const KIND: &'static str = "notification";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct OutboxRepo {
    all: sled::Tree,
    all_id: TreeId,
    due: sled::Tree,
    due_id: TreeId,
}

fn due_key(n: &Notification) -> Vec<u8> {
    let ms = n.next_attempt_at.as_millisecond().max(0) as u64;
    let mut key = ms.to_be_bytes().to_vec();
    key.extend_from_slice(n.id.as_bytes());
    key
}

impl OutboxRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<OutboxRepo> {
        let (all, all_id) = builder.tree("notification")?;
        let (due, due_id) = builder.tree("notification_due")?;
        Ok(OutboxRepo { all, all_id, due, due_id })
    }

    /// Stores a notification; a pending one is queued at its next attempt (its previous
    /// place in the queue, `previous`, is removed).
    pub fn put(&self, tx: &Tx<'_>, n: &Notification, previous: Option<&Notification>) -> TxResult<()> {
        if let Some(p) = previous {
            tx.remove(self.due_id, &due_key(p))?;
        }
        tx.insert(self.all_id, n.id.as_bytes(), &codec::encode(n)?)?;
        if n.delivery == Delivery::Pending {
            tx.insert(self.due_id, &due_key(n), &[])?;
        }
        Ok(())
    }

    /// Pending notifications due at `now_ms` or before, oldest first, at most `limit`.
    pub fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Notification>> {
        let mut out = Vec::new();
        for item in self.due.iter() {
            let (key, _) = item.map_err(store_error)?;
            let at = super::keys::read_u64(&key, 0).unwrap_or(u64::MAX);
            if at > now_ms.max(0) as u64 || out.len() >= limit {
                break;
            }
            let id = String::from_utf8_lossy(&key[8..]).into_owned();
            if let Some(n) = self.get(&id)? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// How many messages wait to be sent, and the first `limit` of them in the order they
    /// will be tried.
    pub fn pending(&self, limit: usize) -> Result<(usize, Vec<Notification>)> {
        let mut out = Vec::new();
        for item in self.due.iter().take(limit) {
            let (key, _) = item.map_err(store_error)?;
            if let Some(n) = self.get(&String::from_utf8_lossy(&key[8..]))? {
                out.push(n);
            }
        }
        Ok((self.due.len(), out))
    }

    /// When the next pending notification is due (ms), if any.
    pub fn next_due_ms(&self) -> Result<Option<u64>> {
        Ok(self.due.first().map_err(store_error)?.and_then(|(k, _)| super::keys::read_u64(&k, 0)))
    }

    pub fn get(&self, id: &str) -> Result<Option<Notification>> {
        self.all.get(id.as_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn get_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Notification>> {
        Ok(tx.get(self.all_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    /// Every notification, for export and the admin's view.
    pub fn all(&self) -> impl Iterator<Item = Result<Notification>> + '_ {
        self.all.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v)))
    }
}
