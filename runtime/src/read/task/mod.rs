//! The task behind a [`RunningProjection`](super::RunningProjection): the read loop, the error
//! policy and the commands of the handles; parking and replay in `parking.rs`.

mod parking;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use foldhash::fast::RandomState;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use self::parking::waits_behind;
use super::pipeline::Pipeline;
use super::policy::OnFailure;
use super::sink::{Sink, UnitEnd};
use super::status::{Replayed, RunState, RunnerError, Settings, Shared};
use crate::model::envelope::RecordedEvent;
use crate::model::projection::{Projection, ProjectionError, stored_names};
use crate::store::FilteredRead;
use crate::store::{DeadLetter, EventStore, StoreError};
use crate::util::backoff::Backoff;
use crate::util::panic;
use crate::util::retry::Retry;
use crate::wire::codec::Codec;

/// Where a handle waits for the answer to its command.
type Reply<T> = oneshot::Sender<Result<T, RunnerError>>;

/// A request from a handle, answered on its channel.
#[derive(Debug)]
pub(crate) enum Command<P> {
    Stop(oneshot::Sender<Result<(), RunnerError>>),
    DeadLetters(oneshot::Sender<Result<Vec<DeadLetter>, RunnerError>>),
    Replay {
        stream: String,
        reply: oneshot::Sender<Result<Replayed, RunnerError>>,
    },
    Rebuild {
        fresh: P,
        reply: oneshot::Sender<Result<(), RunnerError>>,
    },
}

/// What a runner is made of besides its projection.
pub(crate) struct Wiring<S, C, K, M> {
    pub(crate) store: S,
    pub(crate) codec: C,
    pub(crate) sink: K,
    pub(crate) pipeline: M,
    pub(crate) settings: Settings,
}

/// What ended a wait.
enum Wake<P> {
    Until,
    Command(Option<Command<P>>),
    SaveDue,
}

/// Whether the loop goes on after a command.
enum Flow {
    Continue,
    Stop,
}

/// The wait between reads while the store is unavailable.
const STORE_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(10), Duration::from_secs(5));

pub(crate) struct Task<S, P: Projection, C, K, M> {
    store: S,
    codec: C,
    sink: K,
    pipeline: M,
    settings: Settings,
    shared: Arc<Shared<P>>,
    commands: mpsc::Receiver<Command<P>>,
    names: Vec<&'static str>,
    /// Every event up to here is handled, parked or skipped.
    position: u64,
    /// The checkpoint last stored, and when.
    saved: u64,
    saved_at: Instant,
    /// Streams with a parked event: the lowest parked position of each. Their later events
    /// wait behind it.
    parked: HashMap<Arc<str>, u64, RandomState>,
    /// The answer to a stop, sent once the task has let go of everything.
    stopped: Option<(Reply<()>, Result<(), RunnerError>)>,
}

impl<S: EventStore, P: Projection + Sync, C: Codec, K: Sink<P>, M: Pipeline> Task<S, P, C, K, M> {
    pub(crate) fn new(
        wiring: Wiring<S, C, K, M>,
        shared: Arc<Shared<P>>,
        commands: mpsc::Receiver<Command<P>>,
        position: u64,
        letters: &[DeadLetter],
    ) -> Self {
        let Wiring {
            store,
            codec,
            sink,
            pipeline,
            settings,
        } = wiring;
        let mut task = Self {
            store,
            codec,
            sink,
            pipeline,
            settings,
            shared,
            commands,
            names: stored_names::<P>(),
            position,
            saved: position,
            saved_at: Instant::now(),
            parked: HashMap::default(),
            stopped: None,
        };
        for letter in letters {
            task.mark_parked(&letter.stream_id, letter.position);
        }
        task
    }

