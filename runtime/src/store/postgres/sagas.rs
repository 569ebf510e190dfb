//! The PostgreSQL store's saga tables (see [`SagaStore`]; created by migration 6 in
//! [`super::schema`], in the store's schema and with its table prefix).
//!
//! A commit is one transaction (read committed) whose checks cannot race, because each is a
//! statement that takes the row it checks and fails without it:
//!
//! - the position moves by an `UPDATE … WHERE position = <read>` (or, from 0, an `INSERT …
//!   ON CONFLICT DO NOTHING` of the saga's first row): a concurrent commit of the saga holds
//!   the row until it ends, and the `UPDATE` then finds it moved and changes nothing;
//! - the instance changes by an `UPDATE` or `DELETE … WHERE version = <read>`, or is created
//!   by an `INSERT … ON CONFLICT DO NOTHING`, so that creating one that exists (or that a
//!   concurrent commit creates) inserts nothing;
//! - the keys are inserted with `ON CONFLICT DO NOTHING` (which waits for a concurrent insert
//!   of the same key to end), then any of them owned by another instance is looked for;
//! - the fired deadline is deleted, and a commit that deletes nothing was beaten to it.
//!
//! Each check that comes up short fails the commit as the memory store does
//! ([`StoreError::Superseded`] or [`StoreError::Invalid`]) and the transaction is rolled back
//! whole, so no unique violation ever reaches the caller. Reads run on the pool.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use super::failure::backend_error;
use super::{PgStore, pg_error, schema};
use crate::model::envelope::Timestamp;
use crate::store::columns::{saga_int, saga_u64, sql_int};
use crate::store::{
    PendingCommand, SagaCommit, SagaInstance, SagaStore, StoreError, StoredDeadline, check_saga,
    check_saga_commit, check_text,
};

type Param<'a> = &'a (dyn ToSql + Sync);

/// The quoted names of the saga tables and their indexes.
#[derive(Debug)]
pub(crate) struct Tables {
    positions: String,
    instances: String,
    keys: String,
    commands: String,
    deadlines: String,
    /// Index names: quoted, without the schema (an index lives in its table's).
    keys_by_instance: String,
    commands_in_order: String,
    commands_by_id: String,
    deadlines_by_due: String,
    deadlines_by_id: String,
    deadlines_by_instance: String,
}

impl Tables {
    /// The names, from the store's `table` names (schema-qualified, prefixed) and the
    /// table prefix.
    pub(super) fn new(table: impl Fn(&str) -> String, prefix: &str) -> Self {
        let index = |name: &str| schema::quote_ident(&format!("{prefix}{name}"));
        Self {
            positions: table("saga_positions"),
            instances: table("saga_instances"),
            keys: table("saga_keys"),
            commands: table("saga_commands"),
            deadlines: table("saga_deadlines"),
            keys_by_instance: index("saga_keys_by_instance"),
            commands_in_order: index("saga_commands_in_order"),
            commands_by_id: index("saga_commands_by_id"),
            deadlines_by_due: index("saga_deadlines_by_due"),
            deadlines_by_id: index("saga_deadlines_by_id"),
            deadlines_by_instance: index("saga_deadlines_by_instance"),
        }
    }

    /// Migration 6: each saga's position; its instances (state and version) and their
    /// association keys (one instance per key); the commands decided and not yet sent, in the
    /// order decided (`seq`); the pending deadlines, due in microseconds since the epoch,
    /// found by due time (ties in the order set).
    pub(super) fn migration(&self) -> String {
        format!(
            "
        CREATE TABLE {positions} (
            saga     text   PRIMARY KEY,
            position bigint NOT NULL
        );
        CREATE TABLE {instances} (
            saga    text   NOT NULL,
            id      text   NOT NULL,
            state   bytea  NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (saga, id)
        );
        CREATE TABLE {keys} (
            saga     text NOT NULL,
            key      text NOT NULL,
            instance text NOT NULL,
            PRIMARY KEY (saga, key)
        );
        CREATE INDEX {keys_by_instance} ON {keys} (saga, instance);
        CREATE TABLE {commands} (
            seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            saga     text   NOT NULL,
            id       text   NOT NULL,
            instance text   NOT NULL,
            name     text   NOT NULL,
            payload  bytea  NOT NULL
        );
        CREATE INDEX {commands_in_order} ON {commands} (saga, seq);
        CREATE INDEX {commands_by_id} ON {commands} (saga, id);
        CREATE TABLE {deadlines} (
            seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            saga     text   NOT NULL,
            id       text   NOT NULL,
            instance text   NOT NULL,
            name     text   NOT NULL,
            payload  bytea  NOT NULL,
            due      bigint NOT NULL
        );
        CREATE INDEX {deadlines_by_due} ON {deadlines} (saga, due);
        CREATE INDEX {deadlines_by_id} ON {deadlines} (saga, id);
        CREATE INDEX {deadlines_by_instance} ON {deadlines} (saga, instance, name);
        ",
            positions = self.positions,
            instances = self.instances,
            keys = self.keys,
            commands = self.commands,
            deadlines = self.deadlines,
            keys_by_instance = self.keys_by_instance,
            commands_in_order = self.commands_in_order,
            commands_by_id = self.commands_by_id,
            deadlines_by_due = self.deadlines_by_due,
            deadlines_by_id = self.deadlines_by_id,
            deadlines_by_instance = self.deadlines_by_instance,
        )
    }
}

