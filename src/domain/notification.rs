//! Messages to people (e-mail now, SMS later) waiting in the durable outbox: written in the
//! same transaction as the change they tell about, sent by a background sender, retried
//! with a growing wait when the server is unreachable, never dropped; a permanent refusal
//! is recorded.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Acknowledgement,
    Status,
    Reply,
    /// To a department's mailbox: a request is waiting.
    NewRequest,
    /// To an agent: a request was assigned to them.
    Assigned,
    /// To someone invited (an agent or a guest): a single-use sign-in link. Its text is
    /// blanked once the message has left.
    SignInLink,
    /// To a manager or an admin: the day's list of overdue requests.
    OverdueDigest,
    /// To the sender of an e-mail that could not be recorded (too large).
    Refusal,
    /// To the admins: a paired instance has been unreachable for a long time.
    PeerUnreachable,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Acknowledgement => "acknowledgement",
            NotificationKind::Status => "status",
            NotificationKind::Reply => "reply",
            NotificationKind::NewRequest => "new_request",
            NotificationKind::Assigned => "assigned",
            NotificationKind::SignInLink => "sign_in_link",
            NotificationKind::OverdueDigest => "overdue_digest",
            NotificationKind::Refusal => "refusal",
            NotificationKind::PeerUnreachable => "peer_unreachable",
        }
    }

    /// Whether it goes to the citizen who made the request (rather than to agents).
    pub fn is_for_citizen(self) -> bool {
        matches!(self, NotificationKind::Acknowledgement | NotificationKind::Status | NotificationKind::Reply)
    }
}

/// How a notification travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    #[default]
    Email,
    Sms,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Delivery {
    Pending,
    Sent {
        at: Timestamp,
    },
    /// Refused for good by the mail server (unknown address…), or bounced after it was sent.
    Failed {
        at: Timestamp,
        reason: String,
    },
    /// Not sent: the citizen asked for no more messages about the request before it left.
    Stopped {
        at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub kind: NotificationKind,
    #[serde(default)]
    pub medium: Medium,
    /// The e-mail address or phone number it goes to.
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The request it is about.
    #[serde(default)]
    pub request: Option<u64>,
    pub created_at: Timestamp,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    #[serde(default)]
    pub last_error: String,
    pub delivery: Delivery,
}

/// Who a new message goes to, and what it says.
pub struct Address<'a> {
    pub medium: Medium,
    /// The e-mail address or phone number.
    pub to: &'a str,
    pub subject: String,
    pub text: String,
}

impl Notification {
    /// A message to send as soon as possible, about `request` if any.
    pub fn new(id: String, kind: NotificationKind, address: Address<'_>, request: Option<u64>, now: Timestamp) -> Self {
        Notification {
            id,
            kind,
            medium: address.medium,
            to: address.to.to_owned(),
            subject: address.subject,
            text: address.text,
            request,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            last_error: String::new(),
            delivery: Delivery::Pending,
        }
    }
}

/// The wait before the next attempt after `attempts` failures: `base` doubled at each
/// failure, at most an hour, spread by ±20 % (`jitter` in 0..1) so that queued messages do
/// not all retry at once.
pub fn backoff(base: SignedDuration, attempts: u32, jitter: f64) -> SignedDuration {
    let doubled = base.as_secs_f64() * 2f64.powi(attempts.saturating_sub(1).min(20) as i32);
    let capped = doubled.min(3600.0);
    SignedDuration::from_secs_f64(capped * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_an_hour() {
        let base = SignedDuration::from_secs(30);
        assert_eq!(backoff(base, 1, 0.5), SignedDuration::from_secs(30));
        assert_eq!(backoff(base, 2, 0.5), SignedDuration::from_secs(60));
        assert_eq!(backoff(base, 4, 0.5), SignedDuration::from_secs(240));
        assert_eq!(backoff(base, 12, 0.5), SignedDuration::from_secs(3600));
        assert_eq!(backoff(base, 1000, 0.5), SignedDuration::from_secs(3600), "no overflow");
        assert_eq!(backoff(base, 1, 0.0), SignedDuration::from_secs(24));
        assert_eq!(backoff(base, 1, 1.0), SignedDuration::from_secs(36));
    }
}
