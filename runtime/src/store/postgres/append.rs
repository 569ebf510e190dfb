//! One append as one statement: one round trip, committed on its own, and no lock that
//! appenders of different streams share.
//!
//! - **Versions.** The statement reads the stream's version and inserts the next ones in
//!   one go; the unique index on (stream, version) is the arbiter: of two appenders that
//!   read the same version, the second waits for the first to commit and then fails with a
//!   unique violation. The append then runs again on a fresh snapshot, where it finds the
//!   idempotency key recorded, its expectation unmet (a conflict) or, for
//!   [`ExpectedVersion::Any`], the new version to append after.
//! - **Positions.** An append's events take the transaction id shifted left by
//!   [`POSITION_BITS`] bits, plus 1, 2, …: positions grow with transaction ids, so a reader
//!   that only returns rows of transactions older than every running one (`read_all`) can
//!   never later see a lower position appear: every transaction still to commit has a
//!   higher id. Positions are therefore sparse, not dense.
//! - **Notification.** Subscribers are told by a NOTIFY that the
//!   [`Announcer`](super::announce::Announcer) sends after the commit, once for every run of
//!   appends that finish while it is busy. Inside the append's transaction a NOTIFY would
//!   take PostgreSQL's global notification lock through the commit's WAL flush and
//!   serialize every append.

use std::sync::Arc;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};

use super::{Inner, batch, pg_error};
use crate::model::envelope::{Metadata, NewEvent};
use crate::store::columns::{appended, sql_int};
use crate::store::{Append, AppendOutcome, StoreError, admit};

pub(crate) type Param<'a> = &'a (dyn ToSql + Sync);

/// The bits of a position below the transaction id: an append writes fewer events than
/// `1 << POSITION_BITS`.
pub(crate) const POSITION_BITS: u32 = 20;

/// What the statement answers in its first column.
const WRITTEN: i32 = 0;
const DUPLICATE: i32 = 1;
const NOT_WRITTEN: i32 = 2;

/// How many unique violations in a row an append tolerates before it gives up with
/// [`StoreError::Unavailable`] (retriable): each one means another append to the stream
/// committed first.
const RACES: u32 = 64;

/// The statement. `$2..=$3` are the versions the expectation accepts, `$4` the idempotency
/// key, `$5..=$10` the events' columns, `$11` when the key's record is made. It answers one row: the outcome, then the version, the
/// number of events and the last position (of the recorded append for a duplicate; the
/// current version alone when nothing was written).
fn statement(events: &str, idempotency: &str) -> String {
    format!(
        "WITH prior AS (
            SELECT version, count, position FROM {idempotency}
            WHERE $4::text IS NOT NULL AND stream_id = $1 AND key = $4
        ), current AS (
            SELECT coalesce(max(stream_version), 0) AS version FROM {events} WHERE stream_id = $1
        ), admitted AS (
            SELECT c.version,
                   CASE WHEN cardinality($5::uuid[]) > 0
                        THEN pg_current_xact_id()::text::bigint << {bits} END AS base
            FROM current c
            WHERE NOT EXISTS (SELECT 1 FROM prior) AND c.version BETWEEN $2 AND $3
              AND (cardinality($5::uuid[]) > 0 OR $4::text IS NOT NULL)
        ), written AS (
            INSERT INTO {events} (position, stream_id, stream_version, event_id, event_type,
                                  schema_version, recorded_at, payload, metadata)
            SELECT a.base + u.ord, $1, a.version + u.ord, u.id, u.name, u.schema_version,
                   u.recorded_at, u.payload, u.metadata
            FROM admitted a,
                 unnest($5::uuid[], $6::text[], $7::int[], $8::bigint[], $9::bytea[], $10::jsonb[])
                 WITH ORDINALITY AS u(id, name, schema_version, recorded_at, payload, metadata, ord)
        ), recorded AS (
            INSERT INTO {idempotency} (stream_id, key, version, count, position, recorded_at)
            SELECT $1, $4, a.version + cardinality($5::uuid[]), cardinality($5::uuid[]),
                   a.base + cardinality($5::uuid[]), $11::bigint
            FROM admitted a WHERE $4::text IS NOT NULL
        )
        SELECT {DUPLICATE}, version, count, position FROM prior
        UNION ALL
        SELECT {WRITTEN}, a.version + cardinality($5::uuid[]), cardinality($5::uuid[])::bigint,
               a.base + cardinality($5::uuid[])
        FROM admitted a
        UNION ALL
        SELECT {NOT_WRITTEN}, c.version, 0, NULL FROM current c
        WHERE NOT EXISTS (SELECT 1 FROM prior) AND NOT EXISTS (SELECT 1 FROM admitted)",
        bits = POSITION_BITS,
    )
}

