//! Queries: typed questions answered by a projection's read model. A `#[query]` method in a
//! `#[projection]` impl block implements [`HandledQuery`] for its query type, so
//! [`App::query`](crate::App::query) routes each query to its one projection at compile time.

use crate::model::projection::Projection;

/// A query type and the projection that answers it. Implemented by `#[query]`; a query type
/// answered by two projections is a compile error (two implementations).
#[diagnostic::on_unimplemented(
    message = "no projection answers `{Self}`",
    label = "`{Self}` is not taken by any `#[query]` method",
    note = "add `#[query] fn answer(&self, query: {Self}) -> Output` to the `#[projection]` impl block of the read model that knows the answer (`async fn answer(&self, query: {Self}, db: &Context)` in a SQL read model)"
)]
pub trait HandledQuery: Send + 'static {
    /// The projection whose read model answers.
    type Projection: Projection + Sync;
    /// The answer.
    type Output: Send;

    /// Answers `query` from the read model and, for a SQL read model, through `context`, a
    /// connection for queries (an `async fn` `#[query]` method awaits its statements).
    fn answer<'a>(
        projection: &'a Self::Projection,
        query: Self,
        context: &'a <Self::Projection as Projection>::Context,
    ) -> impl Future<Output = Self::Output> + Send + 'a;
}
