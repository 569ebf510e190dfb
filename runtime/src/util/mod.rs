//! Helpers with no knowledge of events: backoff between retries and panic capture.

pub(crate) mod backoff;
pub(crate) mod panic;
