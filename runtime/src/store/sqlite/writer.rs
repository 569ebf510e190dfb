//! The one writer of a SQLite store: commits a batch of writes (appends, snapshots,
//! checkpoints, dead letters, saga commits) in one transaction, so durability costs one sync per batch, not
//! per command. [`super::group_commit`] decides who runs it and when.
//!
//! A write that fails is undone alone and the batch commits the rest: a write of several
//! statements runs inside its own savepoint, and a one-event append without an idempotency key
//! is one statement, which SQLite undoes by itself when it fails. Answers go out only after the
//! commit, so an acknowledged append is durable; if the commit fails, every write of the batch
//! fails.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use foldhash::fast::RandomState;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::backend_error;
use super::checkpointer::Checkpointer;
use super::dead_letters::{park, release};
use super::rows::int;
use super::rows::metadata_bytes;
use crate::model::envelope::{NewEvent, Timestamp};
use crate::store::columns::appended;
use crate::store::head::Head;
use crate::store::{AppendOutcome, Appended, ExpectedVersion, Snapshot, StoreError, admit};

/// Work for the writer.
pub(crate) enum Write {
    Append {
        stream: String,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        key: Option<String>,
        reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    },
    /// A write with no answer but success: a snapshot, a checkpoint, a dead letter, a saga
    /// commit.
    Put {
        put: Put,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Removes the idempotency records made before `before`; answers how many.
    Prune {
        before: Timestamp,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// What a [`Write::Put`] writes.
pub(crate) enum Put {
    Snapshot {
        stream: String,
        snapshot: Snapshot,
    },
    Checkpoint {
        name: String,
        position: u64,
    },
    Park {
        name: String,
        letter: crate::store::DeadLetter,
    },
    Release {
        name: String,
        position: u64,
    },
    /// One step of a saga, checked and written in the write's savepoint (see
    /// [`super::sagas`]).
    Saga(Box<crate::store::SagaCommit>),
}

pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) head: Arc<Head>,
    /// The position the next event gets.
    pub(crate) next_position: u64,
    /// Stream versions as this writer last wrote or read them. Only a hint: the unique index
    /// on (stream, version) is the guard, and a conflict the hint predicts is confirmed
    /// against the database.
    pub(crate) versions: StreamVersions,
    /// The file's `PRAGMA data_version` as this connection last saw it. It changes when
    /// another connection (another handle, another process) commits to the file: then the
    /// next position and the version hints are read again, inside the batch's transaction,
    /// which holds the file's write lock, so they cannot go stale before the commit.
    pub(crate) data_version: i64,
    /// Told of every commit; copies the WAL back into the database file on its own thread.
    pub(crate) checkpointer: Checkpointer,
}

/// Known stream versions, forgotten wholesale when there are too many.
#[derive(Default)]
pub(crate) struct StreamVersions {
    known: HashMap<String, u64, RandomState>,
}

impl StreamVersions {
    const MAX: usize = 100_000;

    fn get(&self, stream: &str) -> Option<u64> {
        self.known.get(stream).copied()
    }

    fn set(&mut self, stream: &str, version: u64) {
        if let Some(v) = self.known.get_mut(stream) {
            *v = version;
            return;
        }
        if self.known.len() >= Self::MAX {
            self.known.clear();
        }
        self.known.insert(stream.to_owned(), version);
    }

    fn forget(&mut self, stream: &str) {
        self.known.remove(stream);
    }
}

/// What one write answers, before the commit decides.
enum Answer {
    Append(
        oneshot::Sender<Result<AppendOutcome, StoreError>>,
        Result<AppendOutcome, StoreError>,
    ),
    Put(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Prune(
        oneshot::Sender<Result<u64, StoreError>>,
        Result<u64, StoreError>,
    ),
}

impl Writer {
    /// Forgets the version hints and reads the next position from the file again.
    pub(crate) fn resync(&mut self) {
        self.versions = StreamVersions::default();
        if let Ok(last) = last_position(&self.conn) {
            self.next_position = last + 1;
        }
    }

