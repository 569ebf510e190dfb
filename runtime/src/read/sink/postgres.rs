//! SQL read models in PostgreSQL: the handlers of a projection with
//! `context = PgConnection` run their statements in the runner's transaction, which also
//! moves the checkpoint and parks or releases dead letters, so each event's effect is
//! applied exactly once, across crashes and restarts.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Object;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::model::projection::Projection;
use crate::read::{ProjectionRunner, Sink, UnitEnd};
use crate::store::StoreError;
use crate::store::postgres::{PgStore, consumers, pg_error};
use crate::wire::codec::JsonCodec;

/// A SQL read model's connection, inside the runner's transaction while a handler runs.
///
/// Handlers are synchronous, so its calls wait for the server with
/// [`tokio::task::block_in_place`]: the runner needs tokio's multi-thread runtime.
#[derive(Debug)]
pub struct PgConnection {
    client: Object,
    handle: Handle,
}

impl PgConnection {
    /// Runs one statement; answers the number of rows it changed.
    ///
    /// # Errors
    /// The server's.
    pub fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let client = &self.client;
        self.wait(async move {
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, params).await
        })
    }

    /// Runs one query; answers its rows.
    ///
    /// # Errors
    /// The server's.
    pub fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let client = &self.client;
        self.wait(async move {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, params).await
        })
    }

    fn wait<F: Future>(&self, future: F) -> F::Output {
        tokio::task::block_in_place(|| self.handle.block_on(future))
    }
}

/// The transaction around a PostgreSQL read model's units.
#[derive(Debug)]
pub struct PgReadModel {
    store: PgStore,
    conn: PgConnection,
}

impl<P: Projection<Context = PgConnection>> Sink<P> for PgReadModel {
    const TRANSACTIONAL: bool = true;

    fn begin(&mut self) -> Result<(), StoreError> {
        let client = &self.conn.client;
        self.conn
            .wait(client.batch_execute("BEGIN"))
            .map_err(pg_error)
    }

    fn context(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    fn commit(&mut self, name: &str, end: &UnitEnd) -> Result<(), StoreError> {
        let (client, names) = (&self.conn.client, &self.store.inner.names);
        let committed = self.conn.wait(async move {
            consumers::save_checkpoint(client, names, name, end.checkpoint).await?;
            if let Some(letter) = &end.park {
                consumers::park(client, names, name, letter).await?;
            }
            if let Some(position) = end.release {
                consumers::release(client, names, name, position).await?;
            }
            client.batch_execute("COMMIT").await.map_err(pg_error)
        });
        if committed.is_err() {
            <Self as Sink<P>>::rollback(self);
        }
        committed
    }

    fn rollback(&mut self) {
        let client = &self.conn.client;
        // A failed ROLLBACK (a lost connection) leaves nothing to undo: the server rolls back.
        drop(self.conn.wait(client.batch_execute("ROLLBACK")));
    }
}

impl<P: Projection<Context = PgConnection> + Sync>
    ProjectionRunner<PgStore, P, JsonCodec, PgReadModel>
{
    /// A runner of a SQL read model kept in `store`'s database: each batch of events is
    /// handled in one transaction that also stores the checkpoint (and any dead letter), so
    /// a crash at any point leaves every event's effect applied exactly once. It resumes from
    /// its checkpoint on start and holds one pooled connection while it runs. Create the read
    /// model's tables before starting it.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] on tokio's current-thread runtime (handlers wait for the
    /// server with `block_in_place`); [`StoreError::Unavailable`] without a connection.
    pub async fn postgres(store: PgStore, projection: P) -> Result<Self, StoreError> {
        let handle = Handle::current();
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return Err(StoreError::Invalid(
                "a PostgreSQL read model needs tokio's multi-thread runtime: its synchronous handlers wait for the server with `block_in_place`".to_owned(),
            ));
        }
        let client = store.inner.client().await?;
        hold_projection(&client, &store, P::NAME).await?;
        let sink = PgReadModel {
            store: store.clone(),
            conn: PgConnection { client, handle },
        };
        Ok(Self::with_sink(store, projection, sink))
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
        // The connection goes back to the pool: release the projection's lock first. If
        // that fails the connection is broken, and its session (with the lock) is gone. With
        // no runtime left, neither is the pool.
        if Handle::try_current().is_err() {
            return;
        }
        let client = &self.conn.client;
        drop(
            self.conn
                .wait(client.batch_execute("SELECT pg_advisory_unlock_all()")),
        );
    }
}
