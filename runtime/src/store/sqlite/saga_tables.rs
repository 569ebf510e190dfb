//! The SQL of the SQLite store's saga tables (created by migration 5 in [`super::schema`]):
//! a commit's checks and writes on the writer's connection, and the reads.
//!
//! A commit is one write of the store's writer ([`super::writer`]), like an append: it runs
//! in a savepoint of the writer's batch transaction. That transaction is `BEGIN IMMEDIATE`,
//! so it holds the file's write lock from its start to its commit, and every handle and
//! process writes the file through such a transaction: what the commit checks (the position,
//! the instance's version, the keys' owners, the fired deadline) is read under the lock and
//! cannot change before the commit's writes are committed. A check that fails rolls the
//! savepoint back, so nothing of the step is written, and the rest of the batch commits.
//! Reads run on the read pool.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::backend_error;
use crate::model::envelope::Timestamp;
use crate::store::columns::{saga_int, saga_u64};
use crate::store::{PendingCommand, SagaCommit, SagaInstance, StoreError, StoredDeadline};

/// Checks what `commit` read, then writes it. Runs inside the writer's transaction, in a
/// savepoint that the writer rolls back when this fails.
pub(super) fn commit(conn: &Connection, commit: &SagaCommit) -> Result<(), StoreError> {
    check(conn, commit)?;
    apply(conn, commit)
}

/// Everything `commit` read, as the memory store checks it and in the same order: the
/// position, the instance's version, its keys' owners, the fired deadline.
fn check(conn: &Connection, commit: &SagaCommit) -> Result<(), StoreError> {
    let saga = commit.saga.as_str();
    if let Some((read, _)) = commit.position {
        let stored = position(conn, saga)?;
        if stored != read {
            return Err(StoreError::Superseded(format!(
                "saga `{saga}` is at position {stored}, not {read}"
            )));
        }
    }
    if let Some(write) = &commit.instance {
        let stored = conn
            .prepare_cached("SELECT version FROM saga_instances WHERE saga = ?1 AND id = ?2")
            .and_then(|mut s| {
                s.query_row(params![saga, write.id], |r| r.get::<_, i64>(0))
                    .optional()
            })
            .map_err(backend_error)?
            .map(|v| saga_u64(v, "an instance's version", saga))
            .transpose()?;
        if stored != write.read_version {
            return Err(StoreError::Superseded(format!(
                "saga `{saga}` instance `{}` is at version {stored:?}, not {:?}",
                write.id, write.read_version
            )));
        }
        let mut owner = conn
            .prepare_cached("SELECT instance FROM saga_keys WHERE saga = ?1 AND key = ?2")
            .map_err(backend_error)?;
        for key in &write.associate {
            let found: Option<String> = owner
                .query_row(params![saga, key], |r| r.get(0))
                .optional()
                .map_err(backend_error)?;
            if found.is_some_and(|owner| owner != write.id) {
                return Err(StoreError::Invalid(format!(
                    "saga `{saga}`: the key `{key}` is associated with another instance"
                )));
            }
        }
    }
    if let Some(fired) = &commit.fired {
        let pending = conn
            .prepare_cached("SELECT 1 FROM saga_deadlines WHERE saga = ?1 AND id = ?2 LIMIT 1")
            .and_then(|mut s| s.exists(params![saga, fired]))
            .map_err(backend_error)?;
        if !pending {
            return Err(StoreError::Superseded(format!(
                "saga `{saga}` deadline `{fired}` is no longer pending"
            )));
        }
    }
    Ok(())
}

