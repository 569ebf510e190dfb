//! Group commit of one-event appends without idempotency key (what most commands write).
//!
//! An append that finds nobody writing runs its own statement at once: alone, an append pays
//! nothing for batching. Appends that arrive while one runs queue up; when it ends, a task
//! takes everything queued (one append per stream) and writes it as one statement, one
//! transaction and one commit, then the next queue, until none is left. Each append keeps
//! its own expectation: the statement checks every stream's version and writes the events
//! whose expectation holds; the others get their stream's version back (a conflict).
//!
//! A batch that fails in the server (a unique violation: an append of another process to
//! one of the streams committed first) wrote nothing, and each append runs again on its own.
//! A batch whose connection is lost may or may not have committed: each append is told the
//! store is unavailable, as it would be alone.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::append::{Columns, Found, POSITION_BITS, Param, schema_version, single};
use super::{Inner, pg_error};
use crate::model::envelope::NewEvent;
use crate::store::StoreError;

/// The most appends written by one statement.
const MOST: usize = 256;

/// The queue of appends waiting for the running one.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether an append or a batch is being written (later ones queue).
    writing: bool,
    queue: Vec<Request>,
}

#[derive(Debug)]
struct Request {
    stream: String,
    lo: i64,
    hi: i64,
    event: NewEvent,
    reply: oneshot::Sender<Result<Found, StoreError>>,
}

impl Batcher {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Appends `event` to `stream` if its version is within `lo..=hi`.
pub(crate) async fn append_one(
    store: &Arc<Inner>,
    stream: &str,
    lo: i64,
    hi: i64,
    event: &NewEvent,
) -> Result<Found, StoreError> {
    let queued = {
        let mut state = store.batcher.state();
        if state.writing {
            // Refused here, a bad schema version never takes its batch down with it.
            schema_version(event)?;
            let (reply, answer) = oneshot::channel();
            state.queue.push(Request {
                stream: stream.to_owned(),
                lo,
                hi,
                event: event.clone(),
                reply,
            });
            Some(answer)
        } else {
            state.writing = true;
            None
        }
    };
    let Some(answer) = queued else {
        let _turn = Turn(store);
        return single(store, stream, lo, hi, event).await;
    };
    answer.await.unwrap_or_else(|_| {
        Err(StoreError::Backend(
            "the task writing a batch of appends stopped before answering".into(),
        ))
    })
}

/// The right to write, held by the append that writes alone. Released (also when that
/// append's future is dropped), it passes to a task for the queued appends.
struct Turn<'a>(&'a Arc<Inner>);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.0.batcher.state();
        if state.queue.is_empty() {
            state.writing = false;
            return;
        }
        drop(state);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(write_queued(Arc::clone(self.0))));
        } else {
            // No runtime to write them on (it is shutting down): the waiting appends are
            // told so by their dropped replies.
            let mut state = self.0.batcher.state();
            state.queue.clear();
            state.writing = false;
        }
    }
}

/// Writes batches until the queue is empty.
async fn write_queued(store: Arc<Inner>) {
    loop {
        let batch = {
            let mut state = store.batcher.state();
            if state.queue.is_empty() {
                state.writing = false;
                return;
            }
            take_batch(&mut state.queue)
        };
        write(&store, batch).await;
    }
}

/// Up to [`MOST`] queued appends, one per stream, in arrival order; the rest stay queued.
fn take_batch(queue: &mut Vec<Request>) -> Vec<Request> {
    let mut streams = HashSet::new();
    let mut batch = Vec::new();
    let mut rest = Vec::new();
    for request in queue.drain(..) {
        if batch.len() < MOST && streams.insert(request.stream.clone()) {
            batch.push(request);
        } else {
            rest.push(request);
        }
    }
    *queue = rest;
    batch
}

