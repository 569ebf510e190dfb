//! What a saga runner and its handles share: its tuning, progress and errors.

use std::sync::Arc;
use std::time::Duration;

use crate::read::ErrorPolicy;
use crate::store::StoreError;

/// The runner's tuning, shared with its task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) batch: usize,
    pub(crate) policy: ErrorPolicy,
    /// How often the runner looks for commands and deadlines of other processes.
    pub(crate) poll: Duration,
}

/// Where a saga runner is, and what it did since it started.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SagaProgress {
    /// Every event up to this global position is handled (or ignored).
    pub position: u64,
    /// The store's head when the runner last looked.
    pub head: u64,
    /// Instances started.
    pub started: u64,
    /// Instances ended.
    pub ended: u64,
    /// Events for no instance (or a start for a key that has one): ignored.
    pub ignored: u64,
    /// Commands sent (and handled as sent).
    pub sent: u64,
    /// Commands rejected, with or without a `#[rejected]` handler.
    pub rejected: u64,
    /// Deadlines fired.
    pub fired: u64,
    /// Steps decided again because another runner committed first.
    pub superseded: u64,
    /// Whether it runs.
    pub state: SagaState,
}

/// Whether a saga runner runs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum SagaState {
    /// It handles events, commands and deadlines, or waits for them.
    #[default]
    Running,
    /// It was stopped, or every handle to it was dropped.
    Stopped,
    /// It stopped on an error.
    Failed(Arc<SagaError>),
}

impl PartialEq for SagaState {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Running, Self::Running) | (Self::Stopped, Self::Stopped) => true,
            (Self::Failed(a), Self::Failed(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A saga runner failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SagaError {
    /// A handler failed on an event every attempt and the policy said stop.
    #[error(
        "saga `{saga}` failed on `{event_type}` (stream `{stream}`, global position {position}) after {attempts} attempt(s): {cause}"
    )]
    Handler {
        /// The saga's name.
        saga: &'static str,
        /// The stored event name.
        event_type: String,
        /// The event's stream.
        stream: String,
        /// The event's global position.
        position: u64,
        /// How many times it was tried.
        attempts: u32,
        /// What went wrong.
        cause: String,
    },
    /// The store failed in a way retrying does not fix.
    #[error("saga `{saga}`: {cause}")]
    Store {
        /// The saga's name.
        saga: &'static str,
        /// The store's error.
        cause: StoreError,
    },
    /// The runner is not running any more.
    #[error("saga `{saga}` is not running")]
    NotRunning {
        /// The saga's name.
        saga: &'static str,
    },
}

/// A store error of saga `G`.
pub(super) fn store_error<G: super::saga::Saga>(cause: StoreError) -> SagaError {
    SagaError::Store {
        saga: G::NAME,
        cause,
    }
}
