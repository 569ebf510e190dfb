//! The SQLite store's [`SagaStore`]: commits go to the store's writer, as appends do (see
//! [`super::saga_tables`] for how they are checked and written); reads run on the read pool.

use rusqlite::params;

use super::saga_tables::{command, deadline, instance, position};
use super::writer::{Put, Write};
use super::{SqliteStore, backend_error};
use crate::model::envelope::Timestamp;
use crate::store::columns::sql_int;
use crate::store::{
    PendingCommand, SagaCommit, SagaInstance, SagaStore, StoreError, StoredDeadline, check_saga,
    check_saga_commit, check_text,
};

impl SagaStore for SqliteStore {
    async fn saga_position(&self, saga: &str) -> Result<u64, StoreError> {
        check_saga(saga)?;
        let saga = saga.to_owned();
        self.read(move |conn| position(conn, &saga)).await
    }

    async fn find_instance(
        &self,
        saga: &str,
        key: &str,
    ) -> Result<Option<SagaInstance>, StoreError> {
        check_saga(saga)?;
        check_text(key, || "the association key".to_owned())?;
        let (saga, key) = (saga.to_owned(), key.to_owned());
        self.read(move |conn| {
            instance(
                conn,
                "SELECT i.id, i.state, i.version FROM saga_keys k
                 JOIN saga_instances i ON i.saga = k.saga AND i.id = k.instance
                 WHERE k.saga = ?1 AND k.key = ?2",
                &saga,
                &key,
            )
        })
        .await
    }

    async fn load_instance(
        &self,
        saga: &str,
        id: &str,
    ) -> Result<Option<SagaInstance>, StoreError> {
        check_saga(saga)?;
        check_text(id, || "the instance id".to_owned())?;
        let (saga, id) = (saga.to_owned(), id.to_owned());
        self.read(move |conn| {
            instance(
                conn,
                "SELECT id, state, version FROM saga_instances WHERE saga = ?1 AND id = ?2",
                &saga,
                &id,
            )
        })
        .await
    }

    async fn commit_saga(&self, commit: SagaCommit) -> Result<(), StoreError> {
        check_saga_commit(&commit)?;
        self.write(|reply| Write::Put {
            put: Put::Saga(Box::new(commit)),
            reply,
        })
        .await
    }

    async fn pending_commands(
        &self,
        saga: &str,
        limit: usize,
    ) -> Result<Vec<PendingCommand>, StoreError> {
        check_saga(saga)?;
        let saga = saga.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, instance, name, payload FROM saga_commands
                 WHERE saga = ?1 ORDER BY seq LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![saga, sql_int(limit)], command)?
                    .collect()
            })
            .map_err(backend_error)
        })
        .await
    }

    async fn due_deadlines(
        &self,
        saga: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<StoredDeadline>, StoreError> {
        check_saga(saga)?;
        let saga = saga.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, instance, name, payload, due FROM saga_deadlines
                 WHERE saga = ?1 AND due <= ?2 ORDER BY due, seq LIMIT ?3",
            )
            .and_then(|mut s| {
                s.query_map(params![saga, now.as_micros(), sql_int(limit)], deadline)?
                    .collect()
            })
            .map_err(backend_error)
        })
        .await
    }

    async fn next_deadline(&self, saga: &str) -> Result<Option<Timestamp>, StoreError> {
        check_saga(saga)?;
        let saga = saga.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT min(due) FROM saga_deadlines WHERE saga = ?1")
                .and_then(|mut s| s.query_row([&saga], |r| r.get::<_, Option<i64>>(0)))
                .map(|due| due.map(Timestamp::from_micros))
                .map_err(backend_error)
        })
        .await
    }
}
