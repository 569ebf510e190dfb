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
//!   with an [`ErrorPolicy`](projection::ErrorPolicy) and dead letters; SQL read models on SQLite commit their writes
//!   with the checkpoint (`ProjectionRunner::sqlite`).
//! - [`App`] executes commands against an [`EventStore`]: it loads (or takes from its cache)
//!   the aggregate, runs the handler, appends with optimistic concurrency, and retries the
//!   decision on a conflict.
//! - [`upcast`]: events stored at older versions are read through upcasters whose chain the
//!   compiler checks.
//! - [`testing::AggregateTest`] tests aggregates given/when/then, with no store.
//!
//! # Guides
//!
//! The README has the quick start; [`guide`] has one page per subject, each with examples
//! that run as doc tests:
//!
//! | guide | about |
//! | --- | --- |
//! | [`guide::aggregates`] | events, commands, aggregates, handlers' return types, metadata, snapshots, what the compiler checks |
//! | [`guide::command_pipeline`] | validation, middleware around every command: authorization, enrichment, rate limits, logging |
//! | [`guide::evolving_events`] | versions, upcasters, renamed and unknown events, the schema lock |
//! | [`guide::projections`] | read models, queries, the runner, error policies, pipelines, SQL read models |
//! | [`guide::integration`] | integration events: publications, the relay (the log as outbox), NATS JetStream, consumers with an inbox |
//! | [`guide::sagas`] | process managers: association keys, commands sent once, durable deadlines, compensation |
//! | [`guide::stores`] | capabilities, backends and their guarantees |
//! | [`guide::several_processes`] | many applications and processes on one store |
//! | [`guide::failures`] | what happens when something fails |
//! | [`guide::testing`] | given/when/then tests, the schema lock, the conformance suite |
//! | [`guide::layout`] | the repository, the generated code's paths, the benchmarks |
//!
//! # Names
//!
//! The crate root holds the everyday names (the traits a domain implements, [`App`], the
//! stores, [`ProjectionRunner`], the errors most code matches on) and [`prelude`] the traits
//! and macros to bring into scope; the rest lives in the modules of what it is about:
//! [`store`] (capabilities, requests, backends' options), [`event`], [`command`],
//! [`projection`](mod@projection) (and queries), [`codec`], [`registry`], [`upcast`] and [`testing`].
//!
//! # Where things live
//!
//! The source is grouped by boundary; each folder imports only from the folders above it in
//! this table (a test reads the source and fails on an import against the grain).
//!
//! | behaviour | module |
//! | --- | --- |
//! | backoff and the one retry loop, panic capture | `util/` |
//! | the codec, upcasting of older event versions ([`upcast`]), serialized shapes | `wire/` |
//! | what the macros implement, no I/O: events, commands, aggregates, projections, queries, the envelope, the registry | `model/` |
//! | the [`EventStore`] trait and its backends: memory, SQLite, PostgreSQL; turns of contended streams | `store/` |
//! | the projection runner, its error policy and pipeline, read-model sinks (in memory, SQL) | `read/` |
//! | [`App`]: command execution, the aggregate cache, idempotency, queries | `write/` |
//! | sagas: the runner, steps, deadlines and their clock ([`process`]) | `process/` |
//! | given/when/then tests, the schema lock | [`testing`] |
//! | what generated code calls | `__private` (not public API) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(docsrs, doc(auto_cfg))]

pub mod guide;
mod model;
pub mod outbox;
pub mod process;
mod read;
pub mod store;
pub mod testing;
mod util;
mod wire;
mod write;

pub use crate::wire::upcast;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

// The everyday names: what a domain, an application and its store are made of.
pub use eventsmith_macros::{
    Command, Event, aggregate, apply, handle, on, projection, publication, publish, query, saga,
};

pub use crate::model::aggregate::Aggregate;
pub use crate::model::command::Command;
pub use crate::model::envelope::{CommandContext, RecordedEvent};
pub use crate::model::event::Event;
pub use crate::model::projection::Projection;
pub use crate::read::ProjectionRunner;
#[cfg(feature = "postgres")]
pub use crate::store::PgStore;
#[cfg(feature = "sqlite")]
pub use crate::store::SqliteStore;
pub use crate::store::{AnyStore, EventStore, InMemoryStore, StoreError};
pub use crate::write::app::App;
pub use crate::write::error::CommandError;

