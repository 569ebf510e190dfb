//! Helpers with no knowledge of events: backoff between retries, panic capture, and driving a
//! future on the calling thread.

pub(crate) mod backoff;
pub(crate) mod block;
pub(crate) mod panic;
