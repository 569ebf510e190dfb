//! SQL read models in the store's SQLite file: the handlers of a projection with
//! `context = SqliteConnection` write their tables in the runner's transaction, which also
//! moves the checkpoint and parks or releases dead letters, so each event's effect is applied
//! exactly once, across crashes and restarts.
//!
//! SQLite's calls block, so the connection lives on a thread of its own: the handlers send
//! it their statements and await the answers, and no statement or commit runs on a tokio
//! worker.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;
use std::thread;

use rusqlite::{Connection, Params};
use tokio::sync::oneshot;

use crate::model::envelope::{RecordedEvent, Timestamp};
use crate::model::projection::Projection;
use crate::read::{InboxSink, ProjectionRunner, ReadModelStore, Sink, UnitEnd};
use crate::store::StoreError;
use crate::store::sqlite::dead_letters::{park, release};
use crate::store::sqlite::writer::save_checkpoint;
use crate::store::sqlite::{SqliteStore, backend_error, open_reader, open_writable};
use crate::wire::codec::JsonCodec;

/// Work for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A SQL read model's connection to the store's SQLite file, inside the runner's
/// transaction while a handler runs. The connection lives on a thread of its own: each call
/// sends it there and awaits the answer.
///
/// ```
/// # async fn handler(db: &eventsmith::projection::SqliteConnection) -> eventsmith::rusqlite::Result<()> {
/// // Parameters are moved to the connection's thread: owned values, as a tuple.
/// db.execute("INSERT INTO pings (n, who) VALUES (?1, ?2)", (7, "ada".to_owned())).await?;
/// let total: i64 = db
///     .call(|conn| conn.query_row("SELECT sum(n) FROM pings", [], |row| row.get(0)))
///     .await?;
/// # let _ = total; Ok(()) }
/// ```
#[derive(Debug)]
pub struct SqliteConnection {
    jobs: mpsc::Sender<Job>,
}

impl SqliteConnection {
    /// Moves `conn` to a thread of its own, named `name`, which ends when the last handle to
    /// it is dropped.
    pub(crate) fn spawn(mut conn: Connection, name: String) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name(name)
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        Ok(Self { jobs })
    }

    /// Another handle to the same connection and thread, for the runtime's own use (a
    /// query's context).
    pub(crate) fn share(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }

    /// Runs `f` on the connection's thread and answers what it returns. A panic in `f` is
    /// resumed in the caller (the runner turns it into the handler's error).
    ///
    /// # Errors
    /// `f`'s.
    pub async fn call<R, F>(&self, f: F) -> rusqlite::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        self.with_connection(|conn| f(conn)).await
    }

    /// Runs one statement with `params` (owned values: a tuple, an array, or
    /// [`rusqlite::params_from_iter`] over owned values); answers the number of rows it
    /// changed. The statement is prepared once per connection and cached.
    ///
    /// # Errors
    /// SQLite's.
    pub async fn execute<P: Params + Send + 'static>(
        &self,
        sql: &str,
        params: P,
    ) -> rusqlite::Result<usize> {
        let sql = sql.to_owned();
        self.call(move |conn| conn.prepare_cached(&sql)?.execute(params))
            .await
    }

    /// Runs `f` with the connection itself, for the runner's own statements.
    async fn with_connection<R, F>(&self, f: F) -> rusqlite::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            drop(reply.send(catch_unwind(AssertUnwindSafe(|| f(conn)))));
        });
        if self.jobs.send(job).is_err() {
            return Err(gone());
        }
        match answer.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(gone()),
        }
    }
}

/// The connection's thread ended: it only does when every sender is gone, so this is never
/// seen by a caller that holds one; it stands for a thread that could not be reached.
fn gone() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
        Some("the read model's connection thread is gone".to_owned()),
    )
}

/// The transaction around a SQLite read model's units, on the connection's thread, beside
/// the store's own writer (SQLite lets one write transaction at a time; each waits up to
/// 10 s for the other).
#[derive(Debug)]
pub struct SqliteReadModel {
    conn: SqliteConnection,
}

impl SqliteReadModel {
    pub(crate) fn open(store: &SqliteStore, name: &str) -> Result<Self, StoreError> {
        let conn = open_writable(store.path(), store.synchronous())?;
        Ok(Self {
            conn: SqliteConnection::spawn(conn, format!("eventsmith-read-model-{name}"))?,
        })
    }

    async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        match self.conn.with_connection(move |conn| Ok(f(conn))).await {
            Ok(answered) => answered,
            Err(unreachable) => Err(backend_error(unreachable)),
        }
    }
}

impl super::Sealed for SqliteReadModel {}

impl super::SealedStore<SqliteConnection> for SqliteStore {}

impl<P: Projection<Context = SqliteConnection>> Sink<P> for SqliteReadModel {
    const TRANSACTIONAL: bool = true;

