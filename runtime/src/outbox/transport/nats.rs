//! [`NatsTransport`]: publishes to NATS JetStream, each message with its id as
//! `Nats-Msg-Id`, so the stream drops a re-publication within its duplicate window.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::header::{HeaderValue, NATS_MESSAGE_ID};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, stream};

use super::{Transport, TransportError};
use crate::outbox::message::Outgoing;

/// A NATS JetStream publisher. Cheap to clone; clones share the connection.
///
/// The acks of a batch are awaited together: its messages go out back to back on one
/// connection, which JetStream stores in that order.
///
/// ```no_run
/// # async fn run() -> Result<(), eventsmith::outbox::TransportError> {
/// use std::time::Duration;
/// use eventsmith::outbox::NatsTransport;
///
/// let nats = NatsTransport::connect("nats://127.0.0.1:4222").await?;
/// // Messages on `orders.>` are kept in the stream `ORDERS`, and a message id seen in the
/// // last ten minutes is dropped as a duplicate.
/// nats.ensure_stream("ORDERS", &["orders.>"], Duration::from_secs(600)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NatsTransport {
    jetstream: jetstream::Context,
    prefix: String,
}

impl NatsTransport {
    /// Connects to the server at `url`. A server that is down is waited for: the connection
    /// keeps being tried in the background (after a disconnect too), and publications until
    /// then time out and are tried again by the relay.
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when `url` is not a server address.
    pub async fn connect(url: &str) -> Result<Self, TransportError> {
        let client = async_nats::ConnectOptions::new()
            .name("eventsmith relay")
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(unavailable)?;
        Ok(Self::new(client))
    }

    /// Publishes through `client`'s connection, waiting at most 5 s for a batch's acks.
    #[must_use]
    pub fn new(client: async_nats::Client) -> Self {
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(Duration::from_secs(5));
        Self {
            jetstream,
            prefix: String::new(),
        }
    }

    /// Puts `prefix` before every subject (an origin, `"eu.de."`), so one broker serves
    /// several regions or environments apart.
    #[must_use]
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a batch's acks are waited for before it counts as failed (and is published
    /// again, with the same ids).
    #[must_use]
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.jetstream.set_timeout(timeout);
        self
    }

    /// The prefix put before every subject.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The JetStream context, for what this transport does not wrap.
    #[must_use]
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Creates the stream `name` over `subjects` (with the prefix) unless it exists, keeping
    /// each message id for `duplicate_window` to drop re-publications. An existing stream is
    /// left as it is.
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when the server does not answer or refuses.
    pub async fn ensure_stream(
        &self,
        name: &str,
        subjects: &[&str],
        duplicate_window: Duration,
    ) -> Result<(), TransportError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: name.to_owned(),
                subjects: subjects
                    .iter()
                    .map(|s| format!("{}{s}", self.prefix))
                    .collect(),
                duplicate_window,
                ..stream::Config::default()
            })
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn headers(message: &Outgoing) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, message.id.to_string().as_str());
        for (name, value) in message.headers() {
            // A value with a line break would end the header block: never sent as is.
            let value = if value.contains(['\r', '\n']) {
                value.replace(['\r', '\n'], " ")
            } else {
                value
            };
            if let Ok(value) = value.parse::<HeaderValue>() {
                headers.insert(name, value);
            }
        }
        headers
    }
}

impl Transport for NatsTransport {
    const NAME: &'static str = "nats";

    async fn publish(&self, messages: &[Outgoing]) -> Result<(), TransportError> {
        let mut acks = Vec::with_capacity(messages.len());
        for message in messages {
            let subject = format!("{}{}", self.prefix, message.subject);
            let ack = self
                .jetstream
                .publish_with_headers(
                    subject,
                    Self::headers(message),
                    bytes::Bytes::from(message.payload.clone()),
                )
                .await
                .map_err(|e| publish_error(message, &e))?;
            acks.push((message, ack));
        }
        for (message, ack) in acks {
            ack.await.map_err(|e| publish_error(message, &e))?;
        }
        Ok(())
    }
}

/// The broker did not answer or the connection failed: try again.
pub(crate) fn unavailable(cause: impl std::fmt::Display) -> TransportError {
    TransportError::Unavailable {
        transport: NatsTransport::NAME,
        cause: cause.to_string(),
    }
}

/// A message too big is refused for good; anything else (a timeout, a restarting server, a
/// stream not loaded yet) may pass later.
fn publish_error(message: &Outgoing, error: &jetstream::context::PublishError) -> TransportError {
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => TransportError::Refused {
            transport: NatsTransport::NAME,
            subject: message.subject.clone(),
            id: message.id,
            cause: error.to_string(),
        },
        PublishErrorKind::StreamNotFound => TransportError::Unavailable {
            transport: NatsTransport::NAME,
            cause: format!(
                "no stream takes `{}` (or the server is starting): {error}",
                message.subject
            ),
        },
        _ => unavailable(error),
    }
}
