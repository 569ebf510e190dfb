//! The consuming side: a [`Subscription`] delivers integration messages from a broker (a
//! subject pattern, a consumer group); the [`Consumer`] runs them through a projection over
//! message types, recording each message id in the inbox in the transaction of the handler's
//! effects, so each message's effect happens once however often it is delivered. A
//! projection whose handlers send [`Commands`] has the commands' idempotency keys as its
//! inbox.

mod commands;
mod inbox;
mod runner;

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::model::envelope::{Metadata, RecordedEvent, Timestamp};
use crate::outbox::message::header;
use crate::outbox::transport::TransportError;

pub use self::commands::{CommandSink, Commands};
pub use self::inbox::InboxStore;
pub use self::runner::{Consumer, ConsumerError, ConsumerProgress, Replay, RunningConsumer};

/// An integration message as received: what its headers said, and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Incoming {
    /// The message's id: the same on every delivery and every re-publication.
    pub id: Uuid,
    /// The message type's stable name.
    pub name: String,
    /// Its schema version.
    pub version: u32,
    /// Its ordering key (the stream it came from).
    pub key: String,
    /// The encoded message.
    pub payload: Vec<u8>,
    /// The flow it belongs to.
    pub correlation_id: Option<Uuid>,
    /// The event it was made of.
    pub causation_id: Option<Uuid>,
    /// The tenant.
    pub tenant: Option<String>,
    /// When its event was recorded.
    pub recorded_at: Option<Timestamp>,
}

impl Incoming {
    /// Reads a message from its headers (by the names of [`header`]) and payload, inflating a
    /// payload the [`header::ENCODING`] header says is compressed.
    ///
    /// # Errors
    /// What is missing or malformed: a message without an id, a name or a version cannot be
    /// handled or recognised again.
    pub fn from_headers<'h>(
        get: impl Fn(&str) -> Option<&'h str>,
        payload: Vec<u8>,
    ) -> Result<Self, String> {
        let required = |name: &str| get(name).ok_or_else(|| format!("no `{name}` header"));
        let uuid = |name: &str| -> Result<Option<Uuid>, String> {
            get(name)
                .map(|v| v.parse().map_err(|e| format!("`{name}` header `{v}`: {e}")))
                .transpose()
        };
        let id = required(header::ID)?;
        let version = required(header::VERSION)?;
        let payload = match get(header::ENCODING) {
            None => payload,
            Some(encoding) => inflate(encoding, &payload)?,
        };
        Ok(Self {
            id: id
                .parse()
                .map_err(|e| format!("`{}` header `{id}`: {e}", header::ID))?,
            name: required(header::NAME)?.to_owned(),
            version: version
                .parse()
                .map_err(|e| format!("`{}` header `{version}`: {e}", header::VERSION))?,
            key: get(header::KEY).unwrap_or_default().to_owned(),
            payload,
            correlation_id: uuid(header::CORRELATION_ID)?,
            causation_id: uuid(header::CAUSATION_ID)?,
            tenant: get(header::TENANT).map(str::to_owned),
            recorded_at: get(header::RECORDED_AT)
                .and_then(|v| v.parse().ok())
                .map(Timestamp::from_micros),
        })
    }

    /// The message as the envelope a projection's handlers read: its id as the event id,
    /// its key as the stream, the broker's `sequence` as the position, its name and version
    /// as the stored name and version (so upcasters apply).
    #[must_use]
    pub fn envelope(&self, sequence: u64) -> RecordedEvent {
        RecordedEvent {
            event_id: self.id,
            stream_id: Arc::from(self.key.as_str()),
            stream_version: 0,
            global_position: sequence,
            timestamp: self.recorded_at.unwrap_or_else(Timestamp::now),
            event_type: Arc::from(self.name.as_str()),
            schema_version: self.version,
            payload: Arc::from(self.payload.as_slice()),
            metadata: Arc::new(Metadata {
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                tenant: self.tenant.clone(),
                ..Metadata::default()
            }),
        }
    }
}

/// A compressed payload, inflated.
#[cfg(feature = "compression")]
fn inflate(encoding: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    crate::outbox::transport::compressed::inflate(encoding, payload)
}

/// A compressed payload, which this build cannot inflate.
#[cfg(not(feature = "compression"))]
fn inflate(encoding: &str, _payload: &[u8]) -> Result<Vec<u8>, String> {
    Err(format!(
        "the payload is compressed (`{}` header `{encoding}`); build eventsmith with its \
         `compression` feature to read it",
        header::ENCODING
    ))
}

/// One delivery of a message by a [`Subscription`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Delivery<A> {
    /// The subject it came on.
    pub subject: String,
    /// The broker's sequence number of the message.
    pub sequence: u64,
    /// How many times it has been delivered, this one included.
    pub attempt: u32,
    /// The message, or why its headers could not be read.
    pub message: Result<Incoming, String>,
    /// What acknowledges it.
    pub ack: A,
}

impl<A> Delivery<A> {
    /// A delivery of `message`.
    pub fn new(
        subject: String,
        sequence: u64,
        attempt: u32,
        message: Result<Incoming, String>,
        ack: A,
    ) -> Self {
        Self {
            subject,
            sequence,
            attempt,
            message,
            ack,
        }
    }
}

/// A message read again from the broker: its subject, and the message or why its headers
/// could not be read.
pub type Fetched = (String, Result<Incoming, String>);

/// Where a consumer's messages come from: a broker's durable subscription of one consumer
/// group, whose members share the messages (each goes to one of them, and to another when
/// that one dies before acknowledging it).
pub trait Subscription: Send + 'static {
    /// The transport's name, for errors and logs.
    const NAME: &'static str;

    /// What acknowledges one delivery.
    type Ack: Send + Sync;

    /// The next deliveries, at most `max`; may wait a moment and answer none.
    ///
    /// # Errors
    /// [`TransportError`]; a retriable one while the broker is unreachable.
    fn receive(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Delivery<Self::Ack>>, TransportError>> + Send;

    /// The message is handled (or recognised as handled): not to be delivered again.
    ///
    /// # Errors
    /// From the broker; the message is then delivered again, and the inbox recognises it.
    fn ack(&mut self, ack: Self::Ack) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The handler failed: deliver the message again after `delay`.
    ///
    /// # Errors
    /// From the broker.
    fn retry_later(
        &mut self,
        ack: Self::Ack,
        delay: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The message at broker `sequence` with its subject, read again for the replay of a
    /// parked one; `None` when the broker no longer has it.
    ///
    /// # Errors
    /// From the broker.
    fn fetch(
        &mut self,
        sequence: u64,
    ) -> impl Future<Output = Result<Option<Fetched>, TransportError>> + Send;

    /// The message is parked: never deliver it again.
    ///
    /// # Errors
    /// From the broker.
    fn give_up(
        &mut self,
        ack: Self::Ack,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The consumer is stopping: record what the broker should know (a Kafka member's
    /// progress). What it cannot record comes again after a restart, and the inbox knows it.
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
