//! Executing one command: load (or take from the cache) the aggregate, decide, apply, append
//! with the expected version, and retry the whole decision on a version conflict.
//!
//! Order of a decision: the new events are applied to the cached state *before* the append,
//! so an `apply` that panics leaves the store untouched; any failed append then invalidates
//! the cached state, which is reloaded on the next attempt.
//!
//! A cached state is never trusted beyond what the store confirms, since another process may
//! have appended since it was cached. A decision that appends is confirmed by the append's
//! expected version (a conflict reloads and decides again). A decision that appends nothing,
//! a rejection or no events, is confirmed by catching the state up with the events after its
//! version (one read of the stream's tail, usually empty); when there were some, the command
//! is decided again on the caught-up state. A rejected command with an idempotency key
//! returns the outcome of the first command with that key when one was recorded meanwhile.
//!
//! Under contention a command that lost a race takes the stream's turn
//! ([`EventStore::take_turn`]) and decides again when it comes, on a state caught up under
//! the turn; while a stream's turns are in demand, new commands on it queue from the start.
//! So the writer that just appended cannot keep winning, and nobody runs out of attempts.

use std::sync::Arc;

use uuid::Uuid;

use crate::model::aggregate::Aggregate;
use crate::model::command::HandledCommand;
use crate::model::envelope::{CommandContext, Metadata, NewEvent, RecordedEvent, Timestamp};
use crate::model::error::DecodeError;
use crate::model::event::{DecodeFailure, EventSet};
use crate::store::Append;
use crate::store::{AppendOutcome, Appended, EventStore, ExpectedVersion, Snapshot, StoreError};
use crate::util::backoff::Backoff;
use crate::util::panic;
use crate::util::retry::Retry;
use crate::wire::codec::Codec;
use crate::write::cache::Slot;
use crate::write::error::CommandError;

/// The result of [`App::execute`](crate::App::execute) for command `C`.
pub type ExecuteResult<C> = Result<
    Executed<<<C as HandledCommand>::Aggregate as Aggregate>::Event>,
    CommandError<<C as HandledCommand>::Error>,
>;

/// What a successful command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed<E> {
    /// The aggregate's stream.
    pub stream_id: String,
    /// The stream's version after the command.
    pub version: u64,
    /// The global position of the last appended event; `None` when nothing was appended.
    /// Pass it to a query to read your own writes.
    pub position: Option<u64>,
    /// The events the command appended, in order.
    pub events: Vec<E>,
    /// `true` when this is the recorded outcome of an earlier command with the same
    /// idempotency key: nothing was appended this time.
    pub replayed: bool,
    /// How many decisions it took: 1, plus one per version conflict with another writer.
    pub attempts: u32,
}

/// Tuning of command execution.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) read_batch: usize,
}

pub(crate) struct Request<'a, S, C> {
    pub(crate) store: &'a S,
    pub(crate) codec: &'a C,
    pub(crate) limits: Limits,
}

type Outcome<C> = Result<
    Executed<<<C as HandledCommand>::Aggregate as Aggregate>::Event>,
    CommandError<<C as HandledCommand>::Error>,
>;

