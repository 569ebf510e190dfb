//! [`KafkaTransport`]: publishes to one Kafka topic with rskafka (pure Rust), each message a
//! record keyed by its ordering key, so all messages of one stream land on one partition and
//! keep their order. The partition of a key is Kafka's default (murmur2 of the key, as the
//! Java client computes it), so records a Java producer keys the same way land beside them.
//! Records are not produced idempotently: a message published twice is two records, which
//! the consumer's inbox recognises by the id in its headers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::try_join_all;
use rskafka::BackoffConfig;
use rskafka::chrono::{DateTime, Utc};
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use super::{Transport, TransportError, kafka_reader};
use crate::model::envelope::Timestamp;
use crate::outbox::message::Outgoing;

/// The record header that holds the subject.
pub(crate) const SUBJECT: &str = "es-subject";

/// A Kafka publisher to the topic `topic`. Cheap to clone; clones share the connections.
///
/// ```no_run
/// # async fn run() -> Result<(), eventsmith::outbox::TransportError> {
/// use eventsmith::outbox::KafkaTransport;
///
/// // The topic `orders` with 6 partitions, created if it is missing.
/// let kafka = KafkaTransport::connect("127.0.0.1:9092", "orders", 6).await?;
/// assert_eq!(kafka.partitions(), 6);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaTransport {
    client: Arc<Client>,
    topic: String,
    partitions: Arc<[Arc<PartitionClient>]>,
    replicas: i16,
}

impl std::fmt::Debug for KafkaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTransport")
            .field("topic", &self.topic)
            .field("partitions", &self.partitions.len())
            .finish_non_exhaustive()
    }
}

impl KafkaTransport {
    /// Connects to the brokers `brokers` (`host:port`, several separated by commas) and
    /// publishes to `topic`, creating it with `partitions` partitions, one replica each, when
    /// it is missing (an existing topic keeps its own settings). A broker call not answered
    /// within about 15 s fails as [`TransportError::Unavailable`].
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when no broker answers or the topic cannot be created.
    pub async fn connect(
        brokers: &str,
        topic: impl Into<String>,
        partitions: u16,
    ) -> Result<Self, TransportError> {
        Self::connect_replicated(brokers, topic, partitions, 1).await
    }

    /// [`connect`](Self::connect), creating a missing topic (and a consumer group's offsets
    /// topic) with `replicas` replicas of each partition.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_replicated(
        brokers: &str,
        topic: impl Into<String>,
        partitions: u16,
        replicas: u16,
    ) -> Result<Self, TransportError> {
        let client = Arc::new(client(brokers).await?);
        let topic = topic.into();
        let replicas = i16::try_from(replicas.max(1)).unwrap_or(i16::MAX);
        let count = ensure_topic(&client, &topic, partitions.max(1), replicas).await?;
        let partitions = partition_clients(&client, &topic, count).await?;
        Ok(Self {
            client,
            topic,
            partitions: partitions.into(),
            replicas,
        })
    }

    /// The topic's name.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// How many partitions the topic has.
    #[must_use]
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// The partition the messages of `key` go to: Kafka's default partitioner, murmur2 of
    /// the key's bytes.
    #[must_use]
    pub fn partition_of(&self, key: &str) -> usize {
        partition_of(key.as_bytes(), self.partitions.len())
    }

    pub(crate) fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// The replicas of each partition of the topics it creates.
    pub(crate) fn replicas(&self) -> i16 {
        self.replicas
    }

    pub(crate) fn partition_client(&self, partition: usize) -> Option<&Arc<PartitionClient>> {
        self.partitions.get(partition)
    }
}

impl Transport for KafkaTransport {
    const NAME: &'static str = "kafka";

    async fn publish(&self, messages: &[Outgoing]) -> Result<(), TransportError> {
        if messages.is_empty() {
            return Ok(());
        }
        // The partitions side by side; in each, the records in the batch's order, in
        // requests of at most REQUEST_BYTES (a broker refuses larger ones).
        let mut batches: Vec<Vec<&Outgoing>> = vec![Vec::new(); self.partitions.len()];
        for message in messages {
            batches[self.partition_of(&message.key)].push(message);
        }
        let produced = batches
            .into_iter()
            .enumerate()
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(partition, batch)| {
                let client = Arc::clone(&self.partitions[partition]);
                async move { produce(&client, &batch).await }
            });
        try_join_all(produced).await?;
        Ok(())
    }
}

/// The most bytes of records one produce request carries (a broker's default limit for one
/// batch is 1 MiB).
const REQUEST_BYTES: usize = 512 << 10;

/// Produces `batch` to one partition, in order, a request at a time.
async fn produce(client: &PartitionClient, batch: &[&Outgoing]) -> Result<(), TransportError> {
    let mut request = Vec::new();
    let (mut bytes, mut first) = (0, 0);
    for (i, message) in batch.iter().enumerate() {
        let record = record(message);
        let size = record.approximate_size();
        if !request.is_empty() && bytes + size > REQUEST_BYTES {
            produce_request(client, std::mem::take(&mut request), batch[first]).await?;
            (bytes, first) = (0, i);
        }
        bytes += size;
        request.push(record);
    }
    if request.is_empty() {
        return Ok(());
    }
    produce_request(client, request, batch[first]).await
}

