//! Queries: typed questions answered by a projection's read model. A `#[query]` method in a
//! `#[projection]` impl block implements [`HandledQuery`] for its query type, so
//! [`App::query`](crate::App::query) routes each query to its one projection at compile time.

use std::time::Duration;

use crate::projection::{Projection, WaitError};

/// A query type and the projection that answers it. Implemented by `#[query]`; a query type
/// answered by two projections is a compile error (two implementations).
#[diagnostic::on_unimplemented(
    message = "no projection answers `{Self}`",
    label = "`{Self}` is not taken by any `#[query]` method",
    note = "add `#[query] fn answer(&self, query: {Self}) -> Output` to the `#[projection]` impl block of the read model that knows the answer"
)]
pub trait HandledQuery: Send + 'static {
    /// The projection whose read model answers.
    type Projection: Projection + Sync;
    /// The answer.
    type Output: Send;

    /// Answers `query` from the read model.
    fn answer(projection: &Self::Projection, query: Self) -> Self::Output;
}

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
