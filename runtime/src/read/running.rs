//! [`RunningProjection`]: the handle to a started projection, to query, watch, replay and
//! stop it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{RwLockReadGuard, mpsc, oneshot, watch};

use super::status::{Progress, Replayed, RunState, RunnerError, Shared, WaitError};
use super::task::Command;
use crate::model::projection::Projection;
use crate::store::DeadLetter;

/// A handle to a started projection: read its state, watch its progress, wait for a
/// position, list and replay dead letters, rebuild, stop. Clones share the runner; the runner
/// stops (storing its checkpoint) when the last handle is dropped.
pub struct RunningProjection<P> {
    shared: Arc<Shared<P>>,
    commands: mpsc::Sender<Command<P>>,
}

impl<P> RunningProjection<P> {
    /// The handle to a runner that shares `shared` and takes `commands`.
    pub(crate) fn new(shared: Arc<Shared<P>>, commands: mpsc::Sender<Command<P>>) -> Self {
        Self { shared, commands }
    }
}

impl<P: Projection> std::fmt::Debug for RunningProjection<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningProjection")
            .field("name", &P::NAME)
            .field("progress", &*self.shared.progress.borrow())
            .finish_non_exhaustive()
    }
}

impl<P> Clone for RunningProjection<P> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            commands: self.commands.clone(),
        }
    }
}

impl<P: Projection + Sync> RunningProjection<P> {
    /// The read model, locked for reading, between two units of handled events. Handlers
    /// wait while the guard lives: keep it short.
    pub async fn read(&self) -> RwLockReadGuard<'_, P> {
        self.shared.read().await
    }

    /// Where the runner is now.
    #[must_use]
    pub fn progress(&self) -> Progress {
        self.shared.progress.borrow().clone()
    }

    /// A receiver of the runner's progress, changed after every batch.
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<Progress> {
        self.shared.progress.subscribe()
    }

    /// Waits until every event up to global `position` has been handled: pass the position
    /// of a command's events to read your own writes.
    ///
    /// # Errors
    /// [`WaitError::Timeout`] when it takes longer than `timeout`; [`WaitError::Stopped`]
    /// when the runner stops first.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), WaitError> {
        let mut progress = self.shared.progress.subscribe();
        let reached = |p: &Progress| p.position >= position || p.state != RunState::Running;
        // The guard `wait_for` answers is dropped at once: holding it would block the runner.
        let waited = tokio::time::timeout(timeout, async {
            progress.wait_for(reached).await.map(drop)
        })
        .await;
        let now = self.progress();
        match waited {
            _ if now.position >= position => Ok(()),
            Ok(_) => Err(WaitError::Stopped {
                projection: P::NAME,
                wanted: position,
                reached: now.position,
            }),
            Err(_) => Err(WaitError::Timeout {
                projection: P::NAME,
                wanted: position,
                reached: now.position,
                waited: timeout,
            }),
        }
    }

    /// The events this projection has parked, in global order.
    ///
    /// # Errors
    /// From the store, or [`RunnerError::NotRunning`].
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, RunnerError> {
        self.ask(Command::DeadLetters).await?
    }

    /// Handles the parked events of `stream` again, in order (after a fix), releasing each
    /// one that succeeds; stops at the first that fails again.
    ///
    /// # Errors
    /// From the store, or [`RunnerError::NotRunning`].
    pub async fn replay_parked(&self, stream: &str) -> Result<Replayed, RunnerError> {
        let stream = stream.to_owned();
        self.ask(|reply| Command::Replay { stream, reply }).await?
    }

    /// Replaces the read model with `fresh` and handles the log again from the start.
    /// Parked events stay parked. A SQL read model keeps its tables: empty them first, or
    /// every event is applied to them again.
    ///
    /// # Errors
    /// From the store, or [`RunnerError::NotRunning`].
    pub async fn rebuild(&self, fresh: P) -> Result<(), RunnerError> {
        self.ask(|reply| Command::Rebuild { fresh, reply }).await?
    }

    /// Stops the runner after the event it is handling, storing its checkpoint when it
    /// resumes from one. Answers once the runner has ended and let go of its connection (and
    /// of a SQL read model's lock), so a runner started next takes over at once. Stopping a
    /// stopped runner does nothing.
    ///
    /// # Errors
    /// [`RunnerError::Failed`] when it had stopped on an error; the store's when storing the
    /// checkpoint fails.
    pub async fn stop(self) -> Result<(), RunnerError> {
        let stopped = self.ask(Command::Stop).await;
        match (stopped, self.progress().state) {
            (Ok(result), _) => result,
            (Err(_), RunState::Failed(error)) => Err(RunnerError::Failed(error)),
            (Err(_), _) => Ok(()),
        }
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command<P>,
    ) -> Result<T, RunnerError> {
        let (reply, answer) = oneshot::channel();
        let not_running = || RunnerError::NotRunning {
            projection: P::NAME,
        };
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| not_running())?;
        answer.await.map_err(|_| not_running())
    }
}
