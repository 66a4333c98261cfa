//! The audit journal: append-only entries, each carrying the hash of the previous one, so
//! that changing, removing or inserting an entry breaks the chain from that point on.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::actor::Actor;

/// Hash of the entry before the first one.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    /// What happened, dotted: `request.create`, `request.read`, `category.update`...
    pub action: String,
    /// What it happened to: `request:42`, `category:voirie`.
    pub target: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The part of an entry the hash covers, in a fixed field order.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    at: &'a Timestamp,
    actor: &'a Actor,
    action: &'a str,
    target: &'a str,
    details: &'a serde_json::Value,
    prev_hash: &'a str,
}

impl AuditEntry {
    /// A new entry chained after `prev_hash`.
    pub fn new(
        seq: u64,
        at: Timestamp,
        actor: Actor,
        action: &str,
        target: String,
        details: serde_json::Value,
        prev_hash: String,
    ) -> AuditEntry {
        let mut entry =
            AuditEntry { seq, at, actor, action: action.to_owned(), target, details, prev_hash, hash: String::new() };
        entry.hash = entry.compute_hash();
        entry
    }

    pub fn compute_hash(&self) -> String {
        let hashed = Hashed {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            details: &self.details,
            prev_hash: &self.prev_hash,
        };
        // serde_json writes maps with sorted keys (no `preserve_order`), so the bytes are stable.
        let bytes = serde_json::to_vec(&hashed).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("audit chain broken at entry {seq}: {reason}")]
pub struct BrokenChain {
    pub seq: u64,
    pub reason: String,
}

/// Walks entries in sequence order and checks every link.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: u64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_seq: 1, prev_hash: GENESIS.to_owned() }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), BrokenChain> {
        let broken = |reason: &str| BrokenChain { seq: entry.seq, reason: reason.to_owned() };
        if entry.seq != self.expected_seq {
            return Err(BrokenChain {
                seq: self.expected_seq,
                reason: format!("entry {} missing (found {} next)", self.expected_seq, entry.seq),
            });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(broken("does not link to the previous entry"));
        }
        if entry.compute_hash() != entry.hash {
            return Err(broken("content does not match its hash"));
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Checks that the chain ends where the store says it ends (a truncated tail is tampering too).
    pub fn finish(&self, head_seq: u64, head_hash: &str) -> Result<u64, BrokenChain> {
        let last = self.expected_seq - 1;
        if last != head_seq || (head_seq > 0 && head_hash != self.prev_hash) {
            return Err(BrokenChain {
                seq: last + 1,
                reason: format!("journal ends at entry {last}, head says {head_seq}"),
            });
        }
        Ok(last)
    }
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = AuditEntry::new(
                    seq,
                    Timestamp::from_second(1_700_000_000 + seq as i64).unwrap(),
                    Actor::system("test"),
                    "request.create",
                    format!("request:{seq}"),
                    serde_json::json!({"b": 1, "a": [seq]}),
                    prev.clone(),
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry]) -> Result<u64, BrokenChain> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.check(e)?;
        }
        let head = entries.last().map(|e| (e.seq, e.hash.clone())).unwrap_or((0, String::new()));
        v.finish(head.0, &head.1)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn changed_removed_and_truncated_entries_are_named() {
        let mut changed = chain(5);
        changed[2].target = "request:99".into();
        assert_eq!(verify(&changed).unwrap_err().seq, 3);

        let mut rehashed = chain(5);
        rehashed[2].target = "request:99".into();
        rehashed[2].hash = rehashed[2].compute_hash();
        assert_eq!(verify(&rehashed).unwrap_err().seq, 4);

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(verify(&removed).unwrap_err().seq, 2);

        let full = chain(5);
        let mut v = ChainVerifier::default();
        for e in &full[..3] {
            v.check(e).unwrap();
        }
        assert_eq!(v.finish(5, &full[4].hash).unwrap_err().seq, 4);
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
