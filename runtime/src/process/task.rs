//! The task behind a [`RunningSaga`](super::RunningSaga): rounds of sending the commands
//! decided, firing the deadlines due and handling a batch of events, each step one commit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::clock::Clock;
use super::effects::{by_instance, commit_of, commit_or_supersede, fire, send_group};
use super::saga::{CommandBus, Role, Saga};
use super::status::{SagaError, SagaProgress, SagaState, Settings, store_error};
use super::step::{Decided, Instance, handle_event, instance_for};
use crate::model::envelope::{RecordedEvent, Timestamp};
use crate::model::projection::names_of;
use crate::read::OnFailure;
use crate::store::{DeadLetter, EventStore, FilteredRead, PendingCommand, SagaCommit, SagaStore};
use crate::util::backoff::Backoff;
use crate::util::retry::Retry;
use crate::wire::codec::Codec;

/// What a runner is made of.
pub(crate) struct Wiring<S, B, K, C> {
    pub(crate) store: S,
    pub(crate) bus: B,
    pub(crate) clock: K,
    pub(crate) codec: C,
    pub(crate) settings: Settings,
}

/// The wait between rounds while the store is unavailable, or a command cannot be sent.
const BACKOFF: Backoff = Backoff::exponential(Duration::from_millis(10), Duration::from_secs(5));

/// What a round did.
struct Round {
    /// Something happened: another round follows at once.
    busy: bool,
    /// When the earliest pending deadline is due.
    next_due: Option<Timestamp>,
}

/// How handling one event went.
enum Handled {
    /// It was handled (or ignored) and its step committed or left for the position.
    Done,
    /// Another runner committed first: read again from the stored position.
    Superseded,
}

pub(crate) struct SagaTask<S, G, B, K, C> {
    store: Arc<S>,
    bus: Arc<B>,
    clock: K,
    codec: C,
    settings: Settings,
    progress: Arc<watch::Sender<SagaProgress>>,
    stops: mpsc::Receiver<oneshot::Sender<()>>,
    names: Vec<&'static str>,
    /// The stored position: every event up to it is committed.
    position: u64,
    /// Events up to here are handled or ignored; the position moves here with the next
    /// commit.
    scanned: u64,
    /// Retries of commands that could not be sent, and when to send again.
    send_retry: Retry,
    send_after: Option<tokio::time::Instant>,
    saga: std::marker::PhantomData<fn() -> G>,
}

