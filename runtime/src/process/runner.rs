//! [`SagaRunner`]: configures a saga's runner and starts it; [`RunningSaga`], its handle.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::clock::{Clock, SystemClock};
use super::saga::{CommandBus, Saga};
use super::status::{SagaError, SagaProgress, SagaState, Settings};
use super::task::{SagaTask, Wiring};
use crate::read::ErrorPolicy;
use crate::store::{EventStore, SagaStore, StoreError};
use crate::wire::codec::{Codec, JsonCodec};

/// Configures and starts a saga over a store, sending its commands through a bus (the
/// [`App`](crate::App)).
///
/// The runner reads the events the saga handles in global order from its stored position,
/// finds each event's instance by its association key, runs the handler, and commits the
/// instance's state, the saga's position, the commands decided and the deadlines set in one
/// transaction. Then it sends the commands, each with an idempotency key derived from the
/// saga, the instance and the step, so a crash between deciding and sending neither loses
/// nor repeats a command's effect; a rejected command goes back to the saga's `#[rejected]`
/// handler. Deadlines fire by the runner's [`Clock`], each once, in the same discipline;
/// after a restart the overdue ones fire at once. Several runners of one saga (in one process
/// or several) are safe: a step whose reads another runner moved on is decided again.
#[derive(Debug)]
#[must_use]
pub struct SagaRunner<S, G, B, K = SystemClock, C = JsonCodec> {
    store: S,
    bus: B,
    clock: K,
    codec: C,
    settings: Settings,
    saga: PhantomData<fn() -> G>,
}

impl<S: EventStore + SagaStore, G: Saga, B: CommandBus> SagaRunner<S, G, B> {
    /// A runner of saga `G` over `store`, sending through `bus`, on the system clock.
    pub fn new(store: S, bus: B) -> Self {
        Self {
            store,
            bus,
            clock: SystemClock,
            codec: JsonCodec,
            settings: Settings {
                batch: 256,
                policy: ErrorPolicy::default(),
                poll: Duration::from_millis(500),
            },
            saga: PhantomData,
        }
    }
}

impl<S: EventStore + SagaStore, G: Saga, B: CommandBus, K: Clock, C: Codec>
    SagaRunner<S, G, B, K, C>
{
    /// Sets and fires deadlines by `clock` (a [`ManualClock`](super::ManualClock) in tests).
    pub fn clock<K2: Clock>(self, clock: K2) -> SagaRunner<S, G, B, K2, C> {
        SagaRunner {
            store: self.store,
            bus: self.bus,
            clock,
            codec: self.codec,
            settings: self.settings,
            saga: PhantomData,
        }
    }

    /// Decodes event payloads with another codec.
    pub fn codec<C2: Codec>(self, codec: C2) -> SagaRunner<S, G, B, K, C2> {
        SagaRunner {
            store: self.store,
            bus: self.bus,
            clock: self.clock,
            codec,
            settings: self.settings,
            saga: PhantomData,
        }
    }

    /// What to do when a handler fails (it panicked, or its event, state or a command did not
    /// decode or encode): retry with backoff, then stop, skip or park the event (default:
    /// retry, then stop).
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.settings.policy = policy;
        self
    }

    /// The most events read per round trip (default 256).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.settings.batch = events.max(1);
        self
    }

    /// How often the runner looks for the commands and deadlines that other runners of the
    /// saga left (default 500 ms); its own it handles at once.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll = interval.max(Duration::from_millis(1));
        self
    }

    /// Loads the saga's position and starts the runner on the current tokio runtime.
    ///
    /// # Errors
    /// From the store.
    pub async fn start(self) -> Result<RunningSaga<G>, StoreError> {
        let position = self.store.saga_position(G::NAME).await?;
        let head = self.store.current_head().await?;
        let progress = watch::Sender::new(SagaProgress {
            position,
            head,
            state: SagaState::Running,
            ..SagaProgress::default()
        });
        let progress = Arc::new(progress);
        let (stops, receiver) = mpsc::channel(1);
        let task = SagaTask::<S, G, B, K, C>::new(
            Wiring {
                store: self.store,
                bus: self.bus,
                clock: self.clock,
                codec: self.codec,
                settings: self.settings,
            },
            Arc::clone(&progress),
            receiver,
            position,
        );
        tokio::spawn(task.run());
        Ok(RunningSaga {
            progress,
            stops,
            saga: PhantomData,
        })
    }
}

/// A handle to a started saga: watch its progress, wait for a position, stop it. The runner
/// stops when the last handle is dropped.
#[derive(Debug)]
pub struct RunningSaga<G> {
    progress: Arc<watch::Sender<SagaProgress>>,
    stops: mpsc::Sender<oneshot::Sender<()>>,
    saga: PhantomData<fn() -> G>,
}

impl<G> Clone for RunningSaga<G> {
    fn clone(&self) -> Self {
        Self {
            progress: Arc::clone(&self.progress),
            stops: self.stops.clone(),
            saga: PhantomData,
        }
    }
}

impl<G: Saga> RunningSaga<G> {
    /// Where the runner is now.
    #[must_use]
    pub fn progress(&self) -> SagaProgress {
        self.progress.borrow().clone()
    }

    /// A receiver of the runner's progress.
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<SagaProgress> {
        self.progress.subscribe()
    }

    /// Waits until every event up to global `position` is handled.
    ///
    /// # Errors
    /// [`SagaError::NotRunning`] when the runner stops first or `timeout` passes.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), SagaError> {
        let mut progress = self.progress.subscribe();
        let reached = tokio::time::timeout(timeout, async {
            progress
                .wait_for(|p| p.position >= position || p.state != SagaState::Running)
                .await
                .map(|p| p.position >= position)
        })
        .await;
        match reached {
            Ok(Ok(true)) => Ok(()),
            _ => Err(SagaError::NotRunning { saga: G::NAME }),
        }
    }

    /// Stops the runner after the step it is taking. Answers once it has ended.
    ///
    /// # Errors
    /// The error it had stopped on.
    pub async fn stop(self) -> Result<(), Arc<SagaError>> {
        let (reply, done) = oneshot::channel();
        if self.stops.send(reply).await.is_ok() {
            drop(done.await);
        }
        match self.progress().state {
            SagaState::Failed(error) => Err(error),
            _ => Ok(()),
        }
    }
}
