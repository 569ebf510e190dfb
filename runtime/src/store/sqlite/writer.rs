//! The one writer of a SQLite store: a thread that takes every append waiting in its queue
//! and commits them in one transaction (group commit), so durability costs one sync per
//! batch, not per command.
//!
//! Each append runs inside its own savepoint: a conflict or a failed insert rolls back that
//! append only, and the batch commits the rest. Replies go out only after the commit, so an
//! acknowledged append is durable; if the commit fails, every append of the batch fails.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::backend_error;
use crate::envelope::NewEvent;
use crate::store::columns::metadata_bytes;
use crate::store::head::Head;
use crate::store::{AppendOutcome, Appended, ExpectedVersion, Snapshot, StoreError};

/// Work for the writer.
pub(crate) enum Write {
    Append {
        stream: String,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        key: Option<String>,
        reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    },
    Snapshot {
        stream: String,
        snapshot: Snapshot,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) head: Arc<Head>,
    /// The position the next event gets.
    pub(crate) next_position: u64,
    pub(crate) max_batch: usize,
}

/// What one write answers, before the commit decides.
enum Answer {
    Append(
        oneshot::Sender<Result<AppendOutcome, StoreError>>,
        Result<AppendOutcome, StoreError>,
    ),
    Snapshot(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
}

impl Writer {
    /// Serves the queue until every store handle is gone.
    pub(crate) fn run(mut self, queue: &Receiver<Write>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Ok(first) = queue.recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match queue.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.commit(&mut batch);
        }
    }

    fn commit(&mut self, batch: &mut Vec<Write>) {
        let start_position = self.next_position;
        let mut answers = Vec::with_capacity(batch.len());
        let outcome = self.write_batch(batch, &mut answers);
        match outcome {
            Ok(()) => {
                if self.next_position > start_position {
                    self.head.raise(self.next_position - 1);
                }
                for answer in answers {
                    answer.send();
                }
            }
            Err(e) => {
                self.next_position = start_position;
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
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend_error)?;
        for write in batch.drain(..) {
            let savepoint_position = self.next_position;
            let mut sp = tx.savepoint().map_err(backend_error)?;
            let answer = match write {
                Write::Append {
                    stream,
                    expected,
                    events,
                    key,
                    reply,
                } => {
                    let result = append(
                        &sp,
                        &stream,
                        expected,
                        events,
                        key.as_deref(),
                        &mut self.next_position,
                    );
                    Answer::Append(reply, result)
                }
                Write::Snapshot {
                    stream,
                    snapshot,
                    reply,
                } => Answer::Snapshot(reply, save_snapshot(&sp, &stream, &snapshot)),
            };
            if answer.is_ok() {
                sp.commit().map_err(backend_error)?;
            } else {
                self.next_position = savepoint_position;
                sp.rollback().map_err(backend_error)?;
                drop(sp);
            }
            answers.push(answer);
        }
        tx.commit().map_err(backend_error)
    }
}

impl Answer {
    fn is_ok(&self) -> bool {
        match self {
            Self::Append(_, r) => r.is_ok(),
            Self::Snapshot(_, r) => r.is_ok(),
        }
    }

    fn send(self) {
        // A caller that stopped waiting does not care about the answer.
        match self {
            Self::Append(reply, result) => drop(reply.send(result)),
            Self::Snapshot(reply, result) => drop(reply.send(result)),
        }
    }

    /// The batch did not commit: nothing of it was written.
    fn fail(self, message: &str) {
        let error =
            || StoreError::Unavailable(format!("the batch did not commit: {message}").into());
        match self {
            Self::Append(reply, Err(e)) => drop(reply.send(Err(e))),
            Self::Append(reply, Ok(_)) => drop(reply.send(Err(error()))),
            Self::Snapshot(reply, _) => drop(reply.send(Err(error()))),
        }
    }
}

fn append(
    conn: &Connection,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    key: Option<&str>,
    next_position: &mut u64,
) -> Result<AppendOutcome, StoreError> {
    if let Some(key) = key {
        let first = conn
            .prepare_cached("SELECT version, count, position FROM idempotency WHERE stream_id = ?1 AND key = ?2")
            .and_then(|mut s| {
                s.query_row(params![stream, key], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?))
                })
                .optional()
            })
            .map_err(backend_error)?;
        if let Some((version, count, position)) = first {
            return Ok(AppendOutcome::Duplicate(Appended {
                version: version.unsigned_abs(),
                count: count.unsigned_abs(),
                position: position.map(i64::unsigned_abs),
            }));
        }
    }
    let current: u64 = conn
        .prepare_cached("SELECT version FROM streams WHERE stream_id = ?1")
        .and_then(|mut s| s.query_row([stream], |r| r.get::<_, i64>(0)).optional())
        .map_err(backend_error)?
        .map_or(0, i64::unsigned_abs);
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
    let mut position = None;
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO events (position, stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(backend_error)?;
        for (offset, event) in (1..).zip(&events) {
            let metadata = metadata_bytes(&event.metadata)?;
            insert
                .execute(params![
                    int(*next_position).map_err(backend_error)?,
                    stream,
                    int(current + offset).map_err(backend_error)?,
                    event.event_id.as_bytes().as_slice(),
                    event.event_type.as_ref(),
                    event.schema_version,
                    event.timestamp.as_micros(),
                    event.payload,
                    metadata,
                ])
                .map_err(backend_error)?;
            position = Some(*next_position);
            *next_position += 1;
        }
    }
    let version = current + count;
    if count > 0 {
        conn.prepare_cached(
            "INSERT INTO streams (stream_id, version) VALUES (?1, ?2)
             ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version",
        )
        .and_then(|mut s| s.execute(params![stream, int(version)?]))
        .map_err(backend_error)?;
    }
    let appended = Appended {
        version,
        count,
        position,
    };
    if let Some(key) = key {
        conn.prepare_cached(
            "INSERT INTO idempotency (stream_id, key, version, count, position) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                stream,
                key,
                int(version)?,
                int(count)?,
                position.map(int).transpose()?
            ])
        })
        .map_err(backend_error)?;
    }
    Ok(AppendOutcome::Appended(appended))
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

/// SQLite integers are signed; positions and versions stay far below `i64::MAX`.
fn int(value: u64) -> rusqlite::Result<i64> {
    i64::try_from(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}