impl<S, G, B, K, C> SagaTask<S, G, B, K, C>
where
    S: EventStore + SagaStore,
    G: Saga,
    B: CommandBus,
    K: Clock,
    C: Codec,
{
    pub(crate) fn new(
        wiring: Wiring<S, B, K, C>,
        progress: Arc<watch::Sender<SagaProgress>>,
        stops: mpsc::Receiver<oneshot::Sender<()>>,
        position: u64,
    ) -> Self {
        let Wiring {
            store,
            bus,
            clock,
            codec,
            settings,
        } = wiring;
        Self {
            store: Arc::new(store),
            bus: Arc::new(bus),
            clock,
            codec,
            settings,
            progress,
            stops,
            names: names_of(G::HANDLES),
            position,
            scanned: position,
            send_retry: Retry::new(BACKOFF),
            send_after: None,
            saga: std::marker::PhantomData,
        }
    }

    pub(crate) async fn run(mut self) {
        let (state, reply) = match self.run_loop().await {
            Ok(reply) => (SagaState::Stopped, reply),
            Err(error) => {
                tracing::error!(saga = G::NAME, %error, "saga runner stopped");
                (SagaState::Failed(Arc::new(error)), None)
            }
        };
        self.progress.send_modify(|p| p.state = state);
        if let Some(reply) = reply {
            reply.send(()).ok();
        }
    }

    /// Rounds until stopped (answering the stop's reply) or failed.
    async fn run_loop(&mut self) -> Result<Option<oneshot::Sender<()>>, SagaError> {
        let mut head = self.store.head();
        let mut store_retry = Retry::new(BACKOFF);
        loop {
            if let Ok(reply) = self.stops.try_recv() {
                return Ok(Some(reply));
            }
            head.borrow_and_update();
            let round = match self.round().await {
                Ok(round) => {
                    store_retry.succeeded();
                    round
                }
                Err(SagaError::Store { cause, .. }) if cause.is_retriable() => {
                    tracing::warn!(saga = G::NAME, error = %cause, "store unavailable; trying again");
                    let pause = store_retry.failed().unwrap_or_default();
                    tokio::select! {
                        () = tokio::time::sleep(pause) => continue,
                        reply = self.stops.recv() => return Ok(reply),
                    }
                }
                Err(error) => {
                    // The steps committed before the failure (in the same batch, say) have
                    // decided their commands: they go now, not only after a restart.
                    if let Err(unsent) = self.send_pending().await {
                        tracing::warn!(saga = G::NAME, error = %unsent, "the commands decided before the failure stay pending");
                    }
                    return Err(error);
                }
            };
            let head_now = *head.borrow();
            self.progress
                .send_modify(|p| p.head = head_now.max(p.position));
            if round.busy {
                continue;
            }
            let poll = tokio::time::sleep(self.settings.poll);
            let resend = async {
                match self.send_after {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let due = async {
                match round.next_due {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = head.changed() => {}
                () = due => {}
                () = resend => {}
                () = poll => {}
                reply = self.stops.recv() => return Ok(reply),
            }
        }
    }

    async fn round(&mut self) -> Result<Round, SagaError> {
        let sent = self.send_pending().await?;
        let fired = self.fire_due().await?;
        let read = self.handle_events().await?;
        let next_due = self
            .store
            .next_deadline(G::NAME)
            .await
            .map_err(store_error::<G>)?;
        Ok(Round {
            busy: sent || fired || read,
            next_due,
        })
    }

    /// Sends the pending commands; answers whether any went.
    async fn send_pending(&mut self) -> Result<bool, SagaError> {
        if self
            .send_after
            .is_some_and(|at| tokio::time::Instant::now() < at)
        {
            return Ok(false);
        }
        self.send_after = None;
        let pending = self
            .store
            .pending_commands(G::NAME, self.settings.batch)
            .await
            .map_err(store_error::<G>)?;
        let any = !pending.is_empty();
        // Each instance's commands go in the order decided; instances go side by side, so
        // their appends share the store's transactions.
        let mut sends = tokio::task::JoinSet::new();
        for group in by_instance(pending) {
            let (store, bus) = (Arc::clone(&self.store), Arc::clone(&self.bus));
            sends.spawn(send_group::<S, G, B>(store, bus, group));
        }
        let mut failed = None;
        while let Some(joined) = sends.join_next().await {
            let sent = match joined {
                Ok(sent) => sent?,
                Err(panicked) => {
                    failed = Some(format!("sending panicked: {panicked}"));
                    continue;
                }
            };
            self.progress.send_modify(|p| {
                p.sent += sent.done;
                p.rejected += sent.unhandled + sent.rejected.len() as u64;
            });
            for (command, rejection) in sent.rejected {
                self.on_rejected(&command, rejection).await?;
            }
            if let Some(why) = sent.failed {
                failed = Some(why);
            }
        }
        if let Some(why) = failed {
            let wait = self.send_retry.failed().unwrap_or_default();
            tracing::warn!(saga = G::NAME, %why, ?wait, "a command was not sent; sending again later");
            self.send_after = Some(tokio::time::Instant::now() + wait);
            return Ok(false);
        }
        self.send_retry.succeeded();
        Ok(any)
    }

    /// Hands a rejected command back to its instance, in one commit with the command's
    /// removal; an instance that ended meanwhile only drops it.
    ///
    /// Another runner may have sent the command too, and handed the rejection back first: its
    /// commit removed the command and moved the instance on. So the instance is read first,
    /// then the command is looked for: still pending, no such commit came before the read, and
    /// one after it supersedes this step (it states the version read). Not found (gone, or not
    /// among the oldest pending), the rejection is left: a command still pending is sent
    /// again later and its rejection comes back then.
    async fn on_rejected(
        &mut self,
        command: &PendingCommand,
        rejection: G::Rejection,
    ) -> Result<(), SagaError> {
        let now = self.clock.now();
        let stored = self
            .store
            .load_instance(G::NAME, &command.instance)
            .await
            .map_err(store_error::<G>)?;
        let pending = self
            .store
            .pending_commands(G::NAME, self.settings.batch)
            .await
            .map_err(store_error::<G>)?;
        if !pending.iter().any(|c| c.id == command.id) {
            tracing::debug!(saga = G::NAME, command = %command.name, id = %command.id, "the rejection was handed back already");
            return Ok(());
        }
        let step = stored.map(|stored| {
            Instance::<G>::read(stored).and_then(|instance| {
                instance.run(now, |state, steps| state.on_rejected(rejection, steps))
            })
        });
        let mut commit = match step {
            Some(Ok(decided)) => self.commit_of(decided)?,
            Some(Err(why)) => {
                tracing::error!(saga = G::NAME, command = %command.name, %why, "the #[rejected] handler failed; the rejection is dropped");
                SagaCommit::new(G::NAME)
            }
            None => SagaCommit::new(G::NAME),
        };
        commit.sent = Some(command.id.clone());
        self.commit_or_supersede(commit).await.map(drop)
    }

    /// Fires the deadlines due; answers whether any fired.
    async fn fire_due(&mut self) -> Result<bool, SagaError> {
        let now = self.clock.now();
        let due = self
            .store
            .due_deadlines(G::NAME, now, self.settings.batch)
            .await
            .map_err(store_error::<G>)?;
        let any = !due.is_empty();
        // Side by side: each is a step of its own instance (two of one instance race, and
        // the loser fires next round).
        let mut fires = tokio::task::JoinSet::new();
        for deadline in due {
            let (store, progress) = (Arc::clone(&self.store), Arc::clone(&self.progress));
            fires.spawn(fire::<S, G>(store, progress, deadline, now));
        }
        while let Some(fired) = fires.join_next().await {
            match fired {
                Ok(fired) => fired?,
                Err(panicked) => {
                    tracing::error!(saga = G::NAME, %panicked, "firing a deadline panicked")
                }
            }
        }
        Ok(any)
    }

    /// The commit of a decided step, counting an instance that ends.
    fn commit_of(&self, decided: Decided<G>) -> Result<SagaCommit, SagaError> {
        commit_of(&self.progress, decided)
    }

    /// Commits; answers `false` when another runner committed first (the step is dropped:
    /// what it read is gone or changed, and is read again next round).
    async fn commit_or_supersede(&self, commit: SagaCommit) -> Result<bool, SagaError> {
        commit_or_supersede::<S, G>(&self.store, &self.progress, commit).await
    }

    /// Handles a batch of events after the position; answers whether it read any.
    async fn handle_events(&mut self) -> Result<bool, SagaError> {
        let read = self
            .store
            .read_all_filtered(FilteredRead::new(
                self.scanned + 1,
                &self.names,
                self.settings.batch,
            ))
            .await
            .map_err(store_error::<G>)?;
        for event in &read.events {
            if let Handled::Superseded = self.handle_event(event).await? {
                self.reload_position().await?;
                return Ok(true);
            }
            self.scanned = event.global_position;
        }
        self.scanned = self.scanned.max(read.scanned_to);
        if self.scanned > self.position {
            // Ignored and skipped events at the end of the batch.
            let mut commit = SagaCommit::new(G::NAME);
            commit.position = Some((self.position, self.scanned));
            if !self.commit_or_supersede(commit).await? {
                self.reload_position().await?;
                return Ok(true);
            }
            self.moved_to(self.scanned);
        }
        Ok(!read.events.is_empty())
    }

    async fn reload_position(&mut self) -> Result<(), SagaError> {
        let stored = self
            .store
            .saga_position(G::NAME)
            .await
            .map_err(store_error::<G>)?;
        self.position = stored;
        self.scanned = stored;
        self.progress.send_modify(|p| p.position = stored);
        Ok(())
    }

    fn moved_to(&mut self, position: u64) {
        self.position = position;
        self.progress.send_modify(|p| p.position = position);
    }

    /// One event, under the error policy.
    async fn handle_event(&mut self, event: &RecordedEvent) -> Result<Handled, SagaError> {
        let policy = self.settings.policy;
        let mut retry = policy.retries();
        loop {
            let (cause, retriable) = match self.attempt(event).await? {
                Ok(handled) => return Ok(handled),
                Err(failure) => failure,
            };
            let wait = retry.failed();
            if let (Some(delay), true) = (wait, retriable) {
                tracing::debug!(saga = G::NAME, %cause, "handler failed; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            let attempts = retry.failures();
            return match policy.on_failure() {
                OnFailure::Stop => Err(SagaError::Handler {
                    saga: G::NAME,
                    event_type: event.event_type.to_string(),
                    stream: event.stream_id.to_string(),
                    position: event.global_position,
                    attempts,
                    cause,
                }),
                OnFailure::Skip => {
                    tracing::error!(saga = G::NAME, %cause, attempts, "event skipped");
                    Ok(Handled::Done)
                }
                OnFailure::Park => {
                    tracing::warn!(saga = G::NAME, %cause, attempts, "event parked");
                    let letter = DeadLetter {
                        position: event.global_position,
                        stream_id: event.stream_id.to_string(),
                        stream_version: event.stream_version,
                        event_type: event.event_type.to_string(),
                        reason: cause,
                        attempts,
                        parked_at: Timestamp::now(),
                    };
                    self.store
                        .park(&consumer_name::<G>(), letter)
                        .await
                        .map_err(store_error::<G>)?;
                    Ok(Handled::Done)
                }
            };
        }
    }

    /// One attempt at an event: decode, find the instance, decide, commit. The inner error
    /// is the handler's failure and whether trying again may help.
    async fn attempt(
        &mut self,
        event: &RecordedEvent,
    ) -> Result<Result<Handled, (String, bool)>, SagaError> {
        let (decoded, association) = match G::decode(&self.codec, event) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return Ok(Ok(Handled::Done)),
            Err(e) => return Ok(Err((e.to_string(), false))),
        };
        let found = self
            .store
            .find_instance(G::NAME, &association.key)
            .await
            .map_err(store_error::<G>)?;
        let role = association.role;
        let instance = match instance_for::<G>(&association, found) {
            Ok(Some(instance)) => instance,
            Ok(None) => {
                tracing::debug!(saga = G::NAME, key = %association.key, ?role, position = event.global_position, "event ignored");
                self.progress.send_modify(|p| p.ignored += 1);
                return Ok(Ok(Handled::Done));
            }
            Err(why) => return Ok(Err((why, false))),
        };
        let decided = handle_event(instance, self.clock.now(), decoded, association, event);
        let decided = match decided {
            Ok(decided) => decided,
            Err(why) => return Ok(Err((why, true))),
        };
        let (starts, ends) = (role == Role::Start, decided.ends());
        let mut commit = match decided.into_commit() {
            Ok(commit) => commit,
            Err(why) => return Ok(Err((why, false))),
        };
        commit.position = Some((self.position, event.global_position));
        if !self.commit_or_supersede(commit).await? {
            return Ok(Ok(Handled::Superseded));
        }
        self.moved_to(event.global_position);
        self.progress.send_modify(|p| {
            p.started += u64::from(starts);
            p.ended += u64::from(ends);
        });
        Ok(Ok(Handled::Done))
    }
}

/// The consumer name a saga parks events under.
pub(crate) fn consumer_name<G: Saga>() -> String {
    format!("saga:{}", G::NAME)
}
