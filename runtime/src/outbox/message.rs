//! [`Outgoing`]: one integration message on its way to a broker, with the id that makes a
//! re-publication recognisable for ever, and the headers every transport carries.

use std::fmt::Write as _;
use std::sync::Arc;

use uuid::Uuid;

use crate::model::envelope::{RecordedEvent, Timestamp};

/// The namespace of message ids: `id = UUIDv5(namespace, publication / event id / index)`.
const MESSAGE_IDS: Uuid = Uuid::from_u128(0x6576_656e_7473_6d69_7468_2d6f_7574_626f);

/// The id of message `index` that `publication` made of the event `event_id`: the same on
/// every publication of that event, by any relay process, so a broker (JetStream's
/// `Nats-Msg-Id`) and a consumer's inbox recognise a message published twice.
///
/// ```
/// use eventsmith::outbox::message_id;
/// use uuid::Uuid;
///
/// let event = Uuid::now_v7();
/// assert_eq!(message_id("orders", event, 0), message_id("orders", event, 0));
/// assert_ne!(message_id("orders", event, 0), message_id("orders", event, 1));
/// assert_ne!(message_id("orders", event, 0), message_id("billing", event, 0));
/// ```
#[must_use]
pub fn message_id(publication: &str, event_id: Uuid, index: u32) -> Uuid {
    let mut name = Vec::with_capacity(publication.len() + 21);
    name.extend_from_slice(publication.as_bytes());
    name.push(0);
    name.extend_from_slice(event_id.as_bytes());
    name.extend_from_slice(&index.to_be_bytes());
    Uuid::new_v5(&MESSAGE_IDS, &name)
}

/// The names of the headers every transport sets on a message.
pub mod header {
    /// The message id (a UUID): the same on every publication of one message.
    pub const ID: &str = "es-id";
    /// The message type's stable name.
    pub const NAME: &str = "es-name";
    /// The message type's schema version.
    pub const VERSION: &str = "es-version";
    /// The ordering key: the stream the event came from.
    pub const KEY: &str = "es-key";
    /// The flow the event belongs to.
    pub const CORRELATION_ID: &str = "es-correlation-id";
    /// The id of the event the message was made of.
    pub const CAUSATION_ID: &str = "es-causation-id";
    /// The tenant of the event, when it has one.
    pub const TENANT: &str = "es-tenant";
    /// When the event was recorded, in microseconds since the Unix epoch.
    pub const RECORDED_AT: &str = "es-recorded-at";
    /// The W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
    /// How the payload is compressed (`gzip`), when it is; absent for a plain payload.
    pub const ENCODING: &str = "es-encoding";
}

/// One integration message: what a publication made of an event, ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outgoing {
    /// The message's id ([`message_id`]).
    pub id: Uuid,
    /// Where it goes: a NATS subject, a Redis stream's suffix.
    pub subject: String,
    /// The ordering key: messages of one key arrive in the order of their events.
    pub key: Arc<str>,
    /// The message type's stable name.
    pub name: &'static str,
    /// The message type's schema version.
    pub version: u32,
    /// The encoded message.
    pub payload: Vec<u8>,
    /// The flow of the event.
    pub correlation_id: Option<Uuid>,
    /// The event the message was made of.
    pub causation_id: Uuid,
    /// The tenant of the event.
    pub tenant: Option<String>,
    /// The W3C `traceparent`: the event's own when it has one, else one whose trace is the
    /// correlation id.
    pub traceparent: String,
    /// When the event was recorded.
    pub recorded_at: Timestamp,
    /// The event's position in the log.
    pub position: u64,
    /// How the payload is compressed (`gzip`), when a compression layer did.
    pub encoding: Option<&'static str>,
}