    pub(crate) async fn run(mut self) {
        let outcome = self.read_loop().await;
        let state = match outcome {
            Ok(()) => RunState::Stopped,
            Err(error) => {
                tracing::error!(projection = P::NAME, %error, "projection runner stopped");
                // Keep what was done; the failed event is after the checkpoint.
                if let Err(save) = self.save().await {
                    tracing::warn!(projection = P::NAME, error = %save, "checkpoint not stored");
                }
                RunState::Failed(Arc::new(error))
            }
        };
        self.sink.close().await;
        self.shared.progress.send_modify(|p| p.state = state);
        if let Some((reply, saved)) = self.stopped.take() {
            drop(reply.send(saved));
        }
    }

    async fn read_loop(&mut self) -> Result<(), RunnerError> {
        let mut head = self.store.head();
        let mut store_retry = Retry::new(STORE_BACKOFF);
        loop {
            while let Ok(command) = self.commands.try_recv() {
                if let Flow::Stop = self.command(command).await? {
                    return Ok(());
                }
            }
            // Seen before reading, so an append after the read wakes the wait below.
            head.borrow_and_update();
            let read = self
                .store
                .read_all_filtered(FilteredRead::new(
                    self.position + 1,
                    &self.names,
                    self.settings.batch,
                ))
                .await;
            let read = match read {
                Ok(read) => {
                    store_retry.succeeded();
                    read
                }
                Err(error) if error.is_retriable() => {
                    tracing::warn!(projection = P::NAME, %error, "store unavailable; reading again");
                    let pause = tokio::time::sleep(store_retry.failed().unwrap_or_default());
                    if let Flow::Stop = self.idle(pause).await? {
                        return Ok(());
                    }
                    continue;
                }
                Err(source) => return Err(store_error::<P>(source)),
            };
            let caught_up = read.events.len() < self.settings.batch;
            self.handle_batch(&read.events).await?;
            self.advance(read.scanned_to);
            let head_now = *head.borrow();
            self.shared
                .progress
                .send_modify(|p| p.head = head_now.max(p.position));
            if self.settings.resume && self.saved_at.elapsed() >= self.settings.checkpoint_every {
                self.save().await?;
            }
            if caught_up {
                // The head never closes: its sender lives in the store this task holds.
                let appended = async {
                    drop(head.changed().await);
                };
                if let Flow::Stop = self.idle(appended).await? {
                    return Ok(());
                }
            }
        }
    }

    /// Waits for `until`, a command or a due checkpoint, then acts on what came first. Only
    /// the wait is raced: a command is never cancelled half-way by `until`.
    async fn idle(&mut self, until: impl Future<Output = ()>) -> Result<Flow, RunnerError> {
        let unsaved = self.settings.resume && self.saved != self.position;
        let due = tokio::time::sleep_until(self.saved_at + self.settings.checkpoint_every);
        let wake = tokio::select! {
            () = until => Wake::Until,
            command = self.commands.recv() => Wake::Command(command),
            () = due, if unsaved => Wake::SaveDue,
        };
        match wake {
            Wake::Until => Ok(Flow::Continue),
            Wake::Command(Some(command)) => self.command(command).await,
            // Every handle is gone.
            Wake::Command(None) => self.save().await.map(|()| Flow::Stop),
            Wake::SaveDue => self.save().await.map(|()| Flow::Continue),
        }
    }

    async fn command(&mut self, command: Command<P>) -> Result<Flow, RunnerError> {
        match command {
            Command::Stop(reply) => {
                let saved = self.save().await;
                self.stopped = Some((reply, saved));
                return Ok(Flow::Stop);
            }
            Command::DeadLetters(reply) => {
                let letters = self.store.dead_letters(P::NAME).await;
                drop(reply.send(letters.map_err(store_error::<P>)));
            }
            Command::Replay { stream, reply } => {
                let replayed = self.replay(&stream).await;
                drop(reply.send(replayed));
            }
            Command::Rebuild { fresh, reply } => {
                *self.shared.write().await = fresh;
                self.position = 0;
                self.shared.progress.send_modify(|p| p.position = 0);
                drop(reply.send(self.save().await));
            }
        }
        Ok(Flow::Continue)
    }

