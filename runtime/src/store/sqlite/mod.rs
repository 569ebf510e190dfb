//! [`SqliteStore`]: the embedded default. One file on disk in WAL mode, one writer that
//! batches concurrent appends into one transaction, a checkpointer thread, and a pool of read
//! connections.

mod checkpointer;
pub(crate) mod dead_letters;
mod follow;
mod group_commit;
mod pool;
mod rows;
mod saga_tables;
mod sagas;
mod schema;

pub(crate) mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{oneshot, watch};

use self::checkpointer::Checkpointer;
use self::follow::Watcher;
use self::group_commit::GroupCommit;
use self::pool::ReadPool;
use self::writer::{Put, Write, Writer};
use super::columns::{SharedNames, sql_int};
use super::head::Head;
use super::{AppendOutcome, Appended, DeadLetter, Page, Snapshot, StoreError, page};
use crate::model::envelope::{RecordedEvent, Timestamp};

/// How far a commit is synced before it is acknowledged.
///
/// Both survive a crash of the process (the database file is never corrupt and every
/// acknowledged append is there). They differ on a crash of the machine or a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous = FULL`: every batch is synced to disk before it is acknowledged, so an
    /// acknowledged append survives a power loss too. The default: group commit keeps the cost
    /// to one sync per batch of concurrent appends.
    #[default]
    Full,
    /// `synchronous = NORMAL`: WAL is synced at checkpoints only. An acknowledged append
    /// survives a process crash but the last ones may be lost on a power loss.
    Normal,
}

