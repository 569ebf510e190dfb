//! The error every [`EventStore`](super::EventStore) operation returns.

use super::ExpectedVersion;

/// A boxed error from a backend library.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An event store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream was not at the expected version: another writer appended first.
    #[error(
        "version conflict on stream `{stream}`: expected {expected}, but it is at version {actual}"
    )]
    Conflict {
        /// The stream.
        stream: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's version when the append was checked.
        actual: u64,
    },
    /// The store could not be reached; the operation may be retried.
    #[error("event store unavailable: {0}")]
    Unavailable(BoxError),
    /// A stored event is damaged.
    #[error("corrupt event in stream `{stream}` at version {version}: {reason}")]
    Corrupt {
        /// The stream.
        stream: String,
        /// The event's stream version.
        version: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another writer committed first what this step read (a saga's position, an instance's
    /// version, a deadline): read again and decide again.
    #[error("superseded: {0}")]
    Superseded(String),
    /// The request itself is invalid (for example an empty stream id).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Any other backend failure.
    #[error("event store failure: {0}")]
    Backend(BoxError),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::Unavailable(_))
    }
}