/// Runs `sql` in `tx`; answers how many rows it changed.
async fn execute(tx: &Transaction<'_>, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
    tx.execute(&statement, params).await.map_err(pg_error)
}

/// Runs `sql` in `tx`; answers its first row, if any.
async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
    tx.query_opt(&statement, params).await.map_err(pg_error)
}

/// Column `i` of `row`; a value of another type is the backend's failure, not a panic.
fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i).map_err(backend_error)
}

/// Checks and writes `commit` in `tx`, in the memory store's order (see the module's
/// documentation for why no check can race): the position, the instance's version and its
/// keys, the fired deadline; then the sent command and cancelled deadlines go, new deadlines
/// and commands come, and an ended instance's keys and deadlines go (new ones included).
async fn write(tx: &Transaction<'_>, t: &Tables, commit: &SagaCommit) -> Result<(), StoreError> {
    let saga = commit.saga.as_str();
    if let Some((read, to)) = commit.position {
        let to = saga_int(to, "the position", saga)?;
        move_position(tx, t, saga, read, to).await?;
    }
    if let Some(write) = &commit.instance {
        let id = write.id.as_str();
        let superseded = || {
            StoreError::Superseded(format!(
                "saga `{saga}` instance `{id}` is not at version {:?}",
                write.read_version
            ))
        };
        // A version read beyond what can be stored cannot be the stored one.
        let read = match write.read_version.map(i64::try_from) {
            Some(Err(_)) => return Err(superseded()),
            Some(Ok(read)) => Some(read),
            None => None,
        };
        let next = read.map_or(Some(1), |v| v.checked_add(1)).ok_or_else(|| {
            StoreError::Invalid(format!("saga `{saga}`: the instance's version overflows"))
        })?;
        let done = match (read, &write.state) {
            (Some(read), Some(state)) => {
                let sql = format!(
                    "UPDATE {} SET state = $3, version = $4
                     WHERE saga = $1 AND id = $2 AND version = $5",
                    t.instances
                );
                execute(tx, &sql, &[&saga, &id, state, &next, &read]).await?
            }
            (Some(read), None) => {
                let sql = format!(
                    "DELETE FROM {} WHERE saga = $1 AND id = $2 AND version = $3",
                    t.instances
                );
                execute(tx, &sql, &[&saga, &id, &read]).await?
            }
            (None, Some(state)) => {
                let sql = format!(
                    "INSERT INTO {} (saga, id, state, version) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (saga, id) DO NOTHING",
                    t.instances
                );
                execute(tx, &sql, &[&saga, &id, state, &next]).await?
            }
            // An instance that ends in the step that would create it: it must not exist.
            (None, None) => {
                let sql = format!("SELECT 1 FROM {} WHERE saga = $1 AND id = $2", t.instances);
                u64::from(query_opt(tx, &sql, &[&saga, &id]).await?.is_none())
            }
        };
        if done != 1 {
            return Err(superseded());
        }
        let mut keys: Vec<&str> = write.associate.iter().map(String::as_str).collect();
        // In one order, so that two commits inserting the same keys wait rather than
        // deadlock.
        keys.sort_unstable();
        keys.dedup();
        if !keys.is_empty() {
            if write.state.is_some() {
                let sql = format!(
                    "INSERT INTO {} (saga, key, instance)
                     SELECT $1, k, $3 FROM unnest($2::text[]) AS k
                     ON CONFLICT (saga, key) DO NOTHING",
                    t.keys
                );
                execute(tx, &sql, &[&saga, &keys, &id]).await?;
            }
            let sql = format!(
                "SELECT key FROM {} WHERE saga = $1 AND key = ANY($2) AND instance <> $3
                 ORDER BY key LIMIT 1",
                t.keys
            );
            if let Some(row) = query_opt(tx, &sql, &[&saga, &keys, &id]).await? {
                let key: String = get(&row, 0)?;
                return Err(StoreError::Invalid(format!(
                    "saga `{saga}`: the key `{key}` is associated with another instance"
                )));
            }
        }
    }
    if let Some(fired) = &commit.fired {
        let sql = format!("DELETE FROM {} WHERE saga = $1 AND id = $2", t.deadlines);
        if execute(tx, &sql, &[&saga, fired]).await? == 0 {
            return Err(StoreError::Superseded(format!(
                "saga `{saga}` deadline `{fired}` is no longer pending"
            )));
        }
    }
    if let Some(sent) = &commit.sent {
        let sql = format!("DELETE FROM {} WHERE saga = $1 AND id = $2", t.commands);
        execute(tx, &sql, &[&saga, sent]).await?;
    }
    write_lists(tx, t, commit).await?;
    if let Some(write) = commit.instance.as_ref().filter(|w| w.state.is_none()) {
        for table in [&t.keys, &t.deadlines] {
            let sql = format!("DELETE FROM {table} WHERE saga = $1 AND instance = $2");
            execute(tx, &sql, &[&saga, &write.id]).await?;
        }
    }
    Ok(())
}

