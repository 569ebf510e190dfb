//! [`DecodeError`]: a stored event that cannot be read, with its coordinates.

use crate::model::envelope::RecordedEvent;
use crate::model::event::DecodeFailure;

/// A stored event could not be decoded; says which one and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot decode event `{event_type}` at version {version} of stream `{stream}` (global position {position}): {cause}"
)]
pub struct DecodeError {
    /// The stream.
    pub stream: String,
    /// The event's stream version.
    pub version: u64,
    /// The event's global position.
    pub position: u64,
    /// The stored event name.
    pub event_type: String,
    /// What went wrong.
    pub cause: DecodeFailure,
}

impl DecodeError {
    /// The error for `event`, failing with `source`.
    #[must_use]
    pub fn new(event: &RecordedEvent, source: DecodeFailure) -> Self {
        Self {
            stream: event.stream_id.to_string(),
            version: event.stream_version,
            position: event.global_position,
            event_type: event.event_type.to_string(),
            cause: source,
        }
    }
}
