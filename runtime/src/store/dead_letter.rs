//! [`DeadLetter`]: an event a consumer gave up on, kept with the reason until it is replayed.

use crate::model::envelope::Timestamp;

/// An event that a consumer (a projection) parked instead of handling: the handler kept
/// failing, or an earlier event of the same stream is parked, so this one waits behind it.
///
/// The event itself stays in the log; the letter records where it is and why it was parked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event's global position.
    pub position: u64,
    /// The event's stream.
    pub stream_id: String,
    /// The event's version in its stream.
    pub stream_version: u64,
    /// The stored event name.
    pub event_type: String,
    /// Why it was parked: the last error, or the position it waits behind.
    pub reason: String,
    /// How many times the handler was tried (0 for an event waiting behind another).
    pub attempts: u32,
    /// When it was parked.
    pub parked_at: Timestamp,
}
