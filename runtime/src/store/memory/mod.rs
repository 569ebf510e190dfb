//! [`InMemoryStore`]: the whole log in process memory, for tests and benchmarks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use foldhash::fast::RandomState;

use tokio::sync::watch;

mod sagas;

use super::head::Head;
use super::{AppendOutcome, Appended, DeadLetter, Page, Snapshot, StoreError, page};
use crate::model::envelope::{RecordedEvent, Timestamp};

/// An event store in process memory: fast, exact, and gone when the process ends.
///
/// One lock guards the log, so appends are atomic and global order is the order of appends.
/// Idempotency records are kept for [`DEFAULT_IDEMPOTENCY_RETENTION`] unless
/// [`with_idempotency_retention`](Self::with_idempotency_retention) says otherwise (see
/// [`EventLog`](crate::store::EventLog) on retention); a prune looks at every stream.
///
/// [`DEFAULT_IDEMPOTENCY_RETENTION`]: crate::store::DEFAULT_IDEMPOTENCY_RETENTION
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use eventsmith::InMemoryStore;
/// use eventsmith::event::NewEvent;
/// use eventsmith::store::{Append, EventLog, ExpectedVersion};
///
/// let store = InMemoryStore::new();
/// let event = NewEvent::new("Pinged", 1, b"{}".to_vec(), Default::default());
/// store.append(Append::new("ping-1", ExpectedVersion::NoStream, vec![event])).await?;
/// let read = store.read_stream("ping-1", 1, 10).await?;
/// assert_eq!(read[0].stream_version, 1);
/// assert_eq!(read[0].global_position, 1);
/// # Ok::<_, eventsmith::StoreError>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    log: RwLock<Log>,
    head: Head,
    turns: super::StreamTurns,
    pruning: super::Pruning,
    sagas: std::sync::Mutex<sagas::Sagas>,
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<RecordedEvent>,
    // Seeded hashing: stream ids may come from untrusted input.
    streams: HashMap<Arc<str>, Stream, RandomState>,
    snapshots: HashMap<String, Snapshot, RandomState>,
    checkpoints: HashMap<String, u64, RandomState>,
    /// Per consumer, by position.
    dead_letters: HashMap<String, BTreeMap<u64, DeadLetter>, RandomState>,
}

#[derive(Debug)]
struct Stream {
    /// The stream id, shared by the stream's events.
    id: Arc<str>,
    /// Indexes into `Log::events`, in stream version order.
    events: Vec<usize>,
    /// What each key's first append wrote, and when.
    idempotency: HashMap<String, (Appended, Timestamp), RandomState>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryStore {
    /// An empty store, keeping idempotency records for
    /// [`DEFAULT_IDEMPOTENCY_RETENTION`](crate::store::DEFAULT_IDEMPOTENCY_RETENTION).
    #[must_use]
    pub fn new() -> Self {
        Self::with_idempotency_retention(Some(super::DEFAULT_IDEMPOTENCY_RETENTION))
    }

    /// An empty store that keeps idempotency records for `retention` (`None`: for ever).
    #[must_use]
    pub fn with_idempotency_retention(retention: Option<Duration>) -> Self {
        Self {
            inner: Arc::new(Inner {
                log: RwLock::new(Log::default()),
                head: Head::new(0),
                turns: super::StreamTurns::default(),
                pruning: super::Pruning::new(retention),
                sagas: std::sync::Mutex::default(),
            }),
        }
    }

    /// The number of events stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().events.len()
    }

    /// Whether no event is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // No user code runs under the lock, so a poisoned lock still guards a consistent log.
    fn read(&self) -> RwLockReadGuard<'_, Log> {
        self.inner
            .log
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Log> {
        self.inner
            .log
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn append_now(&self, append: super::Append<'_>) -> Result<AppendOutcome, StoreError> {
        let super::Append {
            stream,
            expected,
            events,
            idempotency_key,
            ..
        } = append;
        let mut guard = self.write();
        let log = &mut *guard;
        let current = log.streams.get_mut(stream);
        if let (Some(key), Some(s)) = (idempotency_key, current.as_deref()) {
            if let Some((first, _)) = s.idempotency.get(key) {
                return Ok(AppendOutcome::Duplicate(*first));
            }
        }
        let version = current.as_deref().map_or(0, |s| s.events.len() as u64);
        if let Some(done) = super::admit(stream, expected, version, &events, idempotency_key)? {
            return Ok(done);
        }
        let entry = match current {
            Some(entry) => entry,
            None => {
                let id: Arc<str> = Arc::from(stream);
                log.streams.entry(Arc::clone(&id)).or_insert(Stream {
                    id,
                    events: Vec::new(),
                    idempotency: HashMap::default(),
                })
            }
        };
        let count = events.len() as u64;
        let mut position = None;
        for (offset, event) in (1..).zip(events) {
            let index = log.events.len();
            let global_position = index as u64 + 1;
            log.events.push(RecordedEvent {
                event_id: event.event_id,
                stream_id: Arc::clone(&entry.id),
                stream_version: version + offset,
                global_position,
                timestamp: event.timestamp,
                event_type: Arc::from(event.event_type),
                schema_version: event.schema_version,
                payload: Arc::from(event.payload),
                metadata: event.metadata,
            });
            entry.events.push(index);
            position = Some(global_position);
        }
        let appended = Appended {
            version: version + count,
            count,
            position,
        };
        if let Some(key) = idempotency_key {
            entry
                .idempotency
                .insert(key.to_owned(), (appended, Timestamp::now()));
        }
        drop(guard);
        if let Some(position) = position {
            self.inner.head.raise(position);
        }
        if idempotency_key.is_some() {
            if let Some(before) = self.inner.pruning.due() {
                self.prune_now(before);
            }
        }
        Ok(AppendOutcome::Appended(appended))
    }

    /// Removes the idempotency records made before `before`; answers how many.
    fn prune_now(&self, before: Timestamp) -> u64 {
        let mut log = self.write();
        let mut removed = 0;
        for stream in log.streams.values_mut() {
            let kept = stream.idempotency.len();
            stream.idempotency.retain(|_, (_, at)| *at >= before);
            removed += (kept - stream.idempotency.len()) as u64;
        }
        removed
    }
}

impl super::EventLog for InMemoryStore {
    async fn take_turn(&self, stream: &str) -> Result<super::StreamTurn, StoreError> {
        Ok(self.inner.turns.take(stream).await)
    }

