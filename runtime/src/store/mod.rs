//! The [`EventStore`] trait every backend implements, with the types of its requests and
//! answers. Backends: [`InMemoryStore`], SQLite and PostgreSQL behind their features, and
//! [`AnyStore`] for whichever a URL names.

mod any;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
mod dead_letter;
mod error;
mod head;
mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod retention;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
mod stream_lock;
mod subscription;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use self::any::AnyStore;
pub use self::dead_letter::DeadLetter;
pub use self::error::{BoxError, StoreError};
pub use self::memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use self::postgres::{PgOptions, PgStore};
pub use self::retention::DEFAULT_IDEMPOTENCY_RETENTION;
pub(crate) use self::retention::Pruning;
#[cfg(feature = "sqlite")]
pub use self::sqlite::{Durability, SqliteOptions, SqliteStore};
pub use self::stream_lock::StreamTurn;
pub(crate) use self::stream_lock::StreamTurns;
pub use self::subscription::Subscription;
use crate::model::envelope::{Metadata, NewEvent, RecordedEvent, Timestamp};

/// The version a writer expects a stream to be at, checked atomically with the append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet (the same as `Exact(0)`).
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have this version (0: the stream must not exist).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently at `current` (0 when absent) satisfies this expectation.
    #[must_use]
    pub fn accepts(self, current: u64) -> bool {
        self.bounds().contains(&current)
    }

    /// The versions this expectation accepts, as one range (what a SQL backend checks
    /// server-side).
    pub(crate) fn bounds(self) -> std::ops::RangeInclusive<u64> {
        match self {
            Self::Any => 0..=u64::MAX,
            Self::NoStream => 0..=0,
            Self::StreamExists => 1..=u64::MAX,
            Self::Exact(v) => v..=v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::StreamExists => f.write_str("an existing stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
    /// How many events the append wrote (0 for an idempotency record alone).
    pub count: u64,
    /// The global position of the last event written, `None` when none was.
    pub position: Option<u64>,
}

impl Appended {
    /// The stream version of the first event written (`version + 1` when none was).
    #[must_use]
    pub fn first_version(&self) -> u64 {
        self.version + 1 - self.count
    }
}

/// The answer to an append that carries an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events were written and the key recorded.
    Appended(Appended),
    /// The key was already recorded for this stream: nothing was written; this is what the
    /// first append with the key wrote.
    Duplicate(Appended),
}

/// Rejects stream ids no backend can store: empty, or with a NUL byte.
pub(crate) fn check_stream_id(stream: &str) -> Result<(), StoreError> {
    if stream.is_empty() {
        return Err(StoreError::Invalid("the stream id is empty".to_owned()));
    }
    check_text(stream, || "the stream id".to_owned())
}

/// Rejects text with a NUL byte, which PostgreSQL's `text` and `jsonb` cannot hold: no
/// backend keeps one where PostgreSQL keeps text, so that a log written on one backend moves
/// to another. `field` names the field, for the message (built only when refused).
pub(crate) fn check_text(text: &str, field: impl FnOnce() -> String) -> Result<(), StoreError> {
    if text.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{} contains a NUL byte",
            field()
        )));
    }
    Ok(())
}

/// The text of an append that every backend checks before anything is written (see
/// [`check_text`]): the stream id, each event's name and metadata strings, the key.
pub(crate) fn check_append(
    stream: &str,
    events: &[NewEvent],
    key: Option<&str>,
) -> Result<(), StoreError> {
    check_stream_id(stream)?;
    if let Some(key) = key {
        check_key(key)?;
    }
    let count = events.len();
    for (i, event) in events.iter().enumerate() {
        let of = || format!("event {} of {count}", i + 1);
        check_text(&event.event_type, || format!("the name of {}", of()))?;
        // Every field named, so that a new one is not left unchecked.
        let Metadata {
            correlation_id: _,
            causation_id: _,
            actor,
            tenant,
            source,
            headers,
        } = &*event.metadata;
        for (value, field) in [(actor, "actor"), (tenant, "tenant"), (source, "source")] {
            if let Some(value) = value {
                check_text(value, || format!("the {field} in the metadata of {}", of()))?;
            }
        }
        for (name, value) in headers {
            check_text(name, || {
                format!("the name of a header in the metadata of {}", of())
            })?;
            check_text(value, || {
                format!("the header {name:?} in the metadata of {}", of())
            })?;
        }
    }
    Ok(())
}

