//! Paired instances and the invitations that pair them: who a peer is, the keys pinned for
//! it, where the pairing stands; the proof that a joining instance holds the invitation's
//! secret; and the short code both admins compare.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A paired instance (or one being paired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Its base URL: the peer's identity in every message.
    pub base_url: String,
    pub name: String,
    pub kind: String,
    pub code: String,
    /// Keys pinned for it, by id: public key in base64url, and when it was retired.
    pub keys: Vec<PeerKey>,
    pub status: PeerStatus,
    /// The digits both admins compare before approving.
    pub short_code: String,
    /// Which side invited.
    pub invited_by_us: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Its key document as received at pairing (canonical JSON), kept to check again.
    pub key_document: String,
    /// Known through the roster of this EPCI (base URL), not paired directly: its keys are
    /// the ones that roster lists, and it follows that roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vouched_by: Option<String>,
    /// At an EPCI: the peer is one of its members, listed in the roster it sends them.
    #[serde(default)]
    pub member: bool,
}

impl Peer {
    /// Its pinned keys, retired ones included (they still verify older messages).
    pub fn pinned_keys(&self) -> std::collections::BTreeMap<String, super::PinnedKey> {
        self.keys
            .iter()
            .filter_map(|k| {
                let key = super::public_key(&k.public_key)?;
                Some((k.id.clone(), super::PinnedKey { key, retired_at: k.retired_at }))
            })
            .collect()
    }

    /// Its current keys: those that sign deliveries.
    pub fn current_keys(&self) -> std::collections::BTreeMap<String, ed25519_dalek::VerifyingKey> {
        self.pinned_keys().into_iter().filter(|(_, k)| k.retired_at.is_none()).map(|(id, k)| (id, k.key)).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerKey {
    pub id: String,
    pub public_key: String,
    #[serde(default)]
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerStatus {
    /// We invited it; it proved it holds the invitation: our admin compares the short
    /// code and approves.
    AwaitingOurApproval,
    /// We joined it; its admin has yet to approve.
    AwaitingTheirApproval,
    Active,
    /// Queues to it are frozen; nothing is deleted.
    Revoked,
}

impl PeerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::AwaitingOurApproval => "awaiting_our_approval",
            PeerStatus::AwaitingTheirApproval => "awaiting_their_approval",
            PeerStatus::Active => "active",
            PeerStatus::Revoked => "revoked",
        }
    }
}

/// An invitation to pair, single use, valid at most seven days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    /// The 128-bit secret, base64url; forgotten once used.
    pub secret: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The instance that used it.
    #[serde(default)]
    pub used_by: Option<String>,
    pub created_by: String,
}

/// Longest validity of an invitation.
pub const INVITATION_DAYS: i64 = 7;

/// HMAC-SHA-256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The joining instance's proof that it holds the invitation's secret, bound to the
/// invitation and to both keys: HMAC-SHA-256 under the secret of
/// `invitation id \0 inviter's public key \0 joiner's public key` (keys in base64url).
pub fn proof(secret: &str, invitation: &str, inviter_key: &str, joiner_key: &str) -> String {
    let message = format!("{invitation}\0{inviter_key}\0{joiner_key}");
    URL_SAFE_NO_PAD.encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// Compares two proofs in constant time.
pub fn same_proof(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Eight digits both screens show, from both public keys (in either order): admins read
/// them to each other before approving, which defeats a substituted key.
pub fn short_code(key_a: &[u8], key_b: &[u8]) -> String {
    let (low, high) = if key_a <= key_b { (key_a, key_b) } else { (key_b, key_a) };
    let digest = Sha256::new().chain_update(b"guichet/v1/pair-code\0").chain_update(low).chain_update(high).finalize();
    let n = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 100_000_000;
    format!("{:04} {:04}", n / 10_000, n % 10_000)
}

/// The link an admin hands to the other instance's admin:
/// `{base}/federation/v1/invitation#id=…&secret=…&fp=…` (in the fragment, so that opening
/// it sends nothing secret to any server).
pub fn invitation_link(base_url: &str, id: &str, secret: &str, fingerprint_hex: &str) -> String {
    format!("{base_url}/federation/v1/invitation#id={id}&secret={secret}&fp={fingerprint_hex}")
}

/// What an invitation link holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationLink {
    pub base_url: String,
    pub id: String,
    pub secret: String,
    /// SHA-256 of the inviter's public key, hex (spaces ignored).
    pub fingerprint: String,
}

impl InvitationLink {
    pub fn parse(link: &str) -> Option<InvitationLink> {
        let (address, fragment) = link.trim().split_once('#')?;
        let base_url = address.strip_suffix("/federation/v1/invitation")?.to_owned();
        let field = |name: &str| {
            fragment.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned)
        };
        let fingerprint: String = field("fp")?.chars().filter(|c| !c.is_whitespace() && *c != '+').collect();
        let link = InvitationLink { base_url, id: field("id")?, secret: field("secret")?, fingerprint };
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(&link.id, 32) && link.secret.len() >= 22 && hex(&link.fingerprint, 64)).then_some(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(crate::domain::audit::hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Test case 6: a key longer than a block.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(crate::domain::audit::hex(&mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn the_short_code_is_the_same_on_both_sides_and_changes_with_either_key() {
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let code = short_code(&a, &b);
        assert_eq!(code, short_code(&b, &a));
        assert_eq!(code.len(), 9);
        assert_ne!(code, short_code(&a, &c));
        assert_ne!(code, short_code(&c, &b));
    }

    #[test]
    fn the_proof_binds_the_secret_the_invitation_and_both_keys() {
        let p = proof("s3cret", "inv", "KA", "KB");
        assert!(same_proof(&p, &proof("s3cret", "inv", "KA", "KB")));
        for other in [
            proof("secret", "inv", "KA", "KB"),
            proof("s3cret", "inv2", "KA", "KB"),
            proof("s3cret", "inv", "KB", "KA"),
        ] {
            assert!(!same_proof(&p, &other));
        }
    }

    #[test]
    fn links_carry_what_they_must() {
        let fp = "ab".repeat(32);
        let link = invitation_link("https://epci.example", &"0".repeat(32), "c2VjcmV0LXNlY3JldC1zZWNy", &fp);
        let parsed = InvitationLink::parse(&link).unwrap();
        assert_eq!(parsed.base_url, "https://epci.example");
        assert_eq!(parsed.fingerprint, fp);
        assert!(InvitationLink::parse("https://epci.example/federation/v1/invitation#id=1&secret=x&fp=y").is_none());
        assert!(InvitationLink::parse("https://epci.example/autre#id=1").is_none());
    }
}