    fn turn_contended(&self, stream: &str) -> bool {
        self.inner.turns.contended(stream)
    }

    async fn append(&self, append: super::Append<'_>) -> Result<AppendOutcome, StoreError> {
        super::check_append(&append)?;
        self.append_now(append)
    }

    async fn idempotency_record(
        &self,
        stream: &str,
        key: &str,
    ) -> Result<Option<Appended>, StoreError> {
        super::check_stream(stream)?;
        super::check_key(key)?;
        Ok(self
            .read()
            .streams
            .get(stream)
            .and_then(|s| s.idempotency.get(key).map(|(first, _)| *first)))
    }

    async fn prune_idempotency(&self, recorded_before: Timestamp) -> Result<u64, StoreError> {
        Ok(self.prune_now(recorded_before))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        super::check_stream(stream)?;
        let log = self.read();
        let Some(s) = log.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(from_version.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(s.events
            .iter()
            .skip(skip)
            .take(limit)
            .filter_map(|&i| log.events.get(i).cloned())
            .collect())
    }

    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Page, StoreError> {
        let log = self.read();
        let start = usize::try_from(from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        let head = log.events.last().map_or(0, |e| e.global_position);
        let events = log
            .events
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take(limit)
            .cloned()
            .collect();
        Ok(page(events, limit, from_position, head))
    }

    async fn read_all_filtered(&self, read: super::FilteredRead<'_>) -> Result<Page, StoreError> {
        let super::FilteredRead {
            from_position,
            names,
            limit,
            ..
        } = read;
        super::check_names(names)?;
        let log = self.read();
        let start = usize::try_from(from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        let head = log.events.last().map_or(0, |e| e.global_position);
        let events = log
            .events
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|e| names.contains(&&*e.event_type))
            .take(limit)
            .cloned()
            .collect();
        Ok(page(events, limit, from_position, head))
    }

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        super::check_stream(stream)?;
        Ok(self
            .read()
            .streams
            .get(stream)
            .map_or(0, |s| s.events.len() as u64))
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head.subscribe()
    }

    /// The head is raised before an append returns: it is always current.
    async fn current_head(&self) -> Result<u64, StoreError> {
        Ok(self.inner.head.get())
    }
}

impl super::SnapshotStore for InMemoryStore {
    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        super::check_stream(stream)?;
        let mut log = self.write();
        let newer = log
            .snapshots
            .get(stream)
            .is_none_or(|kept| kept.stream_version <= snapshot.stream_version);
        if newer {
            log.snapshots.insert(stream.to_owned(), snapshot);
        }
        Ok(())
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        super::check_stream(stream)?;
        Ok(self.read().snapshots.get(stream).cloned())
    }
}

impl super::ConsumerStore for InMemoryStore {
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        super::check_consumer(name)?;
        self.write().checkpoints.insert(name.to_owned(), position);
        Ok(())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        super::check_consumer(name)?;
        Ok(self.read().checkpoints.get(name).copied())
    }

    async fn park(&self, name: &str, letter: DeadLetter) -> Result<(), StoreError> {
        super::check_letter(name, &letter)?;
        self.write()
            .dead_letters
            .entry(name.to_owned())
            .or_default()
            .insert(letter.position, letter);
        Ok(())
    }

    async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
        super::check_consumer(name)?;
        Ok(self
            .read()
            .dead_letters
            .get(name)
            .map(|letters| letters.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn release(&self, name: &str, position: u64) -> Result<(), StoreError> {
        super::check_consumer(name)?;
        if let Some(letters) = self.write().dead_letters.get_mut(name) {
            letters.remove(&position);
        }
        Ok(())
    }
}
