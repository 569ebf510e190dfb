//! [`KafkaSubscription`]: one member of a consumer group of a Kafka topic as a
//! [`Subscription`]. Members divide the partitions among themselves by a static assignment
//! (member `i` of `n` reads the partitions `p` with `p % n == i`, as Kafka's static
//! membership keeps them); each partition is read by a task of its own, so a message is
//! delivered as soon as the broker has it. The group's progress is kept in the broker, in a
//! topic of its own (`<topic>.offsets.<group>`) whose partition `p` holds the committed
//! offsets of partition `p`, the newest last, so a member that restarts reads one record per
//! partition to know where it was.

use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::{Compression, OffsetAt, PartitionClient};
use rskafka::record::{Record, RecordAndOffset};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::TransportError;
use super::kafka::{
    KafkaTransport, SUBJECT, ensure_topic, partition_clients, timestamp, unavailable,
};
use super::kafka_reader::{Fetch, bounded, committed, read_partition, record_at};
use super::pattern::subject_matches;
use crate::model::envelope::Timestamp;
use crate::outbox::consumer::{Delivery, Fetched, Incoming, Subscription};

/// Offsets below this many bits of a sequence; the partition above them.
const OFFSET_BITS: u32 = 40;
/// How often an unchanged offset is recorded again, so the offsets topic's retention never
/// takes a partition's only record.
const REWRITE_EVERY: Duration = Duration::from_secs(3600);

/// What acknowledges one delivery of a [`KafkaSubscription`]: its partition and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaAck {
    slot: usize,
    offset: i64,
}

/// A member of a consumer group of one Kafka topic, on a subject pattern.
pub struct KafkaSubscription {
    transport: KafkaTransport,
    group: String,
    pattern: String,
    owned: Vec<Owned>,
    member: (usize, usize),
    wait: Duration,
    commit_every: Duration,
    last_commit: Instant,
    fetched: Option<mpsc::Receiver<Fetch>>,
    readers: JoinSet<()>,
    buffer: VecDeque<Buffered>,
    retries: BinaryHeap<std::cmp::Reverse<(Instant, usize, i64)>>,
    /// A reader's failure, answered once what was gathered is delivered.
    failure: Option<TransportError>,
}

impl std::fmt::Debug for KafkaSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSubscription")
            .field("topic", &self.transport.topic())
            .field("group", &self.group)
            .field("pattern", &self.pattern)
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// A partition this member reads, and where the group stands in it.
struct Owned {
    partition: usize,
    offsets: Arc<PartitionClient>,
    /// Delivered and not yet acknowledged, with their delivery counts.
    outstanding: BTreeMap<i64, u32>,
    /// One past the last offset taken from the partition.
    seen: i64,
    /// The offset the group's progress records: every message below it is done.
    committed: i64,
    /// When the progress was last written.
    written: Instant,
}

impl Owned {
    /// Where the group could record its progress now: the first message not done.
    fn done_below(&self) -> i64 {
        self.outstanding.keys().next().copied().unwrap_or(self.seen)
    }
}

/// What the readers sent, in each partition's order, not yet delivered.
enum Buffered {
    Record(usize, RecordAndOffset),
    Skip(usize, i64),
    Reset(usize, i64),
}

