//! [`PgStore`]: PostgreSQL, for production and for several processes sharing one store.

mod announce;
mod append;
mod batch;
pub(crate) mod consumers;
mod failure;
mod listen;
mod rows;
mod sagas;
mod schema;
mod tls;
mod turns;

pub(crate) use self::failure::pg_error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::watch;

use super::columns::{appended, sql_int as int};
use super::head::Head;
use super::{AppendOutcome, Appended, DeadLetter, Page, Snapshot, StoreError, page};
use crate::model::envelope::{RecordedEvent, Timestamp};

/// Settings of a [`PgStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PgOptions {
    schema: String,
    table_prefix: String,
    pool_size: usize,
    poll_interval: Duration,
    idempotency_retention: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: tls::TlsOptions,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "eventsmith".to_owned(),
            table_prefix: String::new(),
            pool_size: 16,
            poll_interval: Duration::from_millis(500),
            idempotency_retention: Some(super::DEFAULT_IDEMPOTENCY_RETENTION),
            #[cfg(feature = "tls")]
            tls: tls::TlsOptions::default(),
        }
    }
}

impl PgOptions {
    /// The schema that holds the tables (default `eventsmith`); created if missing.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// A prefix for every table name (default none).
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.table_prefix = prefix.into();
        self
    }

    /// The most connections kept open (default 16).
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(2);
        self
    }

    /// How often subscribers look for new events when no notification arrives (default
    /// 500 ms). Notifications wake them at once; this is the fallback.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long idempotency records answer retries: at least this long after the append
    /// that made them, then they are pruned (default
    /// [`DEFAULT_IDEMPOTENCY_RETENTION`](crate::store::DEFAULT_IDEMPOTENCY_RETENTION), 7 days;
    /// `None` keeps them for ever). Every process prunes with its own setting: give the
    /// processes that share a store the same one. See [`EventLog`](crate::store::EventLog) on retention.
    pub fn idempotency_retention(mut self, retention: Option<Duration>) -> Self {
        self.idempotency_retention = retention;
        self
    }

    /// Requires TLS on every connection, whatever the URL's `sslmode` says: connecting to a
    /// server that does not offer it fails (see [`PgStore`]'s TLS section). A URL with
    /// `sslmode=require` does the same.
    #[cfg(feature = "tls")]
    pub fn require_tls(mut self) -> Self {
        self.tls.require = true;
        self
    }

    /// Certificates to trust as roots beside Mozilla's (`webpki-roots`): a private CA, or a
    /// server's self-signed certificate. Read PEM files with
    /// [`CertificateDer::pem_file_iter`](rustls::pki_types::pem::PemObject::pem_file_iter).
    /// Used when TLS is required; ignored when [`tls_config`](Self::tls_config) is given.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificates(
        mut self,
        roots: impl IntoIterator<Item = rustls::pki_types::CertificateDer<'static>>,
    ) -> Self {
        self.tls.roots.extend(roots);
        self
    }

    /// The rustls configuration of TLS connections, in place of the store's own (Mozilla's
    /// roots and those of [`tls_root_certificates`](Self::tls_root_certificates), no client
    /// certificate): for client certificates, other roots or another crypto provider. Used
    /// when TLS is required.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls.config = Some(config);
        self
    }
}

/// Quoted names of the store's objects.
#[derive(Debug)]
pub(crate) struct Names {
    /// The schema's name as configured (unquoted).
    configured_schema: String,
    /// The schema, quoted.
    quoted_schema: String,
    events: String,
    idempotency: String,
    /// The index of idempotency records by age (quoted, without the schema).
    idempotency_by_age: String,
    snapshots: String,
    pub(crate) checkpoints: String,
    dead_letters: String,
    /// The integration messages each consumer handled.
    pub(crate) inbox: String,
    /// The statement that records a handled message in the inbox.
    pub(crate) inbox_insert: String,
    /// The saga tables and their indexes.
    sagas: sagas::Tables,
    version: String,
    /// The LISTEN/NOTIFY channel (a plain string, quoted where it is an identifier).
    channel: String,
}