impl<S: EventStore, K: Codec> Request<'_, S, K> {
    pub(crate) async fn execute<C: HandledCommand>(
        &self,
        slot: &mut Slot<C::Aggregate>,
        stream: String,
        command: &C,
        context: &CommandContext,
    ) -> Outcome<C> {
        // The command's check of itself comes before any read of the store.
        match panic::call(|| C::validate(command)) {
            Ok(Ok(())) => {}
            Ok(Err(rejection)) => return Err(CommandError::Rejected(rejection)),
            Err(message) => return Err(panicked::<C>(&stream, "its validation", message)),
        }
        let key = context
            .idempotency_key
            .clone()
            .or_else(|| command.idempotency_key().map(std::borrow::Cow::into_owned));
        if let Some(key) = &key {
            if let Some(first) = self.store.idempotency_record(&stream, key).await? {
                return self.replay::<C>(stream, first, 1).await;
            }
        }
        let command_id = Uuid::now_v7();
        let metadata = Arc::new(context.event_metadata(command_id));
        // While other writers of the stream queue for turns, this one queues too (see
        // `StreamTurn`): it decides on a state caught up under the turn, so it does not race.
        let mut turn = None;
        if self.store.turn_contended(&stream) {
            turn = Some(self.store.take_turn(&stream).await?);
        }
        // The first retry waits for the turn, the second goes at once, then the backoff.
        let mut retry = Retry::new(self.limits.backoff)
            .at_most(self.limits.max_attempts)
            .immediately(2);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Whether the state was read from the store during this attempt. A decision on
            // it stands; one on a cached state is only as good as the store confirms.
            let mut confirmed = false;
            if slot.loaded && turn.is_some() {
                // Under a turn the previous holder has just appended: catch up first.
                if let Err(e) = self.catch_up(slot, &stream).await {
                    slot.invalidate();
                    return Err(e.into_command_error::<C>(&stream));
                }
                confirmed = true;
            }
            if !slot.loaded {
                // A failed load leaves the slot unloaded: the next attempt starts afresh.
                self.load(slot, &stream)
                    .await
                    .map_err(|e| e.into_command_error::<C>(&stream))?;
                confirmed = true;
            }
            let decided = loop {
                let decided = match panic::future(C::handle(&slot.state, command.clone())).await {
                    Ok(decided) => decided,
                    Err(message) => {
                        return Err(panicked::<C>(&stream, "the #[handle] method", message));
                    }
                };
                // An append checks the state it was decided on (its expected version); a
                // rejection or a decision of nothing appends nothing, so it is confirmed
                // here: another process may have moved the stream on since the state was
                // cached. Catching up reads only the events after the cached version.
                let appends = matches!(&decided, Ok(events) if !events.is_empty() || key.is_some());
                if appends || confirmed {
                    break decided;
                }
                confirmed = true;
                match self.catch_up(slot, &stream).await {
                    Ok(false) => break decided,
                    Ok(true) => {
                        tracing::debug!(stream, "the cached state was behind; deciding again")
                    }
                    Err(e) => {
                        slot.invalidate();
                        return Err(e.into_command_error::<C>(&stream));
                    }
                }
            };
            let events = match decided {
                Ok(events) => events,
                Err(rejection) => {
                    // A caller with the key of a command that another caller (in any process)
                    // got through first gets its outcome, whatever this decision said.
                    if let Some(key) = &key {
                        if let Some(first) = self.store.idempotency_record(&stream, key).await? {
                            return self.replay::<C>(stream, first, attempt).await;
                        }
                    }
                    return Err(CommandError::Rejected(rejection));
                }
            };
            if events.is_empty() && key.is_none() {
                return Ok(Executed {
                    stream_id: stream,
                    version: slot.version,
                    position: None,
                    events,
                    replayed: false,
                    attempts: attempt,
                });
            }
            let new_events = self.encode::<C>(&events, &metadata, &stream)?;
            let expected = ExpectedVersion::Exact(slot.version);
            if let Err(message) = panic::call(|| {
                for event in &events {
                    slot.state.apply(event);
                }
            }) {
                slot.invalidate();
                return Err(panicked::<C>(&stream, "an #[apply] method", message));
            }
            let appended = self
                .store
                .append(
                    Append::new(&stream, expected, new_events).with_idempotency_key(key.as_deref()),
                )
                .await;
            match appended {
                Ok(AppendOutcome::Appended(appended)) => {
                    let before = slot.version;
                    slot.version = appended.version;
                    self.snapshot_if_due(slot, &stream, before).await;
                    return Ok(Executed {
                        stream_id: stream,
                        version: appended.version,
                        position: appended.position,
                        events,
                        replayed: false,
                        attempts: attempt,
                    });
                }
                Ok(AppendOutcome::Duplicate(first)) => {
                    slot.invalidate();
                    return self.replay::<C>(stream, first, attempt).await;
                }
                Err(conflict @ StoreError::Conflict { .. }) => {
                    slot.invalidate();
                    tracing::debug!(stream, attempt, "version conflict; deciding again");
                    let Some(delay) = retry.failed() else {
                        return Err(CommandError::Conflict {
                            command: C::NAME,
                            stream,
                            attempts: attempt,
                            cause: conflict,
                        });
                    };
                    // A writer that lost a race takes the stream's turn and retries at once
                    // when it comes; one that lost under a turn (to a writer of another
                    // process that found no turn) retries at once, then backs off.
                    if turn.is_none() {
                        turn = Some(self.store.take_turn(&stream).await?);
                        continue;
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                }
                Err(other) => {
                    slot.invalidate();
                    return Err(other.into());
                }
            }
        }
    }

    fn encode<C: HandledCommand>(
        &self,
        events: &[<C::Aggregate as Aggregate>::Event],
        metadata: &Arc<Metadata>,
        stream: &str,
    ) -> Result<Vec<NewEvent>, CommandError<C::Error>> {
        let timestamp = Timestamp::now();
        let mut encoded = Vec::with_capacity(events.len());
        for event in events {
            let payload = match panic::call(|| event.encode(self.codec)) {
                Ok(Ok(payload)) => payload,
                Ok(Err(source)) => {
                    return Err(CommandError::Encode {
                        command: C::NAME,
                        event_type: event.name(),
                        cause: source,
                    });
                }
                Err(message) => return Err(panicked::<C>(stream, "serialization", message)),
            };
            encoded.push(NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event.name().into(),
                schema_version: event.version(),
                payload,
                metadata: Arc::clone(metadata),
                timestamp,
            });
        }
        Ok(encoded)
    }

    /// Saves a snapshot when the stream version just crossed a multiple of the aggregate's
    /// `SNAPSHOT_EVERY`. The events are committed already, so a failure here is only logged:
    /// the next load replays a little more.
    async fn snapshot_if_due<A: Aggregate>(&self, slot: &Slot<A>, stream: &str, before: u64) {
        let every = A::SNAPSHOT_EVERY;
        if every == 0 || before / every == slot.version / every {
            return;
        }
        let payload = match panic::call(|| slot.state.encode_snapshot(self.codec)) {
            Ok(Some(Ok(payload))) => payload,
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                tracing::warn!(stream, error = %e, "the aggregate state does not serialize; no snapshot taken");
                return;
            }
            Err(message) => {
                tracing::warn!(
                    stream,
                    message,
                    "serializing a snapshot panicked; no snapshot taken"
                );
                return;
            }
        };
        let snapshot = Snapshot {
            stream_version: slot.version,
            snapshot_version: A::SNAPSHOT_VERSION,
            payload: payload.into(),
            taken_at: Timestamp::now(),
        };
        if let Err(e) = self.store.save_snapshot(stream, snapshot).await {
            tracing::warn!(stream, error = %e, "saving a snapshot failed");
        }
    }

    /// Starts a fresh state from the stream's snapshot, if it has a usable one. A snapshot of
    /// another shape version, or one that does not decode, is ignored: the events rebuild the
    /// state.
    async fn restore_snapshot<A: Aggregate>(
        &self,
        slot: &mut Slot<A>,
        stream: &str,
    ) -> Result<(), LoadError> {
        if A::SNAPSHOT_EVERY == 0 {
            return Ok(());
        }
        let Some(snapshot) = self.store.load_snapshot(stream).await? else {
            return Ok(());
        };
        if snapshot.snapshot_version != A::SNAPSHOT_VERSION {
            tracing::debug!(
                stream,
                found = snapshot.snapshot_version,
                current = A::SNAPSHOT_VERSION,
                "ignoring a snapshot of another shape version"
            );
            return Ok(());
        }
        match panic::call(|| A::decode_snapshot(self.codec, &snapshot.payload)) {
            Ok(Some(Ok(state))) => {
                slot.state = state;
                slot.version = snapshot.stream_version;
            }
            Ok(None) => {}
            Ok(Some(Err(e))) => {
                tracing::warn!(stream, error = %e, "ignoring a snapshot that does not decode");
            }
            Err(message) => {
                tracing::warn!(
                    stream,
                    message,
                    "ignoring a snapshot whose decoding panicked"
                );
            }
        }
        Ok(())
    }

    /// Folds the stream (from its snapshot, if any) into a fresh state.
    pub(crate) async fn load<A: Aggregate>(
        &self,
        slot: &mut Slot<A>,
        stream: &str,
    ) -> Result<(), LoadError> {
        slot.invalidate();
        self.restore_snapshot(slot, stream).await?;
        self.catch_up(slot, stream).await?;
        slot.loaded = true;
        Ok(())
    }

    /// Applies the events of the stream after the slot's version; whether there were any.
    /// On an error the state is part-way: the caller invalidates it.
    async fn catch_up<A: Aggregate>(
        &self,
        slot: &mut Slot<A>,
        stream: &str,
    ) -> Result<bool, LoadError> {
        let mut advanced = false;
        loop {
            let batch = self
                .store
                .read_stream(stream, slot.version + 1, self.limits.read_batch)
                .await?;
            let Some(last) = batch.last() else { break };
            let last_version = last.stream_version;
            let full = batch.len() == self.limits.read_batch;
            for recorded in &batch {
                let Some(event) = decode_for::<A>(self.codec, recorded)? else {
                    continue;
                };
                panic::call(|| slot.state.apply(&event)).map_err(LoadError::Panicked)?;
            }
            slot.version = last_version;
            advanced = true;
            if !full {
                break;
            }
        }
        Ok(advanced)
    }

    /// The outcome an earlier command with the same idempotency key recorded.
    async fn replay<C: HandledCommand>(
        &self,
        stream: String,
        first: Appended,
        attempts: u32,
    ) -> Outcome<C> {
        let mut events = Vec::with_capacity(usize::try_from(first.count).unwrap_or(0));
        let mut next = first.first_version();
        while next <= first.version {
            let room = usize::try_from(first.version - next + 1).unwrap_or(usize::MAX);
            let batch = self
                .store
                .read_stream(&stream, next, room.min(self.limits.read_batch))
                .await?;
            if batch.is_empty() {
                return Err(StoreError::Corrupt {
                    stream,
                    version: next,
                    reason: "an event recorded for an idempotency key is missing".to_owned(),
                }
                .into());
            }
            for recorded in &batch {
                next = recorded.stream_version + 1;
                if let Some(event) = decode_for::<C::Aggregate>(self.codec, recorded)? {
                    events.push(event);
                }
            }
        }
        Ok(Executed {
            stream_id: stream,
            version: first.version,
            position: first.position,
            events,
            replayed: true,
            attempts,
        })
    }
}