impl KafkaTransport {
    /// Joins `group` for the messages whose subjects match `pattern` (NATS wildcards:
    /// `orders.*`, `orders.>`), creating the group's offsets topic on first use. The member
    /// reads every partition until [`KafkaSubscription::member`] says which are its own.
    /// Messages of other subjects are passed over unseen: give each pattern a group of its
    /// own.
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when the brokers do not answer, or `group` has a
    /// character a topic name cannot (only ASCII letters, digits, `.`, `_` and `-`).
    pub async fn subscribe(
        &self,
        group: &str,
        pattern: &str,
    ) -> Result<KafkaSubscription, TransportError> {
        if group.is_empty()
            || !group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(unavailable(format!(
                "group `{group}`: a group's name may hold only ASCII letters, digits, `.`, `_` \
                 and `-` (it names a topic)"
            )));
        }
        let topic = format!("{}.offsets.{group}", self.topic());
        let count = u16::try_from(self.partitions()).unwrap_or(u16::MAX);
        let n = ensure_topic(self.client(), &topic, count, self.replicas()).await?;
        if n < self.partitions() {
            return Err(unavailable(format!(
                "topic `{topic}` has {n} partitions, fewer than the {} of `{}`",
                self.partitions(),
                self.topic()
            )));
        }
        let offsets = partition_clients(self.client(), &topic, self.partitions()).await?;
        let owned = offsets
            .into_iter()
            .enumerate()
            .map(|(partition, offsets)| Owned {
                partition,
                offsets,
                outstanding: BTreeMap::new(),
                seen: 0,
                committed: 0,
                written: Instant::now(),
            })
            .collect();
        Ok(KafkaSubscription {
            transport: self.clone(),
            group: group.to_owned(),
            pattern: pattern.to_owned(),
            owned,
            member: (0, 1),
            wait: Duration::from_millis(500),
            commit_every: Duration::from_secs(1),
            last_commit: Instant::now(),
            fetched: None,
            readers: JoinSet::new(),
            buffer: VecDeque::new(),
            retries: BinaryHeap::new(),
            failure: None,
        })
    }
}

impl KafkaSubscription {
    /// This member is number `index` of `members` in the group: it reads the partitions `p`
    /// with `p % members == index`. Every member of a group must say the same `members`;
    /// a member that is down holds its partitions until it is back.
    ///
    /// # Panics
    /// When `index` is not below `members`: a wiring mistake, seen at start-up.
    #[must_use]
    pub fn member(mut self, index: usize, members: usize) -> Self {
        assert!(
            index < members,
            "member {index} of {members}: the index counts from 0 below the number of members"
        );
        self.member = (index, members);
        self.owned.retain(|o| o.partition % members == index);
        self
    }