/// The statement for the common case, one event and no idempotency key, with scalar
/// parameters (`$4..` the event's columns). It answers the version it found and, when it
/// wrote, the event's position. Measured with `pgbench` against a plain single-row insert,
/// 16 clients: 83 %, where the general statement reaches 67 %.
fn single_statement(events: &str) -> String {
    format!(
        "WITH current AS (
            SELECT coalesce(max(stream_version), 0) AS version FROM {events} WHERE stream_id = $1
        ), written AS (
            INSERT INTO {events} (position, stream_id, stream_version, event_id, event_type,
                                  schema_version, recorded_at, payload, metadata)
            SELECT (pg_current_xact_id()::text::bigint << {bits}) + 1, $1, c.version + 1,
                   $4, $5, $6, $7, $8, $9
            FROM current c WHERE c.version BETWEEN $2 AND $3
            RETURNING position
        )
        SELECT c.version, w.position FROM current c LEFT JOIN written w ON true",
        bits = POSITION_BITS,
    )
}

pub(crate) async fn append(
    store: &Arc<Inner>,
    append: Append<'_>,
) -> Result<AppendOutcome, StoreError> {
    let Append {
        stream,
        expected,
        events,
        idempotency_key: key,
        ..
    } = append;
    if events.len() >= 1 << POSITION_BITS {
        return Err(StoreError::Invalid(format!(
            "an append of {} events to {stream:?}: PostgreSQL takes fewer than {} at once",
            events.len(),
            1u64 << POSITION_BITS
        )));
    }
    let bounds = expected.bounds();
    let (lo, hi) = (sql_int(*bounds.start()), sql_int(*bounds.end()));
    let (outcome, version, count, position) = if let ([event], None) = (&*events, key) {
        let found = batch::append_one(store, stream, lo, hi, event).await?;
        match found.position {
            Some(position) => (WRITTEN, found.version + 1, 1, Some(position)),
            None => (NOT_WRITTEN, found.version, 0, None),
        }
    } else {
        general(store, stream, lo, hi, key, &events).await?
    };
    match outcome {
        WRITTEN => {
            let written = appended(version, count, position);
            if let Some(last) = written.position {
                store.after_append(last);
            }
            Ok(AppendOutcome::Appended(written))
        }
        DUPLICATE => Ok(AppendOutcome::Duplicate(appended(version, count, position))),
        NOT_WRITTEN => admit(stream, expected, version.unsigned_abs(), &events, key)?.ok_or_else(
            || {
                StoreError::Backend(
                    format!(
                        "the append to {stream:?} at version {version} wrote nothing, though {expected} accepts it"
                    )
                    .into(),
                )
            },
        ),
        other => Err(StoreError::Backend(
            format!("the append answered an unknown outcome {other}").into(),
        )),
    }
}

/// What an append of one event found: the stream's version before it, and the event's
/// position when it was written (none: the version was outside the expected bounds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) version: i64,
    pub(crate) position: Option<i64>,
}