impl Outgoing {
    /// Message `index` of `publication` made of `event`, to `subject`.
    pub(crate) fn of(
        publication: &str,
        event: &RecordedEvent,
        index: u32,
        subject: String,
        (name, version): (&'static str, u32),
        payload: Vec<u8>,
    ) -> Self {
        let metadata = &event.metadata;
        Self {
            id: message_id(publication, event.event_id, index),
            subject,
            key: Arc::clone(&event.stream_id),
            name,
            version,
            payload,
            correlation_id: metadata.correlation_id,
            causation_id: event.event_id,
            tenant: metadata.tenant.clone(),
            traceparent: traceparent(event),
            recorded_at: event.timestamp,
            position: event.global_position,
            encoding: None,
        }
    }

    /// The headers of the message, by the names in [`header`], for a transport to set.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        [
            Some((header::ID, self.id.to_string())),
            Some((header::NAME, self.name.to_owned())),
            Some((header::VERSION, self.version.to_string())),
            Some((header::KEY, self.key.to_string())),
            self.correlation_id
                .map(|id| (header::CORRELATION_ID, id.to_string())),
            Some((header::CAUSATION_ID, self.causation_id.to_string())),
            self.tenant.clone().map(|t| (header::TENANT, t)),
            Some((
                header::RECORDED_AT,
                self.recorded_at.as_micros().to_string(),
            )),
            Some((header::TRACEPARENT, self.traceparent.clone())),
            self.encoding.map(|e| (header::ENCODING, e.to_owned())),
        ]
        .into_iter()
        .flatten()
    }
}

/// The event's `traceparent` header when it carries a valid one; else version 00, the
/// correlation id (or the event id) as the trace, the event id's last eight bytes as the
/// parent, sampled.
fn traceparent(event: &RecordedEvent) -> String {
    if let Some(given) = event.metadata.headers.get(header::TRACEPARENT) {
        if is_traceparent(given) {
            return given.clone();
        }
    }
    let trace = event.metadata.correlation_id.unwrap_or(event.event_id);
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    write!(out, "{}", trace.simple()).ok();
    out.push('-');
    for byte in &event.event_id.as_bytes()[8..] {
        write!(out, "{byte:02x}").ok();
    }
    out.push_str("-01");
    out
}

/// Whether `value` has the shape of a W3C `traceparent` of version 00.
fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::envelope::Metadata;

    fn event(metadata: Metadata) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: "order-1".into(),
            stream_version: 1,
            global_position: 7,
            timestamp: Timestamp::now(),
            event_type: "order_placed".into(),
            schema_version: 1,
            payload: Arc::from(&b"{}"[..]),
            metadata: Arc::new(metadata),
        }
    }

    #[test]
    fn a_trace_is_made_of_the_correlation_id_unless_the_event_carries_one() {
        let correlation = Uuid::now_v7();
        let made = traceparent(&event(Metadata {
            correlation_id: Some(correlation),
            ..Metadata::default()
        }));
        assert!(is_traceparent(&made), "{made}");
        assert!(made.starts_with(&format!("00-{}-", correlation.simple())));

        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned();
        let mut headers = BTreeMap::new();
        headers.insert("traceparent".to_owned(), given.clone());
        let kept = traceparent(&event(Metadata {
            headers,
            ..Metadata::default()
        }));
        assert_eq!(kept, given);

        for bad in [
            "",
            "00-abc-def-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert!(!is_traceparent(bad), "{bad}");
        }
    }

    #[test]
    fn the_headers_name_the_message_and_its_origin() {
        let recorded = event(Metadata {
            tenant: Some("acme".into()),
            ..Metadata::default()
        });
        let message = Outgoing::of(
            "orders",
            &recorded,
            0,
            "orders.acme.placed".into(),
            ("orders.placed", 2),
            b"{}".to_vec(),
        );
        let headers: BTreeMap<_, _> = message.headers().collect();
        assert_eq!(headers[header::ID], message.id.to_string());
        assert_eq!(headers[header::NAME], "orders.placed");
        assert_eq!(headers[header::VERSION], "2");
        assert_eq!(headers[header::KEY], "order-1");
        assert_eq!(headers[header::TENANT], "acme");
        assert_eq!(headers[header::CAUSATION_ID], recorded.event_id.to_string());
        assert!(!headers.contains_key(header::CORRELATION_ID));
        assert_eq!(message.id, message_id("orders", recorded.event_id, 0));
    }
}
