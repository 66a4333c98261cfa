//! The audit journal's storage: entries by sequence number and the chain head, both written
//! in the same transaction as the change they record.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, keys::Key, store_error};
use crate::domain::actor::Actor;
use crate::domain::audit::{AuditEntry, BrokenChain, ChainVerifier, GENESIS};
use crate::domain::{Error, Result};

impl Versioned for AuditEntry {
    const KIND: &'static str = "audit_entry";
    const VERSION: u8 = 1;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

impl Versioned for Head {
    const KIND: &'static str = "audit_head";
    const VERSION: u8 = 1;
}

const HEAD_KEY: &[u8] = b"head";

#[derive(Clone)]
pub struct AuditRepo {
    entries: sled::Tree,
    entries_id: TreeId,
    head: sled::Tree,
    head_id: TreeId,
}

/// Outcome of `guichet audit verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub entries: u64,
    pub broken: Option<BrokenChain>,
}

impl AuditRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<AuditRepo> {
        let (entries, entries_id) = builder.tree("audit_entry")?;
        let (head, head_id) = builder.tree("audit_head")?;
        Ok(AuditRepo { entries, entries_id, head, head_id })
    }

    /// Appends an entry after the current head.
    pub fn append(
        &self,
        tx: &Tx<'_>,
        at: Timestamp,
        actor: &Actor,
        action: &str,
        target: String,
        details: serde_json::Value,
    ) -> TxResult<u64> {
        let head = match tx.get(self.head_id, HEAD_KEY)? {
            Some(bytes) => codec::decode::<Head>(&bytes)?,
            None => Head { seq: 0, hash: GENESIS.to_owned() },
        };
        let entry = AuditEntry::new(head.seq + 1, at, actor.clone(), action, target, details, head.hash);
        self.put(tx, &entry)?;
        Ok(entry.seq)
    }

    /// Stores an entry as it is and moves the head to it (append and import).
    pub fn put(&self, tx: &Tx<'_>, entry: &AuditEntry) -> TxResult<()> {
        tx.insert(self.entries_id, Key::new().u64(entry.seq).as_ref(), &codec::encode(entry)?)?;
        let head = Head { seq: entry.seq, hash: entry.hash.clone() };
        tx.insert(self.head_id, HEAD_KEY, &codec::encode(&head)?)
    }

    pub fn head(&self) -> Result<(u64, String)> {
        match self.head.get(HEAD_KEY).map_err(store_error)? {
            Some(bytes) => codec::decode::<Head>(&bytes).map(|h| (h.seq, h.hash)),
            None => Ok((0, GENESIS.to_owned())),
        }
    }

    /// Entries in order, starting after `after`.
    pub fn iter_from(&self, after: u64) -> impl Iterator<Item = Result<AuditEntry>> + '_ {
        self.entries
            .range(Key::new().u64(after.saturating_add(1)).into_bytes()..)
            .map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode::<AuditEntry>(&v)))
    }

    /// Newest entries first, at most `limit`.
    pub fn latest(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.entries
            .iter()
            .rev()
            .take(limit)
            .map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode::<AuditEntry>(&v)))
            .collect()
    }

    /// Walks the whole chain. A value that cannot be read counts as a broken entry.
    pub fn verify(&self) -> Result<Verification> {
        let mut verifier = ChainVerifier::default();
        let mut count = 0;
        for item in self.entries.iter() {
            let (key, value) = item.map_err(store_error)?;
            let seq = super::keys::read_u64(&key, 0).unwrap_or(0);
            let entry = match codec::decode::<AuditEntry>(&value) {
                Ok(entry) if entry.seq == seq => entry,
                Ok(_) => return Ok(broken(count, seq, "stored under another sequence number")),
                Err(Error::Store(reason)) => return Ok(broken(count, seq, &reason)),
                Err(e) => return Err(e),
            };
            if let Err(b) = verifier.check(&entry) {
                return Ok(Verification { entries: count, broken: Some(b) });
            }
            count += 1;
        }
        let (head_seq, head_hash) = self.head()?;
        match verifier.finish(head_seq, &head_hash) {
            Ok(n) => Ok(Verification { entries: n, broken: None }),
            Err(b) => Ok(Verification { entries: count, broken: Some(b) }),
        }
    }
}

fn broken(count: u64, seq: u64, reason: &str) -> Verification {
    Verification { entries: count, broken: Some(BrokenChain { seq, reason: reason.to_owned() }) }
}
