//! The reading side of a Kafka consumer-group member: one task per partition that fetches
//! from its offset on and sends what it finds, in order, to the member; the committed offsets
//! of the group's offsets topic; a record read again by its offset. Every broker call is
//! bounded in time: rskafka has no request timeout of its own, so a hung connection would
//! otherwise hold a member for ever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::{Record, RecordAndOffset};
use tokio::sync::mpsc;

use super::TransportError;
use super::kafka::unavailable;

/// The most bytes one fetch of one partition asks for.
const FETCH_BYTES: i32 = 1 << 20;
/// How long a broker call may take beyond what it asks the broker to wait.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The pause between fetches while the broker is unreachable.
const FAILED_PAUSE: Duration = Duration::from_millis(500);

/// What a partition's reader sends, in the partition's order.
pub(crate) enum Fetch {
    Records(usize, Vec<RecordAndOffset>),
    /// The broker no longer has the records from the reader's offset up to this one
    /// (retention took them): the reader goes on from here.
    Skipped(usize, i64),
    /// The partition ends below the reader's offset (the topic was recreated, or lost its
    /// tail): the reader starts again from the partition's start, here.
    Reset(usize, i64),
    /// The broker is unreachable; sent once per outage.
    Failed(TransportError),
}

/// `call`, failing as unavailable when it takes longer than `wait` and the call timeout.
pub(crate) async fn bounded<T>(
    wait: Duration,
    call: impl Future<Output = Result<T, KafkaError>>,
) -> Result<Result<T, KafkaError>, TransportError> {
    tokio::time::timeout(wait + CALL_TIMEOUT, call)
        .await
        .map_err(|_| unavailable("the broker did not answer in time"))
}

/// Reads partition `slot` from `offset` on, sending what it finds, until the member is
/// dropped.
pub(crate) async fn read_partition(
    slot: usize,
    client: Arc<PartitionClient>,
    mut offset: i64,
    wait: Duration,
    tx: mpsc::Sender<Fetch>,
) {
    let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    let mut failing = false;
    loop {
        let fetched = bounded(wait, client.fetch_records(offset, 1..FETCH_BYTES, wait_ms)).await;
        let fetch = match fetched {
            Ok(Ok((records, high_watermark))) => {
                failing = false;
                let records: Vec<_> = records.into_iter().filter(|r| r.offset >= offset).collect();
                match records.last() {
                    Some(last) => offset = last.offset + 1,
                    // Below the high watermark, yet nothing: the batch there holds no records
                    // rskafka hands out (a transaction's control batch). Step over it.
                    None if offset < high_watermark => {
                        tracing::debug!(
                            offset,
                            "kafka: no records at an offset below the end; stepping over it"
                        );
                        offset += 1;
                        continue;
                    }
                    None => continue,
                }
                Fetch::Records(slot, records)
            }
            Ok(Err(KafkaError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            })) => match out_of_range(&client, offset).await {
                Ok((skipped, to)) => {
                    offset = to;
                    if skipped {
                        Fetch::Skipped(slot, to)
                    } else {
                        Fetch::Reset(slot, to)
                    }
                }
                Err(error) => Fetch::Failed(error),
            },
            Ok(Err(e)) => Fetch::Failed(unavailable(e)),
            Err(error) => Fetch::Failed(error),
        };
        if let Fetch::Failed(error) = &fetch {
            if failing {
                tokio::time::sleep(FAILED_PAUSE).await;
                continue;
            }
            failing = true;
            tracing::warn!(%error, offset, "kafka: a partition could not be read; trying again");
        }
        let pause = matches!(fetch, Fetch::Failed(_));
        if tx.send(fetch).await.is_err() {
            return;
        }
        if pause {
            tokio::time::sleep(FAILED_PAUSE).await;
        }
    }
}

/// Where to go on when `offset` is outside the partition: past what retention took
/// (`true`), or back to the start of a partition that ends below it (`false`).
async fn out_of_range(
    client: &PartitionClient,
    offset: i64,
) -> Result<(bool, i64), TransportError> {
    let earliest = bounded(Duration::ZERO, client.get_offset(OffsetAt::Earliest))
        .await?
        .map_err(unavailable)?;
    if earliest > offset {
        return Ok((true, earliest));
    }
    tracing::warn!(
        offset,
        earliest,
        "kafka: the partition ends below the group's offset; reading it again from its start"
    );
    Ok((false, earliest))
}

/// The group's committed offset in the partition whose progress `offsets` holds.
pub(crate) async fn committed(offsets: &PartitionClient) -> Result<Option<i64>, TransportError> {
    let end = bounded(Duration::ZERO, offsets.get_offset(OffsetAt::Latest))
        .await?
        .map_err(unavailable)?;
    if end == 0 {
        return Ok(None);
    }
    let Some(record) = record_at(offsets, end - 1).await? else {
        return Err(unavailable(format!(
            "the offsets topic ends at {end} but its last record is gone; the group's \
             progress is lost (keep the offsets topic compacted, not deleted by age)"
        )));
    };
    let value = record.value.unwrap_or_default();
    let text = String::from_utf8_lossy(&value);
    text.parse()
        .map(Some)
        .map_err(|e| unavailable(format!("a committed offset `{text}`: {e}")))
}

/// The record at `offset`, or `None` when the broker no longer has it.
pub(crate) async fn record_at(
    client: &PartitionClient,
    offset: i64,
) -> Result<Option<Record>, TransportError> {
    match bounded(
        Duration::ZERO,
        client.fetch_records(offset, 1..FETCH_BYTES, 0),
    )
    .await?
    {
        Ok((records, _)) => Ok(records
            .into_iter()
            .find(|r| r.offset == offset)
            .map(|r| r.record)),
        Err(KafkaError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            ..
        }) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}
