//! [`InboxStore`]: where a consumer keeps its inbox, picked from the model's context: a
//! store's SQL read model (a table of handled message ids beside the handlers' tables), or
//! an [`App`] for a model whose handlers send [`Commands`] (the idempotency keys of the
//! commands).

use super::commands::{CommandSink, Commands};
use crate::model::projection::Projection;
use crate::read::{InboxSink, ReadModelStore};
use crate::store::{EventStore, StoreError};
use crate::wire::codec::Codec;
use crate::write::app::App;
use crate::write::middleware::CommandMiddleware;

/// What a [`Consumer`](super::Consumer) of model `P` keeps its inbox in: `SqliteStore` or
/// `PgStore` for a SQL read model (`context = SqliteConnection` or `PgConnection`), an
/// [`App`] for a model whose handlers send commands (`context = Commands<S>`). Those are
/// all: its sinks are the crate's own, which nothing outside it makes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot keep the inbox of the consumer model `{P}`",
    label = "not where `{P}`'s inbox is kept",
    note = "a model with `context = SqliteConnection` or `context = PgConnection` keeps its inbox in its store (`SqliteStore`, `PgStore`); one with `context = Commands<S>` in the `App<S>` its commands go to: pass `app.clone()`"
)]
pub trait InboxStore<P: Projection>: Send + 'static {
    /// What the consumer's units run through.
    type Sink: InboxSink<P>;

    /// Opens it for one member of the consumer's group; the members write side by side.
    ///
    /// # Errors
    /// When a connection cannot be opened.
    fn open_inbox(&self) -> impl Future<Output = Result<Self::Sink, StoreError>> + Send;
}

impl<S, P> InboxStore<P> for S
where
    P: Projection + Sync,
    S: ReadModelStore<P::Context>,
    S::Sink<P>: InboxSink<P>,
{
    type Sink = S::Sink<P>;

    fn open_inbox(&self) -> impl Future<Output = Result<Self::Sink, StoreError>> + Send {
        self.inbox_model::<P>()
    }
}

impl<S, C, M, P> InboxStore<P> for App<S, C, M>
where
    S: EventStore,
    C: Codec,
    M: CommandMiddleware,
    P: Projection<Context = Commands<S, C, M>>,
{
    type Sink = CommandSink<S, C, M>;

    async fn open_inbox(&self) -> Result<CommandSink<S, C, M>, StoreError> {
        Ok(CommandSink::new(self.clone()))
    }
}
