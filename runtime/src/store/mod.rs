//! The store's capabilities, each a trait: [`EventLog`] (append, read, follow),
//! [`SnapshotStore`] and [`ConsumerStore`] (checkpoints, dead letters); [`EventStore`] is all
//! of them, what every backend implements and what the `App` and the runners need.
//! [`SagaStore`] (saga state, commands to send, deadlines) is what the saga runner needs
//! besides.
//! Backends: [`InMemoryStore`], SQLite and PostgreSQL behind their features, and
//! [`AnyStore`] for whichever a URL names.

mod any;
mod checks;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
mod consumers;
mod dead_letter;
mod error;
mod head;
mod log;
mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod request;
mod retention;
mod sagas;
mod snapshots;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
mod stream_lock;
mod subscription;

pub use self::any::AnyStore;
pub(crate) use self::checks::{
    check_append, check_consumer, check_key, check_letter, check_names, check_stream,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use self::checks::{check_saga, check_saga_commit, check_text};
pub use self::consumers::ConsumerStore;
pub use self::dead_letter::DeadLetter;
pub use self::error::{BoxError, StoreError};
pub use self::log::EventLog;
pub use self::memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use self::postgres::{PgOptions, PgStore};
pub use self::request::{Append, AppendOutcome, Appended, ExpectedVersion, FilteredRead, Page};
pub(crate) use self::request::{admit, page};
pub use self::retention::DEFAULT_IDEMPOTENCY_RETENTION;
pub(crate) use self::retention::Pruning;
pub use self::sagas::{
    InstanceWrite, PendingCommand, SagaCommit, SagaInstance, SagaStore, StoredDeadline,
};
pub use self::snapshots::{Snapshot, SnapshotStore};
#[cfg(feature = "sqlite")]
pub use self::sqlite::{Durability, SqliteOptions, SqliteStore};
pub use self::stream_lock::StreamTurn;
pub(crate) use self::stream_lock::StreamTurns;
pub use self::subscription::Subscription;

/// Everything a store does: the [`EventLog`], [`SnapshotStore`] and [`ConsumerStore`]
/// capabilities together, what the `App` and the projection runners need. Implemented for
/// every type that has the three; a backend implements those.
///
/// The capabilities are traits of their own so that a new one (saga state, an outbox,
/// leases) lands as one more trait, and code that needs only the log asks only for it.
pub trait EventStore: EventLog + SnapshotStore + ConsumerStore {}

impl<S: EventLog + SnapshotStore + ConsumerStore> EventStore for S {}