    /// Handles `events` in order: as many as go through in one unit (under one lock, in one
    /// transaction for a SQL read model), then the one that failed or waits behind a parked
    /// event by the policy, and on.
    async fn handle_batch(&mut self, events: &[RecordedEvent]) -> Result<(), RunnerError> {
        let mut next = 0;
        while next < events.len() {
            let mut window = &events[next..];
            let (handled, stop) = loop {
                let (handled, stop) = self.unit(window).await?;
                // A transaction that failed part-way was undone: commit the part that went
                // through on its own.
                if K::TRANSACTIONAL && stop.is_some() && handled > 0 {
                    window = &window[..handled];
                    continue;
                }
                break (handled, stop);
            };
            next += handled;
            if handled > 0 {
                self.advance(events[next - 1].global_position);
            }
            let Some(stop) = stop else {
                continue;
            };
            let event = &events[next];
            match stop {
                Stop::WaitsBehind => {
                    let first = self.parked.get(&event.stream_id).copied().unwrap_or(0);
                    let reason = format!("waiting behind the parked event at position {first}");
                    self.park(event, reason, 0).await?;
                }
                Stop::Failed(error) => self.fail(event, error).await?,
            }
            next += 1;
            self.advance(event.global_position);
        }
        Ok(())
    }

    /// Handles `window` from its start until an event fails or waits behind a parked one;
    /// a transactional unit commits when all went through and is undone otherwise.
    async fn unit(
        &mut self,
        window: &[RecordedEvent],
    ) -> Result<(usize, Option<Stop>), RunnerError> {
        self.sink.begin().await.map_err(store_error::<P>)?;
        let mut handled = 0;
        let mut stop = None;
        {
            let mut state = self.shared.write().await;
            for event in window {
                if waits_behind(&self.parked, event) {
                    stop = Some(Stop::WaitsBehind);
                    break;
                }
                match attempt(
                    &mut *state,
                    &self.codec,
                    &self.pipeline,
                    event,
                    self.sink.context(),
                )
                .await
                {
                    Ok(()) => handled += 1,
                    Err(error) => {
                        stop = Some(Stop::Failed(error));
                        break;
                    }
                }
            }
        }
        if stop.is_some() {
            self.sink.rollback().await;
        } else if let Some(last) = window.last() {
            let end = UnitEnd {
                checkpoint: last.global_position,
                ..UnitEnd::default()
            };
            self.commit(end).await?;
        }
        Ok((handled, stop))
    }

    /// Commits a transactional unit; nothing to do for a read model in memory.
    async fn commit(&mut self, end: UnitEnd) -> Result<(), RunnerError> {
        if K::TRANSACTIONAL {
            let checkpoint = end.checkpoint;
            self.sink
                .commit(P::NAME, end)
                .await
                .map_err(store_error::<P>)?;
            self.saved = checkpoint;
            self.saved_at = Instant::now();
        }
        Ok(())
    }

    /// Ends a unit that parks or releases a letter: in the read model's transaction, or
    /// through the store.
    async fn record(&mut self, end: UnitEnd) -> Result<(), RunnerError> {
        if K::TRANSACTIONAL {
            return self.commit(end).await;
        }
        if let Some(letter) = end.park {
            self.store
                .park(P::NAME, letter)
                .await
                .map_err(store_error::<P>)?;
        }
        if let Some(position) = end.release {
            self.store
                .release(P::NAME, position)
                .await
                .map_err(store_error::<P>)?;
        }
        Ok(())
    }

    /// The policy for an event whose handler failed once.
    async fn fail(
        &mut self,
        event: &RecordedEvent,
        error: ProjectionError,
    ) -> Result<(), RunnerError> {
        let done = UnitEnd {
            checkpoint: event.global_position,
            ..UnitEnd::default()
        };
        let Err((error, attempts)) = self.retry(event, Some(error)).await? else {
            return self.commit(done).await;
        };
        match self.settings.policy.on_failure() {
            OnFailure::Stop => Err(RunnerError::Handler {
                cause: error,
                attempts,
            }),
            OnFailure::Skip => {
                tracing::error!(projection = P::NAME, %error, attempts, "event skipped");
                self.sink.begin().await.map_err(store_error::<P>)?;
                self.commit(done).await
            }
            OnFailure::Park => {
                tracing::warn!(projection = P::NAME, %error, attempts, "event parked");
                self.park(event, error.to_string(), attempts).await
            }
        }
    }

