//! [`Consumer`]: runs the deliveries of a [`Subscription`] through a projection over message
//! types, one transaction per batch (per message when one of the batch fails): the inbox
//! records the message ids with the handler's effects, then the broker is told. A message
//! delivered again (after a crash between the two, a redelivery, a re-publication past the
//! broker's window) finds its id and only acknowledges. A model whose handlers send
//! commands runs one message at a time, its commands recognised by their keys instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::inbox::InboxStore;
use super::{Delivery, Incoming, Subscription};
use crate::model::envelope::Timestamp;
use crate::model::projection::{Projection, ProjectionError};
use crate::outbox::transport::TransportError;
use crate::read::{InboxSink, Sink, UnitEnd};
use crate::store::{DeadLetter, StoreError};
use crate::util::backoff::Backoff;
use crate::util::panic;
use crate::util::retry::Retry;
use crate::wire::codec::{Codec, JsonCodec};

/// Configures and starts a consumer: the model `P` (a projection whose handlers take
/// integration message types) fed by `subscription`, with its inbox in `S`: a SQL read model
/// in its store (handlers that take a database connection), or commands sent through an
/// [`App`](crate::App) (handlers that take [`Commands`](super::Commands)).
#[derive(Debug)]
#[must_use]
pub struct Consumer<S, P, Sub, C = JsonCodec> {
    store: S,
    model: P,
    subscription: Sub,
    codec: C,
    settings: Settings,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    batch: usize,
    max_deliveries: u32,
    backoff: Backoff,
}

impl<S, P, Sub> Consumer<S, P, Sub>
where
    P: Projection + Sync,
    S: InboxStore<P>,
    Sub: Subscription,
{
    /// A consumer of `subscription` into `model`, keeping its inbox in `store` (a store, or
    /// the `App` its handlers' commands go to).
    pub fn new(store: S, model: P, subscription: Sub) -> Self {
        Self {
            store,
            model,
            subscription,
            codec: JsonCodec,
            settings: Settings {
                batch: 64,
                max_deliveries: 5,
                backoff: Backoff::exponential(Duration::from_millis(50), Duration::from_secs(10)),
            },
        }
    }
}

impl<S, P, Sub, C> Consumer<S, P, Sub, C>
where
    P: Projection + Sync,
    S: InboxStore<P>,
    Sub: Subscription,
    C: Codec,
{
    /// The most deliveries asked for at a time (default 64).
    pub fn batch_size(mut self, messages: usize) -> Self {
        self.settings.batch = messages.max(1);
        self
    }

    /// After this many deliveries whose handling failed, a message is parked as a dead
    /// letter and the rest flows on (default 5). A message that does not decode is parked at
    /// once: decoding it again gives the same answer.
    pub fn max_deliveries(mut self, deliveries: u32) -> Self {
        self.settings.max_deliveries = deliveries.max(1);
        self
    }

    /// The waits before a failed message is delivered again, and between attempts to reach
    /// an unavailable broker or store (default exponential from 50 ms to 10 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// Opens the inbox (the read model's connection) and starts the consumer on the current
    /// tokio runtime.
    ///
    /// # Errors
    /// From the store.
    pub async fn start(self) -> Result<RunningConsumer, StoreError> {
        let sink = self.store.open_inbox().await?;
        let progress = Arc::new(watch::Sender::new(ConsumerProgress::default()));
        let (stops, receiver) = mpsc::channel(1);
        let (replays, replay_requests) = mpsc::channel(8);
        let task = Task {
            replays: replay_requests,
            sink,
            model: self.model,
            subscription: self.subscription,
            codec: self.codec,
            settings: self.settings,
            progress: Arc::clone(&progress),
            stops: receiver,
        };
        tokio::spawn(task.run());
        Ok(RunningConsumer {
            name: P::NAME,
            progress,
            stops,
            replays,
        })
    }
}