impl Names {
    fn new(options: &PgOptions) -> Self {
        let schema = schema::quote_ident(&options.schema);
        let table = |name: &str| {
            format!(
                "{schema}.{}",
                schema::quote_ident(&format!("{}{name}", options.table_prefix))
            )
        };
        Self {
            events: table("events"),
            idempotency: table("idempotency"),
            idempotency_by_age: schema::quote_ident(&format!(
                "{}idempotency_by_age",
                options.table_prefix
            )),
            snapshots: table("snapshots"),
            checkpoints: table("checkpoints"),
            dead_letters: table("dead_letters"),
            inbox: table("inbox"),
            inbox_insert: format!(
                "INSERT INTO {} (consumer, message_id, handled_at) VALUES ($1, $2, $3)
                 ON CONFLICT (consumer, message_id) DO NOTHING",
                table("inbox")
            ),
            sagas: sagas::Tables::new(table, &options.table_prefix),
            version: table("schema_version"),
            channel: announce::channel(&options.schema, &options.table_prefix),
            configured_schema: options.schema.clone(),
            quoted_schema: schema,
        }
    }
}

/// An event store in PostgreSQL.
///
/// - Optimistic concurrency is enforced by the database: a unique index on (stream, version)
///   arbitrates between appenders that read the same version. An append is one statement.
/// - Global positions can be followed without ever skipping an event whose transaction
///   commits after a later position's: positions are derived from transaction ids, and
///   readers only see events of transactions older than every transaction still running.
///   Positions are sparse (ordered, with gaps).
/// - Appends are announced by a NOTIFY after their commit; subscribers wake on it, with a
///   polling fallback.
/// - A lost connection is [`StoreError::Unavailable`] (retriable); the pool replaces broken
///   connections once the server is back.
/// - A server error's message is one line, the server's DETAIL and HINT joined to it with
///   "; ".
///
/// # TLS
///
/// With the `tls` feature, a URL with `sslmode=require` (libpq's `verify-ca` and
/// `verify-full` are read as `require`), or `PgOptions::require_tls`, makes every
/// connection use TLS (rustls) or fail: the server's certificate and host name are verified,
/// against Mozilla's roots plus `PgOptions::tls_root_certificates`, or as
/// `PgOptions::tls_config` says. A connect whose TLS fails (the server offers none, or its
/// certificate does not verify) is a [`StoreError::Backend`] that says so. Other `sslmode`s
/// (`prefer`, the default, and `disable`) connect in the clear: TLS that may fall back to
/// plain text, or that is not verified, would only look safe. Without the feature every
/// connection is plain, and a URL that requires TLS is a [`StoreError::Invalid`] naming the
/// feature.
///
/// ```no_run
/// # async fn run() -> Result<(), eventsmith::StoreError> {
/// use eventsmith::PgStore;
/// use eventsmith::store::PgOptions;
///
/// let store = PgStore::connect_with(
///     "postgres://postgres@127.0.0.1:5432/app",
///     PgOptions::default().schema("bank"),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pool: Pool,
    pub(crate) names: Names,
    head: Head,
    /// Sends the NOTIFY that follows appends.
    announcer: announce::Announcer,
    /// One-event appends waiting to be written together.
    batcher: batch::Batcher,
    /// Wakes the listener task to refresh the head at once: signalled by this process's
    /// appends and NOTIFYs, and by a new watcher of a head that fell behind.
    refresh: Arc<tokio::sync::Notify>,
    /// Set while the head may lag the store because nobody watched it when it would have
    /// been refreshed.
    head_behind: AtomicBool,
    /// The last position known appended (by this process, or announced by another's
    /// NOTIFY): a watched head below it is chased by the listener.
    appended_to: AtomicU64,
    /// Sent as the payload of this store's NOTIFYs, so that its listener can tell its own
    /// (already acted on) from other processes'.
    token: String,
    /// Turns of writers of contended streams, in this process.
    turns: super::StreamTurns,
    /// Bounds the pooled connections that hold turns' advisory locks.
    turn_permits: Arc<tokio::sync::Semaphore>,
    /// When idempotency records are pruned next.
    pruning: super::Pruning,
}