    /// Tries `event` until it goes through or the policy's attempts are spent; `failed` is
    /// the error of an attempt already made.
    async fn retry(
        &mut self,
        event: &RecordedEvent,
        failed: Option<ProjectionError>,
    ) -> Result<Result<(), (ProjectionError, u32)>, RunnerError> {
        let mut retry = self.settings.policy.retries();
        let mut error = match failed {
            Some(error) => error,
            None => match self.attempt_alone(event).await? {
                Ok(()) => return Ok(Ok(())),
                Err(error) => error,
            },
        };
        loop {
            let wait = retry.failed();
            // Decoding again gives the same answer.
            let (Some(delay), false) = (wait, matches!(error, ProjectionError::Decode { .. }))
            else {
                break;
            };
            let attempts = retry.failures();
            tracing::debug!(projection = P::NAME, %error, attempts, "handler failed; retrying");
            tokio::time::sleep(delay).await;
            match self.attempt_alone(event).await? {
                Ok(()) => return Ok(Ok(())),
                Err(again) => error = again,
            }
        }
        Ok(Err((error, retry.failures())))
    }

    /// One attempt at `event` in a unit of its own, left open when it went through (the
    /// caller commits it with what it records) and undone when it failed.
    async fn attempt_alone(
        &mut self,
        event: &RecordedEvent,
    ) -> Result<Result<(), ProjectionError>, RunnerError> {
        self.sink.begin().await.map_err(store_error::<P>)?;
        let mut state = self.shared.write().await;
        let outcome = attempt(
            &mut *state,
            &self.codec,
            &self.pipeline,
            event,
            self.sink.context(),
        )
        .await;
        drop(state);
        if outcome.is_err() {
            self.sink.rollback().await;
        }
        Ok(outcome)
    }

    fn advance(&mut self, position: u64) {
        if position > self.position {
            self.position = position;
            self.shared.progress.send_modify(|p| p.position = position);
        }
    }

    /// Stores the checkpoint when resuming from one (a SQL read model always does, in its
    /// own transaction).
    async fn save(&mut self) -> Result<(), RunnerError> {
        if !self.settings.resume || self.saved == self.position {
            return Ok(());
        }
        if K::TRANSACTIONAL {
            self.sink.begin().await.map_err(store_error::<P>)?;
            let end = UnitEnd {
                checkpoint: self.position,
                ..UnitEnd::default()
            };
            return self.commit(end).await;
        }
        match self.store.save_checkpoint(P::NAME, self.position).await {
            Ok(()) => {
                self.saved = self.position;
                self.saved_at = Instant::now();
                Ok(())
            }
            Err(error) if error.is_retriable() => {
                tracing::warn!(projection = P::NAME, %error, "checkpoint not stored; trying later");
                self.saved_at = Instant::now();
                Ok(())
            }
            Err(source) => Err(store_error::<P>(source)),
        }
    }
}

/// Why a unit stopped before the end of its window.
enum Stop {
    WaitsBehind,
    Failed(ProjectionError),
}

fn store_error<P: Projection>(source: StoreError) -> RunnerError {
    RunnerError::Store {
        projection: P::NAME,
        cause: source,
    }
}

/// One call of the projection's handler through the pipeline, with a panic turned into an
/// error.
async fn attempt<P: Projection, C: Codec, M: Pipeline>(
    state: &mut P,
    codec: &C,
    pipeline: &M,
    event: &RecordedEvent,
    context: &mut P::Context,
) -> Result<(), ProjectionError> {
    let through = async {
        if !pipeline.filter(event) {
            return Ok(false);
        }
        let seen = pipeline.transform(event);
        pipeline
            .around(&seen, state.handle(codec, &seen, context))
            .await
    };
    match panic::future(through).await {
        Ok(handled) => handled.map(drop),
        Err(message) => Err(ProjectionError::handler::<P>(
            event,
            format!("the handler panicked: {message}").into(),
        )),
    }
}