/// One event without idempotency key, by the lean statement.
pub(crate) async fn single(
    store: &Inner,
    stream: &str,
    lo: i64,
    hi: i64,
    event: &NewEvent,
) -> Result<Found, StoreError> {
    let client = store.client().await?;
    let statement = client
        .prepare_cached(&single_statement(&store.names.events))
        .await
        .map_err(pg_error)?;
    let metadata = metadata(event);
    let params: [Param<'_>; 9] = [
        &stream,
        &lo,
        &hi,
        &event.event_id,
        &&*event.event_type,
        &schema_version(event)?,
        &event.timestamp.as_micros(),
        &&*event.payload,
        &metadata,
    ];
    let row = run(&client, &statement, &params).await?;
    Ok(Found {
        version: row.get(0),
        position: row.get(1),
    })
}

/// Any other append, by the general statement: the outcome, version, count and position.
async fn general(
    store: &Inner,
    stream: &str,
    lo: i64,
    hi: i64,
    key: Option<&str>,
    events: &[NewEvent],
) -> Result<(i32, i64, i64, Option<i64>), StoreError> {
    let columns = Columns::new(events.iter())?;
    let client = store.client().await?;
    let statement = client
        .prepare_cached(&statement(&store.names.events, &store.names.idempotency))
        .await
        .map_err(pg_error)?;
    let recorded_at = crate::model::envelope::Timestamp::now().as_micros();
    let params: [Param<'_>; 11] = [
        &stream,
        &lo,
        &hi,
        &key,
        &columns.ids,
        &columns.types,
        &columns.schema_versions,
        &columns.recorded_at,
        &columns.payloads,
        &columns.metadata,
        &recorded_at,
    ];
    let row = run(&client, &statement, &params).await?;
    Ok((row.get(0), row.get(1), row.get(2), row.get(3)))
}

/// Runs an append statement, again after each unique violation: another append to the
/// stream committed first, and the next run sees it.
pub(crate) async fn run(
    client: &deadpool_postgres::Object,
    statement: &tokio_postgres::Statement,
    params: &[Param<'_>],
) -> Result<tokio_postgres::Row, StoreError> {
    let mut races = 0;
    loop {
        match client.query_one(statement, params).await {
            Ok(row) => return Ok(row),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                races += 1;
                if races > RACES {
                    return Err(StoreError::Unavailable(
                        format!(
                            "other appends to the stream committed first {RACES} times in a row"
                        )
                        .into(),
                    ));
                }
            }
            Err(e) => return Err(pg_error(e)),
        }
    }
}

pub(crate) fn schema_version(event: &NewEvent) -> Result<i32, StoreError> {
    i32::try_from(event.schema_version).map_err(|_| {
        StoreError::Invalid(format!(
            "schema version {} is too large",
            event.schema_version
        ))
    })
}

/// The events as column arrays, for the statements' `unnest`.
pub(crate) struct Columns<'a> {
    pub(crate) ids: Vec<uuid::Uuid>,
    pub(crate) types: Vec<&'a str>,
    pub(crate) schema_versions: Vec<i32>,
    pub(crate) recorded_at: Vec<i64>,
    pub(crate) payloads: Vec<&'a [u8]>,
    pub(crate) metadata: Vec<Option<Json<&'a Metadata>>>,
}

impl<'a> Columns<'a> {
    /// The columns of `events`, in order; a schema version too large for the table is refused.
    pub(crate) fn new(
        events: impl ExactSizeIterator<Item = &'a NewEvent>,
    ) -> Result<Self, StoreError> {
        let mut c = Self {
            ids: Vec::with_capacity(events.len()),
            types: Vec::with_capacity(events.len()),
            schema_versions: Vec::with_capacity(events.len()),
            recorded_at: Vec::with_capacity(events.len()),
            payloads: Vec::with_capacity(events.len()),
            metadata: Vec::with_capacity(events.len()),
        };
        for e in events {
            c.ids.push(e.event_id);
            c.types.push(&e.event_type);
            c.schema_versions.push(schema_version(e)?);
            c.recorded_at.push(e.timestamp.as_micros());
            c.payloads.push(&e.payload);
            c.metadata.push(metadata(e));
        }
        Ok(c)
    }
}

/// An event's metadata as stored: NULL for the default.
fn metadata(event: &NewEvent) -> Option<Json<&Metadata>> {
    (*event.metadata != Metadata::default()).then_some(Json(&*event.metadata))
}
