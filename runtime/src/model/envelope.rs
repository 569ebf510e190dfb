//! The envelope every stored event carries: ids, positions, time and metadata.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A point in time with microsecond precision, stored as microseconds since the Unix epoch.
///
/// Displays as RFC 3339 in UTC.
///
/// ```
/// use eventsmith::event::Timestamp;
///
/// let t = Timestamp::from_micros(1_700_000_000_123_456);
/// assert_eq!(t.to_string(), "2023-11-14T22:13:20.123456Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time of the system clock.
    #[must_use]
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// The time `micros` microseconds after the Unix epoch (before it when negative).
    #[must_use]
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The time `by` later, saturating at the end of the range.
    ///
    /// ```
    /// use std::time::Duration;
    /// use eventsmith::event::Timestamp;
    ///
    /// let t = Timestamp::from_micros(1_000);
    /// assert_eq!(t.after(Duration::from_millis(2)), Timestamp::from_micros(3_000));
    /// ```
    #[must_use]
    pub fn after(self, by: Duration) -> Self {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(micros))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        let micros = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_micros())
                .map(|m| -m)
                .unwrap_or(i64::MIN),
        };
        Self(micros)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        let magnitude = Duration::from_micros(t.0.unsigned_abs());
        if t.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 0 {
            humantime::format_rfc3339_micros(SystemTime::from(*self)).fmt(f)
        } else {
            write!(f, "{}us before the epoch", self.0.unsigned_abs())
        }
    }
}

/// Metadata stored with every event: who caused it, in what flow, for whom.
///
/// `correlation_id` is shared by every message of one flow; `causation_id` is the id of the
/// message that directly caused this one (for events appended by a command: the command id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The id shared by every message of one business flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The id of the message that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The user or system on whose behalf the command ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The tenant the event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The application or component that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free-form headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// What a caller says about a command: the metadata its events inherit.
///
/// ```
/// use eventsmith::CommandContext;
///
/// let ctx = CommandContext::new().actor("alice").tenant("acme").header("ip", "10.0.0.1");
/// assert_eq!(ctx.actor.as_deref(), Some("alice"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandContext {
    /// The flow this command belongs to; a new flow (the command's own id) when `None`.
    pub correlation_id: Option<Uuid>,
    /// The user or system on whose behalf the command runs.
    pub actor: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
    /// The application or component sending the command.
    pub source: Option<String>,
    /// Free-form headers copied onto every event.
    pub headers: BTreeMap<String, String>,
    /// An idempotency key for this execution, in place of the command's own
    /// `#[command(idempotency_key)]`: a saga sends each command under a key of its own.
    pub idempotency_key: Option<String>,
}

impl CommandContext {
    /// An empty context.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the source.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the idempotency key, in place of the command's own.
    #[must_use]
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// The metadata of the events appended by the command with id `command_id`: the command is
    /// their cause, and starts the flow unless the context names one.
    #[must_use]
    pub fn event_metadata(&self, command_id: Uuid) -> Metadata {
        Metadata {
            correlation_id: Some(self.correlation_id.unwrap_or(command_id)),
            causation_id: Some(command_id),
            actor: self.actor.clone(),
            tenant: self.tenant.clone(),
            source: self.source.clone(),
            headers: self.headers.clone(),
        }
    }
}

/// An event to append: the store assigns its stream version and global position.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// A UUIDv7, unique across the store.
    pub event_id: Uuid,
    /// The stored event name.
    pub event_type: Cow<'static, str>,
    /// The schema version of the payload.
    pub schema_version: u32,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// Metadata, shared by the events of one command.
    pub metadata: Arc<Metadata>,
    /// When the event was recorded.
    pub timestamp: Timestamp,
}

impl NewEvent {
    /// A new event with a fresh UUIDv7, the current time and the given metadata.
    pub fn new(
        event_type: impl Into<Cow<'static, str>>,
        schema_version: u32,
        payload: Vec<u8>,
        metadata: Arc<Metadata>,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata,
            timestamp: Timestamp::now(),
        }
    }
}

/// A stored event with its full envelope.
///
/// Cheap to clone: the stream id, name, payload and metadata are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// A UUIDv7, unique across the store.
    pub event_id: Uuid,
    /// The stream the event belongs to.
    pub stream_id: Arc<str>,
    /// The event's version within its stream: 1 for the first event, then contiguous.
    pub stream_version: u64,
    /// The event's position in the store's global order: strictly increasing, starting at 1,
    /// possibly with gaps.
    pub global_position: u64,
    /// When the event was recorded.
    pub timestamp: Timestamp,
    /// The stored event name.
    pub event_type: Arc<str>,
    /// The schema version of the payload.
    pub schema_version: u32,
    /// The encoded payload.
    pub payload: Arc<[u8]>,
    /// Metadata.
    pub metadata: Arc<Metadata>,
}
