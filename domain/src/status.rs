//! The states of a domain row and the moves allowed between them.

use std::fmt;
use std::str::FromStr;

/// Where a domain row stands. Stored as lower-case text in the `status`
/// column, the same words the old service wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    /// Waiting to be claimed (new, re-queued, or waiting for a retry).
    Pending,
    /// Claimed by a worker that holds a lease on it.
    Processing,
    /// Fetched and extracted; the metadata columns are filled.
    Completed,
    /// Given up on; `last_error` says why.
    Error,
}

/// A move between two states that the life cycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a domain cannot move from {from} to {to}")]
pub struct TransitionError {
    /// The state the row is in.
    pub from: DomainStatus,
    /// The state that was asked for.
    pub to: DomainStatus,
}

/// A `status` value that is not one of the four states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown domain status {0:?} (expected pending, processing, completed or error)")]
pub struct UnknownStatus(pub String);

impl DomainStatus {
    /// Every state, in life-cycle order.
    pub const ALL: [DomainStatus; 4] = [
        DomainStatus::Pending,
        DomainStatus::Processing,
        DomainStatus::Completed,
        DomainStatus::Error,
    ];

    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Pending => "pending",
            DomainStatus::Processing => "processing",
            DomainStatus::Completed => "completed",
            DomainStatus::Error => "error",
        }
    }

    /// Whether the life cycle allows moving from `self` to `to`:
    /// `pending -> processing -> completed | error`; `processing -> pending`
    /// (retry, rescue of a dead worker's row, release at shutdown);
    /// `completed | error -> pending` (an operator re-queues).
    pub fn can_move_to(self, to: DomainStatus) -> bool {
        use DomainStatus::*;
        matches!(
            (self, to),
            (Pending, Processing)
                | (Processing, Completed)
                | (Processing, Error)
                | (Processing, Pending)
                | (Completed, Pending)
                | (Error, Pending)
        )
    }

    /// The states from which the life cycle allows a move to `to`, in
    /// life-cycle order. Every repository derives the guard of a write that
    /// sets `to` from this, so that the table above is the one place that
    /// says which moves exist.
    pub fn sources(to: DomainStatus) -> impl Iterator<Item = DomainStatus> {
        DomainStatus::ALL
            .into_iter()
            .filter(move |from| from.can_move_to(to))
    }

    /// Whether a row in this state is held by a worker's lease
    /// (`locked_by`, `locked_until`).
    pub fn is_leased(self) -> bool {
        self == DomainStatus::Processing
    }

    /// The states a worker's write about a row it holds may move to `to`:
    /// the [`DomainStatus::sources`] of `to` that are leased. Empty when
    /// the life cycle gives a worker no such move: such a write then
    /// finds no row to change.
    pub fn leased_sources(to: DomainStatus) -> impl Iterator<Item = DomainStatus> {
        DomainStatus::sources(to).filter(|from| from.is_leased())
    }

    /// The state after a move to `to`, or the refusal.
    ///
    /// # Errors
    ///
    /// [`TransitionError`] when the life cycle does not allow the move.
    pub fn move_to(self, to: DomainStatus) -> Result<DomainStatus, TransitionError> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

impl fmt::Display for DomainStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DomainStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DomainStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::DomainStatus::{self, *};

    #[test]
    fn allowed_moves_are_exactly_the_life_cycle() {
        let allowed = [
            (Pending, Processing),
            (Processing, Completed),
            (Processing, Error),
            (Processing, Pending),
            (Completed, Pending),
            (Error, Pending),
        ];
        for from in DomainStatus::ALL {
            for to in DomainStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_move_to(to), expected, "{from} -> {to}");
                assert_eq!(from.move_to(to).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn sources_are_the_states_the_table_lets_move_to_a_target() {
        let sources = |to| DomainStatus::sources(to).collect::<Vec<_>>();
        assert_eq!(sources(Processing), [Pending]);
        assert_eq!(sources(Completed), [Processing]);
        assert_eq!(sources(Error), [Processing]);
        assert_eq!(sources(Pending), [Processing, Completed, Error]);
        let leased = |to| DomainStatus::leased_sources(to).collect::<Vec<_>>();
        assert_eq!(leased(Pending), [Processing]);
        assert_eq!(leased(Completed), [Processing]);
        assert!(leased(Processing).is_empty());
    }

    #[test]
    fn refused_move_names_both_states() {
        let error = Completed.move_to(Error).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a domain cannot move from completed to error"
        );
    }

    #[test]
    fn status_words_round_trip_and_unknown_words_are_refused() {
        for status in DomainStatus::ALL {
            assert_eq!(status.as_str().parse::<DomainStatus>(), Ok(status));
        }
        assert!("done".parse::<DomainStatus>().is_err());
        assert!("Pending".parse::<DomainStatus>().is_err());
    }
}
