//! [`SagaStore`]: what sagas (process managers) keep in the store: each saga's position in
//! the log, its instances' state and association keys, the commands they decided and have
//! not sent yet, and their pending deadlines. Everything one step of a saga does commits in
//! one [`SagaCommit`], so a crash at any point neither loses nor repeats a decision.
//!
//! A commit is fenced: it states the saga position it moves from and each instance's version
//! it read, and fails with [`StoreError::Superseded`] when another runner (in this process or
//! another) committed first, so several processes may run one saga safely.

use std::future::Future;

use super::StoreError;
use crate::model::envelope::Timestamp;

/// One saga instance as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaInstance {
    /// The instance's id, unique within its saga.
    pub id: String,
    /// The encoded state.
    pub state: Vec<u8>,
    /// Counts the instance's commits, from 1: a commit states the version it read.
    pub version: u64,
}

/// A command a saga decided, kept until it is sent and its outcome handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommand {
    /// Unique within the saga, and the command's idempotency key: derived from the saga, the
    /// instance, what it handled and the command's index, so a resend is recognised.
    pub id: String,
    /// The instance that decided it.
    pub instance: String,
    /// The command's name.
    pub name: String,
    /// The encoded command.
    pub payload: Vec<u8>,
}

/// A deadline a saga instance set, kept until it fires or is cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadline {
    /// Unique within the saga.
    pub id: String,
    /// The instance it belongs to.
    pub instance: String,
    /// The deadline's name (what `#[deadline]` handler takes it; what cancelling names).
    pub name: String,
    /// The encoded deadline value.
    pub payload: Vec<u8>,
    /// When it is due.
    pub due: Timestamp,
}

/// A change to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceWrite {
    /// The instance's id.
    pub id: String,
    /// The version read (`None` for a new instance): the commit fails when it moved on.
    pub read_version: Option<u64>,
    /// The new state, or `None` when the instance ended: its state, associations and
    /// deadlines are removed.
    pub state: Option<Vec<u8>>,
    /// Association keys to add. A key already associated with another live instance of the
    /// saga makes the commit fail as [`StoreError::Invalid`].
    pub associate: Vec<String>,
}

impl InstanceWrite {
    /// A write of `id`'s new `state`, read at `read_version` (`None`: a new instance).
    #[must_use]
    pub fn new(id: impl Into<String>, read_version: Option<u64>, state: Option<Vec<u8>>) -> Self {
        Self {
            id: id.into(),
            read_version,
            state,
            associate: Vec::new(),
        }
    }

    /// Also associates `keys` with the instance.
    #[must_use]
    pub fn associate(mut self, keys: Vec<String>) -> Self {
        self.associate = keys;
        self
    }
}

/// Everything one step of a saga does, committed at once: handling an event (which moves the
/// saga's position), firing a deadline, or handling a sent command's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SagaCommit {
    /// The saga's name.
    pub saga: String,
    /// For an event: the position read and the event's; the commit fails when the stored
    /// position is not the one read.
    pub position: Option<(u64, u64)>,
    /// The instance the step changed, if any.
    pub instance: Option<InstanceWrite>,
    /// Commands to send.
    pub commands: Vec<PendingCommand>,
    /// Deadlines to set.
    pub schedule: Vec<StoredDeadline>,
    /// Deadlines to cancel: every pending one of the instance with the name.
    pub cancel: Vec<(String, String)>,
    /// The deadline this step fired: removed; the commit fails when it is gone.
    pub fired: Option<String>,
    /// The sent command whose outcome this step handled: removed.
    pub sent: Option<String>,
}

impl SagaCommit {
    /// A commit of `saga` that changes nothing yet.
    #[must_use]
    pub fn new(saga: impl Into<String>) -> Self {
        Self {
            saga: saga.into(),
            position: None,
            instance: None,
            commands: Vec::new(),
            schedule: Vec::new(),
            cancel: Vec::new(),
            fired: None,
            sent: None,
        }
    }
}

/// Saga state, commands to send and deadlines, per saga name. Implemented by the memory,
/// SQLite and PostgreSQL stores; the saga runner needs it beside the [`EventStore`](super::EventStore).
pub trait SagaStore: Send + Sync + 'static {
    /// The saga's position: every event up to it is handled (0 before the first).
    ///
    /// # Errors
    /// From the backend.
    fn saga_position(&self, saga: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The live instance associated with `key`, if any.
    ///
    /// # Errors
    /// From the backend.
    fn find_instance(
        &self,
        saga: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<SagaInstance>, StoreError>> + Send;

    /// The live instance `id`, if any.
    ///
    /// # Errors
    /// From the backend.
    fn load_instance(
        &self,
        saga: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<SagaInstance>, StoreError>> + Send;

    /// Commits one step, all of it or nothing.
    ///
    /// # Errors
    /// [`StoreError::Superseded`] when the position, the instance's version or the fired
    /// deadline is not what the step read (another runner committed first);
    /// [`StoreError::Invalid`] when a key is associated with another instance; the backend's.
    fn commit_saga(
        &self,
        commit: SagaCommit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Commands decided and not yet handled as sent, oldest first.
    ///
    /// # Errors
    /// From the backend.
    fn pending_commands(
        &self,
        saga: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingCommand>, StoreError>> + Send;

    /// Deadlines due at `now`, earliest first.
    ///
    /// # Errors
    /// From the backend.
    fn due_deadlines(
        &self,
        saga: &str,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredDeadline>, StoreError>> + Send;

    /// When the earliest pending deadline is due, if there is one.
    ///
    /// # Errors
    /// From the backend.
    fn next_deadline(
        &self,
        saga: &str,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send;
}
