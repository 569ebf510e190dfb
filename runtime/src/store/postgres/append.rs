//! One append, as one transaction:
//!
//! 1. a transaction-scoped advisory lock on the stream orders appenders of one stream, so the
//!    version check and the insert cannot race (the unique index on (stream, version) is the
//!    guard behind it);
//! 2. the idempotency key and the stream's version are checked;
//! 3. inside a short global critical section (a session advisory lock taken and released
//!    around the INSERT only, not held until commit), the events get their positions and the
//!    transaction its id: so transaction ids and positions grow together, which is what lets
//!    readers follow positions without skipping a late commit (see `read_all`);
//! 4. the key is recorded and subscribers notified, at commit.
//!
//! The statements of each step are pipelined: two round trips per append.

use tokio_postgres::types::Json;

use super::{Inner, pg_error};
use crate::envelope::{Metadata, NewEvent};
use crate::store::{AppendOutcome, Appended, ExpectedVersion, StoreError};

pub(crate) async fn append(
    store: &Inner,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    key: Option<&str>,
) -> Result<AppendOutcome, StoreError> {
    let mut client = store.client().await?;
    let n = &store.names;
    let tx = client.transaction().await.map_err(pg_error)?;
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
        .await
        .map_err(pg_error)?;
    let version = tx
        .prepare_cached(&format!(
            "SELECT coalesce(max(stream_version), 0) FROM {} WHERE stream_id = $1",
            n.events
        ))
        .await
        .map_err(pg_error)?;
    let idempotency = tx
        .prepare_cached(&format!(
            "SELECT version, count, position FROM {} WHERE stream_id = $1 AND key = $2",
            n.idempotency
        ))
        .await
        .map_err(pg_error)?;
    let lock_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&stream, &store.lock_key];
    let stream_param: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&stream];
    let (_, current, first) = tokio::try_join!(
        tx.execute(&lock, &lock_params),
        tx.query_one(&version, &stream_param),
        async {
            match key {
                Some(key) => tx.query_opt(&idempotency, &[&stream, &key]).await,
                None => Ok(None),
            }
        }
    )
    .map_err(pg_error)?;
    if let Some(row) = first {
        let appended = Appended {
            version: row.get::<_, i64>(0).unsigned_abs(),
            count: row.get::<_, i64>(1).unsigned_abs(),
            position: row.get::<_, Option<i64>>(2).map(i64::unsigned_abs),
        };
        return Ok(AppendOutcome::Duplicate(appended));
    }
    let current = current.get::<_, i64>(0).unsigned_abs();
    if !expected.accepts(current) {
        return Err(StoreError::Conflict {
            stream: stream.to_owned(),
            expected,
            actual: current,
        });
    }
    if events.is_empty() && key.is_none() {
        return Ok(AppendOutcome::Appended(Appended {
            version: current,
            count: 0,
            position: None,
        }));
    }
    let count = events.len() as u64;
    let version = current + count;
    let position = if events.is_empty() {
        None
    } else {
        let columns = Columns::new(&events, current)?;
        let inserted = insert(&tx, store, stream, &columns).await;
        match inserted {
            Ok(position) => Some(position),
            Err(e) => {
                // The transaction is aborted, so the pipelined unlock did not run: roll back,
                // then let go of the session lock (or of the connection, which does too).
                drop(tx);
                if client
                    .batch_execute("ROLLBACK; SELECT pg_advisory_unlock_all()")
                    .await
                    .is_err()
                {
                    drop(deadpool_postgres::Object::take(client));
                }
                return Err(e);
            }
        }
    };
    let appended = Appended {
        version,
        count,
        position,
    };
    let record = tx
        .prepare_cached(&format!(
            "INSERT INTO {} (stream_id, key, version, count, position) VALUES ($1, $2, $3, $4, $5)",
            n.idempotency
        ))
        .await
        .map_err(pg_error)?;
    let notify = tx
        .prepare_cached("SELECT pg_notify($1, '')")
        .await
        .map_err(pg_error)?;
    let version_i = to_i64(version)?;
    let count_i = to_i64(count)?;
    let position_i = position.map(to_i64).transpose()?;
    tokio::try_join!(
        async {
            match key {
                Some(key) => tx
                    .execute(&record, &[&stream, &key, &version_i, &count_i, &position_i])
                    .await
                    .map(drop),
                None => Ok(()),
            }
        },
        async {
            if position.is_some() {
                tx.execute(&notify, &[&store.names.channel]).await.map(drop)
            } else {
                Ok(())
            }
        }
    )
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok(AppendOutcome::Appended(appended))
}

/// The events as column arrays, for one `INSERT … SELECT FROM unnest(…)`.
struct Columns {
    versions: Vec<i64>,
    ids: Vec<uuid::Uuid>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    recorded_at: Vec<i64>,
    payloads: Vec<Vec<u8>>,
    metadata: Vec<Option<Json<Metadata>>>,
}

impl Columns {
    fn new(events: &[NewEvent], current: u64) -> Result<Self, StoreError> {
        let mut c = Self {
            versions: Vec::with_capacity(events.len()),
            ids: Vec::with_capacity(events.len()),
            types: Vec::with_capacity(events.len()),
            schema_versions: Vec::with_capacity(events.len()),
            recorded_at: Vec::with_capacity(events.len()),
            payloads: Vec::with_capacity(events.len()),
            metadata: Vec::with_capacity(events.len()),
        };
        for (offset, e) in (1..).zip(events) {
            c.versions.push(to_i64(current + offset)?);
            c.ids.push(e.event_id);
            c.types.push(e.event_type.to_string());
            c.schema_versions
                .push(i32::try_from(e.schema_version).map_err(|_| {
                    StoreError::Invalid(format!("schema version {} is too large", e.schema_version))
                })?);
            c.recorded_at.push(e.timestamp.as_micros());
            c.payloads.push(e.payload.clone());
            c.metadata
                .push((*e.metadata != Metadata::default()).then(|| Json((*e.metadata).clone())));
        }
        Ok(c)
    }
}

/// Inserts the events inside the global critical section; answers the last position.
async fn insert(
    tx: &deadpool_postgres::Transaction<'_>,
    store: &Inner,
    stream: &str,
    c: &Columns,
) -> Result<u64, StoreError> {
    let lock = tx
        .prepare_cached("SELECT pg_advisory_lock($1)")
        .await
        .map_err(pg_error)?;
    let unlock = tx
        .prepare_cached("SELECT pg_advisory_unlock($1)")
        .await
        .map_err(pg_error)?;
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO {} (stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload, metadata)
             SELECT $1, * FROM unnest($2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::bigint[], $7::bytea[], $8::jsonb[])
             RETURNING position",
            store.names.events
        ))
        .await
        .map_err(pg_error)?;
    let key: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&store.lock_key];
    let columns: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &stream,
        &c.versions,
        &c.ids,
        &c.types,
        &c.schema_versions,
        &c.recorded_at,
        &c.payloads,
        &c.metadata,
    ];
    let (_, rows, _) = tokio::try_join!(
        tx.execute(&lock, &key),
        tx.query(&insert, &columns),
        tx.execute(&unlock, &key),
    )
    .map_err(pg_error)?;
    rows.iter()
        .map(|r| r.get::<_, i64>(0).unsigned_abs())
        .max()
        .ok_or_else(|| StoreError::Backend("the insert returned no position".into()))
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Invalid(format!("{value} does not fit the database")))
}
