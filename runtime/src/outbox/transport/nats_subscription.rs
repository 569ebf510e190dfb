//! [`NatsSubscription`]: a JetStream durable pull consumer as a [`Subscription`]. The
//! consumer's name is the group: every process that subscribes with it shares its messages,
//! and a message a dead member held is delivered to another after the ack wait.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::stream::{self, RawMessageErrorKind};
use async_nats::jetstream::{AckKind, Message, message::Acker};
use futures_util::{FutureExt as _, StreamExt as _};

use super::TransportError;
use super::nats::{NatsTransport, unavailable};
use crate::outbox::consumer::{Delivery, Fetched, Incoming, Subscription};

/// The deliveries of one consumer group of a JetStream stream, on a subject pattern.
///
/// Messages stream in as the server has them (pulls are kept open ahead), so one arrives at
/// the consumer as soon as it is stored.
pub struct NatsSubscription {
    stream: stream::Stream,
    consumer: PullConsumer,
    messages: Option<pull::Stream>,
    wait: Duration,
}

impl std::fmt::Debug for NatsSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSubscription")
            .field("consumer", &self.consumer.cached_info().name)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl NatsTransport {
    /// Subscribes group `group` to the messages of `stream` whose subjects match `pattern`
    /// (NATS wildcards: `orders.*`, `*.user.*`, `orders.>`; the transport's prefix goes in
    /// front), creating the durable consumer on first use. A message not acknowledged within
    /// `ack_wait` (a member died holding it) is delivered again, to any member.
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when the server does not answer or the stream is
    /// missing.
    pub async fn subscribe(
        &self,
        stream: &str,
        group: &str,
        pattern: &str,
        ack_wait: Duration,
    ) -> Result<NatsSubscription, TransportError> {
        let stream = self
            .jetstream()
            .get_stream(stream)
            .await
            .map_err(|e| unavailable(format!("stream `{stream}`: {e}")))?;
        let consumer = stream
            .get_or_create_consumer(
                group,
                pull::Config {
                    durable_name: Some(group.to_owned()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait,
                    deliver_policy: DeliverPolicy::All,
                    filter_subject: format!("{}{pattern}", self.prefix()),
                    ..pull::Config::default()
                },
            )
            .await
            .map_err(|e| unavailable(format!("consumer `{group}`: {e}")))?;
        Ok(NatsSubscription {
            stream,
            consumer,
            messages: None,
            wait: Duration::from_millis(500),
        })
    }
}

impl NatsSubscription {
    /// How long one `receive` waits for a first message before it answers none (default
    /// 500 ms).
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.max(Duration::from_millis(10));
        self
    }
}

impl Subscription for NatsSubscription {
    const NAME: &'static str = "nats";
    type Ack = Acker;

    async fn receive(&mut self, max: usize) -> Result<Vec<Delivery<Acker>>, TransportError> {
        let messages = match &mut self.messages {
            Some(messages) => messages,
            None => self
                .messages
                .insert(self.consumer.messages().await.map_err(unavailable)?),
        };
        // The first as soon as it comes; then those already there, up to `max`.
        let mut deliveries = Vec::new();
        let first = match tokio::time::timeout(self.wait, messages.next()).await {
            Err(_) => return Ok(deliveries),
            Ok(first) => first,
        };
        let mut next = first;
        loop {
            match next {
                Some(Ok(message)) => deliveries.push(delivery(message)?),
                Some(Err(error)) => {
                    use async_nats::jetstream::consumer::pull::MessagesErrorKind as Kind;
                    // Heartbeats missed during a reconnect and the like: the stream goes on.
                    if !matches!(
                        error.kind(),
                        Kind::MissingHeartbeat | Kind::Pull | Kind::NoResponders
                    ) {
                        self.messages = None;
                    }
                    if deliveries.is_empty() {
                        return Err(unavailable(error));
                    }
                    break;
                }
                None => {
                    self.messages = None;
                    break;
                }
            }
            if deliveries.len() >= max {
                break;
            }
            let Some(messages) = &mut self.messages else {
                break;
            };
            match messages.next().now_or_never() {
                Some(ready) => next = ready,
                None => break,
            }
        }
        Ok(deliveries)
    }

    async fn ack(&mut self, ack: Acker) -> Result<(), TransportError> {
        ack.ack().await.map_err(unavailable)
    }

    async fn retry_later(&mut self, ack: Acker, delay: Duration) -> Result<(), TransportError> {
        ack.ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(unavailable)
    }

    async fn fetch(&mut self, sequence: u64) -> Result<Option<Fetched>, TransportError> {
        match self.stream.get_raw_message(sequence).await {
            Ok(message) => {
                let read = Incoming::from_headers(
                    |name| message.headers.get(name).map(|v| v.as_str()),
                    message.payload.to_vec(),
                );
                Ok(Some((message.subject.to_string(), read)))
            }
            Err(error) => match error.kind() {
                RawMessageErrorKind::NoMessageFound => Ok(None),
                RawMessageErrorKind::JetStream(e) if e.code() == 404 => Ok(None),
                _ => Err(unavailable(error)),
            },
        }
    }

    async fn give_up(&mut self, ack: Acker) -> Result<(), TransportError> {
        ack.ack_with(AckKind::Term).await.map_err(unavailable)
    }
}

/// A message as a delivery: its stream sequence, its delivery count, what its headers say.
fn delivery(message: Message) -> Result<Delivery<Acker>, TransportError> {
    let (sequence, attempt) = match message.info() {
        Ok(info) => (
            info.stream_sequence,
            u32::try_from(info.delivered).unwrap_or(u32::MAX),
        ),
        Err(e) => return Err(unavailable(format!("a delivery without its info: {e}"))),
    };
    let (message, acker) = message.split();
    let read = match &message.headers {
        Some(headers) => Incoming::from_headers(
            |name| headers.get(name).map(|v| v.as_str()),
            message.payload.to_vec(),
        ),
        None => Err("no headers".to_owned()),
    };
    Ok(Delivery::new(
        message.subject.to_string(),
        sequence,
        attempt,
        read,
        acker,
    ))
}