/// Why an aggregate could not be loaded from its stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An `#[apply]` method panicked.
    #[error("an #[apply] method panicked while loading: {0}")]
    Panicked(String),
}

impl LoadError {
    fn into_command_error<C: HandledCommand>(self, stream: &str) -> CommandError<C::Error> {
        match self {
            Self::Store(e) => e.into(),
            Self::Decode(e) => e.into(),
            Self::Panicked(message) => panicked::<C>(stream, "an #[apply] method", message),
        }
    }
}

fn panicked<C: HandledCommand>(
    stream: &str,
    during: &'static str,
    message: String,
) -> CommandError<C::Error> {
    CommandError::Panicked {
        command: C::NAME,
        stream: stream.to_owned(),
        during,
        message,
    }
}

/// Decodes a stored event of aggregate `A`; `None` for an unknown name that `A` lists in
/// `SKIP_UNKNOWN`.
fn decode_for<A: Aggregate>(
    codec: &impl Codec,
    recorded: &RecordedEvent,
) -> Result<Option<A::Event>, DecodeError> {
    match A::Event::decode(
        codec,
        &recorded.event_type,
        recorded.schema_version,
        &recorded.payload,
    ) {
        Ok(event) => Ok(Some(event)),
        Err(DecodeFailure::UnknownEvent { name, .. })
            if A::SKIP_UNKNOWN.contains(&name.as_str()) =>
        {
            tracing::debug!(
                stream = %recorded.stream_id,
                version = recorded.stream_version,
                name,
                "skipping an unknown event the aggregate lists in skip_unknown"
            );
            Ok(None)
        }
        Err(source) => Err(DecodeError::new(recorded, source)),
    }
}