impl PgStore {
    /// Connects with default settings (schema `eventsmith`), creating or migrating the schema.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached; [`StoreError::Backend`]
    /// for an invalid URL, a schema newer than this build or a failed migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects with explicit settings.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = tls::read_sslmode(url)
            .parse()
            .map_err(|e| StoreError::Invalid(format!("invalid PostgreSQL URL: {e}")))?;
        super::check_text(&options.schema, || "the schema name".to_owned())?;
        super::check_text(&options.table_prefix, || "the table prefix".to_owned())?;
        let connector = tls::connector(&mut config, &options)?;
        let manager = Manager::from_config(
            config.clone(),
            tls::another(&connector),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(5)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError::Backend(e.into()))?;
        let names = Names::new(&options);
        let mut client = pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) if tls::is_tls_failure(&e) => tls::failed(e),
            other => pool_error(other),
        })?;
        schema::migrate(&mut client, &names).await?;
        drop(client);
        let inner = Arc::new(Inner {
            pool,
            names,
            head: Head::new(0),
            announcer: announce::Announcer::new(),
            batcher: batch::Batcher::default(),
            refresh: Arc::default(),
            head_behind: AtomicBool::new(false),
            appended_to: AtomicU64::new(0),
            token: uuid::Uuid::now_v7().simple().to_string(),
            turns: super::StreamTurns::default(),
            turn_permits: turns::permits(options.pool_size),
            pruning: super::Pruning::new(options.idempotency_retention),
        });
        inner.announcer.spawn(Arc::downgrade(&inner));
        inner.refresh_head().await?;
        listen::spawn(
            Arc::downgrade(&inner),
            config,
            connector,
            options.poll_interval,
            Arc::clone(&inner.refresh),
        );
        Ok(Self { inner })
    }

    /// The schema that holds the store's tables.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.inner.names.configured_schema
    }

    /// Drops the store's schema and everything in it. For tests and tools.
    ///
    /// # Errors
    /// From the server.
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let client = self.inner.client().await?;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.inner.names.quoted_schema
            ))
            .await
            .map_err(pg_error)
    }
}