async fn write(store: &Inner, batch: Vec<Request>) {
    if batch.len() == 1 {
        one_by_one(store, batch).await;
        return;
    }
    let client = match store.client().await {
        Ok(client) => client,
        Err(e) => {
            let reason = e.to_string();
            for request in batch {
                let _ = request
                    .reply
                    .send(Err(StoreError::Unavailable(reason.clone().into())));
            }
            return;
        }
    };
    let written = match Columns::new(batch.iter().map(|r| &r.event)) {
        Ok(columns) => write_batch(&client, store, &batch, &columns).await,
        Err(_) => {
            // Checked on arrival; should one still be refused, each append gets its own answer.
            drop(client);
            one_by_one(store, batch).await;
            return;
        }
    };
    match written {
        Ok(found) => {
            drop(client);
            for (request, found) in batch.into_iter().zip(found) {
                // The append may have been given up on; its event is written all the same.
                let _ = request.reply.send(Ok(found));
            }
        }
        Err(e) if e.code().is_some() => {
            // Refused by the server: nothing was written. Each append runs on its own.
            drop(client);
            one_by_one(store, batch).await;
        }
        Err(e) => {
            let error = pg_error(e);
            let reason = error.to_string();
            for request in batch {
                let _ = request.reply.send(Err(StoreError::Unavailable(
                    format!("while writing a batch of appends: {reason}").into(),
                )));
            }
        }
    }
}

/// Each append by its own statement.
async fn one_by_one(store: &Inner, batch: Vec<Request>) {
    for request in batch {
        let found = single(
            store,
            &request.stream,
            request.lo,
            request.hi,
            &request.event,
        )
        .await;
        let _ = request.reply.send(found);
    }
}

/// One statement for the whole batch (streams distinct): every request's found version and
/// position, in order.
async fn write_batch(
    client: &deadpool_postgres::Object,
    store: &Inner,
    batch: &[Request],
    columns: &Columns<'_>,
) -> Result<Vec<Found>, tokio_postgres::Error> {
    let statement = client
        .prepare_cached(&batch_statement(&store.names.events))
        .await?;
    let streams: Vec<&str> = batch.iter().map(|r| r.stream.as_str()).collect();
    let lo: Vec<i64> = batch.iter().map(|r| r.lo).collect();
    let hi: Vec<i64> = batch.iter().map(|r| r.hi).collect();
    let params: [Param<'_>; 9] = [
        &streams,
        &lo,
        &hi,
        &columns.ids,
        &columns.types,
        &columns.schema_versions,
        &columns.recorded_at,
        &columns.payloads,
        &columns.metadata,
    ];
    let rows = client.query(&statement, &params).await?;
    Ok(rows
        .iter()
        .map(|row| Found {
            version: row.get(0),
            position: row.get(1),
        })
        .collect())
}

/// The batch statement: each request's stream version, and the events of those within their
/// bounds inserted at the next version, with positions from the transaction id plus the
/// request's place in the batch. Answers, in request order, the version found and the
/// position written (none: not written).
fn batch_statement(events: &str) -> String {
    format!(
        "WITH request AS (
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::uuid[], $5::text[],
                                 $6::int[], $7::bigint[], $8::bytea[], $9::jsonb[])
                WITH ORDINALITY AS r(stream, lo, hi, id, name, schema_version, recorded_at,
                                     payload, metadata, ord)
        ), current AS (
            SELECT r.*, (SELECT coalesce(max(e.stream_version), 0) FROM {events} e
                         WHERE e.stream_id = r.stream) AS version
            FROM request r
        ), written AS (
            INSERT INTO {events} (position, stream_id, stream_version, event_id, event_type,
                                  schema_version, recorded_at, payload, metadata)
            SELECT (pg_current_xact_id()::text::bigint << {bits}) + c.ord, c.stream,
                   c.version + 1, c.id, c.name, c.schema_version, c.recorded_at, c.payload,
                   c.metadata
            FROM current c WHERE c.version BETWEEN c.lo AND c.hi
            RETURNING position, stream_id
        )
        SELECT c.version, w.position FROM current c
        LEFT JOIN written w ON w.stream_id = c.stream
        ORDER BY c.ord",
        bits = POSITION_BITS,
    )
}
