//! Where a runner's units of work end: nowhere special for a read model in memory, or a
//! database transaction that commits the handlers' writes with the checkpoint and the dead
//! letters of the unit, so that each event's effect happens exactly once.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

pub(crate) use self::sealed::{Sealed, SealedStore};

use crate::model::envelope::RecordedEvent;
use crate::model::projection::Projection;
use crate::store::{DeadLetter, EventStore, StoreError};

/// The sealing of [`Sink`] and [`ReadModelStore`]: the runner relies on what their
/// implementations here promise (a transactional sink's commit carries the checkpoint), so
/// no other crate implements them.
mod sealed {
    pub trait Sealed {}
    pub trait SealedStore<Ctx> {}
}

/// How a unit of handled events ends: the checkpoint it moves to, and a letter to park or
/// release with it, committed together by a transactional [`Sink`].
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct UnitEnd {
    /// Every event up to here is done.
    pub checkpoint: u64,
    /// A letter to park.
    pub park: Option<DeadLetter>,
    /// The position of a letter to release.
    pub release: Option<u64>,
    /// No checkpoint moves: a consumer's progress is the broker's and its inbox's, and the
    /// members of its group would only contend for the one row.
    pub without_checkpoint: bool,
}

/// The transaction, if any, around a runner's units: [`InMemory`] for a read model in
/// memory (no transaction), `SqliteReadModel` and `PgReadModel` for SQL read models. The
/// runner picks it from the projection's context type through [`ReadModelStore`]; sealed.
pub trait Sink<P: Projection>: Sealed + Send + 'static {
    /// Whether a unit's effects commit with its checkpoint and letters, and a failed unit
    /// leaves nothing behind.
    const TRANSACTIONAL: bool;

    /// Starts a unit.
    ///
    /// # Errors
    /// From the database.
    fn begin(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What the handlers are given.
    fn context(&mut self) -> &mut P::Context;

    /// Commits the unit with its end (a transactional sink only).
    ///
    /// # Errors
    /// From the database; the unit is rolled back.
    fn commit(
        &mut self,
        name: &'static str,
        end: UnitEnd,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Undoes the unit.
    fn rollback(&mut self) -> impl Future<Output = ()> + Send;

    /// Lets go of what the sink holds (a connection, a lock) when the runner ends.
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A [`Sink`] that keeps an inbox: what tells a message delivered again from a new one, so
/// its effect happens once. `SqliteReadModel` and `PgReadModel` keep the ids of the messages
/// each consumer handled, recorded in the unit's transaction with the handler's effects;
/// the sink of a consumer that sends commands (`outbox::Commands`) keeps them as the
/// idempotency keys of its commands. Sealed.
pub trait InboxSink<P: Projection>: Sink<P> {
    /// Records `message` (an integration message as its envelope: its id is the event id)
    /// as handled by `consumer` in the open unit; answers `false` when it was recorded
    /// before (the message repeats one whose effects are there).
    ///
    /// # Errors
    /// From the database.
    fn record_handled(
        &mut self,
        consumer: &'static str,
        message: &RecordedEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// After a handler that went through: whether every effect it had was there already
    /// (each command it sent was recognised by its key), so the delivery repeats an earlier
    /// one. `false` for an inbox that recognises repeats before the handler runs.
    fn repeated(&self) -> bool {
        false
    }

    /// After a handler that failed with `error`: whether that is what its last effect failed
    /// on and waiting mends it (the store unavailable, a conflict, a rate limit: a sink whose
    /// handlers' effects are commands sees these only as the handler's failure), so the
    /// message comes again and is not parked for it.
    fn retriable(&self, error: &str) -> bool {
        let _ = error;
        false
    }
}

/// The sink of a read model in memory: no transaction; effects stay as handled.
#[derive(Debug, Default)]
pub struct InMemory(());

impl Sealed for InMemory {}

impl<P: Projection<Context = ()>> Sink<P> for InMemory {
    const TRANSACTIONAL: bool = false;

    async fn begin(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn context(&mut self) -> &mut () {
        &mut self.0
    }

    async fn commit(&mut self, _name: &'static str, _end: UnitEnd) -> Result<(), StoreError> {
        Ok(())
    }

    async fn rollback(&mut self) {}
}

/// A store that keeps read models whose handlers take `Ctx`: the sink a runner's units end
/// in, and the context their `#[query]` methods read through. Every store keeps read models
/// in memory (`Ctx = ()`); `SqliteStore` keeps them in its file (`SqliteConnection`) and
/// `PgStore` in its database (`PgConnection`). [`App::start_projection`](crate::App::start_projection)
/// and [`App::query`](crate::App::query) pick the right one from the projection's context.
///
/// Sealed: the three are all there is.
pub trait ReadModelStore<Ctx>: SealedStore<Ctx> + EventStore {
    /// The transaction around the runner's units.
    type Sink<P: Projection<Context = Ctx> + Sync>: Sink<P>;

    /// What the store keeps for the queries of one read model (a connection on its own
    /// thread for SQLite), from its start on.
    type Queries: Send + Sync + 'static;

    /// Opens what a runner of `P` writes through and what its queries read through.
    ///
    /// # Errors
    /// When a connection cannot be opened, or another runner holds the read model.
    fn read_model<P: Projection<Context = Ctx> + Sync>(
        &self,
    ) -> impl Future<Output = Result<(Self::Sink<P>, Self::Queries), StoreError>> + Send;

    /// Opens what a consumer of integration messages writes through: like
    /// [`read_model`](Self::read_model), but the members of a consumer group write side by
    /// side (the inbox keeps their messages apart), so nothing is held against the others.
    ///
    /// # Errors
    /// When a connection cannot be opened.
    fn inbox_model<P: Projection<Context = Ctx> + Sync>(
        &self,
    ) -> impl Future<Output = Result<Self::Sink<P>, StoreError>> + Send;

    /// A context for one query: a connection that sees what the runner committed.
    ///
    /// # Errors
    /// Without a connection.
    fn query_context(
        &self,
        queries: &Self::Queries,
    ) -> impl Future<Output = Result<Ctx, StoreError>> + Send;
}

impl<S: EventStore> SealedStore<()> for S {}

impl<S: EventStore> ReadModelStore<()> for S {
    type Sink<P: Projection<Context = ()> + Sync> = InMemory;
    type Queries = ();

    async fn read_model<P: Projection<Context = ()> + Sync>(
        &self,
    ) -> Result<(InMemory, ()), StoreError> {
        Ok((InMemory::default(), ()))
    }

    async fn inbox_model<P: Projection<Context = ()> + Sync>(
        &self,
    ) -> Result<InMemory, StoreError> {
        Ok(InMemory::default())
    }

    async fn query_context(&self, _queries: &()) -> Result<(), StoreError> {
        Ok(())
    }
}