impl Inner {
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        pool_client(&self.pool).await
    }

    /// The highest position of a transaction older than every transaction still running:
    /// every lower position is visible or never will be.
    async fn visible_head(&self, client: &deadpool_postgres::Object) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT coalesce(max(position), 0) FROM {} WHERE tx < pg_snapshot_xmin(pg_current_snapshot())",
            self.names.events
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        Ok(client.query_one(&stmt, &[]).await.map_err(pg_error)?.get(0))
    }

    /// A page of the global log (of the events named `names`, if given), in one statement:
    /// the visible head (see [`Inner::visible_head`]) bounds the rows and is the short
    /// page's `scanned_to`, both from the same snapshot.
    async fn read_page(
        &self,
        from_position: u64,
        names: Option<&[&str]>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let filter = if names.is_some() {
            "AND event_type = ANY($3)"
        } else {
            ""
        };
        // Without events, the one row has only the head (and NULLs where an event would be).
        // The rows come in the subquery's order, but only an outer ORDER BY would promise
        // it, and for that the server sorts the whole page again: they are sorted here
        // instead, one pass when they are in order.
        let sql = format!(
            "WITH visible AS (
                SELECT coalesce(max(position), 0) AS head FROM {events}
                WHERE tx < pg_snapshot_xmin(pg_current_snapshot())
            )
            SELECT e.*, visible.head FROM visible LEFT JOIN LATERAL (
                SELECT {columns} FROM {events}
                WHERE position >= $1 AND position <= visible.head {filter}
                ORDER BY position LIMIT $2
            ) e ON true",
            events = self.names.events,
            columns = rows::COLUMNS,
        );
        let (from, limit_n) = (int(from_position), int(limit));
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&from, &limit_n];
        if let Some(names) = &names {
            params.push(names);
        }
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let rows = client.query(&stmt, &params).await.map_err(pg_error)?;
        let Some(first) = rows.first() else {
            return Err(StoreError::Backend("the page read answered no row".into()));
        };
        let unreadable = failure::backend_error;
        let head: i64 = first.try_get(rows::COLUMN_COUNT).map_err(unreadable)?;
        let mut events = match first.try_get::<_, Option<i64>>(0).map_err(unreadable)? {
            Some(_) => rows::all(&rows)?,
            None => Vec::new(),
        };
        events.sort_by_key(|e| e.global_position);
        Ok(page(events, limit, from_position, head.unsigned_abs()))
    }

    /// Removes the idempotency records made before `before`; answers how many.
    async fn prune_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "DELETE FROM {} WHERE recorded_at < $1",
            self.names.idempotency
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        client
            .execute(&stmt, &[&before.as_micros()])
            .await
            .map_err(pg_error)
    }

    async fn query_events(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_error)?;
        let rows = client.query(&stmt, params).await.map_err(pg_error)?;
        rows::all(&rows)
    }
}

async fn pool_client(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get().await.map_err(pool_error)
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => StoreError::Unavailable(other.into()),
    }
}

impl super::EventLog for PgStore {
    async fn take_turn(&self, stream: &str) -> Result<super::StreamTurn, StoreError> {
        turns::take(&self.inner, stream).await
    }

    fn turn_contended(&self, stream: &str) -> bool {
        self.inner.turns.contended(stream)
    }

    async fn append(&self, append: super::Append<'_>) -> Result<AppendOutcome, StoreError> {
        crate::store::check_append(&append)?;
        let keyed = append.idempotency_key.is_some();
        let outcome = append::append(&self.inner, append).await;
        if keyed {
            if let Some(before) = self.inner.pruning.due() {
                // In the background: the append's caller does not wait for it.
                let inner = Arc::clone(&self.inner);
                tokio::spawn(async move {
                    if let Err(e) = inner.prune_idempotency(before).await {
                        tracing::debug!(error = %e, "pruning idempotency records failed");
                    }
                });
            }
        }
        outcome
    }

    async fn prune_idempotency(&self, recorded_before: Timestamp) -> Result<u64, StoreError> {
        self.inner.prune_idempotency(recorded_before).await
    }