/// Moves the saga's position from `read` to `to`, or fails as superseded when it is not at
/// `read`.
async fn move_position(
    tx: &Transaction<'_>,
    t: &Tables,
    saga: &str,
    read: u64,
    to: i64,
) -> Result<(), StoreError> {
    let moved = match i64::try_from(read) {
        Ok(from) => {
            let sql = format!(
                "UPDATE {} SET position = $2 WHERE saga = $1 AND position = $3",
                t.positions
            );
            execute(tx, &sql, &[&saga, &to, &from]).await? == 1
        }
        Err(_) => false,
    };
    // Before its first step a saga has no row: the first commit from 0 inserts it, and of
    // two such commits the second inserts nothing.
    let moved = moved || {
        read == 0 && {
            let sql = format!(
                "INSERT INTO {} (saga, position) VALUES ($1, $2) ON CONFLICT (saga) DO NOTHING",
                t.positions
            );
            execute(tx, &sql, &[&saga, &to]).await? == 1
        }
    };
    if moved {
        return Ok(());
    }
    let sql = format!("SELECT position FROM {} WHERE saga = $1", t.positions);
    let stored = match query_opt(tx, &sql, &[&saga]).await? {
        Some(row) => saga_u64(get(&row, 0)?, "the position", saga)?,
        None => 0,
    };
    Err(StoreError::Superseded(format!(
        "saga `{saga}` is at position {stored}, not {read}"
    )))
}

/// The commit's cancelled deadlines go, then its new deadlines and commands come, each list
/// in one statement and in its order.
async fn write_lists(
    tx: &Transaction<'_>,
    t: &Tables,
    commit: &SagaCommit,
) -> Result<(), StoreError> {
    let saga = commit.saga.as_str();
    if !commit.cancel.is_empty() {
        let instances: Vec<&str> = commit.cancel.iter().map(|(i, _)| i.as_str()).collect();
        let names: Vec<&str> = commit.cancel.iter().map(|(_, n)| n.as_str()).collect();
        let sql = format!(
            "DELETE FROM {} WHERE saga = $1
             AND (instance, name) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
            t.deadlines
        );
        execute(tx, &sql, &[&saga, &instances, &names]).await?;
    }
    if !commit.schedule.is_empty() {
        let d = &commit.schedule;
        let ids: Vec<&str> = d.iter().map(|d| d.id.as_str()).collect();
        let instances: Vec<&str> = d.iter().map(|d| d.instance.as_str()).collect();
        let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
        let payloads: Vec<&[u8]> = d.iter().map(|d| d.payload.as_slice()).collect();
        let dues: Vec<i64> = d.iter().map(|d| d.due.as_micros()).collect();
        let sql = format!(
            "INSERT INTO {} (saga, id, instance, name, payload, due)
             SELECT $1, d.id, d.instance, d.name, d.payload, d.due
             FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[], $6::bigint[])
                 WITH ORDINALITY AS d (id, instance, name, payload, due, n)
             ORDER BY d.n",
            t.deadlines
        );
        let params: [Param<'_>; 6] = [&saga, &ids, &instances, &names, &payloads, &dues];
        execute(tx, &sql, &params).await?;
    }
    if !commit.commands.is_empty() {
        let c = &commit.commands;
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        let instances: Vec<&str> = c.iter().map(|c| c.instance.as_str()).collect();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        let payloads: Vec<&[u8]> = c.iter().map(|c| c.payload.as_slice()).collect();
        // The identity is drawn row by row in the ordinality's order: `seq` keeps the
        // commands' order.
        let sql = format!(
            "INSERT INTO {} (saga, id, instance, name, payload)
             SELECT $1, c.id, c.instance, c.name, c.payload
             FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[])
                 WITH ORDINALITY AS c (id, instance, name, payload, n)
             ORDER BY c.n",
            t.commands
        );
        execute(tx, &sql, &[&saga, &ids, &instances, &names, &payloads]).await?;
    }
    Ok(())
}

