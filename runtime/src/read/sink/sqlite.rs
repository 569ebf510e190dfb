//! SQL read models in the store's SQLite file: the handlers of a projection with
//! `context = rusqlite::Connection` write their tables in the runner's transaction, which
//! also moves the checkpoint and parks or releases dead letters, so each event's effect is
//! applied exactly once, across crashes and restarts.

use rusqlite::Connection;

use crate::model::projection::Projection;
use crate::read::{ProjectionRunner, Sink, UnitEnd};
use crate::store::StoreError;
use crate::store::sqlite::dead_letters::{park, release};
use crate::store::sqlite::writer::save_checkpoint;
use crate::store::sqlite::{SqliteStore, backend_error, open_writable};
use crate::wire::codec::JsonCodec;

/// The connection a SQL read model's runner writes through, beside the store's own writer
/// (SQLite lets one write transaction at a time; each waits up to 10 s for the other).
#[derive(Debug)]
pub struct SqliteReadModel {
    conn: Connection,
}

impl SqliteReadModel {
    fn open(store: &SqliteStore) -> Result<Self, StoreError> {
        let synchronous = store.synchronous();
        Ok(Self {
            conn: open_writable(store.path(), synchronous)?,
        })
    }
}

impl<P: Projection<Context = Connection>> Sink<P> for SqliteReadModel {
    const TRANSACTIONAL: bool = true;

    fn begin(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(backend_error)
    }

    fn context(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn commit(&mut self, name: &str, end: &UnitEnd) -> Result<(), StoreError> {
        let written = save_checkpoint(&self.conn, name, end.checkpoint)
            .and_then(|()| {
                end.park
                    .as_ref()
                    .map_or(Ok(()), |l| park(&self.conn, name, l))
            })
            .and_then(|()| end.release.map_or(Ok(()), |p| release(&self.conn, name, p)))
            .and_then(|()| self.conn.execute_batch("COMMIT").map_err(backend_error));
        if written.is_err() {
            <Self as Sink<P>>::rollback(self);
        }
        written
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            // A failed ROLLBACK leaves nothing to undo: SQLite rolled back already.
            drop(self.conn.execute_batch("ROLLBACK"));
        }
    }
}

impl<P: Projection<Context = Connection> + Sync>
    ProjectionRunner<SqliteStore, P, JsonCodec, SqliteReadModel>
{
    /// A runner of a SQL read model kept in `store`'s file: each batch of events is handled
    /// in one transaction that also stores the checkpoint (and any dead letter), so a crash
    /// at any point leaves every event's effect applied exactly once. It resumes from its
    /// checkpoint on start. Create the read model's tables before starting it.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use eventsmith::rusqlite::Connection;
    /// use eventsmith::{Event, ProjectionRunner, SqliteStore, projection};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, Serialize, Deserialize, Event)]
    /// struct Pinged { n: i64 }
    ///
    /// struct PingTable;
    ///
    /// #[projection(name = "ping-table", context = Connection)]
    /// impl PingTable {
    ///     #[on]
    ///     fn pinged(&mut self, event: &Pinged, db: &Connection) -> eventsmith::rusqlite::Result<()> {
    ///         db.execute("INSERT INTO pings (n) VALUES (?1)", [event.n])?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let dir = std::env::temp_dir().join(format!("eventsmith-rm-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let store = SqliteStore::open(dir.join("events.db"))?;
    /// Connection::open(store.path())?.execute_batch("CREATE TABLE pings (n INTEGER)")?;
    /// let running = ProjectionRunner::sqlite(store, PingTable)?.start().await?;
    /// running.stop().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn sqlite(store: SqliteStore, projection: P) -> Result<Self, StoreError> {
        let sink = SqliteReadModel::open(&store)?;
        Ok(Self::with_sink(store, projection, sink))
    }
}
