//! [`RedisTransport`]: publishes to one Redis stream with `XADD … MAXLEN ~ n`, each message
//! an entry whose fields are its subject, headers and payload. Redis keeps no message ids of
//! its own: a message published twice is two entries, which the consumer's inbox recognises.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Transport, TransportError};
use crate::outbox::message::Outgoing;

/// The entry field that holds the subject.
pub(crate) const SUBJECT: &str = "subject";
/// The entry field that holds the payload.
pub(crate) const PAYLOAD: &str = "payload";

/// A Redis Streams publisher to the stream `key`. Cheap to clone; clones share the
/// connection, which reconnects by itself.
///
/// ```no_run
/// # async fn run() -> Result<(), eventsmith::outbox::TransportError> {
/// use eventsmith::outbox::RedisTransport;
///
/// // Entries of the stream `orders` beyond about a million are trimmed, oldest first.
/// let redis = RedisTransport::connect("redis://127.0.0.1:6379", "orders").await?
///     .max_len(1_000_000);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTransport {
    connection: ConnectionManager,
    client: redis::Client,
    key: String,
    max_len: u64,
}

impl std::fmt::Debug for RedisTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTransport")
            .field("key", &self.key)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl RedisTransport {
    /// Connects to the server at `url`, publishing to the stream `key`.
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when the server cannot be reached.
    pub async fn connect(url: &str, key: impl Into<String>) -> Result<Self, TransportError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let connection = client
            .get_connection_manager_with_config(
                ConnectionManagerConfig::new().set_response_timeout(Some(Duration::from_secs(5))),
            )
            .await
            .map_err(unavailable)?;
        Ok(Self {
            connection,
            client,
            key: key.into(),
            max_len: 1_000_000,
        })
    }

    /// Keeps about `entries` entries in the stream (default a million): older ones are
    /// trimmed as new ones come (`MAXLEN ~`). Consumers that fall further behind lose
    /// messages, so size it for the longest outage a consumer may have.
    #[must_use]
    pub fn max_len(mut self, entries: u64) -> Self {
        self.max_len = entries.max(1);
        self
    }

    /// The stream's key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The client, for a subscription's own connection (a blocking read holds one).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }
}

impl Transport for RedisTransport {
    const NAME: &'static str = "redis";

    async fn publish(&self, messages: &[Outgoing]) -> Result<(), TransportError> {
        if messages.is_empty() {
            return Ok(());
        }
        // One round trip, in order, all or nothing.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for message in messages {
            let cmd = pipe
                .cmd("XADD")
                .arg(&self.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg(SUBJECT)
                .arg(&message.subject);
            for (name, value) in message.headers() {
                cmd.arg(name).arg(value);
            }
            cmd.arg(PAYLOAD).arg(&message.payload[..]).ignore();
        }
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(unavailable)
    }
}

pub(crate) fn unavailable(cause: impl std::fmt::Display) -> TransportError {
    TransportError::Unavailable {
        transport: RedisTransport::NAME,
        cause: cause.to_string(),
    }
}
