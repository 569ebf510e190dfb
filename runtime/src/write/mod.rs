//! The command side: the [`App`](app::App) (composition), command execution with
//! optimistic concurrency, the aggregate cache and idempotency.

pub(crate) mod app;
pub(crate) mod cache;
pub(crate) mod error;
pub(crate) mod execute;
