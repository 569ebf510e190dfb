//! [`EventLog`]: the durable, ordered log of events, split into streams.

use std::future::Future;

use super::{
    Append, AppendOutcome, Appended, FilteredRead, Page, StoreError, StreamTurn, Subscription,
};
use crate::model::envelope::{RecordedEvent, Timestamp};

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
/// least the retention after the append that recorded it ([`DEFAULT_IDEMPOTENCY_RETENTION`](super::DEFAULT_IDEMPOTENCY_RETENTION),
/// 7 days, unless the store is configured otherwise; or for ever), and is pruned soon
/// after, by the store itself (after an append with a key, once its last prune is a quarter
/// of the retention, or an hour, ago: whichever is shorter) or by [`prune_idempotency`]. A retry after its record
/// is gone is a new command: it is decided again and may append again. Times are the
/// clocks of the processes that append, taken to agree to well within the retention.
///
/// Stores are cheap handles: clone them to share one store.
///
/// [`prune_idempotency`]: EventLog::prune_idempotency
///
/// [`read_all`]: EventLog::read_all
pub trait EventLog: Clone + Send + Sync + 'static {
    /// Appends the request's events to its stream if the stream is at the expected version,
    /// recording its idempotency key (if any) for the stream in the same step. With a key
    /// already recorded for the stream, writes nothing and answers
    /// [`AppendOutcome::Duplicate`], whatever the expectation says.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the stream is not at the expected version; others from
    /// the backend.
    fn append(
        &self,
        append: Append<'_>,
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

    /// Removes the idempotency records made before `recorded_before`, and answers how many
    /// it removed: a retry with one of their keys is then a new command. Stores call it
    /// themselves with the time their retention ago (see [`EventLog`]); call it to prune
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
    /// use eventsmith::InMemoryStore;
    /// use eventsmith::event::NewEvent;
    /// use eventsmith::store::{Append, AppendOutcome, EventLog, ExpectedVersion};
    ///
    /// let store = InMemoryStore::new();
    /// let events = (0..5).map(|_| NewEvent::new("Opened", 1, b"{}".to_vec(), Default::default()));
    /// let AppendOutcome::Appended(written) =
    ///     store.append(Append::new("account-1", ExpectedVersion::NoStream, events.collect())).await?
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
    /// [`current_head`]: EventLog::current_head
    fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Up to `read.limit` events whose stored name is one of `read.names`, with global
    /// positions from `read.from_position` on, in global order; the store filters before
    /// anything is decoded. [`Page::scanned_to`] tells how far the scan went, so that a
    /// consumer of a few rare names can advance past the events it does not need.
    ///
    /// # Errors
    /// From the backend.
    fn read_all_filtered(
        &self,
        read: FilteredRead<'_>,
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
    /// everything appended so far, ask [`current_head`](EventLog::current_head).
    fn head(&self) -> tokio::sync::watch::Receiver<u64>;

    /// The highest global position a reader can see now, asked of the store: it covers
    /// every append that returned before the call (on PostgreSQL, once every transaction
    /// that began before the append has ended: until then readers do not see it either).
    /// Receivers of [`head`](EventLog::head) are raised to it as well.
    ///
    /// ```
    /// # async fn run() -> Result<(), eventsmith::StoreError> {
    /// use eventsmith::InMemoryStore;
    /// use eventsmith::event::NewEvent;
    /// use eventsmith::store::{Append, EventLog, ExpectedVersion};
    ///
    /// let store = InMemoryStore::new();
    /// let event = NewEvent::new("Opened", 1, b"{}".to_vec(), Default::default());
    /// store.append(Append::new("account-1", ExpectedVersion::NoStream, vec![event])).await?;
    /// assert_eq!(store.current_head().await?, 1);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    ///
    /// # Errors
    /// From the backend.
    fn current_head(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

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