/// One produce request, whose first record is `first`'s.
async fn produce_request(
    client: &PartitionClient,
    records: Vec<Record>,
    first: &Outgoing,
) -> Result<(), TransportError> {
    let produced = kafka_reader::bounded(
        Duration::ZERO,
        client.produce(records, Compression::NoCompression),
    )
    .await?;
    match produced {
        Ok(_) => Ok(()),
        Err(KafkaError::ServerError {
            protocol_error:
                protocol_error @ (ProtocolError::MessageTooLarge
                | ProtocolError::RecordListTooLarge
                | ProtocolError::InvalidRecord),
            ..
        }) => Err(TransportError::Refused {
            transport: KafkaTransport::NAME,
            subject: first.subject.clone(),
            id: first.id,
            cause: format!(
                "the broker refused the records from this one on ({protocol_error}); raise \
                 its `max.message.bytes` or publish smaller messages"
            ),
        }),
        Err(e) => Err(unavailable(e)),
    }
}

fn record(message: &Outgoing) -> Record {
    let mut headers: BTreeMap<String, Vec<u8>> = message
        .headers()
        .map(|(name, value)| (name.to_owned(), value.into_bytes()))
        .collect();
    headers.insert(SUBJECT.to_owned(), message.subject.clone().into_bytes());
    Record {
        key: Some(message.key.as_bytes().to_vec()),
        value: Some(message.payload.clone()),
        headers,
        timestamp: timestamp(message.recorded_at),
    }
}

/// `at` as a record's timestamp.
pub(crate) fn timestamp(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.as_micros()).unwrap_or_default()
}

/// A client whose retries give up after 10 s, so an outage reaches the relay's own backoff.
pub(crate) async fn client(brokers: &str) -> Result<Client, TransportError> {
    let brokers = brokers
        .split(',')
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    let build = ClientBuilder::new(brokers)
        .client_id("eventsmith")
        .backoff_config(BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(Duration::from_secs(10)),
        })
        .build();
    tokio::time::timeout(kafka_reader::CALL_TIMEOUT, build)
        .await
        .map_err(|_| unavailable("no broker answered in time"))?
        .map_err(unavailable)
}

/// Creates `topic` with `partitions` partitions unless it exists; answers its partition count.
pub(crate) async fn ensure_topic(
    client: &Client,
    topic: &str,
    partitions: u16,
    replicas: i16,
) -> Result<usize, TransportError> {
    let count = |topics: Vec<rskafka::topic::Topic>| {
        topics
            .into_iter()
            .find(|t| t.name == topic)
            .map(|t| t.partitions.len())
    };
    let listed = kafka_reader::bounded(Duration::ZERO, client.list_topics()).await?;
    if let Some(n) = count(listed.map_err(unavailable)?) {
        return Ok(n);
    }
    let controller = client.controller_client().map_err(unavailable)?;
    let create = controller.create_topic(topic, i32::from(partitions), replicas, 5_000);
    match kafka_reader::bounded(Duration::ZERO, create).await? {
        Ok(()) => {}
        Err(KafkaError::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            ..
        }) => {}
        Err(e) => return Err(unavailable(format!("creating topic `{topic}`: {e}"))),
    }
    let listed = kafka_reader::bounded(Duration::ZERO, client.list_topics()).await?;
    match count(listed.map_err(unavailable)?) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(unavailable(format!("topic `{topic}` has no partitions"))),
    }
}

/// A client for each of the `count` partitions of `topic`, in partition order.
pub(crate) async fn partition_clients(
    client: &Client,
    topic: &str,
    count: usize,
) -> Result<Vec<Arc<PartitionClient>>, TransportError> {
    let mut clients = Vec::with_capacity(count);
    for partition in 0..count {
        let partition = i32::try_from(partition).map_err(unavailable)?;
        let pc = kafka_reader::bounded(
            Duration::ZERO,
            client.partition_client(topic, partition, UnknownTopicHandling::Retry),
        )
        .await?
        .map_err(unavailable)?;
        clients.push(Arc::new(pc));
    }
    Ok(clients)
}

/// The partition of `key` among `partitions`: Kafka's default partitioner (murmur2 of the
/// key, made positive, modulo the count).
pub(crate) fn partition_of(key: &[u8], partitions: usize) -> usize {
    let positive = murmur2(key) & 0x7fff_ffff;
    usize::try_from(positive).unwrap_or(0) % partitions.max(1)
}

/// Kafka's murmur2 (seed `0x9747b28c`), as `org.apache.kafka.common.utils.Utils.murmur2`.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut h: u32 = 0x9747_b28c ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

pub(crate) fn unavailable(cause: impl std::fmt::Display) -> TransportError {
    TransportError::Unavailable {
        transport: KafkaTransport::NAME,
        cause: cause.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_is_the_java_clients() {
        // The values of Kafka's own `UtilsTest.testMurmur2`, as the signed ints Java prints.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, java) in cases {
            assert_eq!(murmur2(key).cast_signed(), java, "{key:?}");
        }
    }

    #[test]
    fn a_key_always_goes_to_one_partition_and_keys_spread() {
        let mut seen = [0_usize; 6];
        for n in 0..600 {
            let key = format!("order-{n}");
            let p = partition_of(key.as_bytes(), 6);
            assert_eq!(p, partition_of(key.as_bytes(), 6));
            seen[p] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