/// The text of a dead letter (see [`check_text`]): the consumer name, the event's stream id
/// and name, the reason.
pub(crate) fn check_letter(name: &str, letter: &DeadLetter) -> Result<(), StoreError> {
    check_consumer(name)?;
    check_text(&letter.stream_id, || {
        "the stream id of the dead letter".to_owned()
    })?;
    check_text(&letter.event_type, || {
        "the event name of the dead letter".to_owned()
    })?;
    check_text(&letter.reason, || {
        "the reason of the dead letter".to_owned()
    })
}

/// An idempotency key (see [`check_text`]).
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    check_text(key, || "the idempotency key".to_owned())
}

/// A consumer's name (see [`check_text`]).
pub(crate) fn check_consumer(name: &str) -> Result<(), StoreError> {
    check_text(name, || "the consumer name".to_owned())
}

/// A stream id asked about (see [`check_text`]); an empty one reads as an absent stream.
pub(crate) fn check_stream(stream: &str) -> Result<(), StoreError> {
    check_text(stream, || "the stream id".to_owned())
}

/// The names of a filtered read (see [`check_text`]).
pub(crate) fn check_names(names: &[&str]) -> Result<(), StoreError> {
    for name in names {
        check_text(name, || format!("an event name asked for ({name:?})"))?;
    }
    Ok(())
}

/// The part of an append every backend decides the same way once it knows the stream's
/// current version: an unmet expectation is a conflict, and an append with neither events nor
/// key writes nothing and answers the current version. `Ok(None)`: go on and write.
pub(crate) fn admit(
    stream: &str,
    expected: ExpectedVersion,
    current: u64,
    events: &[NewEvent],
    key: Option<&str>,
) -> Result<Option<AppendOutcome>, StoreError> {
    if !expected.accepts(current) {
        return Err(StoreError::Conflict {
            stream: stream.to_owned(),
            expected,
            actual: current,
        });
    }
    if events.is_empty() && key.is_none() {
        return Ok(Some(AppendOutcome::Appended(Appended {
            version: current,
            count: 0,
            position: None,
        })));
    }
    Ok(None)
}

/// A page of the global log, the answer to [`EventStore::read_all`] and
/// [`EventStore::read_all_filtered`]: the events read, and how far the store could see.
///
/// A short page (fewer events than asked) does not mean that the log ends there: on
/// PostgreSQL a transaction open anywhere on the server hides the appends made after it
/// began until it ends (see `PgStore`), and meanwhile reads stop short of
/// them. `scanned_to` tells the two cases apart: a reader waiting for a position (an
/// append's [`Appended::position`], or what [`EventStore::current_head`] reported) has read
/// everything up to it once `scanned_to` reaches it, and until then an empty page only means
/// that nothing more is visible yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The events read (only those whose name matched, for a filtered read), in global order.
    pub events: Vec<RecordedEvent>,
    /// Every position from the one asked for up to this one has been considered (0 when none
    /// has): a full page claims up to its last event, a short one up to the highest position
    /// the store could see. A reader that handled `events` may move its checkpoint here,
    /// past events of other names and gaps between positions. It never passes a position a
    /// later reader could still see appear.
    pub scanned_to: u64,
}

/// The page of a backend's read: `events` came from positions `from..=head` (at most `limit`
/// of them), `head` being the highest position it could see. A full page claims only up to
/// its last event.
pub(crate) fn page(
    events: Vec<RecordedEvent>,
    limit: usize,
    from_position: u64,
    head: u64,
) -> Page {
    let scanned_to = match events.last() {
        Some(last) if events.len() >= limit => last.global_position,
        _ if limit == 0 => from_position.saturating_sub(1).min(head),
        _ => head,
    };
    Page { events, scanned_to }
}

/// An aggregate's state at a stream version, serialized, so that loading it need not replay
/// the whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream version the state reflects.
    pub stream_version: u64,
    /// The version of the aggregate's serialized shape; a snapshot of another version is
    /// ignored when loading.
    pub snapshot_version: u32,
    /// The serialized state.
    pub payload: Arc<[u8]>,
    /// When it was taken.
    pub taken_at: Timestamp,
}