    /// Writes `batch` in one transaction and answers each write once it is committed.
    pub(crate) fn commit(&mut self, batch: &mut Vec<Write>) {
        let start_position = self.next_position;
        let pages = batch.iter().map(Write::pages).sum();
        let mut answers = Vec::with_capacity(batch.len());
        let outcome = {
            // The checkpointer takes the turn to rewind the WAL between two commits.
            let turn = self.checkpointer.turn();
            let _turn = turn.lock().unwrap_or_else(PoisonError::into_inner);
            self.write_batch(batch, &mut answers)
        };
        match outcome {
            Ok(()) => {
                self.checkpointer.committed(pages);
                if self.next_position > start_position {
                    self.head.raise(self.next_position - 1);
                }
                for answer in answers {
                    answer.send();
                }
            }
            Err(e) => {
                self.next_position = start_position;
                // What the rolled-back batch wrote into the hints is void.
                self.versions = StreamVersions::default();
                let message = e.to_string();
                for answer in answers {
                    answer.fail(&message);
                }
            }
        }
    }

    fn write_batch(
        &mut self,
        batch: &mut Vec<Write>,
        answers: &mut Vec<Answer>,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend_error)?;
        follow_other_writers(
            &tx,
            &self.head,
            &mut self.data_version,
            &mut self.next_position,
            &mut self.versions,
        )?;
        for write in batch.drain(..) {
            let savepoint_position = self.next_position;
            let savepoint = write.needs_savepoint();
            if savepoint {
                statement(&tx, "SAVEPOINT append")?;
            }
            let answer = match write {
                Write::Append {
                    stream,
                    expected,
                    events,
                    key,
                    reply,
                } => {
                    let mut append = Append {
                        conn: &tx,
                        versions: &mut self.versions,
                        next_position: &mut self.next_position,
                    };
                    let result = append.run(&stream, expected, &events, key.as_deref());
                    if result.is_err() {
                        self.versions.forget(&stream);
                    }
                    Answer::Append(reply, result)
                }
                Write::Put { put, reply } => Answer::Put(
                    reply,
                    match put {
                        Put::Snapshot { stream, snapshot } => {
                            save_snapshot(&tx, &stream, &snapshot)
                        }
                        Put::Checkpoint { name, position } => save_checkpoint(&tx, &name, position),
                        Put::Park { name, letter } => park(&tx, &name, &letter),
                        Put::Release { name, position } => release(&tx, &name, position),
                        Put::Saga(commit) => super::saga_tables::commit(&tx, &commit),
                    },
                ),
                Write::Prune { before, reply } => {
                    Answer::Prune(reply, prune_idempotency(&tx, before))
                }
            };
            if !answer.is_ok() {
                self.next_position = savepoint_position;
                // Some failures (a full disk, an I/O error) roll the whole transaction back:
                // then nothing of the batch is written and it must fail whole.
                if tx.is_autocommit() {
                    answers.push(answer);
                    return Err(StoreError::Unavailable(
                        "SQLite rolled the batch's transaction back".into(),
                    ));
                }
                if savepoint {
                    statement(&tx, "ROLLBACK TO append")?;
                }
            }
            if savepoint {
                statement(&tx, "RELEASE append")?;
            }
            answers.push(answer);
        }
        tx.commit().map_err(backend_error)
    }
}

/// Inside a batch's transaction: when another connection has committed to the file since this
/// writer last looked, reads the next position again, forgets the version hints, and raises
/// the head to what the other writer appended.
fn follow_other_writers(
    conn: &Connection,
    head: &Head,
    seen: &mut i64,
    next_position: &mut u64,
    versions: &mut StreamVersions,
) -> Result<(), StoreError> {
    let now = data_version(conn)?;
    if now == *seen {
        return Ok(());
    }
    *seen = now;
    *versions = StreamVersions::default();
    let last = last_position(conn)?;
    *next_position = last + 1;
    head.raise(last);
    Ok(())
}

/// The connection's `PRAGMA data_version`: it changes when another connection commits.
pub(crate) fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(backend_error)
}

