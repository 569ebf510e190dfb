//! The read side: the projection runner (catch-up, then live), its error policy, the
//! pipeline of effects around a handler, and the sinks that keep a read model (in memory,
//! or SQL tables committed with the checkpoint).

pub(crate) mod pipeline;
pub(crate) mod policy;
pub(crate) mod query;
pub(crate) mod runner;
pub(crate) mod running;
pub(crate) mod sink;
pub(crate) mod status;
mod task;

pub use self::pipeline::Pipeline;
pub use self::policy::{ErrorPolicy, OnFailure};
pub use self::query::QueryError;
pub use self::runner::ProjectionRunner;
pub use self::running::RunningProjection;
#[cfg(feature = "postgres")]
pub use self::sink::postgres::{PgConnection, PgReadModel};
#[cfg(feature = "sqlite")]
pub use self::sink::sqlite::{SqliteConnection, SqliteReadModel};
pub use self::sink::{InMemory, InboxSink, ReadModelStore, Sink, UnitEnd};
pub use self::status::{Progress, Replayed, RunState, RunnerError, WaitError};
