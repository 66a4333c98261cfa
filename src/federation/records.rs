//! What federation keeps in the store: the queue of messages to each peer, the dead
//! letters, each peer's delivery state, the messages received (for dedupe, with their
//! exact bytes), the links between a request here and its counterpart at a peer, and the
//! competence table.

use serde::{Deserialize, Serialize};

/// A signed message waiting to be delivered to one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// Order of the queue (one sequence for every peer).
    pub seq: u64,
    pub peer: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: i64,
    /// The message, canonical JSON, signatures included.
    pub message: String,
}

/// A message a peer refused: kept for the admin, never retried by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub queued: Queued,
    pub code: String,
    pub at: i64,
}

/// Where delivery to one peer stands. Persisted, so a restart keeps the backoff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    pub peer: String,
    /// Failed attempts in a row.
    pub failures: u32,
    /// No attempt before this instant (ms); 0: now.
    pub next_attempt_at: i64,
    /// First failure of the current run of failures (ms).
    pub unreachable_since: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: String,
    /// Messages delivered and refused since the pairing.
    pub delivered: u64,
    pub dead: u64,
    /// Whether admins were told of the current run of failures.
    #[serde(default)]
    pub alerted: bool,
}

/// A message received and applied (or refused for good): its id answers `duplicate`
/// forever after, and its exact bytes stay checkable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub origin: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub received_at: i64,
    /// `accepted`, or the code it was refused with.
    pub outcome: String,
    pub message: String,
}

/// Which side of a shared request this instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The request came from a citizen here and was forwarded: this instance answers
    /// the citizen.
    Origin,
    /// The request was forwarded here: this instance handles it.
    Holder,
}

/// Where the forwarding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Sent; the holder has yet to accept or reject it.
    Pending,
    Accepted,
    Rejected,
    /// The origin took it back.
    Withdrawn,
    /// The holder handed it on to another body (through the origin).
    Transferred,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Pending => "pending",
            LinkState::Accepted => "accepted",
            LinkState::Rejected => "rejected",
            LinkState::Withdrawn => "withdrawn",
            LinkState::Transferred => "transferred",
        }
    }

    /// Whether the peer still has a say on the request.
    pub fn is_live(self) -> bool {
        matches!(self, LinkState::Pending | LinkState::Accepted)
    }
}

/// A request here and its counterpart at a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The request's id here.
    pub request: u64,
    pub side: Side,
    /// The other instance.
    pub peer: String,
    pub peer_name: String,
    /// The shared object's id: the origin's request id.
    pub object: String,
    pub state: LinkState,
    /// At the origin: the last version of the holder's status applied here.
    pub version: i64,
}

/// Who handles a category of requests, here or at a peer, for one commune (INSEE code)
/// or, with an empty code, everywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Competence {
    pub category: String,
    #[serde(default)]
    pub insee: String,
    /// Base URL of the paired instance that holds it.
    pub peer: String,
}

/// A file of a request forwarded here, to fetch by its hash from the instance that
/// forwarded it (and from nowhere else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    /// The request here.
    pub request: u64,
    /// The origin, which holds the file.
    pub peer: String,
    pub sha256: String,
    pub name: String,
    pub size: u64,
    /// Failed attempts in a row, and when to try again (ms).
    pub attempts: u32,
    pub next_at: i64,
    pub last_error: String,
}

/// The roster an EPCI sent this instance (docs/federation.md, section 13): its members,
/// with their keys, and the categories it handles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// The EPCI's base URL.
    pub epci: String,
    /// The EPCI's roster version: a newer one replaces this one.
    pub version: i64,
    pub members: Vec<RosterMember>,
    /// The categories of requests the EPCI handles (id there, and label).
    pub competences: Vec<(String, String)>,
    pub received_at: i64,
}

/// An instance listed in a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterMember {
    pub base_url: String,
    pub name: String,
    pub kind: String,
    pub code: String,
    /// Its current keys: id, and public key in base64url.
    pub keys: Vec<(String, String)>,
}
