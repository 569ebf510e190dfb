//! [`ProjectionRunner`]: configures a projection's runner and starts it over a store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::pipeline::Pipeline;
use super::policy::ErrorPolicy;
use super::running::RunningProjection;
use super::sink::{InMemory, Sink};
use super::status::{Progress, RunState, Settings, Shared};
use super::task::{Task, Wiring};
use crate::model::projection::Projection;
use crate::store::{EventStore, StoreError};
use crate::wire::codec::{Codec, JsonCodec};

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
/// use eventsmith::{Event, InMemoryStore};
/// use eventsmith::codec::{Codec, JsonCodec};
/// use eventsmith::store::{Append, EventLog, ExpectedVersion};
/// use eventsmith::{ProjectionRunner, projection};
/// use eventsmith::event::NewEvent;
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
///     .append(Append::new("ping-1", ExpectedVersion::Any, vec![NewEvent::new("Pinged", 1, payload, Default::default())]))
///     .await?;
/// # let eventsmith::store::AppendOutcome::Appended(appended) = appended else { unreachable!() };
/// running.wait_for(appended.position.unwrap(), Duration::from_secs(5)).await?;
/// assert_eq!(running.read().await.total, 2);
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
        let shared = Arc::new(Shared::new(
            self.projection,
            Progress {
                position,
                head,
                state: RunState::Running,
            },
        ));
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
        Ok(RunningProjection::new(shared, commands))
    }
}
