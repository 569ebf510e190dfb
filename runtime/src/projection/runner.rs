//! [`ProjectionRunner`]: feeds a projection from the store's global log, catch-up then live,
//! and [`RunningProjection`], the handle to query, watch, replay and stop it.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::pipeline::Pipeline;
use super::policy::ErrorPolicy;
use super::sink::{InMemory, Sink};
use super::task::{Command, Task, Wiring};
use super::{Projection, ProjectionError};
use crate::codec::{Codec, JsonCodec};
use crate::store::{DeadLetter, EventStore, StoreError};

/// Configures and starts a projection over a store.
///
/// The runner reads only the events the projection handles (the store filters by name),
/// in batches, in global order; once caught up it waits for appends and handles them as
/// they come. Its position (every event up to it handled) is published for
/// [`RunningProjection::wait_for`] and [`RunningProjection::progress`].
///
/// An in-memory read model is rebuilt from the start of the log each time it starts (the
/// default). A read model kept outside the process calls
/// [`resume_from_checkpoint`](Self::resume_from_checkpoint): the runner then stores its
/// checkpoint in the event store (every [`checkpoint_every`](Self::checkpoint_every) and when
/// it stops) and resumes from it: at-least-once, so its handlers must be idempotent. A SQL
/// read model in the store's database gets exactly-once effects instead, from
/// `ProjectionRunner::sqlite` or `ProjectionRunner::postgres`: its writes commit with the
/// checkpoint.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use eventsmith::{Event, EventStore, ExpectedVersion, InMemoryStore, JsonCodec, Codec};
/// use eventsmith::{NewEvent, ProjectionRunner, projection};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct Pinged { n: u32 }
///
/// #[derive(Default)]
/// struct Pings { total: u32 }
///
/// #[projection(name = "pings")]
/// impl Pings {
///     #[on]
///     fn pinged(&mut self, event: &Pinged) {
///         self.total += event.n;
///     }
/// }
///
/// let store = InMemoryStore::new();
/// let running = ProjectionRunner::new(store.clone(), Pings::default()).start().await?;
/// let payload = JsonCodec.encode(&Pinged { n: 2 })?;
/// let appended = store
///     .append("ping-1", ExpectedVersion::Any, vec![NewEvent::new("Pinged", 1, payload, Default::default())], None)
///     .await?;
/// # let eventsmith::AppendOutcome::Appended(appended) = appended else { unreachable!() };
/// running.wait_for(appended.position.unwrap(), Duration::from_secs(5)).await?;
/// assert_eq!(running.read().total, 2);
/// running.stop().await?;
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use]
pub struct ProjectionRunner<S, P, C = JsonCodec, K = InMemory, M = ()> {
    store: S,
    projection: P,
    codec: C,
    sink: K,
    pipeline: M,
    settings: Settings,
}

/// The runner's tuning, shared with its task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) batch: usize,
    pub(crate) policy: ErrorPolicy,
    pub(crate) resume: bool,
    pub(crate) checkpoint_every: Duration,
}

impl<S: EventStore, P: Projection<Context = ()> + Sync> ProjectionRunner<S, P> {
    /// A runner of `projection`, a read model in memory, over `store`, with the JSON codec.
    pub fn new(store: S, projection: P) -> Self {
        Self::with_sink(store, projection, InMemory::default())
    }
}

impl<S: EventStore, P: Projection + Sync, K: Sink<P>> ProjectionRunner<S, P, JsonCodec, K> {
    /// A runner whose units end in `sink` (a transactional one resumes from its checkpoint).
    pub(crate) fn with_sink(store: S, projection: P, sink: K) -> Self {
        Self {
            store,
            projection,
            codec: JsonCodec,
            sink,
            pipeline: (),
            settings: Settings {
                batch: 512,
                policy: ErrorPolicy::default(),
                resume: K::TRANSACTIONAL,
                checkpoint_every: Duration::from_secs(1),
            },
        }
    }
}

