//! [`Relay`]: the processor that publishes a [`Publication`]'s messages. The event log is the
//! outbox: the relay reads it from its checkpoint, publishes the messages of a batch of
//! events, waits for the broker to hold them, and only then moves its checkpoint. A relay
//! killed between the two publishes the batch again with the same message ids, which the
//! broker (within its window) and the consumer's inbox (for ever) recognise.

mod task;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::model::error::DecodeError;
use crate::outbox::publication::{Publication, PublishError};
use crate::outbox::transport::{Transport, TransportError};
use crate::store::{EventStore, StoreError};
use crate::util::backoff::Backoff;
use crate::wire::codec::{Codec, JsonCodec};

use self::task::RelayTask;

/// Configures and starts the relay of publication `P` from store `S` to transport `T`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use eventsmith::{Event, InMemoryStore, publication};
/// use eventsmith::outbox::{MemoryTransport, Relay};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(name = "user_joined")]
/// struct UserJoined { user: String }
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(name = "users.joined")]
/// struct Joined { user: String }
///
/// struct Users;
///
/// #[publication(name = "users.public")]
/// impl Users {
///     #[publish(subject = "users.joined")]
///     fn joined(&self, event: &UserJoined) -> Joined {
///         Joined { user: event.user.clone() }
///     }
/// }
///
/// let store = InMemoryStore::new();
/// let broker = MemoryTransport::new();
/// let relay = Relay::new(store, Users, broker.clone())
///     .batch_size(512)
///     .poll_interval(Duration::from_millis(100))
///     .start()
///     .await
///     .unwrap();
/// // Each `UserJoined` appended from now on (and each before, from the checkpoint on)
/// // reaches the broker as a `users.joined` message.
/// relay.stop().await.unwrap();
/// assert!(broker.messages().is_empty());
/// # });
/// ```
#[derive(Debug)]
#[must_use]
pub struct Relay<S, P, T, C = JsonCodec> {
    store: S,
    publication: P,
    transport: T,
    codec: C,
    settings: Settings,
}

/// How a relay reads and retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The most events read (and published as one batch) at a time.
    pub(crate) batch: usize,
    /// How often it looks for events appended by other processes.
    pub(crate) poll: Duration,
    /// The waits between failed publications and store reads.
    pub(crate) backoff: Backoff,
    /// How long a batch short of `batch` waits for more events before it goes out.
    pub(crate) linger: Duration,
}

impl<S: EventStore, P: Publication, T: Transport> Relay<S, P, T> {
    /// The relay of `publication` from `store` to `transport`, with the JSON codec.
    pub fn new(store: S, publication: P, transport: T) -> Self {
        Self {
            store,
            publication,
            transport,
            codec: JsonCodec,
            settings: Settings {
                batch: 256,
                poll: Duration::from_millis(500),
                backoff: Backoff::exponential(Duration::from_millis(20), Duration::from_secs(5)),
                linger: Duration::ZERO,
            },
        }
    }
}

impl<S: EventStore, P: Publication, T: Transport, C: Codec> Relay<S, P, T, C> {
    /// Decodes events with `codec` (the one they were stored with).
    pub fn codec<C2: Codec>(self, codec: C2) -> Relay<S, P, T, C2> {
        Relay {
            store: self.store,
            publication: self.publication,
            transport: self.transport,
            codec,
            settings: self.settings,
        }
    }

    /// The most events published as one batch (default 256).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.settings.batch = events.max(1);
        self
    }

    /// How often to look for events appended by other processes (default 500 ms); this
    /// store's own appends wake the relay at once.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll = interval.max(Duration::from_millis(1));
        self
    }

    /// Batching by time: a batch short of the batch size waits this long for more events
    /// before it is published (default none: it goes at once). Fewer, larger batches for a
    /// broker that is charged per request, at the price of up to this much latency.
    pub fn linger(mut self, wait: Duration) -> Self {
        self.settings.linger = wait;
        self
    }

    /// The waits between failed attempts to publish or read (default exponential from
    /// 20 ms to 5 s). The relay never skips a batch: it tries until the broker takes it.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// Loads the checkpoint and starts the relay on the current tokio runtime.
    ///
    /// # Errors
    /// From the store.
    pub async fn start(self) -> Result<RunningRelay, StoreError> {
        let checkpoint = checkpoint_name::<P>();
        let position = self.store.load_checkpoint(&checkpoint).await?.unwrap_or(0);
        let progress = Arc::new(watch::Sender::new(RelayProgress {
            position,
            published: 0,
            state: RelayState::Running,
        }));
        let (stops, receiver) = mpsc::channel(1);
        let task = RelayTask {
            store: self.store,
            publication: self.publication,
            transport: self.transport,
            codec: self.codec,
            settings: self.settings,
            checkpoint,
            position,
            progress: Arc::clone(&progress),
            stops: receiver,
        };
        tokio::spawn(task.run());
        Ok(RunningRelay {
            name: P::NAME,
            progress,
            stops,
        })
    }
}

