//! Parking: events that failed for good, or wait behind one of their stream, become dead
//! letters; replaying a stream's letters after a fix handles them again in order.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::{Task, store_error};
use crate::model::envelope::{RecordedEvent, Timestamp};
use crate::model::projection::Projection;
use crate::read::pipeline::Pipeline;
use crate::read::sink::{Sink, UnitEnd};
use crate::read::status::{Replayed, RunnerError};
use crate::store::{DeadLetter, EventStore, StoreError};
use crate::wire::codec::Codec;

impl<S: EventStore, P: Projection + Sync, C: Codec, K: Sink<P>, M: Pipeline> Task<S, P, C, K, M> {
    pub(super) async fn park(
        &mut self,
        event: &RecordedEvent,
        reason: String,
        attempts: u32,
    ) -> Result<(), RunnerError> {
        let letter = DeadLetter {
            position: event.global_position,
            stream_id: event.stream_id.to_string(),
            stream_version: event.stream_version,
            event_type: event.event_type.to_string(),
            reason,
            attempts,
            parked_at: Timestamp::now(),
        };
        self.sink.begin().await.map_err(store_error::<P>)?;
        self.record(UnitEnd {
            checkpoint: event.global_position,
            park: Some(letter),
            release: None,
            without_checkpoint: false,
        })
        .await?;
        self.mark_parked(&event.stream_id, event.global_position);
        Ok(())
    }

    pub(super) fn mark_parked(&mut self, stream: &str, position: u64) {
        let first = self.parked.entry(Arc::from(stream)).or_insert(position);
        *first = (*first).min(position);
    }

    /// Handles the parked events of `stream` up to the runner's position again, in order.
    pub(super) async fn replay(&mut self, stream: &str) -> Result<Replayed, RunnerError> {
        let letters: Vec<DeadLetter> = self
            .store
            .dead_letters(P::NAME)
            .await
            .map_err(store_error::<P>)?
            .into_iter()
            .filter(|l| l.stream_id == stream)
            .collect();
        let (due, later): (Vec<_>, Vec<_>) = letters
            .into_iter()
            .partition(|l| l.position <= self.position);
        let mut handled = 0;
        let mut failure = None;
        for (index, letter) in due.iter().enumerate() {
            let event = self
                .store
                .read_all(letter.position, 1)
                .await
                .map_err(store_error::<P>)?
                .events
                .into_iter()
                .find(|e| e.global_position == letter.position)
                .ok_or_else(|| {
                    store_error::<P>(StoreError::Invalid(format!(
                        "the parked event at position {} is not in the store",
                        letter.position
                    )))
                })?;
            match self.retry(&event, None).await? {
                Ok(()) => {
                    self.record(UnitEnd {
                        checkpoint: self.position,
                        park: None,
                        release: Some(letter.position),
                        without_checkpoint: false,
                    })
                    .await?;
                    handled += 1;
                }
                Err((error, attempts)) => {
                    let again = DeadLetter {
                        reason: error.to_string(),
                        attempts,
                        parked_at: Timestamp::now(),
                        ..letter.clone()
                    };
                    self.sink.begin().await.map_err(store_error::<P>)?;
                    self.record(UnitEnd {
                        checkpoint: self.position,
                        park: Some(again),
                        release: None,
                        without_checkpoint: false,
                    })
                    .await?;
                    failure = Some((index, error.to_string()));
                    break;
                }
            }
        }
        self.parked.remove(stream);
        let still: Vec<u64> = match &failure {
            Some((index, _)) => due[*index..].iter().map(|l| l.position).collect(),
            None => Vec::new(),
        };
        for position in still.iter().chain(later.iter().map(|l| &l.position)) {
            self.mark_parked(stream, *position);
        }
        Ok(Replayed {
            handled,
            still_parked: still.len() + later.len(),
            failure: failure.map(|(_, error)| error),
        })
    }
}

/// Whether `event` must wait behind a parked event of its stream.
pub(super) fn waits_behind(
    parked: &HashMap<Arc<str>, u64, RandomState>,
    event: &RecordedEvent,
) -> bool {
    !parked.is_empty()
        && parked
            .get(&event.stream_id)
            .is_some_and(|&first| event.global_position >= first)
}
