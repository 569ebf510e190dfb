//! # eventsmith
//!
//! Event sourcing and CQRS for Rust, with the wiring declared on the domain types and
//! checked by the compiler.
//!
//! - [`Event`]s are plain serde types with `#[derive(Event)]`: a stored name and a version.
//! - [`Command`]s are plain structs with `#[derive(Command)]` and their target id marked.
//! - `#[aggregate]` on an impl block turns `#[apply]` methods into the aggregate's event
//!   dispatch (a `match`) and `#[handle]` methods into the route of each command to its one
//!   aggregate, so an event without `#[apply]`, a command handled twice or a command nobody
//!   handles is a compile error.
//! - `#[projection]` on an impl block turns `#[on]` handlers into a [`Projection`]: the
//!   stored names it needs and the routing, a `match` on the name; its `#[query]` methods
//!   answer [`App::query`], routed by the query's type.
//! - [`ProjectionRunner`] feeds a projection from the store's global log, catch-up then live,
//!   with an [`ErrorPolicy`] and dead letters; SQL read models on SQLite commit their writes
//!   with the checkpoint ([`ProjectionRunner::sqlite`]).
//! - [`App`] executes commands against an [`EventStore`]: it loads (or takes from its cache)
//!   the aggregate, runs the handler, appends with optimistic concurrency, and retries the
//!   decision on a conflict.
//! - [`upcast`]: events stored at older versions are read through upcasters whose chain the
//!   compiler checks.
//! - [`testing::AggregateTest`] tests aggregates given/when/then, with no store.
//!
//! See the README for a walk-through.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod aggregate;
mod app;
mod backoff;
mod cache;
mod codec;
mod command;
mod envelope;
mod error;
mod event;
mod execute;
mod panic;
mod projection;
mod query;
mod registry;
mod shape;
mod store;
pub mod testing;
pub mod upcast;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use eventsmith_macros::{Command, Event, aggregate, apply, handle, on, projection, query};

pub use crate::aggregate::Aggregate;
pub use crate::app::{App, AppBuilder, ExecuteResult, QueryRequest};
pub use crate::backoff::{Backoff, Growth};
pub use crate::codec::{Codec, CodecError, JsonCodec};
pub use crate::command::{AggregateId, Command, Decision, HandledCommand, IdempotencyKey};
pub use crate::envelope::{CommandContext, Metadata, NewEvent, RecordedEvent, Timestamp};
pub use crate::error::{CommandError, DecodeError};
pub use crate::event::{DecodeFailure, Event, EventSet, HandlerOutput, IntoEvents};
pub use crate::execute::{Executed, LoadError};
pub use crate::projection::{
    ErrorPolicy, HandledEvent, HandlerError, OnFailure, OnOutput, Pipeline, Progress, Projection,
    ProjectionError, ProjectionRunner, Replayed, RunState, RunnerError, RunningProjection,
    WaitError, stored_names,
};
#[doc(hidden)]
pub use crate::projection::{InMemory, Sink, UnitEnd};
pub use crate::query::{HandledQuery, QueryError};
pub use crate::registry::{
    AggregateRegistration, EventRegistration, OldVersion, ProjectionRegistration, Registry,
    RegistryBuilder, RegistryError, ShapeFn,
};
pub use crate::shape::ShapeError;
pub use crate::store::{
    AppendOutcome, Appended, BoxError, DeadLetter, EventStore, ExpectedVersion, InMemoryStore,
    Page, Snapshot, StoreError, StreamTurn, Subscription,
};
#[cfg(feature = "sqlite")]
pub use crate::store::{Durability, SqliteOptions, SqliteReadModel, SqliteStore};
#[cfg(feature = "postgres")]
pub use crate::store::{PgConnection, PgOptions, PgReadModel, PgStore};
/// Re-exported so that SQL read models name the same `rusqlite` as the store.
#[cfg(feature = "sqlite")]
pub use rusqlite;
/// Re-exported so that SQL read models name the same `tokio_postgres` as the store.
#[cfg(feature = "postgres")]
pub use tokio_postgres;

/// Re-exported so that users can name ids without depending on `uuid` themselves.
pub use uuid::Uuid;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