/// The position of the file's last event, 0 when it has none.
pub(crate) fn last_position(conn: &Connection) -> Result<u64, StoreError> {
    conn.prepare_cached("SELECT coalesce(max(position), 0) FROM events")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .map(i64::unsigned_abs)
        .map_err(backend_error)
}

/// Runs a fixed statement through the statement cache.
fn statement(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(backend_error)
}

impl Write {
    /// About how many pages the write dirties: one per event (its row and its index entry
    /// share pages with other rows), plus one.
    fn pages(&self) -> usize {
        match self {
            Self::Append { events, .. } => events.len() + 1,
            Self::Put {
                put: Put::Saga(commit),
                ..
            } => commit.commands.len() + commit.schedule.len() + 1,
            Self::Put { .. } | Self::Prune { .. } => 1,
        }
    }

    /// Whether the write may leave part of itself behind when it fails: anything but a
    /// one-event append without a key, whose single INSERT SQLite undoes on failure.
    fn needs_savepoint(&self) -> bool {
        !matches!(self, Self::Append { events, key: None, .. } if events.len() == 1)
    }
}

impl Answer {
    fn is_ok(&self) -> bool {
        match self {
            Self::Append(_, r) => r.is_ok(),
            Self::Put(_, r) => r.is_ok(),
            Self::Prune(_, r) => r.is_ok(),
        }
    }

    fn send(self) {
        // A caller that stopped waiting does not care about the answer.
        match self {
            Self::Append(reply, result) => drop(reply.send(result)),
            Self::Put(reply, result) => drop(reply.send(result)),
            Self::Prune(reply, result) => drop(reply.send(result)),
        }
    }

    /// The batch did not commit: nothing of it was written.
    fn fail(self, message: &str) {
        let error =
            || StoreError::Unavailable(format!("the batch did not commit: {message}").into());
        match self {
            Self::Append(reply, Err(e)) => drop(reply.send(Err(e))),
            Self::Append(reply, Ok(_)) => drop(reply.send(Err(error()))),
            Self::Put(reply, _) => drop(reply.send(Err(error()))),
            Self::Prune(reply, _) => drop(reply.send(Err(error()))),
        }
    }
}

/// One append inside the batch's transaction.
struct Append<'a> {
    conn: &'a Connection,
    versions: &'a mut StreamVersions,
    next_position: &'a mut u64,
}

