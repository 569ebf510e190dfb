//! The PostgreSQL schema, created and migrated on connect. Every object lives in the
//! configured schema with the configured table prefix; the schema version is kept in a
//! table of its own, and migrations run under an advisory lock so that processes starting
//! together migrate once.

use deadpool_postgres::Client;

use super::{Names, pg_error};
use crate::store::StoreError;

/// The schema version this build writes.
pub(crate) const VERSION: i32 = 7;

fn migrations(n: &Names) -> Vec<String> {
    vec![
        format!(
            "
        CREATE TABLE {events} (
            position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tx             xid8   NOT NULL DEFAULT pg_current_xact_id(),
            stream_id      text   NOT NULL,
            stream_version bigint NOT NULL,
            event_id       uuid   NOT NULL,
            event_type     text   NOT NULL,
            schema_version int    NOT NULL,
            recorded_at    bigint NOT NULL,
            payload        bytea  NOT NULL,
            metadata       jsonb,
            UNIQUE (stream_id, stream_version)
        );
        CREATE TABLE {idempotency} (
            stream_id text   NOT NULL,
            key       text   NOT NULL,
            version   bigint NOT NULL,
            count     bigint NOT NULL,
            position  bigint,
            PRIMARY KEY (stream_id, key)
        );
        CREATE TABLE {snapshots} (
            stream_id        text   PRIMARY KEY,
            snapshot_version int    NOT NULL,
            stream_version   bigint NOT NULL,
            payload          bytea  NOT NULL,
            taken_at         bigint NOT NULL
        );
        ",
            events = n.events,
            idempotency = n.idempotency,
            snapshots = n.snapshots,
        ),
        format!(
            "
        CREATE TABLE {checkpoints} (
            name       text   PRIMARY KEY,
            position   bigint NOT NULL,
            updated_at bigint NOT NULL
        );
        ",
            checkpoints = n.checkpoints,
        ),
        format!(
            "
        CREATE TABLE {dead_letters} (
            consumer       text   NOT NULL,
            position       bigint NOT NULL,
            stream_id      text   NOT NULL,
            stream_version bigint NOT NULL,
            event_type     text   NOT NULL,
            reason         text   NOT NULL,
            attempts       bigint NOT NULL,
            parked_at      bigint NOT NULL,
            PRIMARY KEY (consumer, position)
        );
        ",
            dead_letters = n.dead_letters,
        ),
        // Positions stop coming from a sequence: an append's events take their transaction
        // id shifted left by 20 bits, plus 1, 2, ... (see the `append` module). Positions
        // written before stay below, as long as no transaction so far wrote a million
        // events on average (checked).
        format!(
            "
        DO $check$ BEGIN
            IF (SELECT coalesce(max(position), 0) FROM {events})
                >= (pg_current_xact_id()::text::bigint << 20) THEN
                RAISE EXCEPTION 'the stored positions are too high to move to transaction-id positions';
            END IF;
        END $check$;
        ALTER TABLE {events} ALTER COLUMN position DROP IDENTITY;
        ",
            events = n.events,
        ),
        // When each idempotency record was made (microseconds since the epoch, by the
        // appending process's clock), for its retention. Records made before are dated to
        // the migration: they are kept for a whole retention from then.
        format!(
            "
        ALTER TABLE {idempotency} ADD COLUMN recorded_at bigint NOT NULL DEFAULT 0;
        UPDATE {idempotency}
            SET recorded_at = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
        ALTER TABLE {idempotency} ALTER COLUMN recorded_at DROP DEFAULT;
        CREATE INDEX {by_age} ON {idempotency} (recorded_at);
        ",
            idempotency = n.idempotency,
            by_age = n.idempotency_by_age,
        ),
        // What sagas keep (see the `sagas` module).
        n.sagas.migration(),
        // The inbox: the integration messages each consumer handled, by message id, recorded
        // in the transaction of the handler's effects (microseconds since the epoch).
        format!(
            "
        CREATE TABLE {inbox} (
            consumer   text   NOT NULL,
            message_id uuid   NOT NULL,
            handled_at bigint NOT NULL,
            PRIMARY KEY (consumer, message_id)
        );
        ",
            inbox = n.inbox,
        ),
    ]
}

/// Brings the schema to [`VERSION`].
///
/// # Errors
/// A schema newer than this build, or a failed migration (rolled back whole).
pub(crate) async fn migrate(client: &mut Client, n: &Names) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(hashtextextended({key}, 7));
         CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {version} (version int NOT NULL);",
        key = quote_literal(&n.version),
        schema = n.quoted_schema,
        version = n.version,
    ))
    .await
    .map_err(pg_error)?;
    let current: i32 = tx
        .query_opt(&format!("SELECT version FROM {}", n.version), &[])
        .await
        .map_err(pg_error)?
        .map_or(0, |r| r.get(0));
    if current > VERSION {
        return Err(StoreError::Backend(
            format!("the schema has version {current}, newer than this build's {VERSION}; upgrade eventsmith").into(),
        ));
    }
    for sql in migrations(n)
        .iter()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        tx.batch_execute(sql).await.map_err(pg_error)?;
    }
    tx.execute(&format!("DELETE FROM {}", n.version), &[])
        .await
        .map_err(pg_error)?;
    tx.execute(
        &format!("INSERT INTO {} (version) VALUES ($1)", n.version),
        &[&VERSION],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)
}

/// A string literal for SQL text (identifiers come from configuration, never from data).
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A quoted identifier.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