impl<S: EventStore, P: Projection + Sync, C: Codec, K: Sink<P>, M: Pipeline>
    ProjectionRunner<S, P, C, K, M>
{
    /// Decodes payloads with another codec.
    pub fn codec<C2: Codec>(self, codec: C2) -> ProjectionRunner<S, P, C2, K, M> {
        ProjectionRunner {
            store: self.store,
            projection: self.projection,
            codec,
            sink: self.sink,
            pipeline: self.pipeline,
            settings: self.settings,
        }
    }

    /// Runs every handler call through `pipeline` (filters, transformers, middleware).
    pub fn pipeline<M2: Pipeline>(self, pipeline: M2) -> ProjectionRunner<S, P, C, K, M2> {
        ProjectionRunner {
            store: self.store,
            projection: self.projection,
            codec: self.codec,
            sink: self.sink,
            pipeline,
            settings: self.settings,
        }
    }

    /// The most events read per round trip (default 512).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.settings.batch = events.max(1);
        self
    }

    /// What to do when a handler fails (default [`ErrorPolicy::default`]: retry, then stop).
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.settings.policy = policy;
        self
    }

    /// Starts from the checkpoint stored under the projection's name, and stores it as the
    /// runner goes, for a read model that outlives the process.
    pub fn resume_from_checkpoint(mut self) -> Self {
        self.settings.resume = true;
        self
    }

    /// How often a resuming runner stores its checkpoint while events flow (default 1 s);
    /// it also stores it when it stops. A crash replays at most this much.
    pub fn checkpoint_every(mut self, interval: Duration) -> Self {
        self.settings.checkpoint_every = interval;
        self
    }

    /// Loads the checkpoint (when resuming) and the parked streams, and starts the runner on
    /// the current tokio runtime.
    ///
    /// # Errors
    /// From the store.
    pub async fn start(self) -> Result<RunningProjection<P>, StoreError> {
        let position = if self.settings.resume {
            self.store.load_checkpoint(P::NAME).await?.unwrap_or(0)
        } else {
            0
        };
        let letters = self.store.dead_letters(P::NAME).await?;
        let head = self.store.current_head().await?;
        let shared = Arc::new(Shared {
            state: RwLock::new(self.projection),
            progress: watch::Sender::new(Progress {
                position,
                head,
                state: RunState::Running,
            }),
        });
        let (commands, receiver) = mpsc::channel(8);
        let wiring = Wiring {
            store: self.store,
            codec: self.codec,
            sink: self.sink,
            pipeline: self.pipeline,
            settings: self.settings,
        };
        let task = Task::new(wiring, Arc::clone(&shared), receiver, position, &letters);
        tokio::spawn(task.run());
        Ok(RunningProjection { shared, commands })
    }
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
    #[error("{source} (after {attempts} attempt(s); the runner stopped before this event)")]
    Handler {
        /// Which event and why.
        #[source]
        source: ProjectionError,
        /// How many times it was tried.
        attempts: u32,
    },
    /// The store failed in a way retrying does not fix.
    #[error("projection `{projection}`: {source}")]
    Store {
        /// The projection's name.
        projection: &'static str,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A projection of this type already runs in the application.
    #[error("projection `{projection}` is already running in this application")]
    AlreadyStarted {
        /// The projection's name.
        projection: &'static str,
    },
    /// The runner had stopped on this error.
    #[error("the runner had stopped: {0}")]
    Failed(#[source] Arc<RunnerError>),
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
    /// The read model, for reading. A panic in a handler is caught before it unwinds through
    /// a guard, so a poisoned lock only means a panic elsewhere; the state is still whole.
    fn read(&self) -> RwLockReadGuard<'_, P> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The read model, for the runner's handlers.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, P> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle to a started projection: read its state, watch its progress, wait for a
/// position, list and replay dead letters, rebuild, stop. Clones share the runner; the runner
/// stops (storing its checkpoint) when the last handle is dropped.
pub struct RunningProjection<P> {
    shared: Arc<Shared<P>>,
    commands: mpsc::Sender<Command<P>>,
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
    /// The read model, locked for reading. Handlers wait while the guard lives: keep it
    /// short, and never hold it across an `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, P> {
        self.shared.read()
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
    /// resumes from one. Stopping a stopped runner does nothing.
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