impl Append<'_> {
    fn run(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        key: Option<&str>,
    ) -> Result<AppendOutcome, StoreError> {
        if let Some(key) = key {
            if let Some(first) = idempotency_record(self.conn, stream, key)? {
                return Ok(AppendOutcome::Duplicate(first));
            }
        }
        let current = self.current_version(stream, expected)?;
        if let Some(done) = admit(stream, expected, current, events, key)? {
            return Ok(done);
        }
        let count = events.len() as u64;
        let mut position = None;
        let mut insert = self
            .conn
            .prepare_cached(
                "INSERT INTO events (position, stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(backend_error)?;
        for (offset, event) in (1..).zip(events) {
            let metadata = metadata_bytes(&event.metadata)?;
            let inserted = insert.execute(params![
                int(*self.next_position).map_err(backend_error)?,
                stream,
                int(current + offset).map_err(backend_error)?,
                event.event_id.as_bytes().as_slice(),
                event.event_type.as_ref(),
                event.schema_version,
                event.timestamp.as_micros(),
                event.payload,
                metadata,
            ]);
            match inserted {
                Ok(_) => {}
                // The position is the primary key: taken means that the file moved on
                // without this writer seeing it (its data version check should prevent it).
                // Not a version conflict; the batch fails and the writer reads the file again.
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    return Err(StoreError::Unavailable(
                        format!(
                            "global position {} is already taken in the file; \
                             the append was not written and may be retried",
                            *self.next_position
                        )
                        .into(),
                    ));
                }
                // Another writer appended to the stream since this writer last looked.
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                {
                    return Err(StoreError::Conflict {
                        stream: stream.to_owned(),
                        expected,
                        actual: stored_version(self.conn, stream)?,
                    });
                }
                Err(e) => return Err(backend_error(e)),
            }
            position = Some(*self.next_position);
            *self.next_position += 1;
        }
        let version = current + count;
        let appended = Appended {
            version,
            count,
            position,
        };
        if let Some(key) = key {
            self.conn
                .prepare_cached(
                    "INSERT INTO idempotency (stream_id, key, version, count, position, recorded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        stream,
                        key,
                        int(version)?,
                        int(count)?,
                        position.map(int).transpose()?,
                        Timestamp::now().as_micros(),
                    ])
                })
                .map_err(backend_error)?;
        }
        self.versions.set(stream, version);
        Ok(AppendOutcome::Appended(appended))
    }

    /// The stream's version: the hint when it satisfies the expectation (the unique index
    /// catches a stale one), otherwise the database's.
    fn current_version(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
    ) -> Result<u64, StoreError> {
        if let Some(hint) = self.versions.get(stream) {
            if expected.accepts(hint)
                && !matches!(
                    expected,
                    ExpectedVersion::Any | ExpectedVersion::StreamExists
                )
            {
                return Ok(hint);
            }
        }
        let version = stored_version(self.conn, stream)?;
        self.versions.set(stream, version);
        Ok(version)
    }
}

/// The version of the stream's last stored event, 0 when it has none.
pub(crate) fn stored_version(conn: &Connection, stream: &str) -> Result<u64, StoreError> {
    conn.prepare_cached("SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = ?1")
        .and_then(|mut s| s.query_row([stream], |r| r.get::<_, i64>(0)))
        .map(i64::unsigned_abs)
        .map_err(backend_error)
}

/// What the first append with `key` on `stream` wrote, if one did.
pub(crate) fn idempotency_record(
    conn: &Connection,
    stream: &str,
    key: &str,
) -> Result<Option<Appended>, StoreError> {
    conn.prepare_cached(
        "SELECT version, count, position FROM idempotency WHERE stream_id = ?1 AND key = ?2",
    )
    .and_then(|mut s| {
        s.query_row(params![stream, key], |r| {
            Ok(appended(r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
    })
    .map_err(backend_error)
}

/// Removes the idempotency records made before `before`; answers how many.
fn prune_idempotency(conn: &Connection, before: Timestamp) -> Result<u64, StoreError> {
    conn.prepare_cached("DELETE FROM idempotency WHERE recorded_at < ?1")
        .and_then(|mut s| s.execute([before.as_micros()]))
        .map(|removed| removed as u64)
        .map_err(backend_error)
}

fn save_snapshot(conn: &Connection, stream: &str, snapshot: &Snapshot) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO snapshots (stream_id, snapshot_version, stream_version, payload, taken_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (stream_id) DO UPDATE SET
             snapshot_version = excluded.snapshot_version,
             stream_version = excluded.stream_version,
             payload = excluded.payload,
             taken_at = excluded.taken_at
         WHERE excluded.stream_version >= snapshots.stream_version",
    )
    .and_then(|mut s| {
        s.execute(params![
            stream,
            snapshot.snapshot_version,
            int(snapshot.stream_version)?,
            snapshot.payload.as_ref(),
            snapshot.taken_at.as_micros(),
        ])
    })
    .map_err(backend_error)?;
    Ok(())
}

pub(crate) fn save_checkpoint(
    conn: &Connection,
    name: &str,
    position: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO checkpoints (name, position, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET
             position = excluded.position,
             updated_at = excluded.updated_at",
    )
    .and_then(|mut s| s.execute(params![name, int(position)?, Timestamp::now().as_micros()]))
    .map_err(backend_error)?;
    Ok(())
}