/// What a consumer has done since it started.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConsumerProgress {
    /// Messages whose handler went through: its effects committed (for a model that sends
    /// commands: its commands done, at least one of them for the first time, or none sent).
    pub handled: u64,
    /// Deliveries of messages the inbox had recorded: acknowledged, not handled again (for a
    /// model that sends commands: handled again, and every command recognised by its key).
    pub duplicates: u64,
    /// Messages of a type the model has no handler for: acknowledged (and recorded in a SQL
    /// inbox).
    pub ignored: u64,
    /// Deliveries whose handler failed, handed back for another delivery.
    pub retried: u64,
    /// Messages parked as dead letters.
    pub parked: u64,
    /// Why it stopped, if it stopped on an error.
    pub failed: Option<Arc<ConsumerError>>,
    /// Whether it still runs.
    pub running: bool,
}

/// Why a consumer stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The store failed in a way that trying again does not mend.
    #[error("consumer `{consumer}`: {cause}")]
    Store {
        /// The consumer's name.
        consumer: &'static str,
        /// What the store said.
        cause: StoreError,
    },
    /// The broker failed in a way that trying again does not mend.
    #[error("consumer `{consumer}`: {cause}")]
    Transport {
        /// The consumer's name.
        consumer: &'static str,
        /// What the transport said.
        cause: TransportError,
    },
}

/// A handle to a started consumer. It stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct RunningConsumer {
    name: &'static str,
    progress: Arc<watch::Sender<ConsumerProgress>>,
    stops: mpsc::Sender<oneshot::Sender<()>>,
    replays: mpsc::Sender<ReplayRequest>,
}

/// What a replay of a parked message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// Its handler went through; the dead letter is released with its effects.
    Handled,
    /// The inbox had it already (handled since it was parked); the dead letter is released.
    AlreadyHandled,
}

impl RunningConsumer {
    /// Handles the parked message at broker sequence `position` (a dead letter's
    /// `position`) once more, read again from the broker: after a fix, say. Its dead letter
    /// is released in the transaction of its effects.
    ///
    /// # Errors
    /// Why it stays parked: it failed again, the broker no longer has it, or the consumer
    /// does not run.
    pub async fn replay(&self, position: u64) -> Result<Replay, String> {
        let (reply, answer) = oneshot::channel();
        self.replays
            .send((position, reply))
            .await
            .map_err(|_| format!("consumer `{}` does not run", self.name))?;
        answer
            .await
            .map_err(|_| format!("consumer `{}` stopped", self.name))?
    }

    /// The consumer's name (its projection's).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What it has done so far.
    #[must_use]
    pub fn progress(&self) -> ConsumerProgress {
        self.progress.borrow().clone()
    }

    /// A receiver of its progress.
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<ConsumerProgress> {
        self.progress.subscribe()
    }

    /// Stops it after the message it is handling. Answers once it has ended.
    ///
    /// # Errors
    /// The error it had stopped on.
    pub async fn stop(self) -> Result<(), Arc<ConsumerError>> {
        let (reply, done) = oneshot::channel();
        if self.stops.send(reply).await.is_ok() {
            drop(done.await);
        }
        match &self.progress.borrow().failed {
            Some(error) => Err(Arc::clone(error)),
            None => Ok(()),
        }
    }
}

struct Task<K, P, Sub, C> {
    sink: K,
    model: P,
    subscription: Sub,
    codec: C,
    settings: Settings,
    progress: Arc<watch::Sender<ConsumerProgress>>,
    stops: mpsc::Receiver<oneshot::Sender<()>>,
    replays: mpsc::Receiver<ReplayRequest>,
}

/// A parked message to handle again, and where to answer.
type ReplayRequest = (u64, oneshot::Sender<Result<Replay, String>>);

/// Where a message is: its broker sequence, its delivery count and its subject.
#[derive(Clone, Copy)]
struct At<'a> {
    sequence: u64,
    attempt: u32,
    subject: &'a str,
}

impl<'a> At<'a> {
    fn of<A>(delivery: &'a Delivery<A>) -> Self {
        Self {
            sequence: delivery.sequence,
            attempt: delivery.attempt,
            subject: &delivery.subject,
        }
    }
}

/// What became of one delivery.
enum Outcome {
    Handled,
    Duplicate,
    Ignored,
    Retry(Duration),
    Park(String),
}