/// A durable, ordered log of events, split into streams.
///
/// Every backend passes the same conformance suite. Guarantees:
/// - an append is atomic: all its events or none, and its expected version is checked in the
///   same step (a lost race is [`StoreError::Conflict`], never a silent overwrite);
/// - stream versions are contiguous from 1;
/// - global positions are strictly increasing in the order a reader of [`read_all`] sees them,
///   and a reader never sees a position lower than one it has seen before;
/// - stream ids, names and payloads round-trip byte for byte;
/// - no text the store keeps (a stream id, an event name, an idempotency key, a metadata
///   string, a consumer name, a dead letter's fields) may contain a NUL byte, which
///   PostgreSQL's `text` and `jsonb` cannot hold: every backend refuses one alike, before
///   anything is written or sent, with a [`StoreError::Invalid`] that names the field, so
///   that what works on one backend works on the others. Payloads are bytes and may hold
///   any.
///
/// **Idempotency keys** are kept for a retention: a record answers retries of its key for at
/// least the retention after the append that recorded it ([`DEFAULT_IDEMPOTENCY_RETENTION`],
/// 7 days, unless the store is configured otherwise; or for ever), and is pruned soon
/// after, by the store itself (after an append with a key, once its last prune is a quarter
/// of the retention, or an hour, ago: whichever is shorter) or by [`prune_idempotency`]. A retry after its record
/// is gone is a new command: it is decided again and may append again. Times are the
/// clocks of the processes that append, taken to agree to well within the retention.
///
/// Stores are cheap handles: clone them to share one store.
///
/// [`prune_idempotency`]: EventStore::prune_idempotency
///
/// [`read_all`]: EventStore::read_all
pub trait EventStore: Clone + Send + Sync + 'static {
    /// Appends `events` to `stream` if it is at `expected`, recording `idempotency_key` (if
    /// any) for the stream in the same step. With a key already recorded for the stream,
    /// writes nothing and answers [`AppendOutcome::Duplicate`], whatever `expected` says.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the stream is not at `expected`; others from the backend.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        idempotency_key: Option<&str>,
    ) -> impl Future<Output = Result<AppendOutcome, StoreError>> + Send;

    /// What the first append with `key` on `stream` wrote, if one did.
    ///
    /// # Errors
    /// From the backend.
    fn idempotency_record(
        &self,
        stream: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Appended>, StoreError>> + Send;

    /// Up to `limit` events of `stream` with versions from `from_version` on, in order.
    /// An absent stream reads as empty.
    ///
    /// # Errors
    /// From the backend.
    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Up to `limit` events of every stream with global positions from `from_position` on, in
    /// global order, and how far the store could see ([`Page::scanned_to`]).
    ///
    /// A short or empty page is not the end of the log: on PostgreSQL, appends stay hidden
    /// while a transaction that began before them runs anywhere on the server. To read
    /// everything up to a position `p` (an append's, or [`current_head`]'s), read pages from
    /// `scanned_to + 1` until `scanned_to >= p`.
    ///
    /// ```
    /// # async fn run() -> Result<(), eventsmith::StoreError> {
    /// use eventsmith::{AppendOutcome, EventStore, ExpectedVersion, InMemoryStore, NewEvent};
    ///
    /// let store = InMemoryStore::new();
    /// let events = (0..5).map(|_| NewEvent::new("Opened", 1, b"{}".to_vec(), Default::default()));
    /// let AppendOutcome::Appended(written) =
    ///     store.append("account-1", ExpectedVersion::NoStream, events.collect(), None).await?
    /// else {
    ///     unreachable!("no idempotency key")
    /// };
    /// let last = written.position.expect("events were written");
    /// let (mut from, mut read) = (1, Vec::new());
    /// loop {
    ///     let page = store.read_all(from, 2).await?;
    ///     read.extend(page.events);
    ///     if page.scanned_to >= last {
    ///         break;
    ///     }
    ///     // Short of `last` (on PostgreSQL, while a transaction elsewhere hides the rest):
    ///     // read on from where the store could see to, after a pause if nothing came.
    ///     from = page.scanned_to + 1;
    /// }
    /// assert_eq!(read.len(), 5);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    ///
    /// # Errors
    /// From the backend.
    ///
    /// [`current_head`]: EventStore::current_head
    fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Up to `limit` events whose stored name is one of `names`, with global positions from
    /// `from_position` on, in global order; the store filters before anything is decoded.
    /// [`Page::scanned_to`] tells how far the scan went, so that a consumer of a few
    /// rare names can advance past the events it does not need.
    ///
    /// # Errors
    /// From the backend.
    fn read_all_filtered(
        &self,
        from_position: u64,
        names: &[&str],
        limit: usize,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// The stream's current version, 0 when it does not exist.
    ///
    /// # Errors
    /// From the backend.
    fn stream_version(&self, stream: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// A receiver of the highest global position a reader can see; it changes after appends.
    /// Subscriptions wait on it instead of polling.
    ///
    /// The value it holds may trail the store by a moment: `PgStore`
    /// works it out after appends, and only while someone holds a receiver. To wait for
    /// everything appended so far, ask [`current_head`](EventStore::current_head).
    fn head(&self) -> tokio::sync::watch::Receiver<u64>;

    /// The highest global position a reader can see now, asked of the store: it covers
    /// every append that returned before the call (on PostgreSQL, once every transaction
    /// that began before the append has ended: until then readers do not see it either).
    /// Receivers of [`head`](EventStore::head) are raised to it as well.
    ///
    /// ```
    /// # async fn run() -> Result<(), eventsmith::StoreError> {
    /// use eventsmith::{EventStore, ExpectedVersion, InMemoryStore, NewEvent};
    ///
    /// let store = InMemoryStore::new();
    /// let event = NewEvent::new("Opened", 1, b"{}".to_vec(), Default::default());
    /// store.append("account-1", ExpectedVersion::NoStream, vec![event], None).await?;
    /// assert_eq!(store.current_head().await?, 1);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    ///
    /// # Errors
    /// From the backend.
    fn current_head(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Keeps `snapshot` as the stream's snapshot, unless the one kept is at a later stream
    /// version.
    ///
    /// # Errors
    /// From the backend.
    fn save_snapshot(
        &self,
        stream: &str,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stream's snapshot, if one was saved.
    ///
    /// # Errors
    /// From the backend.
    fn load_snapshot(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Records that the consumer `name` (a projection) has handled every event up to global
    /// position `position`, replacing its earlier checkpoint. Setting 0 rebuilds from the
    /// start.
    ///
    /// # Errors
    /// From the backend.
    fn save_checkpoint(
        &self,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The checkpoint of the consumer `name`, if one was saved.
    ///
    /// # Errors
    /// From the backend.
    fn load_checkpoint(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Parks an event for the consumer `name`, replacing a letter it parked earlier at the
    /// same position.
    ///
    /// # Errors
    /// From the backend.
    fn park(
        &self,
        name: &str,
        letter: DeadLetter,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The events the consumer `name` has parked, in global order.
    ///
    /// # Errors
    /// From the backend.
    fn dead_letters(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Removes the consumer's letter at `position` (nothing when there is none).
    ///
    /// # Errors
    /// From the backend.
    fn release(
        &self,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the idempotency records made before `recorded_before`, and answers how many
    /// it removed: a retry with one of their keys is then a new command. Stores call it
    /// themselves with the time their retention ago (see [`EventStore`]); call it to prune
    /// at a time of your choosing, from a maintenance task or a tool. A record made at
    /// `recorded_before` or later is kept. The default keeps every record and answers 0.
    ///
    /// # Errors
    /// From the backend.
    fn prune_idempotency(
        &self,
        recorded_before: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let _ = recorded_before;
        std::future::ready(Ok(0))
    }

    /// Waits for a writer's turn on `stream`: the writers of the stream that asked for a turn
    /// through this store (any clone of it, and on PostgreSQL any process) get it one after
    /// the other, first come, first served, until the turn is dropped. A command that lost a
    /// race for the stream takes a turn, so that under contention no writer starves; see
    /// [`StreamTurn`]. The default keeps no turns.
    ///
    /// # Errors
    /// From the backend, when it keeps turns of its own.
    fn take_turn(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<StreamTurn, StoreError>> + Send {
        let _ = stream;
        std::future::ready(Ok(StreamTurn::none()))
    }

    /// Whether writers of `stream` hold or wait for turns through this store handle: a new
    /// writer then takes a turn too instead of racing those queued.
    fn turn_contended(&self, stream: &str) -> bool {
        let _ = stream;
        false
    }

    /// Follows the global log from `from_position`: first the stored events, then new ones as
    /// they are appended, with no gap and no duplicate at the hand-over.
    fn subscribe(&self, from_position: u64) -> Subscription<Self> {
        Subscription::new(self.clone(), from_position)
    }
}