/// The traits and macros most code needs in scope, the store capabilities among them (their
/// methods are called on a concrete store: `store.append(..)` needs [`EventLog`](store::EventLog)).
///
/// ```
/// use eventsmith::prelude::*;
///
/// # async fn run() -> Result<(), eventsmith::StoreError> {
/// let store = eventsmith::InMemoryStore::new();
/// assert_eq!(store.current_head().await?, 0);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
pub mod prelude {
    pub use eventsmith_macros::{
        Command, Event, aggregate, apply, handle, on, projection, publication, publish, query, saga,
    };

    pub use crate::model::aggregate::Aggregate;
    pub use crate::model::command::Command;
    pub use crate::model::envelope::{CommandContext, RecordedEvent};
    pub use crate::model::event::Event;
    pub use crate::model::projection::Projection;
    pub use crate::process::Saga;
    pub use crate::store::{ConsumerStore, EventLog, EventStore, SagaStore, SnapshotStore};
    pub use crate::write::app::App;
}

/// Commands and their execution: ids, decisions, idempotency keys, what `App::execute`
/// answers, and the builder of an [`App`].
pub mod command {
    pub use crate::model::command::{AggregateId, Decision, HandledCommand, IdempotencyKey};
    pub use crate::util::backoff::{Backoff, Growth};
    pub use crate::write::app::{AppBuilder, QueryRequest};
    pub use crate::write::error::CommandError;
    pub use crate::write::execute::ExecuteResult;
    pub use crate::write::execute::{Executed, LoadError};
    pub use crate::write::middleware::{
        Authorize, CommandInfo, CommandMiddleware, Enrich, Logging, Refusal, RefusalKind, Report,
    };
    #[cfg(feature = "rate-limit")]
    pub use crate::write::middleware::{RateKey, RateLimit};
}

/// Events: what a handler returns, the envelope of a stored event, and decoding failures.
pub mod event {
    pub use crate::model::envelope::{Metadata, NewEvent, RecordedEvent, Timestamp};
    pub use crate::model::error::DecodeError;
    pub use crate::model::event::{DecodeFailure, Event, EventSet, HandlerOutput, IntoEvents};
}

/// Codecs: how event payloads and snapshots are serialized (JSON by default), and the JSON
/// Schema of a type as the JSON codec writes it.
pub mod codec {
    pub use crate::wire::codec::{Codec, CodecError, JsonCodec};
    pub use crate::wire::json_schema::{JsonSchemaFn, json_schema_of};
}

/// Projections and queries: the runner and its handle, the error policy, the pipeline,
/// errors, and the SQL read-model sinks.
pub mod projection {
    pub use crate::model::projection::{
        HandledEvent, HandlerError, OnOutput, Projection, ProjectionError, stored_names,
    };
    pub use crate::model::query::HandledQuery;
    pub use crate::read::{
        ErrorPolicy, OnFailure, Pipeline, Progress, ProjectionRunner, QueryError, ReadModelStore,
        Replayed, RunState, RunnerError, RunningProjection, WaitError,
    };
    pub use crate::read::{InMemory, InboxSink, Sink, UnitEnd};
    #[cfg(feature = "postgres")]
    pub use crate::read::{PgConnection, PgReadModel};
    #[cfg(feature = "sqlite")]
    pub use crate::read::{SqliteConnection, SqliteReadModel};
}

/// The registry of the events, aggregates, projections and publications a program contains
/// (collected at link time), with their stored names and serialized shapes.
pub mod registry {
    pub use crate::model::registry::{
        AggregateRegistration, EventRegistration, ProjectionRegistration, PublicationRegistration,
        Registry, RegistryBuilder, RegistryError,
    };
    pub use crate::wire::shape::{OldVersion, ShapeError, ShapeFn};
}

/// Re-exported so that SQL read models name the same `rusqlite` as the store: the store takes
/// any rusqlite from 0.32 to 0.40, whichever matches the `libsqlite3-sys` of the application's
/// other SQLite crates (sqlx, diesel), so a read model that names this one builds with each.
#[cfg(feature = "sqlite")]
pub use rusqlite;
/// Re-exported so that TLS settings ([`PgOptions::tls_config`](store::PgOptions::tls_config),
/// [`PgOptions::tls_root_certificates`](store::PgOptions::tls_root_certificates)) name the same `rustls` as the store.
#[cfg(feature = "tls")]
pub use rustls;
/// Re-exported so that SQL read models name the same `tokio_postgres` as the store.
#[cfg(feature = "postgres")]
pub use tokio_postgres;

/// Re-exported so that users can name ids without depending on `uuid` themselves.
pub use uuid::Uuid;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