    /// How long one `receive` waits for a first message before it answers none, and how
    /// long each partition's fetch asks the broker to wait for records (default 500 ms, at
    /// least 10 ms). Kafka answers a fetch as soon as records come; a broker that holds it for
    /// the whole wait (tansu does) delivers up to that late, so give such a broker a short one.
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.max(Duration::from_millis(10));
        self
    }

    /// How often the group's progress is recorded in the broker (default every second).
    /// Messages handled after the last record are delivered again after a restart, and the
    /// inbox recognises them.
    #[must_use]
    pub fn commit_every(mut self, every: Duration) -> Self {
        self.commit_every = every;
        self
    }

    /// The partitions this member reads.
    #[must_use]
    pub fn partitions(&self) -> Vec<usize> {
        self.owned.iter().map(|o| o.partition).collect()
    }

    /// Records the group's progress in the broker now.
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when the brokers do not answer.
    pub async fn commit(&mut self) -> Result<(), TransportError> {
        if self.fetched.is_none() {
            // Not started: it knows nothing the broker does not.
            return Ok(());
        }
        for owned in &mut self.owned {
            let at = owned.done_below();
            if at > owned.committed || (at >= 0 && owned.written.elapsed() >= REWRITE_EVERY) {
                let record = Record {
                    key: Some(self.group.as_bytes().to_vec()),
                    value: Some(at.to_string().into_bytes()),
                    headers: BTreeMap::new(),
                    timestamp: timestamp(Timestamp::now()),
                };
                let produce = owned
                    .offsets
                    .produce(vec![record], Compression::NoCompression);
                bounded(Duration::ZERO, produce)
                    .await?
                    .map_err(unavailable)?;
                owned.committed = at;
                owned.written = Instant::now();
            }
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Records the progress when it is time; a failure is logged and tried again at the next
    /// time (what was handled since comes again after a restart, and the inbox knows it).
    async fn commit_if_due(&mut self) {
        if self.last_commit.elapsed() >= self.commit_every {
            if let Err(error) = self.commit().await {
                tracing::warn!(%error, group = %self.group, "kafka: progress not recorded; trying again");
                self.last_commit = Instant::now();
            }
        }
    }

    /// Reads where the group stands in each partition and starts a reader for each.
    async fn start(&mut self) -> Result<(), TransportError> {
        let (tx, rx) = mpsc::channel(2 * self.owned.len().max(1));
        for (slot, owned) in self.owned.iter_mut().enumerate() {
            let data = self.transport.partition_client(owned.partition).cloned();
            let Some(data) = data else {
                return Err(unavailable(format!("no partition {}", owned.partition)));
            };
            let start = match committed(&owned.offsets).await? {
                Some(offset) => offset,
                None => bounded(Duration::ZERO, data.get_offset(OffsetAt::Earliest))
                    .await?
                    .map_err(unavailable)?,
            };
            owned.seen = start;
            owned.committed = start;
            self.readers
                .spawn(read_partition(slot, data, start, self.wait, tx.clone()));
        }
        self.fetched = Some(rx);
        Ok(())
    }

    /// The message at `offset` of the partition of `slot`, read again.
    async fn refetch(&self, slot: usize, offset: i64) -> Result<Option<Record>, TransportError> {
        let partition = self.owned[slot].partition;
        let Some(client) = self.transport.partition_client(partition) else {
            return Ok(None);
        };
        record_at(client, offset).await
    }

    /// Takes what a reader sent, in order behind what came before it.
    fn take(&mut self, fetch: Fetch) {
        match fetch {
            Fetch::Records(slot, records) => {
                self.buffer
                    .extend(records.into_iter().map(|r| Buffered::Record(slot, r)));
            }
            Fetch::Skipped(slot, to) => self.buffer.push_back(Buffered::Skip(slot, to)),
            Fetch::Reset(slot, to) => self.buffer.push_back(Buffered::Reset(slot, to)),
            Fetch::Failed(error) => self.failure = Some(error),
        }
    }

    /// What became of one thing the readers sent: a delivery, or nothing to deliver (a
    /// record of another subject, done at once; a skip or a reset of the partition).
    fn deliver(&mut self, buffered: Buffered) -> Option<Delivery<KafkaAck>> {
        let (slot, record) = match buffered {
            Buffered::Record(slot, record) => (slot, record),
            Buffered::Skip(slot, to) => {
                let owned = &mut self.owned[slot];
                tracing::warn!(
                    partition = owned.partition,
                    from = owned.seen,
                    to,
                    "kafka: the broker no longer has records this group had not read"
                );
                owned.seen = owned.seen.max(to);
                return None;
            }
            Buffered::Reset(slot, to) => {
                let owned = &mut self.owned[slot];
                owned.seen = to;
                owned.outstanding.clear();
                // Written at the next commit, whatever it is.
                owned.committed = -1;
                return None;
            }
        };
        let owned = &mut self.owned[slot];
        if record.offset < owned.seen {
            return None;
        }
        owned.seen = record.offset + 1;
        let subject = header(&record.record, SUBJECT)
            .unwrap_or_default()
            .to_owned();
        if !subject_matches(&self.pattern, &subject) {
            return None;
        }
        owned.outstanding.insert(record.offset, 1);
        Some(delivery(
            owned.partition,
            slot,
            record.offset,
            1,
            subject,
            record.record,
        ))
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        self.readers.abort_all();
    }
}

impl Subscription for KafkaSubscription {
    const NAME: &'static str = "kafka";
    type Ack = KafkaAck;

    async fn receive(&mut self, max: usize) -> Result<Vec<Delivery<KafkaAck>>, TransportError> {
        if self.owned.is_empty() {
            // More members than partitions: this one has nothing to read.
            tokio::time::sleep(self.wait).await;
            return Ok(Vec::new());
        }
        if self.fetched.is_none() {
            self.start().await?;
        }
        self.commit_if_due().await;
        let mut deliveries = Vec::new();
        // Failed messages whose time has come, first.
        let now = Instant::now();
        while deliveries.len() < max {
            match self.retries.peek() {
                Some(std::cmp::Reverse((due, _, _))) if *due <= now => {}
                _ => break,
            }
            let Some(std::cmp::Reverse((_, slot, offset))) = self.retries.pop() else {
                break;
            };
            let Some(&attempt) = self.owned[slot].outstanding.get(&offset) else {
                continue;
            };
            let partition = self.owned[slot].partition;
            let refetched = match self.refetch(slot, offset).await {
                Ok(refetched) => refetched,
                Err(error) => {
                    // Due again at once; what was gathered goes out first.
                    self.retries.push(std::cmp::Reverse((now, slot, offset)));
                    if deliveries.is_empty() {
                        return Err(error);
                    }
                    return Ok(deliveries);
                }
            };
            match refetched {
                Some(record) => {
                    let subject = header(&record, SUBJECT).unwrap_or_default().to_owned();
                    deliveries.push(delivery(partition, slot, offset, attempt, subject, record));
                }
                // Gone from the broker: nothing left to deliver.
                None => {
                    self.owned[slot].outstanding.remove(&offset);
                }
            }
        }
        // Then new ones: the first as soon as it comes, then those already there.
        if self.buffer.is_empty() && deliveries.is_empty() {
            let wait = match self.retries.peek() {
                Some(std::cmp::Reverse((due, _, _))) => {
                    self.wait.min(due.saturating_duration_since(now))
                }
                None => self.wait,
            };
            if let Some(rx) = self.fetched.as_mut() {
                match tokio::time::timeout(wait, rx.recv()).await {
                    Ok(Some(fetch)) => self.take(fetch),
                    Ok(None) => return Err(unavailable("the partition readers stopped")),
                    Err(_) => {}
                }
            }
        }
        while self.buffer.len() < max {
            let next = self.fetched.as_mut().and_then(|rx| rx.try_recv().ok());
            match next {
                Some(fetch) => self.take(fetch),
                None => break,
            }
        }
        while deliveries.len() < max {
            let Some(buffered) = self.buffer.pop_front() else {
                break;
            };
            if let Some(delivery) = self.deliver(buffered) {
                deliveries.push(delivery);
            }
        }
        match self.failure.take() {
            Some(error) if deliveries.is_empty() => Err(error),
            _ => Ok(deliveries),
        }
    }

    async fn ack(&mut self, ack: KafkaAck) -> Result<(), TransportError> {
        if let Some(owned) = self.owned.get_mut(ack.slot) {
            owned.outstanding.remove(&ack.offset);
        }
        self.commit_if_due().await;
        Ok(())
    }

    async fn retry_later(&mut self, ack: KafkaAck, delay: Duration) -> Result<(), TransportError> {
        if let Some(attempts) = self
            .owned
            .get_mut(ack.slot)
            .and_then(|o| o.outstanding.get_mut(&ack.offset))
        {
            *attempts = attempts.saturating_add(1);
            self.retries.push(std::cmp::Reverse((
                Instant::now() + delay,
                ack.slot,
                ack.offset,
            )));
        }
        Ok(())
    }

    async fn fetch(&mut self, sequence: u64) -> Result<Option<Fetched>, TransportError> {
        let partition = usize::try_from(sequence >> OFFSET_BITS).unwrap_or(usize::MAX);
        let offset = i64::try_from(sequence & ((1 << OFFSET_BITS) - 1)).unwrap_or(i64::MAX);
        let Some(client) = self.transport.partition_client(partition) else {
            return Ok(None);
        };
        Ok(record_at(client, offset).await?.map(|record| {
            let subject = header(&record, SUBJECT).unwrap_or_default().to_owned();
            (subject, incoming(record))
        }))
    }

    async fn give_up(&mut self, ack: KafkaAck) -> Result<(), TransportError> {
        self.ack(ack).await
    }

    async fn close(&mut self) {
        if let Err(error) = self.commit().await {
            tracing::warn!(%error, group = %self.group, "kafka: progress not recorded at the stop");
        }
    }
}

fn header<'r>(record: &'r Record, name: &str) -> Option<&'r str> {
    record
        .headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v).ok())
}

fn incoming(record: Record) -> Result<Incoming, String> {
    let Record { headers, value, .. } = record;
    Incoming::from_headers(
        |name| headers.get(name).and_then(|v| std::str::from_utf8(v).ok()),
        value.unwrap_or_default(),
    )
}

fn delivery(
    partition: usize,
    slot: usize,
    offset: i64,
    attempt: u32,
    subject: String,
    record: Record,
) -> Delivery<KafkaAck> {
    let sequence =
        (u64::try_from(partition).unwrap_or(0) << OFFSET_BITS) | u64::try_from(offset).unwrap_or(0);
    Delivery::new(
        subject,
        sequence,
        attempt,
        incoming(record),
        KafkaAck { slot, offset },
    )
}