    async fn idempotency_record(
        &self,
        stream: &str,
        key: &str,
    ) -> Result<Option<Appended>, StoreError> {
        crate::store::check_stream(stream)?;
        crate::store::check_key(key)?;
        let client = self.inner.client().await?;
        let sql = format!(
            "SELECT version, count, position FROM {} WHERE stream_id = $1 AND key = $2",
            self.inner.names.idempotency
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let row = client
            .query_opt(&stmt, &[&stream, &key])
            .await
            .map_err(pg_error)?;
        Ok(row.map(|r| appended(r.get(0), r.get(1), r.get(2))))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        crate::store::check_stream(stream)?;
        let sql = format!(
            "SELECT {} FROM {} WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3",
            rows::COLUMNS,
            self.inner.names.events
        );
        self.inner
            .query_events(&sql, &[&stream, &int(from_version), &int(limit)])
            .await
    }

    /// Events of transactions older than every transaction still running: a position is
    /// returned only once every lower position is either visible or never will be.
    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Page, StoreError> {
        self.inner.read_page(from_position, None, limit).await
    }

    /// Bounded like `read_all`, so the scan never claims a position a late commit could fill.
    async fn read_all_filtered(&self, read: super::FilteredRead<'_>) -> Result<Page, StoreError> {
        crate::store::check_names(read.names)?;
        self.inner
            .read_page(read.from_position, Some(read.names), read.limit)
            .await
    }

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        crate::store::check_stream(stream)?;
        let client = self.inner.client().await?;
        let sql = format!(
            "SELECT coalesce(max(stream_version), 0) FROM {} WHERE stream_id = $1",
            self.inner.names.events
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let v: i64 = client
            .query_one(&stmt, &[&stream])
            .await
            .map_err(pg_error)?
            .get(0);
        Ok(v.unsigned_abs())
    }

    fn head(&self) -> watch::Receiver<u64> {
        let receiver = self.inner.head.subscribe();
        if self.inner.head_behind.swap(false, Ordering::SeqCst) {
            // The receiver is told when the refreshed head rises above what it holds.
            self.inner.refresh.notify_one();
        }
        receiver
    }

    async fn current_head(&self) -> Result<u64, StoreError> {
        self.inner.refresh_head().await?;
        Ok(self.inner.head.get())
    }
}

impl super::SnapshotStore for PgStore {
    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        crate::store::check_stream(stream)?;
        let client = self.inner.client().await?;
        let sql = format!(
            "INSERT INTO {t} (stream_id, snapshot_version, stream_version, payload, taken_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (stream_id) DO UPDATE SET
                 snapshot_version = excluded.snapshot_version,
                 stream_version = excluded.stream_version,
                 payload = excluded.payload,
                 taken_at = excluded.taken_at
             WHERE excluded.stream_version >= {t}.stream_version",
            t = self.inner.names.snapshots
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let snapshot_version = i32::try_from(snapshot.snapshot_version)
            .map_err(|_| StoreError::Invalid("the snapshot version is too large".to_owned()))?;
        client
            .execute(
                &stmt,
                &[
                    &stream,
                    &snapshot_version,
                    &int(snapshot.stream_version),
                    &snapshot.payload.as_ref(),
                    &snapshot.taken_at.as_micros(),
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        crate::store::check_stream(stream)?;
        let client = self.inner.client().await?;
        let sql = format!(
            "SELECT snapshot_version, stream_version, payload, taken_at FROM {} WHERE stream_id = $1",
            self.inner.names.snapshots
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let row = client
            .query_opt(&stmt, &[&stream])
            .await
            .map_err(pg_error)?;
        Ok(row.map(|r| Snapshot {
            snapshot_version: r.get::<_, i32>(0).unsigned_abs(),
            stream_version: r.get::<_, i64>(1).unsigned_abs(),
            payload: Arc::from(r.get::<_, Vec<u8>>(2)),
            taken_at: Timestamp::from_micros(r.get(3)),
        }))
    }
}

impl super::ConsumerStore for PgStore {
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        crate::store::check_consumer(name)?;
        let client = self.inner.client().await?;
        consumers::save_checkpoint(&client, &self.inner.names, name, position).await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        crate::store::check_consumer(name)?;
        let client = self.inner.client().await?;
        consumers::load_checkpoint(&client, &self.inner.names, name).await
    }

    async fn park(&self, name: &str, letter: DeadLetter) -> Result<(), StoreError> {
        crate::store::check_letter(name, &letter)?;
        let client = self.inner.client().await?;
        consumers::park(&client, &self.inner.names, name, &letter).await
    }

    async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
        crate::store::check_consumer(name)?;
        let client = self.inner.client().await?;
        consumers::dead_letters(&client, &self.inner.names, name).await
    }

    async fn release(&self, name: &str, position: u64) -> Result<(), StoreError> {
        crate::store::check_consumer(name)?;
        let client = self.inner.client().await?;
        consumers::release(&client, &self.inner.names, name, position).await
    }
}