/// Writes `commit`, checked, in the memory store's order: the fired deadline and the sent
/// command go, cancelled deadlines go, new deadlines and commands come, then the instance
/// changes (an ended one takes its keys and deadlines with it, new ones included).
fn apply(conn: &Connection, commit: &SagaCommit) -> Result<(), StoreError> {
    let saga = commit.saga.as_str();
    // Refused before anything is written.
    let position = commit
        .position
        .map(|(_, to)| saga_int(to, "the position", saga))
        .transpose()?;
    let version = match &commit.instance {
        Some(write) => {
            let next = write.read_version.map_or(Some(1), |v| v.checked_add(1));
            let next = next.ok_or_else(|| {
                StoreError::Invalid(format!("saga `{saga}`: the instance's version overflows"))
            })?;
            Some(saga_int(next, "the instance's version", saga)?)
        }
        None => None,
    };
    if let Some(position) = position {
        execute(
            conn,
            "INSERT INTO saga_positions (saga, position) VALUES (?1, ?2)
             ON CONFLICT (saga) DO UPDATE SET position = excluded.position",
            params![saga, position],
        )?;
    }
    if let Some(fired) = &commit.fired {
        execute(
            conn,
            "DELETE FROM saga_deadlines WHERE saga = ?1 AND id = ?2",
            params![saga, fired],
        )?;
    }
    if let Some(sent) = &commit.sent {
        execute(
            conn,
            "DELETE FROM saga_commands WHERE saga = ?1 AND id = ?2",
            params![saga, sent],
        )?;
    }
    for (instance, name) in &commit.cancel {
        execute(
            conn,
            "DELETE FROM saga_deadlines WHERE saga = ?1 AND instance = ?2 AND name = ?3",
            params![saga, instance, name],
        )?;
    }
    for d in &commit.schedule {
        execute(
            conn,
            "INSERT INTO saga_deadlines (saga, id, instance, name, payload, due)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![saga, d.id, d.instance, d.name, d.payload, d.due.as_micros()],
        )?;
    }
    for c in &commit.commands {
        execute(
            conn,
            "INSERT INTO saga_commands (saga, id, instance, name, payload)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![saga, c.id, c.instance, c.name, c.payload],
        )?;
    }
    let (Some(write), Some(version)) = (&commit.instance, version) else {
        return Ok(());
    };
    match &write.state {
        Some(state) => {
            execute(
                conn,
                "INSERT INTO saga_instances (saga, id, state, version) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (saga, id) DO UPDATE SET
                     state = excluded.state,
                     version = excluded.version",
                params![saga, write.id, state, version],
            )?;
            for key in &write.associate {
                execute(
                    conn,
                    "INSERT INTO saga_keys (saga, key, instance) VALUES (?1, ?2, ?3)
                     ON CONFLICT (saga, key) DO UPDATE SET instance = excluded.instance",
                    params![saga, key, write.id],
                )?;
            }
        }
        None => {
            for sql in [
                "DELETE FROM saga_instances WHERE saga = ?1 AND id = ?2",
                "DELETE FROM saga_keys WHERE saga = ?1 AND instance = ?2",
                "DELETE FROM saga_deadlines WHERE saga = ?1 AND instance = ?2",
            ] {
                execute(conn, sql, params![saga, write.id])?;
            }
        }
    }
    Ok(())
}

/// Runs one statement through the statement cache.
pub(super) fn execute(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map(drop)
        .map_err(backend_error)
}

/// The saga's stored position, 0 before its first.
pub(super) fn position(conn: &Connection, saga: &str) -> Result<u64, StoreError> {
    let stored = conn
        .prepare_cached("SELECT position FROM saga_positions WHERE saga = ?1")
        .and_then(|mut s| s.query_row([saga], |r| r.get::<_, i64>(0)).optional())
        .map_err(backend_error)?;
    stored.map_or(Ok(0), |p| saga_u64(p, "the position", saga))
}

/// The instance read by `sql` (id, state and version, in this order), if there is one.
pub(super) fn instance(
    conn: &Connection,
    sql: &str,
    saga: &str,
    by: &str,
) -> Result<Option<SagaInstance>, StoreError> {
    let row = conn
        .prepare_cached(sql)
        .and_then(|mut s| {
            s.query_row(params![saga, by], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, i64>(2)?))
            })
            .optional()
        })
        .map_err(backend_error)?;
    row.map(|(id, state, version)| {
        Ok(SagaInstance {
            version: saga_u64(version, "an instance's version", saga)?,
            id,
            state,
        })
    })
    .transpose()
}

pub(super) fn command(r: &Row<'_>) -> rusqlite::Result<PendingCommand> {
    Ok(PendingCommand {
        id: r.get(0)?,
        instance: r.get(1)?,
        name: r.get(2)?,
        payload: r.get(3)?,
    })
}

pub(super) fn deadline(r: &Row<'_>) -> rusqlite::Result<StoredDeadline> {
    Ok(StoredDeadline {
        id: r.get(0)?,
        instance: r.get(1)?,
        name: r.get(2)?,
        payload: r.get(3)?,
        due: Timestamp::from_micros(r.get(4)?),
    })
}
