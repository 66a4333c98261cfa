//! The request status machine.
//!
//! `received → in_progress ⇄ waiting → resolved → closed`; `rejected` (with a reason) from
//! received or in_progress; reopen (back to in_progress) from resolved or closed.

use serde::{Deserialize, Serialize};

use super::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    InProgress,
    Waiting,
    Resolved,
    Closed,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 6] =
        [Status::Received, Status::InProgress, Status::Waiting, Status::Resolved, Status::Closed, Status::Rejected];

    /// Statuses in which the legal delay runs or is paused: the request awaits a decision.
    pub const OPEN: [Status; 3] = [Status::Received, Status::InProgress, Status::Waiting];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::InProgress => "in_progress",
            Status::Waiting => "waiting",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Stable one-byte code used in index keys.
    pub fn code(self) -> u8 {
        match self {
            Status::Received => 1,
            Status::InProgress => 2,
            Status::Waiting => 3,
            Status::Resolved => 4,
            Status::Closed => 5,
            Status::Rejected => 6,
        }
    }

    pub fn is_open(self) -> bool {
        Status::OPEN.contains(&self)
    }

    /// A decision has been made: the resolution clock stops.
    pub fn is_decided(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed | Status::Rejected)
    }

    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Received, InProgress)
                | (Received, Rejected)
                | (InProgress, Waiting)
                | (InProgress, Resolved)
                | (InProgress, Rejected)
                | (Waiting, InProgress)
                | (Waiting, Resolved)
                | (Resolved, Closed)
                | (Resolved, InProgress)
                | (Closed, InProgress)
        )
    }

    /// Checks a transition, with the reason a rejection requires.
    pub fn check_transition(self, to: Status, reason: Option<&str>) -> Result<()> {
        if !self.can_become(to) {
            let allowed: Vec<&str> =
                Status::ALL.into_iter().filter(|s| self.can_become(*s)).map(Status::as_str).collect();
            return Err(Error::conflict(
                "invalid_transition",
                format!(
                    "a request cannot go from {} to {}; allowed: {}",
                    self.as_str(),
                    to.as_str(),
                    if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") }
                ),
            ));
        }
        if to == Status::Rejected && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(Error::invalid("reason_required", "reason", "a rejection needs a reason"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_allows_exactly_the_documented_transitions() {
        let allowed: Vec<(Status, Status)> = Status::ALL
            .into_iter()
            .flat_map(|from| Status::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.can_become(*to))
            .collect();
        assert_eq!(allowed.len(), 10);
        assert!(Status::Received.can_become(Status::InProgress));
        assert!(!Status::Received.can_become(Status::Resolved));
        assert!(!Status::Waiting.can_become(Status::Rejected));
        assert!(!Status::Rejected.can_become(Status::InProgress));
        assert!(Status::Closed.can_become(Status::InProgress));
    }

    #[test]
    fn rejection_needs_a_reason_and_illegal_moves_name_the_legal_ones() {
        assert!(matches!(
            Status::Received.check_transition(Status::Rejected, Some("  ")),
            Err(Error::Invalid { code: "reason_required", .. })
        ));
        assert!(Status::Received.check_transition(Status::Rejected, Some("hors compétence")).is_ok());
        match Status::Closed.check_transition(Status::Waiting, None) {
            Err(Error::Conflict { code, message }) => {
                assert_eq!(code, "invalid_transition");
                assert!(message.contains("allowed: in_progress"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(Status::ALL.iter().filter(|o| o.code() == s.code()).count(), 1);
        }
    }
}
