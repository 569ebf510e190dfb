//! The SQLite schema, created and migrated on open. The schema version lives in
//! `PRAGMA user_version`; each migration runs once, in order, in one transaction.

use rusqlite::Connection;

/// The schema version this build writes.
pub(crate) const VERSION: i64 = 6;

const MIGRATIONS: &[&str] = &[
    // 1: events (a stream's version is its last event's, found through the unique index),
    // idempotency keys, snapshots.
    "
    CREATE TABLE events (
        position       INTEGER PRIMARY KEY,
        stream_id      TEXT    NOT NULL,
        stream_version INTEGER NOT NULL,
        event_id       BLOB    NOT NULL,
        event_type     TEXT    NOT NULL,
        schema_version INTEGER NOT NULL,
        recorded_at    INTEGER NOT NULL,
        payload        BLOB    NOT NULL,
        metadata       BLOB
    );
    CREATE UNIQUE INDEX events_by_stream ON events (stream_id, stream_version);
    CREATE TABLE idempotency (
        stream_id TEXT    NOT NULL,
        key       TEXT    NOT NULL,
        version   INTEGER NOT NULL,
        count     INTEGER NOT NULL,
        position  INTEGER,
        PRIMARY KEY (stream_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        stream_id        TEXT    PRIMARY KEY,
        snapshot_version INTEGER NOT NULL,
        stream_version   INTEGER NOT NULL,
        payload          BLOB    NOT NULL,
        taken_at         INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 2: projection checkpoints.
    "
    CREATE TABLE checkpoints (
        name       TEXT    PRIMARY KEY,
        position   INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 3: events that projections parked.
    "
    CREATE TABLE dead_letters (
        consumer       TEXT    NOT NULL,
        position       INTEGER NOT NULL,
        stream_id      TEXT    NOT NULL,
        stream_version INTEGER NOT NULL,
        event_type     TEXT    NOT NULL,
        reason         TEXT    NOT NULL,
        attempts       INTEGER NOT NULL,
        parked_at      INTEGER NOT NULL,
        PRIMARY KEY (consumer, position)
    ) WITHOUT ROWID;
    ",
    // 4: when each idempotency record was made (microseconds since the epoch), for its
    // retention. Records made before are dated to the migration: they are kept for a whole
    // retention from then.
    "
    ALTER TABLE idempotency ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
    UPDATE idempotency
        SET recorded_at = CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER);
    CREATE INDEX idempotency_by_age ON idempotency (recorded_at);
    ",
    // 5: what sagas keep (see `SagaStore`): each saga's position; its instances (state and
    // version) and their association keys (one instance per key); the commands decided and
    // not yet sent, in the order decided (`seq`); the pending deadlines, due in microseconds
    // since the epoch, found by due time (ties in the order set).
    "
    CREATE TABLE saga_positions (
        saga     TEXT    PRIMARY KEY,
        position INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE saga_instances (
        saga    TEXT    NOT NULL,
        id      TEXT    NOT NULL,
        state   BLOB    NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (saga, id)
    ) WITHOUT ROWID;
    CREATE TABLE saga_keys (
        saga     TEXT NOT NULL,
        key      TEXT NOT NULL,
        instance TEXT NOT NULL,
        PRIMARY KEY (saga, key)
    ) WITHOUT ROWID;
    CREATE INDEX saga_keys_by_instance ON saga_keys (saga, instance);
    CREATE TABLE saga_commands (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        saga     TEXT    NOT NULL,
        id       TEXT    NOT NULL,
        instance TEXT    NOT NULL,
        name     TEXT    NOT NULL,
        payload  BLOB    NOT NULL
    );
    CREATE INDEX saga_commands_in_order ON saga_commands (saga, seq);
    CREATE INDEX saga_commands_by_id ON saga_commands (saga, id);
    CREATE TABLE saga_deadlines (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        saga     TEXT    NOT NULL,
        id       TEXT    NOT NULL,
        instance TEXT    NOT NULL,
        name     TEXT    NOT NULL,
        payload  BLOB    NOT NULL,
        due      INTEGER NOT NULL
    );
    CREATE INDEX saga_deadlines_by_due ON saga_deadlines (saga, due);
    CREATE INDEX saga_deadlines_by_id ON saga_deadlines (saga, id);
    CREATE INDEX saga_deadlines_by_instance ON saga_deadlines (saga, instance, name);
    ",
    // 6: the inbox: the integration messages each consumer handled, by message id, recorded
    // in the transaction of the handler's effects (microseconds since the epoch).
    "
    CREATE TABLE inbox (
        consumer   TEXT    NOT NULL,
        message_id BLOB    NOT NULL,
        handled_at INTEGER NOT NULL,
        PRIMARY KEY (consumer, message_id)
    ) WITHOUT ROWID;
    ",
];

/// Brings the database to [`VERSION`].
///
/// # Errors
/// A database newer than this build, or a failed migration (rolled back whole).
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), String> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if current > VERSION {
        return Err(format!(
            "the database has schema version {current}, newer than this build's {VERSION}; upgrade eventsmith"
        ));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .map_err(|e| format!("migration {} failed: {e}", index + 1))?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    Ok(())
}