/// The checkpoint a publication's relay keeps, apart from the projections' names.
pub(crate) fn checkpoint_name<P: Publication>() -> String {
    format!("outbox:{}", P::NAME)
}

/// Where a relay is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RelayProgress {
    /// Every event up to this global position is published (or not the publication's).
    pub position: u64,
    /// Messages published by this run (a batch published again counts again).
    pub published: u64,
    /// Running, stopped or failed.
    pub state: RelayState,
}

/// Whether a relay runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RelayState {
    /// Publishing.
    Running,
    /// Stopped by [`RunningRelay::stop`].
    Stopped,
    /// Stopped on an error; the checkpoint stays before the event or batch it names.
    Failed(Arc<RelayError>),
}

impl PartialEq for RelayState {
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (Self::Running, Self::Running)
                | (Self::Stopped, Self::Stopped)
                | (Self::Failed(_), Self::Failed(_))
        )
    }
}

/// Why a relay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// An event the publication handles did not decode: fix its upcaster and start again;
    /// nothing after it was published.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The broker refused a message.
    #[error("relay `{publication}`: {cause}")]
    Transport {
        /// The publication's name.
        publication: &'static str,
        /// What the transport said.
        cause: TransportError,
    },
    /// The store failed in a way that trying again does not mend.
    #[error("relay `{publication}`: {cause}")]
    Store {
        /// The publication's name.
        publication: &'static str,
        /// What the store said.
        cause: StoreError,
    },
    /// The relay is not running (it stopped, or a wait timed out).
    #[error("relay `{publication}` is not running")]
    NotRunning {
        /// The publication's name.
        publication: &'static str,
    },
}

impl RelayError {
    /// The decoding failure, when an event did not decode.
    #[must_use]
    pub fn decode_error(&self) -> Option<&DecodeError> {
        match self {
            Self::Publish(PublishError::Decode { cause, .. }) => Some(cause),
            _ => None,
        }
    }
}

/// A handle to a started relay. The relay stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct RunningRelay {
    name: &'static str,
    progress: Arc<watch::Sender<RelayProgress>>,
    stops: mpsc::Sender<oneshot::Sender<()>>,
}

impl RunningRelay {
    /// Where the relay is now.
    #[must_use]
    pub fn progress(&self) -> RelayProgress {
        self.progress.borrow().clone()
    }

    /// A receiver of the relay's progress.
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<RelayProgress> {
        self.progress.subscribe()
    }

    /// Waits until every event up to global `position` is published.
    ///
    /// # Errors
    /// The error the relay stopped on, or [`RelayError::NotRunning`] when it was stopped or
    /// `timeout` passed.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), Arc<RelayError>> {
        let mut progress = self.progress.subscribe();
        let reached = tokio::time::timeout(timeout, async {
            progress
                .wait_for(|p| p.position >= position || p.state != RelayState::Running)
                .await
                .map(|p| (p.position >= position, p.state.clone()))
        })
        .await;
        match reached {
            Ok(Ok((true, _))) => Ok(()),
            Ok(Ok((false, RelayState::Failed(error)))) => Err(error),
            _ => Err(Arc::new(RelayError::NotRunning {
                publication: self.name,
            })),
        }
    }

    /// Stops the relay after the batch it is publishing. Answers once it has ended.
    ///
    /// # Errors
    /// The error it had stopped on.
    pub async fn stop(self) -> Result<(), Arc<RelayError>> {
        let (reply, done) = oneshot::channel();
        if self.stops.send(reply).await.is_ok() {
            drop(done.await);
        }
        match &self.progress.borrow().state {
            RelayState::Failed(error) => Err(Arc::clone(error)),
            _ => Ok(()),
        }
    }
}
