//! [`QueryError`]: a query that could not be answered.

use std::time::Duration;

use super::status::WaitError;

/// A query could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The projection that answers the query was not started in this application.
    #[error(
        "projection `{projection}` is not running in this application: start it with `App::start_projection` before querying it"
    )]
    NotStarted {
        /// The projection's name.
        projection: &'static str,
    },
    /// The projection did not reach the position the query waited for.
    #[error(transparent)]
    NotCaughtUp(#[from] WaitError),
    /// No connection for the query's context (a SQL read model).
    #[error("projection `{projection}`: {cause}")]
    Store {
        /// The projection's name.
        projection: &'static str,
        /// The store's error.
        cause: crate::store::StoreError,
    },
    /// The `#[query]` method panicked.
    #[error("the query `{query}` panicked: {message}")]
    Panicked {
        /// The query's type.
        query: &'static str,
        /// The panic's message.
        message: String,
    },
}

/// How long a query waits for its projection by default when asked to read its own writes.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(5);
