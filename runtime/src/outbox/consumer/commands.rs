//! A consumer whose handlers send commands: [`Commands`] is their context, and the store's
//! idempotency records are the inbox. Each command a handler sends for a message executes
//! under a key made of the consumer, the message id and the command's place among the
//! commands the handler sent to the same aggregate; a message delivered again runs its
//! handler again, and each command it sends is recognised by its key and has no second
//! effect.

use uuid::Uuid;

use crate::model::aggregate::Aggregate;
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
/// A handler decides its commands from the message alone, the same ones in the same order
/// on every delivery: the keys are numbered in the order it sends them to each aggregate.
/// A handler returns a failed command's error rather than sending the command again: the
/// message comes again and the command goes under its key once more, while a second `send`
/// is a second command. A handler that returns the failure of its last command, when waiting
/// mends it (the store unavailable, a conflict, a rate limit), has the message come again
/// however often, never parked for it (the broker still counts those deliveries towards
/// [`max_deliveries`](super::Consumer::max_deliveries) for a later failure of another kind);
/// any other failure, a rejection returned as the handler's error say, has it parked after
/// `max_deliveries`. A handler that ignores a rejection
/// has the message acknowledged. The commands carry no actor: a middleware that asks for
/// one refuses them.
///
/// Messages are handled one at a time and no transaction spans a handler: a handler that
/// fails after a command went through leaves that command done, and the message's next
/// delivery finds it by its key. The keys answer as long as the store keeps idempotency
/// records: seven days by default, after which a copy of the message sends its commands
/// again; a store opened with `idempotency_retention(None)` keeps them for ever.
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
    /// How many were sent to each stream, in the order first sent to (a handler sends few).
    per_stream: Vec<(String, u32)>,
    /// What the last command sent failed with, when waiting mends it.
    retriable: Option<String>,
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
    /// among the commands the handler sent to its aggregate, so a delivery of the message
    /// again finds the first outcome, with `replayed` set.
    ///
    /// # Errors
    /// As [`App::execute`]; return it from the handler.
    pub async fn send<Cmd: HandledCommand>(&mut self, command: Cmd) -> ExecuteResult<Cmd> {
        let stream = Cmd::Aggregate::stream_id(&command.aggregate_id());
        let place = self.place(stream);
        let context = self.context(place);
        let executed = self.app.execute_with(command, &context).await;
        self.retriable = match &executed {
            Ok(done) => {
                self.replayed += u32::from(done.replayed);
                None
            }
            Err(error) => error.is_retriable().then(|| error.to_string()),
        };
        executed
    }

    /// The application the commands go to (its store, its registry). Decide the commands
    /// from the message alone: a decision on state read here may differ on the message's
    /// next delivery, and so may the keys.
    #[must_use]
    pub fn app(&self) -> &App<S, C, M> {
        &self.app
    }

    /// Counts one more command to `stream`; answers its place among them, from 1.
    fn place(&mut self, stream: String) -> u32 {
        self.sent += 1;
        if let Some((_, sent)) = self.per_stream.iter_mut().find(|(s, _)| *s == stream) {
            *sent += 1;
            return *sent;
        }
        self.per_stream.push((stream, 1));
        1
    }

    /// The context of the command at `place`: the message's key, flow and tenant (none
    /// outside a consumer's handler, where there is no message).
    fn context(&self, place: u32) -> CommandContext {
        let Some(message) = &self.message else {
            return CommandContext::new();
        };
        let mut context = CommandContext::new()
            .source(format!("consumer {}", message.consumer))
            .header(header::ID, message.id.to_string())
            .idempotency_key(format!("{}:{}:{place}", message.consumer, message.id));
        context.correlation_id = message.correlation_id;
        context.tenant.clone_from(&message.tenant);
        context
    }

    /// Starts the commands of a message.
    fn start(&mut self, message: Message) {
        self.message = Some(message);
        self.sent = 0;
        self.replayed = 0;
        self.per_stream.clear();
        self.retriable = None;
    }
}

/// The sink of a consumer that sends commands: no transaction (a command's effect is its own
/// append, with its key); the consumer's dead letters are the store's. What
/// [`InboxStore`](super::InboxStore) opens for an [`App`]; nothing else makes one.
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
                per_stream: Vec::new(),
                retriable: None,
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
        self.commands.start(Message {
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

    fn retriable(&self, error: &str) -> bool {
        self.commands.retriable.as_deref() == Some(error)
    }
}

#[cfg(test)]
mod tests {
    use super::CommandSink;
    use crate::store::InMemoryStore;
    use crate::write::app::App;

    #[test]
    fn commands_are_numbered_per_aggregate() {
        let mut sink = CommandSink::new(App::new(InMemoryStore::new()).unwrap());
        let commands = &mut sink.commands;
        let places: Vec<_> = ["Order-1", "Depot-main", "Order-1", "Order-2", "Depot-main"]
            .into_iter()
            .map(|stream| commands.place(stream.to_owned()))
            .collect();
        // A redelivery that sends no command to the depot still numbers the orders' the same.
        assert_eq!(places, [1, 1, 2, 1, 2]);
        assert_eq!(commands.sent, 5);
    }
}