impl<K, P, Sub, C> Task<K, P, Sub, C>
where
    P: Projection + Sync,
    K: InboxSink<P>,
    Sub: Subscription,
    C: Codec,
{
    async fn run(mut self) {
        self.progress.send_modify(|p| p.running = true);
        let (failed, reply) = match self.run_loop().await {
            Ok(reply) => (None, reply),
            Err(error) => {
                tracing::error!(consumer = P::NAME, %error, "consumer stopped");
                (Some(Arc::new(error)), None)
            }
        };
        self.subscription.close().await;
        Sink::<P>::close(&mut self.sink).await;
        self.progress.send_modify(|p| {
            p.running = false;
            p.failed = failed;
        });
        if let Some(reply) = reply {
            reply.send(()).ok();
        }
    }

    async fn run_loop(&mut self) -> Result<Option<oneshot::Sender<()>>, ConsumerError> {
        let mut broker = Retry::new(self.settings.backoff);
        loop {
            if let Ok(reply) = self.stops.try_recv() {
                return Ok(Some(reply));
            }
            let received = tokio::select! {
                received = self.subscription.receive(self.settings.batch) => received,
                reply = self.stops.recv() => return Ok(reply),
                Some((sequence, reply)) = self.replays.recv() => {
                    let replayed = self.replay(sequence).await?;
                    reply.send(replayed).ok();
                    continue;
                }
            };
            let deliveries = match received {
                Ok(deliveries) => {
                    broker.succeeded();
                    deliveries
                }
                Err(cause) if cause.is_retriable() => {
                    tracing::warn!(consumer = P::NAME, error = %cause, "broker unavailable; trying again");
                    tokio::time::sleep(broker.failed().unwrap_or_default()).await;
                    continue;
                }
                Err(cause) => {
                    return Err(ConsumerError::Transport {
                        consumer: P::NAME,
                        cause,
                    });
                }
            };
            match self.together(&deliveries).await? {
                Some(outcomes) => {
                    for (delivery, outcome) in deliveries.into_iter().zip(outcomes) {
                        self.tell(delivery, outcome).await?;
                    }
                }
                None => {
                    for delivery in deliveries {
                        let outcome = match &delivery.message {
                            Ok(incoming) => self.handle(incoming, At::of(&delivery), None).await?,
                            Err(why) => Outcome::Park(format!("unreadable message: {why}")),
                        };
                        self.tell(delivery, outcome).await?;
                    }
                }
            }
        }
    }

    /// Handles `deliveries` in one transaction when every one goes through (the common
    /// case: one commit for the batch); `None`, with nothing written, when one does not, for
    /// the caller to take them one at a time.
    async fn together(
        &mut self,
        deliveries: &[Delivery<Sub::Ack>],
    ) -> Result<Option<Vec<Outcome>>, ConsumerError> {
        if deliveries.is_empty() {
            return Ok(Some(Vec::new()));
        }
        // A sink without a transaction cannot take back a batch: its messages go one at a
        // time through `handle`, which also asks it whether they repeated.
        if !K::TRANSACTIONAL
            || deliveries.len() < 2
            || deliveries.iter().any(|d| d.message.is_err())
        {
            return Ok(None);
        }
        self.begin().await?;
        let mut outcomes = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let Ok(incoming) = &delivery.message else {
                return Ok(None);
            };
            let envelope = incoming.envelope(delivery.sequence);
            match self.sink.record_handled(P::NAME, &envelope).await {
                Ok(true) => {}
                Ok(false) => {
                    outcomes.push(Outcome::Duplicate);
                    continue;
                }
                Err(_) => {
                    self.sink.rollback().await;
                    return Ok(None);
                }
            }
            let handled = panic::future(self.model.handle(
                &self.codec,
                &envelope,
                self.sink.context(),
            ))
            .await;
            match handled {
                Ok(Ok(true)) => outcomes.push(Outcome::Handled),
                Ok(Ok(false)) => outcomes.push(Outcome::Ignored),
                _ => {
                    self.sink.rollback().await;
                    return Ok(None);
                }
            }
        }
        match self.sink.commit(P::NAME, unit_end(None, None)).await {
            Ok(()) => Ok(Some(outcomes)),
            Err(cause) if cause.is_retriable() => Ok(None),
            Err(cause) => Err(self.store_error(cause)),
        }
    }

    /// Tells the broker what became of one delivery.
    async fn tell(
        &mut self,
        delivery: Delivery<Sub::Ack>,
        outcome: Outcome,
    ) -> Result<(), ConsumerError> {
        let told = match outcome {
            Outcome::Handled | Outcome::Duplicate | Outcome::Ignored => {
                self.progress.send_modify(|p| match outcome {
                    Outcome::Handled => p.handled += 1,
                    Outcome::Duplicate => p.duplicates += 1,
                    _ => p.ignored += 1,
                });
                self.subscription.ack(delivery.ack).await
            }
            Outcome::Retry(delay) => {
                self.progress.send_modify(|p| p.retried += 1);
                self.subscription.retry_later(delivery.ack, delay).await
            }
            Outcome::Park(reason) => {
                tracing::warn!(
                    consumer = P::NAME,
                    subject = %delivery.subject,
                    sequence = delivery.sequence,
                    %reason,
                    "message parked"
                );
                self.park(&delivery, reason).await?;
                self.progress.send_modify(|p| p.parked += 1);
                self.subscription.give_up(delivery.ack).await
            }
        };
        // Not told: the broker delivers it again, and the inbox recognises it.
        if let Err(error) = told {
            tracing::warn!(consumer = P::NAME, %error, "broker not told; the message comes again");
        }
        Ok(())
    }

    /// Runs the handler in a unit that records the message in the inbox.
    async fn handle(
        &mut self,
        incoming: &Incoming,
        delivery: At<'_>,
        release: Option<u64>,
    ) -> Result<Outcome, ConsumerError> {
        let envelope = incoming.envelope(delivery.sequence);
        self.begin().await?;
        let fresh = match self.sink.record_handled(P::NAME, &envelope).await {
            Ok(fresh) => fresh,
            Err(cause) if cause.is_retriable() => {
                self.sink.rollback().await;
                tracing::warn!(consumer = P::NAME, error = %cause, "inbox not read; the message comes again");
                return Ok(Outcome::Retry(
                    self.settings.backoff.delay(delivery.attempt),
                ));
            }
            Err(cause) => {
                self.sink.rollback().await;
                return Err(self.store_error(cause));
            }
        };
        if !fresh {
            self.sink.rollback().await;
            return Ok(Outcome::Duplicate);
        }
        let handled = panic::future(
            self.model
                .handle(&self.codec, &envelope, self.sink.context()),
        )
        .await;
        let outcome = match handled {
            Ok(Ok(true)) if self.sink.repeated() => Outcome::Duplicate,
            Ok(Ok(true)) => Outcome::Handled,
            Ok(Ok(false)) => Outcome::Ignored,
            Ok(Err(ProjectionError::Decode { cause, .. })) => {
                self.sink.rollback().await;
                return Ok(Outcome::Park(format!(
                    "message `{}` version {} on `{}` does not decode: {}",
                    incoming.name, incoming.version, delivery.subject, cause.cause
                )));
            }
            Ok(Err(ProjectionError::Handler { cause, .. }))
                if self.sink.retriable(&cause.to_string()) =>
            {
                self.sink.rollback().await;
                tracing::warn!(consumer = P::NAME, error = %cause, "handler failed on what waiting mends; the message comes again");
                return Ok(Outcome::Retry(
                    self.settings.backoff.delay(delivery.attempt),
                ));
            }
            Ok(Err(error)) => {
                self.sink.rollback().await;
                return Ok(self.failed(delivery, error.to_string()));
            }
            Err(message) => {
                self.sink.rollback().await;
                return Ok(self.failed(delivery, format!("the handler panicked: {message}")));
            }
        };
        match self.sink.commit(P::NAME, unit_end(None, release)).await {
            Ok(()) => Ok(outcome),
            Err(cause) if cause.is_retriable() => {
                tracing::warn!(consumer = P::NAME, error = %cause, "not committed; the message comes again");
                Ok(Outcome::Retry(
                    self.settings.backoff.delay(delivery.attempt),
                ))
            }
            Err(cause) => Err(self.store_error(cause)),
        }
    }

    /// A failed handling: another delivery, or parked when the deliveries are spent.
    fn failed(&self, delivery: At<'_>, error: String) -> Outcome {
        if delivery.attempt >= self.settings.max_deliveries {
            Outcome::Park(format!(
                "failed {} deliveries; last: {error}",
                delivery.attempt
            ))
        } else {
            tracing::debug!(consumer = P::NAME, %error, attempt = delivery.attempt, "handler failed; delivered again later");
            Outcome::Retry(self.settings.backoff.delay(delivery.attempt))
        }
    }

    /// Parks the delivery as a dead letter, by its broker sequence.
    async fn park(
        &mut self,
        delivery: &Delivery<Sub::Ack>,
        reason: String,
    ) -> Result<(), ConsumerError> {
        let (key, name) = match &delivery.message {
            Ok(incoming) => (incoming.key.clone(), incoming.name.clone()),
            Err(_) => (String::new(), String::new()),
        };
        let letter = DeadLetter {
            position: delivery.sequence,
            stream_id: key,
            stream_version: 0,
            event_type: name,
            reason: format!("{} (subject `{}`)", reason, delivery.subject),
            attempts: delivery.attempt,
            parked_at: Timestamp::now(),
        };
        let mut retry = Retry::new(self.settings.backoff);
        loop {
            self.begin().await?;
            match self
                .sink
                .commit(P::NAME, unit_end(Some(letter.clone()), None))
                .await
            {
                Ok(()) => return Ok(()),
                Err(cause) if cause.is_retriable() => {
                    tracing::warn!(consumer = P::NAME, error = %cause, "letter not parked; trying again");
                    tokio::time::sleep(retry.failed().unwrap_or_default()).await;
                }
                Err(cause) => return Err(self.store_error(cause)),
            }
        }
    }

    /// Handles the parked message at broker `sequence` once more, read again from the
    /// broker, and releases its dead letter in the same transaction when it goes through.
    async fn replay(&mut self, sequence: u64) -> Result<Result<Replay, String>, ConsumerError> {
        let fetched = match self.subscription.fetch(sequence).await {
            Ok(Some(fetched)) => fetched,
            Ok(None) => return Ok(Err(format!("the broker no longer has message {sequence}"))),
            Err(cause) => return Ok(Err(cause.to_string())),
        };
        let (subject, message) = fetched;
        let incoming = match message {
            Ok(incoming) => incoming,
            Err(why) => return Ok(Err(format!("unreadable message: {why}"))),
        };
        let at = At {
            sequence,
            attempt: 1,
            subject: &subject,
        };
        match self.handle(&incoming, at, Some(sequence)).await? {
            Outcome::Handled | Outcome::Ignored => Ok(Ok(Replay::Handled)),
            Outcome::Duplicate => {
                self.begin().await?;
                self.sink
                    .commit(P::NAME, unit_end(None, Some(sequence)))
                    .await
                    .map_err(|cause| self.store_error(cause))?;
                Ok(Ok(Replay::AlreadyHandled))
            }
            Outcome::Retry(_) | Outcome::Park(_) => Ok(Err(format!(
                "message {sequence} on `{subject}` failed again; it stays parked"
            ))),
        }
    }

    /// Starts a unit, trying again while the store is unavailable.
    async fn begin(&mut self) -> Result<(), ConsumerError> {
        let mut retry = Retry::new(self.settings.backoff);
        loop {
            match self.sink.begin().await {
                Ok(()) => return Ok(()),
                Err(cause) if cause.is_retriable() => {
                    tracing::warn!(consumer = P::NAME, error = %cause, "store unavailable; trying again");
                    tokio::time::sleep(retry.failed().unwrap_or_default()).await;
                }
                Err(cause) => return Err(self.store_error(cause)),
            }
        }
    }

    fn store_error(&self, cause: StoreError) -> ConsumerError {
        ConsumerError::Store {
            consumer: P::NAME,
            cause,
        }
    }
}

/// The end of a consumer's unit: a letter to park or release, and no checkpoint (its progress
/// is the broker's and the inbox's).
fn unit_end(park: Option<DeadLetter>, release: Option<u64>) -> UnitEnd {
    UnitEnd {
        checkpoint: 0,
        park,
        release,
        without_checkpoint: true,
    }
}
