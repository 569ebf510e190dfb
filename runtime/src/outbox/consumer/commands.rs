//! A consumer whose handlers send commands: [`Commands`] is their context, and the store's
//! idempotency records are the inbox. Each command a handler sends for a message executes
//! under a key made of the consumer, the message id and the command's place among the
//! handler's commands; a message delivered again runs its handler again, and each command
//! it sends is recognised by its key and has no second effect.

use uuid::Uuid;

use crate::model::command::HandledCommand;
use crate::model::envelope::{CommandContext, RecordedEvent};
use crate::model::projection::Projection;
use crate::outbox::message::header;
use crate::read::{InboxSink, Sink, UnitEnd};
use crate::store::{EventStore, StoreError};
use crate::wire::codec::{Codec, JsonCodec};
use crate::write::app::App;
use crate::write::execute::ExecuteResult;
use crate::write::middleware::CommandMiddleware;

/// What the handlers of a consumer that sends commands are given: the [`App`] the consumer
/// was started with, sending each command under an idempotency key of the message being
/// handled. Declared as the projection's context, as in
/// `#[projection(name = "shipping.orders", context = Commands<SqliteStore>)]`, and started
/// with `Consumer::new(app, model, subscription)`.
///
/// The events a command appends carry the message's correlation id (the flow goes on across
/// services) and tenant, the consumer as their source, and the message id in their
/// [`header::ID`] header.
///
/// A handler decides the same commands, in the same order, from the same message: the keys
/// are numbered in the order it sends them. A command its aggregate rejects records nothing;
/// a handler that returns the rejection as its error has the message delivered again and
/// parked after the consumer's deliveries, one that ignores it has the message
/// acknowledged. The keys answer as long as the store keeps idempotency records (seven days
/// by default; a store opened with `idempotency_retention(None)` keeps them for ever).
///
/// ```
/// use eventsmith::outbox::Commands;
/// use eventsmith::{Command, CommandError, Event, SqliteStore, aggregate, projection};
/// use serde::{Deserialize, Serialize};
///
/// /// The message another service publishes.
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(name = "orders.placed", version = 1)]
/// struct Placed { order: String }
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct ShipmentPrepared { order: String }
///
/// #[derive(Clone, Command)]
/// struct PrepareShipment { #[command(id)] order: String }
///
/// #[derive(Default)]
/// struct Shipment;
///
/// #[aggregate]
/// impl Shipment {
///     #[handle]
///     fn prepare(&self, cmd: PrepareShipment) -> ShipmentPrepared {
///         ShipmentPrepared { order: cmd.order }
///     }
///
///     #[apply]
///     fn prepared(&mut self, _event: &ShipmentPrepared) {}
/// }
///
/// struct ShipOnPlacement;
///
/// #[projection(name = "shipping.on_placement", context = Commands<SqliteStore>)]
/// impl ShipOnPlacement {
///     #[on]
///     async fn placed(
///         &mut self,
///         message: &Placed,
///         commands: &mut Commands<SqliteStore>,
///     ) -> Result<(), CommandError<std::convert::Infallible>> {
///         commands.send(PrepareShipment { order: message.order.clone() }).await?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Commands<S, C = JsonCodec, M = ()> {
    app: App<S, C, M>,
    message: Option<Message>,
    /// Commands sent for the message so far.
    sent: u32,
    /// Of them, those whose key had been recorded before.
    replayed: u32,
}

/// The message whose handler is running.
#[derive(Debug)]
struct Message {
    consumer: &'static str,
    id: Uuid,
    correlation_id: Option<Uuid>,
    tenant: Option<String>,
}

impl<S: EventStore, C: Codec, M: CommandMiddleware> Commands<S, C, M> {
    /// Executes `command` once for the message being handled: under the key of its place
    /// among the commands the handler sent, so a delivery of the message again finds the
    /// first outcome, with `replayed` set.
    ///
    /// # Errors
    /// As [`App::execute`].
    pub async fn send<Cmd: HandledCommand>(&mut self, command: Cmd) -> ExecuteResult<Cmd> {
        self.sent += 1;
        let context = self.context();
        let executed = self.app.execute_with(command, &context).await;
        if matches!(&executed, Ok(done) if done.replayed) {
            self.replayed += 1;
        }
        executed
    }

    /// The application the commands go to: to load an aggregate, or to query a read model
    /// before deciding.
    #[must_use]
    pub fn app(&self) -> &App<S, C, M> {
        &self.app
    }

    /// The context of the command sent now: the message's key, flow and tenant.
    fn context(&self) -> CommandContext {
        let Some(message) = &self.message else {
            return CommandContext::new();
        };
        let mut context = CommandContext::new()
            .source(format!("consumer {}", message.consumer))
            .header(header::ID, message.id.to_string())
            .idempotency_key(format!("{}:{}:{}", message.consumer, message.id, self.sent));
        context.correlation_id = message.correlation_id;
        context.tenant.clone_from(&message.tenant);
        context
    }
}

/// The sink of a consumer that sends commands: no transaction (a command's effect is its own
/// append, with its key); the consumer's dead letters are the store's. Sealed.
#[derive(Debug)]
pub struct CommandSink<S, C = JsonCodec, M = ()> {
    commands: Commands<S, C, M>,
}

impl<S, C, M> CommandSink<S, C, M> {
    /// A sink sending through `app`.
    pub(crate) fn new(app: App<S, C, M>) -> Self {
        Self {
            commands: Commands {
                app,
                message: None,
                sent: 0,
                replayed: 0,
            },
        }
    }
}

impl<S, C, M> crate::read::sink::Sealed for CommandSink<S, C, M> {}

impl<S, C, M, P> Sink<P> for CommandSink<S, C, M>
where
    S: EventStore,
    C: Codec,
    M: CommandMiddleware,
    P: Projection<Context = Commands<S, C, M>>,
{
    /// A failed handler leaves the commands it sent before failing; they are recognised
    /// when the message comes again.
    const TRANSACTIONAL: bool = false;

    async fn begin(&mut self) -> Result<(), StoreError> {
        self.commands.sent = 0;
        self.commands.replayed = 0;
        Ok(())
    }

    fn context(&mut self) -> &mut Commands<S, C, M> {
        &mut self.commands
    }

    async fn commit(&mut self, name: &'static str, end: UnitEnd) -> Result<(), StoreError> {
        let store = self.commands.app.store();
        if let Some(letter) = end.park {
            store.park(name, letter).await?;
        }
        if let Some(position) = end.release {
            store.release(name, position).await?;
        }
        Ok(())
    }

    async fn rollback(&mut self) {}
}

impl<S, C, M, P> InboxSink<P> for CommandSink<S, C, M>
where
    S: EventStore,
    C: Codec,
    M: CommandMiddleware,
    P: Projection<Context = Commands<S, C, M>>,
{
    /// Always fresh: the keys of the commands are the inbox, and [`repeated`](Self::repeated)
    /// tells afterwards whether they had all been recorded.
    async fn record_handled(
        &mut self,
        consumer: &'static str,
        message: &RecordedEvent,
    ) -> Result<bool, StoreError> {
        self.commands.message = Some(Message {
            consumer,
            id: message.event_id,
            correlation_id: message.metadata.correlation_id,
            tenant: message.metadata.tenant.clone(),
        });
        Ok(true)
    }

    fn repeated(&self) -> bool {
        self.commands.sent > 0 && self.commands.replayed == self.commands.sent
    }
}