impl Durability {
    /// The value of SQLite's `synchronous` setting.
    fn synchronous(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Settings of a [`SqliteStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteOptions {
    durability: Durability,
    readers: usize,
    max_batch: usize,
    watch_interval: std::time::Duration,
    idempotency_retention: Option<std::time::Duration>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            readers: 4,
            max_batch: 1024,
            watch_interval: std::time::Duration::from_millis(10),
            idempotency_retention: Some(super::DEFAULT_IDEMPOTENCY_RETENTION),
        }
    }
}

impl SqliteOptions {
    /// The durability of commits (default [`Durability::Full`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The most read connections open at once (default 4). Each is opened when a read finds
    /// none idle and stays open; a read that finds all of them busy waits for one.
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers.max(1);
        self
    }

    /// The most appends committed in one transaction (default 1,024).
    pub fn max_batch(mut self, appends: usize) -> Self {
        self.max_batch = appends.max(1);
        self
    }

    /// How often, while anyone watches the head (a subscription, a projection runner), the
    /// store asks SQLite whether another handle or process has committed to the file
    /// (default 10 ms): the longest such an append waits before it wakes this store's
    /// subscribers. This store's own appends wake them at once.
    pub fn watch_interval(mut self, interval: std::time::Duration) -> Self {
        self.watch_interval = interval.max(std::time::Duration::from_millis(1));
        self
    }

    /// How long idempotency records answer retries: at least this long after the append
    /// that made them, then they are pruned (default
    /// [`DEFAULT_IDEMPOTENCY_RETENTION`](crate::store::DEFAULT_IDEMPOTENCY_RETENTION), 7 days;
    /// `None` keeps them for ever). See [`EventLog`](crate::store::EventLog) on retention.
    pub fn idempotency_retention(mut self, retention: Option<std::time::Duration>) -> Self {
        self.idempotency_retention = retention;
        self
    }
}

/// An event store in one SQLite file: durable, embedded, no server.
///
/// The schema is created or migrated on open. Appends from any number of tasks join one
/// queue and are committed together, one transaction for all that are waiting (group commit).
/// An append that finds nobody committing is committed at once by its own task, which blocks
/// its thread for that one commit; appends that pile up meanwhile are committed by the
/// store's writer thread. WAL checkpoints run on another thread of the store's, so no append
/// waits for one. Reads run in blocking threads on a pool of at most
/// [`SqliteOptions::readers`] connections, beside the writer (WAL mode); a read that finds
/// every connection busy waits for one.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use eventsmith::SqliteStore;
/// use eventsmith::event::NewEvent;
/// use eventsmith::store::{Append, EventLog, ExpectedVersion};
///
/// let dir = std::env::temp_dir().join(format!("eventsmith-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("events.db"))?;
/// let event = NewEvent::new("Pinged", 1, b"{}".to_vec(), Default::default());
/// store.append(Append::new("ping-1", ExpectedVersion::NoStream, vec![event])).await?;
/// assert_eq!(store.stream_version("ping-1").await?, 1);
/// # drop(store); std::fs::remove_dir_all(&dir)?;
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    durability: Durability,
    // Dropped in this order: read-only connections first, so that the writer's side closes
    // last and removes the WAL (a read-only connection cannot).
    readers: ReadPool,
    #[allow(dead_code, reason = "held for its drop, which stops the thread")]
    watcher: Watcher,
    writes: GroupCommit,
    head: Arc<Head>,
    turns: super::StreamTurns,
    pruning: super::Pruning,
}

impl SqliteStore {
    /// The `synchronous` setting of this store's connections (read models' connections use
    /// it too).
    pub(crate) fn synchronous(&self) -> &'static str {
        self.inner.durability.synchronous()
    }

    /// Opens (creating if needed) the store in the file at `path`, with default settings.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened; [`StoreError::Backend`]
    /// when its schema is newer than this build or a migration fails.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the store with explicit settings.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend_error)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(backend_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(
                format!("the database refused WAL mode ({mode})").into(),
            ));
        }
        let synchronous = options.durability.synchronous();
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(backend_error)?;
        // The checkpointer thread checkpoints, not the commits (see `checkpointer`). It rewinds
        // the WAL at 16 MiB; a WAL that grew past 128 MiB (while readers held it) is cut back.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .and_then(|()| conn.pragma_update(None, "journal_size_limit", 128 << 20))
            .map_err(backend_error)?;
        schema::migrate(&mut conn).map_err(|e| StoreError::Backend(e.into()))?;
        let last = writer::last_position(&conn)?;
        let head = Arc::new(Head::new(last));
        let data_version = writer::data_version(&conn)?;
        let writer = Writer {
            conn,
            head: Arc::clone(&head),
            next_position: last + 1,
            versions: writer::StreamVersions::default(),
            data_version,
            checkpointer: Checkpointer::start(open_writable(&path, synchronous)?)
                .map_err(thread_error)?,
        };
        let watcher = Watcher::start(
            open_reader(&path)?,
            Arc::clone(&head),
            options.watch_interval,
        )
        .map_err(thread_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                durability: options.durability,
                readers: ReadPool::new(options.readers),
                watcher,
                writes: GroupCommit::start(writer, options.max_batch).map_err(thread_error)?,
                head,
                turns: super::StreamTurns::default(),
                pruning: super::Pruning::new(options.idempotency_retention),
            }),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn write<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Write,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let write = make(reply);
        self.inner.writes.submit(write);
        answer.await.map_err(|_| {
            StoreError::Unavailable("the SQLite writer dropped the append unanswered".into())
        })?
    }

    /// How many read connections the store has opened: never more than
    /// [`SqliteOptions::readers`], since a read that finds every one busy waits for one
    /// rather than opening another. Each stays open until the store is dropped.
    #[must_use]
    pub fn read_connections(&self) -> usize {
        self.inner.readers.opened()
    }

    /// Runs `read` on a pooled read connection in a blocking thread, once one is free.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Waited for here, not in the blocking thread: a read that waits holds no thread.
        let permit = self.inner.readers.permit().await?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.readers.run(permit, &inner.path, read))
            .await
            .map_err(|e| StoreError::Backend(e.into()))?
    }
}

/// A second read-write connection to the store's file, with the writer's durability.
pub(crate) fn open_writable(path: &Path, synchronous: &str) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .and_then(|()| conn.pragma_update(None, "synchronous", synchronous))
        .map_err(backend_error)?;
    Ok(conn)
}

fn thread_error(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot start a thread of the SQLite store: {e}").into())
}

pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend_error)?;
    Ok(conn)
}

/// Busy or locked databases may free up; other failures are the backend's.
pub(crate) fn backend_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked, SystemIoFailure};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked | CannotOpen | SystemIoFailure) => unavailable(e),
        _ => StoreError::Backend(e.into()),
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.into())
}

fn query_events(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend_error)?;
    let mut rows = stmt.query(params).map_err(backend_error)?;
    let mut events = Vec::new();
    let mut shared = SharedNames::default();
    while let Some(row) = rows.next().map_err(backend_error)? {
        events.push(rows::recorded(row, &mut shared)?);
    }
    Ok(events)
}

impl super::EventLog for SqliteStore {
    async fn take_turn(&self, stream: &str) -> Result<super::StreamTurn, StoreError> {
        Ok(self.inner.turns.take(stream).await)
    }

    fn turn_contended(&self, stream: &str) -> bool {
        self.inner.turns.contended(stream)
    }

    async fn append(&self, append: super::Append<'_>) -> Result<AppendOutcome, StoreError> {
        crate::store::check_append(&append)?;
        let keyed = append.idempotency_key.is_some();
        let outcome = self
            .write(|reply| Write::Append {
                stream: append.stream.to_owned(),
                expected: append.expected,
                key: append.idempotency_key.map(str::to_owned),
                events: append.events,
                reply,
            })
            .await;
        if keyed {
            if let Some(before) = self.inner.pruning.due() {
                // Queued behind this append and before anything this task writes next;
                // nobody waits for the answer.
                let (reply, _) = oneshot::channel();
                self.inner.writes.submit(Write::Prune { before, reply });
            }
        }
        outcome
    }

    async fn prune_idempotency(&self, recorded_before: Timestamp) -> Result<u64, StoreError> {
        self.write(|reply| Write::Prune {
            before: recorded_before,
            reply,
        })
        .await
    }

    async fn idempotency_record(
        &self,
        stream: &str,
        key: &str,
    ) -> Result<Option<Appended>, StoreError> {
        crate::store::check_stream(stream)?;
        crate::store::check_key(key)?;
        let (stream, key) = (stream.to_owned(), key.to_owned());
        self.read(move |conn| writer::idempotency_record(conn, &stream, &key))
            .await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit_n: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        crate::store::check_stream(stream)?;
        let stream = stream.to_owned();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {} FROM events WHERE stream_id = ?1 AND stream_version >= ?2 ORDER BY stream_version LIMIT ?3",
                rows::COLUMNS
            );
            query_events(conn, &sql, params![stream, sql_int(from_version), sql_int(limit_n)])
        })
        .await
    }

    async fn read_all(&self, from_position: u64, limit_n: usize) -> Result<Page, StoreError> {
        self.read(move |conn| {
            // Bounded by the head read first, as in `read_all_filtered`: a short page then
            // claims no position that an append committed in between could fill.
            let head = writer::last_position(conn)?;
            let sql = format!(
                "SELECT {} FROM events WHERE position >= ?1 AND position <= ?2 ORDER BY position LIMIT ?3",
                rows::COLUMNS
            );
            let events = query_events(
                conn,
                &sql,
                params![sql_int(from_position), sql_int(head), sql_int(limit_n)],
            )?;
            Ok(page(events, limit_n, from_position, head))
        })
        .await
    }

    async fn read_all_filtered(&self, read: super::FilteredRead<'_>) -> Result<Page, StoreError> {
        let super::FilteredRead {
            from_position,
            names,
            limit,
            ..
        } = read;
        crate::store::check_names(names)?;
        let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
        self.read(move |conn| {
            // The writer commits positions in order: everything up to the highest committed
            // position is readable, so the scan may claim it.
            let head = writer::last_position(conn)?;
            let placeholders = (0..names.len())
                .map(|i| format!("?{}", i + 4))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {} FROM events WHERE position >= ?1 AND position <= ?2
                 AND event_type IN ({placeholders}) ORDER BY position LIMIT ?3",
                rows::COLUMNS
            );
            let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(names.len() + 3);
            let (from, to, limit_n) = (sql_int(from_position), sql_int(head), sql_int(limit));
            params.extend([&from as &dyn rusqlite::ToSql, &to, &limit_n]);
            params.extend(names.iter().map(|n| n as &dyn rusqlite::ToSql));
            let events = if names.is_empty() {
                Vec::new()
            } else {
                query_events(conn, &sql, params.as_slice())?
            };
            Ok(page(events, limit, from_position, head))
        })
        .await
    }

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        crate::store::check_stream(stream)?;
        let stream = stream.to_owned();
        self.read(move |conn| writer::stored_version(conn, &stream))
            .await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head.subscribe()
    }

    /// This store's appends raise the head before they return; the file is asked too, for
    /// the appends of other handles and processes.
    async fn current_head(&self) -> Result<u64, StoreError> {
        let last = self.read(writer::last_position).await?;
        self.inner.head.raise(last);
        Ok(self.inner.head.get())
    }
}

impl super::SnapshotStore for SqliteStore {
    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        crate::store::check_stream(stream)?;
        let stream = stream.to_owned();
        self.write(|reply| Write::Put {
            put: Put::Snapshot { stream, snapshot },
            reply,
        })
        .await
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        crate::store::check_stream(stream)?;
        let stream = stream.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT snapshot_version, stream_version, payload, taken_at FROM snapshots WHERE stream_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([&stream], |r| {
                    Ok(Snapshot {
                        snapshot_version: r.get(0)?,
                        stream_version: r.get::<_, i64>(1)?.unsigned_abs(),
                        payload: Arc::from(r.get::<_, Vec<u8>>(2)?),
                        taken_at: Timestamp::from_micros(r.get(3)?),
                    })
                })
                .optional()
            })
            .map_err(backend_error)
        })
        .await
    }
}

impl super::ConsumerStore for SqliteStore {
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        crate::store::check_consumer(name)?;
        let name = name.to_owned();
        self.write(|reply| Write::Put {
            put: Put::Checkpoint { name, position },
            reply,
        })
        .await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        crate::store::check_consumer(name)?;
        let name = name.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT position FROM checkpoints WHERE name = ?1")
                .and_then(|mut s| {
                    s.query_row([&name], |r| Ok(r.get::<_, i64>(0)?.unsigned_abs()))
                        .optional()
                })
                .map_err(backend_error)
        })
        .await
    }

    async fn park(&self, name: &str, letter: DeadLetter) -> Result<(), StoreError> {
        crate::store::check_letter(name, &letter)?;
        let name = name.to_owned();
        self.write(|reply| Write::Put {
            put: Put::Park { name, letter },
            reply,
        })
        .await
    }

    async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
        crate::store::check_consumer(name)?;
        let name = name.to_owned();
        self.read(move |conn| dead_letters::dead_letters(conn, &name))
            .await
    }

    async fn release(&self, name: &str, position: u64) -> Result<(), StoreError> {
        crate::store::check_consumer(name)?;
        let name = name.to_owned();
        self.write(|reply| Write::Put {
            put: Put::Release { name, position },
            reply,
        })
        .await
    }
}
