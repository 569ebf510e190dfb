//! What a runner and its handles share: its progress and state, its errors, and the read
//! model behind a lock.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, watch};

use super::policy::ErrorPolicy;
use crate::model::projection::ProjectionError;
use crate::store::StoreError;

/// The runner's tuning, shared with its task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) batch: usize,
    pub(crate) policy: ErrorPolicy,
    pub(crate) resume: bool,
    pub(crate) checkpoint_every: Duration,
}

/// Where a runner is.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Every event up to this global position has been handled (or parked or skipped by the
    /// error policy).
    pub position: u64,
    /// The store's head when the runner last looked.
    pub head: u64,
    /// Whether it runs.
    pub state: RunState,
}

impl Progress {
    /// How many positions the runner is behind the head it last saw: zero when caught up.
    /// Positions may have gaps (on PostgreSQL they are sparse), so this is a distance, not
    /// a count of events.
    #[must_use]
    pub fn lag(&self) -> u64 {
        self.head.saturating_sub(self.position)
    }

    /// Whether the runner still runs.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.state == RunState::Running
    }
}

/// Whether a runner runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RunState {
    /// It handles events, or waits for them.
    Running,
    /// It was stopped, or every handle to it was dropped.
    Stopped,
    /// It stopped on an error.
    Failed(Arc<RunnerError>),
}

impl PartialEq for RunState {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Running, Self::Running) | (Self::Stopped, Self::Stopped) => true,
            (Self::Failed(a), Self::Failed(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A runner failed or cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// A handler failed every attempt and the policy said stop.
    #[error("{cause} (after {attempts} attempt(s); the runner stopped before this event)")]
    Handler {
        /// Which event and why.
        cause: ProjectionError,
        /// How many times it was tried.
        attempts: u32,
    },
    /// The store failed in a way retrying does not fix.
    #[error("projection `{projection}`: {cause}")]
    Store {
        /// The projection's name.
        projection: &'static str,
        /// The store's error.
        cause: StoreError,
    },
    /// A projection of this type already runs in the application.
    #[error("projection `{projection}` is already running in this application")]
    AlreadyStarted {
        /// The projection's name.
        projection: &'static str,
    },
    /// The runner had stopped on this error.
    #[error("the runner had stopped: {0}")]
    Failed(Arc<RunnerError>),
    /// The runner is not running any more.
    #[error("projection `{projection}` is not running")]
    NotRunning {
        /// The projection's name.
        projection: &'static str,
    },
}

/// Waiting for a projection to reach a position did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The position was not reached in time.
    #[error(
        "projection `{projection}` did not reach position {wanted} within {waited:?} (it is at {reached})"
    )]
    Timeout {
        /// The projection's name.
        projection: &'static str,
        /// The position waited for.
        wanted: u64,
        /// Where the projection was when the wait ended.
        reached: u64,
        /// How long it waited.
        waited: Duration,
    },
    /// The runner stopped before reaching the position.
    #[error("projection `{projection}` stopped at position {reached}, before {wanted}")]
    Stopped {
        /// The projection's name.
        projection: &'static str,
        /// The position waited for.
        wanted: u64,
        /// Where it stopped.
        reached: u64,
    },
}

/// What replaying parked events did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// How many parked events were handled and released, in order.
    pub handled: usize,
    /// How many stay parked (after a failure, the failed one and those behind it).
    pub still_parked: usize,
    /// The error of the event that failed again, if one did.
    pub failure: Option<String>,
}

/// The state and progress a runner shares with its handles.
#[derive(Debug)]
pub(crate) struct Shared<P> {
    state: RwLock<P>,
    pub(crate) progress: watch::Sender<Progress>,
}

impl<P> Shared<P> {
    /// The read model and the runner's first progress.
    pub(crate) fn new(projection: P, progress: Progress) -> Self {
        Self {
            state: RwLock::new(projection),
            progress: watch::Sender::new(progress),
        }
    }

    /// The read model, for reading, once the unit of events being handled is through. An
    /// async lock: the handlers of a SQL read model hold it across their statements.
    pub(crate) async fn read(&self) -> RwLockReadGuard<'_, P> {
        self.state.read().await
    }

    /// The read model, for the runner's handlers.
    pub(crate) async fn write(&self) -> RwLockWriteGuard<'_, P> {
        self.state.write().await
    }
}
