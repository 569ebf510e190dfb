//! The command side: the [`App`](app::App) (composition), command execution with
//! optimistic concurrency, the aggregate cache, idempotency and the middleware around it.

pub(crate) mod app;
pub(crate) mod cache;
pub(crate) mod error;
pub(crate) mod execute;
pub(crate) mod middleware;
