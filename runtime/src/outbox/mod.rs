//! Integration events: a [`Publication`] maps domain events to versioned messages, the
//! [`Relay`] publishes them from the log (the log is the outbox) through a [`Transport`] —
//! NATS JetStream, Redis Streams, Kafka, or memory for tests — with ids that make every
//! re-publication recognisable, so a broker deduplicates within its window and a consumer's
//! inbox for ever.

mod consumer;
mod contract;
mod message;
mod publication;
mod relay;
mod transport;

pub use self::consumer::{
    CommandSink, Commands, Consumer, ConsumerError, ConsumerProgress, Delivery, Fetched,
    InboxStore, Incoming, Replay, RunningConsumer, Subscription,
};
pub use self::contract::{ContractError, contract_schema};
pub use self::message::{Outgoing, header, message_id};
#[doc(hidden)]
pub use self::publication::decode_for;
pub use self::publication::{Publication, PublishError, Published, PublishedMessage, Subject};
pub use self::relay::{Relay, RelayError, RelayProgress, RelayState, RunningRelay};
#[cfg(feature = "compression")]
pub use self::transport::compressed::Compressed;
#[cfg(feature = "kafka")]
pub use self::transport::kafka::KafkaTransport;
#[cfg(feature = "kafka")]
pub use self::transport::kafka_subscription::{KafkaAck, KafkaSubscription};
pub use self::transport::memory::MemoryTransport;
#[cfg(feature = "nats")]
pub use self::transport::nats::NatsTransport;
#[cfg(feature = "nats")]
pub use self::transport::nats_subscription::NatsSubscription;
#[cfg(feature = "rate-limit")]
pub use self::transport::rate_limited::RateLimited;
#[cfg(feature = "redis")]
pub use self::transport::redis::RedisTransport;
#[cfg(feature = "redis")]
pub use self::transport::redis_subscription::RedisSubscription;
pub use self::transport::{Transport, TransportError};