fn instance(row: &Row, saga: &str) -> Result<SagaInstance, StoreError> {
    Ok(SagaInstance {
        id: get(row, 0)?,
        state: get(row, 1)?,
        version: saga_u64(get(row, 2)?, "an instance's version", saga)?,
    })
}

fn command(row: &Row) -> Result<PendingCommand, StoreError> {
    Ok(PendingCommand {
        id: get(row, 0)?,
        instance: get(row, 1)?,
        name: get(row, 2)?,
        payload: get(row, 3)?,
    })
}

fn deadline(row: &Row) -> Result<StoredDeadline, StoreError> {
    Ok(StoredDeadline {
        id: get(row, 0)?,
        instance: get(row, 1)?,
        name: get(row, 2)?,
        payload: get(row, 3)?,
        due: Timestamp::from_micros(get(row, 4)?),
    })
}

impl PgStore {
    /// Runs the read `sql` on a pooled connection.
    async fn saga_query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        let client = self.inner.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        client.query(&statement, params).await.map_err(pg_error)
    }

    fn saga_tables(&self) -> &Tables {
        &self.inner.names.sagas
    }
}

impl SagaStore for PgStore {
    async fn saga_position(&self, saga: &str) -> Result<u64, StoreError> {
        check_saga(saga)?;
        let sql = format!(
            "SELECT position FROM {} WHERE saga = $1",
            self.saga_tables().positions
        );
        match self.saga_query(&sql, &[&saga]).await?.first() {
            Some(row) => saga_u64(get(row, 0)?, "the position", saga),
            None => Ok(0),
        }
    }

    async fn find_instance(
        &self,
        saga: &str,
        key: &str,
    ) -> Result<Option<SagaInstance>, StoreError> {
        check_saga(saga)?;
        check_text(key, || "the association key".to_owned())?;
        let t = self.saga_tables();
        let sql = format!(
            "SELECT i.id, i.state, i.version FROM {keys} k
             JOIN {instances} i ON i.saga = k.saga AND i.id = k.instance
             WHERE k.saga = $1 AND k.key = $2",
            keys = t.keys,
            instances = t.instances,
        );
        let rows = self.saga_query(&sql, &[&saga, &key]).await?;
        rows.first().map(|row| instance(row, saga)).transpose()
    }

    async fn load_instance(
        &self,
        saga: &str,
        id: &str,
    ) -> Result<Option<SagaInstance>, StoreError> {
        check_saga(saga)?;
        check_text(id, || "the instance id".to_owned())?;
        let sql = format!(
            "SELECT id, state, version FROM {} WHERE saga = $1 AND id = $2",
            self.saga_tables().instances
        );
        let rows = self.saga_query(&sql, &[&saga, &id]).await?;
        rows.first().map(|row| instance(row, saga)).transpose()
    }

    async fn commit_saga(&self, commit: SagaCommit) -> Result<(), StoreError> {
        check_saga_commit(&commit)?;
        let mut client = self.inner.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // A failed step drops `tx`, which rolls it back.
        write(&tx, self.saga_tables(), &commit).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn pending_commands(
        &self,
        saga: &str,
        limit: usize,
    ) -> Result<Vec<PendingCommand>, StoreError> {
        check_saga(saga)?;
        let sql = format!(
            "SELECT id, instance, name, payload FROM {} WHERE saga = $1 ORDER BY seq LIMIT $2",
            self.saga_tables().commands
        );
        let rows = self.saga_query(&sql, &[&saga, &sql_int(limit)]).await?;
        rows.iter().map(command).collect()
    }

    async fn due_deadlines(
        &self,
        saga: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<StoredDeadline>, StoreError> {
        check_saga(saga)?;
        let sql = format!(
            "SELECT id, instance, name, payload, due FROM {}
             WHERE saga = $1 AND due <= $2 ORDER BY due, seq LIMIT $3",
            self.saga_tables().deadlines
        );
        let params: [Param<'_>; 3] = [&saga, &now.as_micros(), &sql_int(limit)];
        let rows = self.saga_query(&sql, &params).await?;
        rows.iter().map(deadline).collect()
    }

    async fn next_deadline(&self, saga: &str) -> Result<Option<Timestamp>, StoreError> {
        check_saga(saga)?;
        let sql = format!(
            "SELECT min(due) FROM {} WHERE saga = $1",
            self.saga_tables().deadlines
        );
        match self.saga_query(&sql, &[&saga]).await?.first() {
            Some(row) => Ok(get::<Option<i64>>(row, 0)?.map(Timestamp::from_micros)),
            None => Ok(None),
        }
    }
}
