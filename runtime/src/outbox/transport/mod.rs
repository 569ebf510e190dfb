//! [`Transport`]: where a relay's messages go — NATS JetStream, Redis Streams,
//! Kafka, or memory for tests — behind one trait, dispatched statically.

#[cfg(feature = "compression")]
pub(crate) mod compressed;
#[cfg(feature = "kafka")]
pub(crate) mod kafka;
#[cfg(feature = "kafka")]
pub(crate) mod kafka_reader;
#[cfg(feature = "kafka")]
pub(crate) mod kafka_subscription;
pub(crate) mod memory;
#[cfg(feature = "nats")]
pub(crate) mod nats;
#[cfg(feature = "nats")]
pub(crate) mod nats_subscription;
#[cfg(any(feature = "redis", feature = "kafka"))]
pub(crate) mod pattern;
#[cfg(feature = "rate-limit")]
pub(crate) mod rate_limited;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "redis")]
pub(crate) mod redis_subscription;

use std::future::Future;

use crate::outbox::message::Outgoing;

/// A broker a relay publishes to.
///
/// `publish` answers once the broker holds every message of the batch, in order. A batch that
/// failed part-way is published again whole: the broker or the consumer's inbox recognises
/// the messages it already has by their ids.
pub trait Transport: Send + Sync + 'static {
    /// The transport's name, for errors and logs (`"nats"`, `"redis"`, `"memory"`).
    const NAME: &'static str;

    /// Publishes `messages` in order and waits until the broker holds them all.
    ///
    /// # Errors
    /// [`TransportError`]; a retriable one when the broker may take them later.
    fn publish(
        &self,
        messages: &[Outgoing],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
}

/// A transport could not publish or deliver.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The broker is unreachable or did not answer in time: try again.
    #[error("{transport}: broker unavailable: {cause}")]
    Unavailable {
        /// The transport's name.
        transport: &'static str,
        /// What happened.
        cause: String,
    },
    /// The broker refused a message (no stream takes its subject, say): trying again does
    /// not help until its configuration changes.
    #[error("{transport}: message {id} on `{subject}` refused: {cause}")]
    Refused {
        /// The transport's name.
        transport: &'static str,
        /// The message's subject.
        subject: String,
        /// The message's id.
        id: uuid::Uuid,
        /// Why.
        cause: String,
    },
}

impl TransportError {
    /// Whether the same publication may go through later.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
