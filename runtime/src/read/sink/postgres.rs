//! SQL read models in PostgreSQL: the handlers of a projection with
//! `context = PgConnection` run their statements in the runner's transaction, which also
//! moves the checkpoint and parks or releases dead letters, so each event's effect is
//! applied exactly once, across crashes and restarts.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Object;
use tokio::runtime::Handle;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::model::envelope::{RecordedEvent, Timestamp};
use crate::model::projection::Projection;
use crate::read::{InboxSink, ProjectionRunner, ReadModelStore, Sink, UnitEnd};
use crate::store::StoreError;
use crate::store::postgres::{PgStore, consumers, pg_error};
use crate::wire::codec::JsonCodec;

/// A SQL read model's connection, inside the runner's transaction while a handler runs.
/// Its `#[on]` handlers are `async fn`s that await their statements.
#[derive(Debug)]
pub struct PgConnection {
    client: Arc<Object>,
}

impl PgConnection {
    /// Runs one statement; answers the number of rows it changed. The statement is
    /// prepared once per connection and cached.
    ///
    /// # Errors
    /// The server's.
    pub async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.client.prepare_cached(sql).await?;
        self.client.execute(&statement, params).await
    }

    /// Runs one query; answers its rows.
    ///
    /// # Errors
    /// The server's.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.client.prepare_cached(sql).await?;
        self.client.query(&statement, params).await
    }
}

/// The transaction around a PostgreSQL read model's units.
#[derive(Debug)]
pub struct PgReadModel {
    store: PgStore,
    conn: PgConnection,
    /// The projection's lock was let go of.
    closed: bool,
}

impl super::Sealed for PgReadModel {}

impl super::SealedStore<PgConnection> for PgStore {}

impl<P: Projection<Context = PgConnection>> Sink<P> for PgReadModel {
    const TRANSACTIONAL: bool = true;

    async fn begin(&mut self) -> Result<(), StoreError> {
        self.conn
            .client
            .batch_execute("BEGIN")
            .await
            .map_err(pg_error)
    }

    fn context(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    async fn commit(&mut self, name: &'static str, end: UnitEnd) -> Result<(), StoreError> {
        let (client, names) = (&**self.conn.client, &self.store.inner.names);
        let committed = async {
            if !end.without_checkpoint {
                consumers::save_checkpoint(client, names, name, end.checkpoint).await?;
            }
            if let Some(letter) = &end.park {
                consumers::park(client, names, name, letter).await?;
            }
            if let Some(position) = end.release {
                consumers::release(client, names, name, position).await?;
            }
            client.batch_execute("COMMIT").await.map_err(pg_error)
        }
        .await;
        if committed.is_err() {
            <Self as Sink<P>>::rollback(self).await;
        }
        committed
    }

    async fn rollback(&mut self) {
        // A failed ROLLBACK (a lost connection) leaves nothing to undo: the server rolls back.
        drop(self.conn.client.batch_execute("ROLLBACK").await);
    }

    async fn close(&mut self) {
        // If this fails the connection is broken, and its session (with the lock) is gone.
        drop(
            self.conn
                .client
                .batch_execute("SELECT pg_advisory_unlock_all()")
                .await,
        );
        self.closed = true;
    }
}

impl<P: Projection<Context = PgConnection> + Sync>
    ProjectionRunner<PgStore, P, JsonCodec, PgReadModel>
{
    /// A runner of a SQL read model kept in `store`'s database: each batch of events is
    /// handled in one transaction that also stores the checkpoint (and any dead letter), so
    /// a crash at any point leaves every event's effect applied exactly once. It resumes from
    /// its checkpoint on start and holds one pooled connection while it runs. Create the read
    /// model's tables before starting it. Any tokio runtime will do, current-thread too.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] without a connection, or when another runner of the read
    /// model holds it for longer than 30 s.
    pub async fn postgres(store: PgStore, projection: P) -> Result<Self, StoreError> {
        let (sink, ()) = store.read_model::<P>().await?;
        Ok(Self::with_sink(store, projection, sink))
    }
}

impl ReadModelStore<PgConnection> for PgStore {
    type Sink<P: Projection<Context = PgConnection> + Sync> = PgReadModel;
    /// Each query takes a pooled connection.
    type Queries = ();

    async fn read_model<P: Projection<Context = PgConnection> + Sync>(
        &self,
    ) -> Result<(PgReadModel, ()), StoreError> {
        let client = self.inner.client().await?;
        hold_projection(&client, self, P::NAME).await?;
        Ok((self.sink(client), ()))
    }

    async fn inbox_model<P: Projection<Context = PgConnection> + Sync>(
        &self,
    ) -> Result<PgReadModel, StoreError> {
        Ok(self.sink(self.inner.client().await?))
    }

    async fn query_context(&self, _queries: &()) -> Result<PgConnection, StoreError> {
        Ok(PgConnection {
            client: Arc::new(self.inner.client().await?),
        })
    }
}

impl PgStore {
    fn sink(&self, client: Object) -> PgReadModel {
        PgReadModel {
            store: self.clone(),
            conn: PgConnection {
                client: Arc::new(client),
            },
            closed: false,
        }
    }
}

impl<P: Projection<Context = PgConnection>> InboxSink<P> for PgReadModel {
    async fn record_handled(
        &mut self,
        consumer: &'static str,
        message: &RecordedEvent,
    ) -> Result<bool, StoreError> {
        let id = message.event_id;
        let client = &self.conn.client;
        let statement = client
            .prepare_cached(&self.store.inner.names.inbox_insert)
            .await
            .map_err(pg_error)?;
        let inserted = client
            .execute(&statement, &[&consumer, &id, &Timestamp::now().as_micros()])
            .await
            .map_err(pg_error)?;
        Ok(inserted == 1)
    }
}

/// How long a runner waits for another runner of its projection to end.
const HOLD_WAIT: Duration = Duration::from_secs(30);

/// Takes the projection's session advisory lock on the connection that runs its
/// transactions, before the runner reads its checkpoint. So two runners of one read model
/// never run at once, in one process or several. And a runner that was killed cannot commit
/// its last batch after its successor read the checkpoint: its session, which holds the lock,
/// ends only after that batch's commit (or rollback) is through on the server.
async fn hold_projection(client: &Object, store: &PgStore, name: &str) -> Result<(), StoreError> {
    let key = format!(
        "{}\u{1f}projection\u{1f}{name}",
        store.inner.names.checkpoints
    );
    let started = tokio::time::Instant::now();
    loop {
        let row = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&key],
            )
            .await
            .map_err(pg_error)?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        if started.elapsed() >= HOLD_WAIT {
            return Err(StoreError::Unavailable(
                format!(
                    "another runner of the read model `{name}` is still running (waited {} s)",
                    HOLD_WAIT.as_secs()
                )
                .into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for PgReadModel {
    fn drop(&mut self) {
        // A runner that did not end through `close` (its task was dropped): release the
        // projection's lock before the connection goes back to the pool. With no runtime
        // left, neither is the pool.
        if self.closed {
            return;
        }
        let Ok(handle) = Handle::try_current() else {
            return;
        };
        let client = Arc::clone(&self.conn.client);
        handle.spawn(async move {
            drop(
                client
                    .batch_execute("SELECT pg_advisory_unlock_all()")
                    .await,
            );
        });
    }
}