    async fn begin(&mut self) -> Result<(), StoreError> {
        self.run(|conn| conn.execute_batch("BEGIN IMMEDIATE").map_err(backend_error))
            .await
    }

    fn context(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    async fn commit(&mut self, name: &'static str, end: UnitEnd) -> Result<(), StoreError> {
        self.run(move |conn| {
            let saved = if end.without_checkpoint {
                Ok(())
            } else {
                save_checkpoint(conn, name, end.checkpoint)
            };
            let written = saved
                .and_then(|()| end.park.as_ref().map_or(Ok(()), |l| park(conn, name, l)))
                .and_then(|()| end.release.map_or(Ok(()), |p| release(conn, name, p)))
                .and_then(|()| conn.execute_batch("COMMIT").map_err(backend_error));
            if written.is_err() {
                roll_back(conn);
            }
            written
        })
        .await
    }

    async fn rollback(&mut self) {
        // A thread that cannot be reached holds no transaction.
        let rolled_back = self.run(|conn| {
            roll_back(conn);
            Ok(())
        });
        drop(rolled_back.await);
    }
}

impl<P: Projection<Context = SqliteConnection>> InboxSink<P> for SqliteReadModel {
    async fn record_handled(
        &mut self,
        consumer: &'static str,
        message: &RecordedEvent,
    ) -> Result<bool, StoreError> {
        let id = message.event_id;
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO inbox (consumer, message_id, handled_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (consumer, message_id) DO NOTHING",
            )
            .and_then(|mut s| s.execute((consumer, id.as_bytes(), Timestamp::now().as_micros())))
            .map(|inserted| inserted == 1)
            .map_err(backend_error)
        })
        .await
    }
}

impl ReadModelStore<SqliteConnection> for SqliteStore {
    type Sink<P: Projection<Context = SqliteConnection> + Sync> = SqliteReadModel;
    /// A read-only connection on a thread of its own, shared by the read model's queries.
    type Queries = SqliteConnection;

    async fn read_model<P: Projection<Context = SqliteConnection> + Sync>(
        &self,
    ) -> Result<(SqliteReadModel, SqliteConnection), StoreError> {
        let sink = SqliteReadModel::open(self, P::NAME)?;
        let queries = SqliteConnection::spawn(
            open_reader(self.path())?,
            format!("eventsmith-queries-{}", P::NAME),
        )?;
        Ok((sink, queries))
    }

    async fn inbox_model<P: Projection<Context = SqliteConnection> + Sync>(
        &self,
    ) -> Result<SqliteReadModel, StoreError> {
        SqliteReadModel::open(self, P::NAME)
    }

    async fn query_context(
        &self,
        queries: &SqliteConnection,
    ) -> Result<SqliteConnection, StoreError> {
        Ok(queries.share())
    }
}

fn roll_back(conn: &Connection) {
    if !conn.is_autocommit() {
        // A failed ROLLBACK leaves nothing to undo: SQLite rolled back already.
        drop(conn.execute_batch("ROLLBACK"));
    }
}

impl<P: Projection<Context = SqliteConnection> + Sync>
    ProjectionRunner<SqliteStore, P, JsonCodec, SqliteReadModel>
{
    /// A runner of a SQL read model kept in `store`'s file: each batch of events is handled
    /// in one transaction that also stores the checkpoint (and any dead letter), so a crash
    /// at any point leaves every event's effect applied exactly once. It resumes from its
    /// checkpoint on start. Its connection runs on a thread of its own. Create the read
    /// model's tables before starting it.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use eventsmith::projection::SqliteConnection;
    /// use eventsmith::{Event, ProjectionRunner, SqliteStore, projection};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, Serialize, Deserialize, Event)]
    /// struct Pinged { n: i64 }
    ///
    /// struct PingTable;
    ///
    /// #[projection(name = "ping-table", context = SqliteConnection)]
    /// impl PingTable {
    ///     #[on]
    ///     async fn pinged(&mut self, event: &Pinged, db: &mut SqliteConnection) -> eventsmith::rusqlite::Result<()> {
    ///         db.execute("INSERT INTO pings (n) VALUES (?1)", (event.n,)).await?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let dir = std::env::temp_dir().join(format!("eventsmith-rm-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let store = SqliteStore::open(dir.join("events.db"))?;
    /// eventsmith::rusqlite::Connection::open(store.path())?.execute_batch("CREATE TABLE pings (n INTEGER)")?;
    /// let running = ProjectionRunner::sqlite(store, PingTable)?.start().await?;
    /// running.stop().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When the file cannot be opened or the connection's thread not started.
    pub fn sqlite(store: SqliteStore, projection: P) -> Result<Self, StoreError> {
        let sink = SqliteReadModel::open(&store, P::NAME)?;
        Ok(Self::with_sink(store, projection, sink))
    }
}
