//! Helpers with no knowledge of events: backoff between retries and the retry loop's
//! bookkeeping, panic capture, and driving a future on the calling thread.

pub(crate) mod backoff;
pub(crate) mod block;
pub(crate) mod panic;
pub(crate) mod retry;
