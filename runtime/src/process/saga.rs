//! What `#[saga]` implements: [`Saga`], the routing of events, deadlines and rejected
//! commands to a saga's handlers, and [`Steps`], what a handler decides besides the commands
//! it returns.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::command::HandledCommand;
use crate::model::envelope::{RecordedEvent, Timestamp};
use crate::model::error::DecodeError;
use crate::model::event::Event;
use crate::model::projection::HandledEvent;
use crate::store::PendingCommand;
use crate::wire::codec::Codec;

/// What an event does to the saga instance it is associated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A `#[start]` handler: creates an instance (an event whose key already has a live
    /// instance is ignored, and counted).
    Start,
    /// An `#[on]` handler: continues the instance (an event for no instance is ignored, and
    /// counted).
    Continue,
    /// An `#[end]` handler: continues the instance, then ends it.
    End,
}

/// How an event finds its instance: the association key taken from it, and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// The role of the event's handler.
    pub role: Role,
    /// The key.
    pub key: String,
}

/// A process manager: long-running state that reacts to events (and to its deadlines and
/// rejected commands) by sending commands. Implemented by `#[saga(name = "...")]` on an impl
/// block of the state type, which is `Default` (a new instance) and serializable (it is
/// stored after every step).
pub trait Saga: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The saga's unique name; its position, instances and deadlines are stored under it.
    const NAME: &'static str;

    /// The event types its handlers take.
    const HANDLES: &'static [HandledEvent];

    /// One decoded event of a type it handles.
    type Event: Send;

    /// One decoded deadline of a type it handles.
    type Deadline: Send;

    /// A rejected command with its domain error, of a type a `#[rejected]` handler takes.
    type Rejection: Send;

    /// Decodes `event` and takes its association key; `Ok(None)` for an event of a name it
    /// does not handle.
    ///
    /// # Errors
    /// When the payload does not decode through the event's upcasters.
    fn decode<C: Codec>(
        codec: &C,
        event: &RecordedEvent,
    ) -> Result<Option<(Self::Event, Association)>, DecodeError>;

    /// Calls the event's handler.
    fn handle(&mut self, event: Self::Event, envelope: &RecordedEvent, steps: &mut Steps<Self>);

    /// Decodes a stored deadline; `None` for a name no `#[deadline]` handler takes.
    ///
    /// # Errors
    /// When the payload does not decode.
    fn decode_deadline(
        name: &str,
        payload: &[u8],
    ) -> Result<Option<Self::Deadline>, serde_json::Error>;

    /// Calls the deadline's handler.
    fn on_deadline(&mut self, deadline: Self::Deadline, steps: &mut Steps<Self>);

    /// Sends a stored command through `bus`, with its id as the idempotency key.
    fn send<B: CommandBus>(
        bus: &B,
        command: &PendingCommand,
    ) -> impl Future<Output = Sent<Self::Rejection>> + Send;

    /// Calls the handler of a rejected command.
    fn on_rejected(&mut self, rejection: Self::Rejection, steps: &mut Steps<Self>);
}

/// What sending a saga's command came to.
#[derive(Debug)]
pub enum Sent<R> {
    /// The command went through (or had gone through before: its key was seen).
    Done,
    /// The aggregate rejected it, and a `#[rejected]` handler takes it.
    Rejected(R),
    /// The aggregate rejected it, and no `#[rejected]` handler takes it: logged and dropped.
    Unhandled(String),
    /// It could not be sent (the store was unavailable, the payload does not decode): it
    /// stays pending and is tried again.
    Failed(String),
}

/// Where a saga's commands go: the [`App`](crate::App), or anything that executes commands
/// with an idempotency key.
pub trait CommandBus: Send + Sync + 'static {
    /// Executes `command` once for `key`: a command sent again with the same key has the
    /// first outcome and no second effect.
    fn send<C: HandledCommand>(
        &self,
        command: C,
        key: &str,
        saga: &'static str,
    ) -> impl Future<Output = Result<(), SendError<C::Error>>> + Send;
}

/// A command a saga sent did not go through.
#[derive(Debug)]
pub enum SendError<E> {
    /// The aggregate's handler rejected it with its domain error.
    Rejected(E),
    /// Anything else (the store, a conflict that outlasted the retries, a panic); the command
    /// is tried again later.
    Failed(String),
}

/// A deadline type of saga `S`: implemented by `#[saga]` for the type of each `#[deadline]`
/// handler, so a saga can only schedule deadlines it handles.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a deadline of the saga `{S}`",
    label = "no `#[deadline]` handler of `{S}` takes `{Self}`",
    note = "add `#[deadline] fn on_timeout(&mut self, deadline: &{Self}, steps: &mut Steps<Self>)` to the `#[saga]` impl block"
)]
pub trait SagaDeadline<S>: Serialize + DeserializeOwned + Send + 'static {
    /// The name it is stored (and cancelled) under.
    const NAME: &'static str;
}

/// What a handler decides besides the commands it returns: deadlines to set or cancel,
/// further association keys, and the end of the instance.
///
/// ```
/// # use std::time::Duration;
/// # use eventsmith::process::{SagaDeadline, Steps};
/// fn after_reserving<S, D: SagaDeadline<S>>(steps: &mut Steps<S>, timeout: D) {
///     steps.schedule(Duration::from_secs(30), timeout);
///     steps.associate("payment-42");
/// }
/// ```
#[derive(Debug)]
pub struct Steps<S> {
    now: Timestamp,
    pub(crate) commands: Vec<(&'static str, Vec<u8>)>,
    pub(crate) schedule: Vec<(&'static str, Vec<u8>, Timestamp)>,
    pub(crate) cancel: Vec<&'static str>,
    pub(crate) associate: Vec<String>,
    pub(crate) end: bool,
    /// A command or deadline that did not serialize.
    pub(crate) error: Option<String>,
    saga: PhantomData<fn() -> S>,
}

impl<S> Steps<S> {
    /// The steps of one handler call at `now`.
    pub(crate) fn new(now: Timestamp) -> Self {
        Self {
            now,
            commands: Vec::new(),
            schedule: Vec::new(),
            cancel: Vec::new(),
            associate: Vec::new(),
            end: false,
            error: None,
            saga: PhantomData,
        }
    }

    /// The time of this step, by the runner's clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Sets `deadline` to fire `after` from now; its `#[deadline]` handler runs then, or at
    /// once after a restart that finds it overdue.
    pub fn schedule<D: SagaDeadline<S>>(&mut self, after: Duration, deadline: D) {
        self.schedule_at(self.now.after(after), deadline);
    }

    /// Sets `deadline` to fire at `at`.
    pub fn schedule_at<D: SagaDeadline<S>>(&mut self, at: Timestamp, deadline: D) {
        match serde_json::to_vec(&deadline) {
            Ok(payload) => self.schedule.push((D::NAME, payload, at)),
            Err(e) => self.failed(D::NAME, &e),
        }
    }

    /// Cancels every pending deadline of type `D` of this instance (those set in this step
    /// too).
    pub fn cancel<D: SagaDeadline<S>>(&mut self) {
        self.schedule.retain(|(name, ..)| *name != D::NAME);
        self.cancel.push(D::NAME);
    }

    /// Associates `key` with this instance too: events whose key it is find it.
    pub fn associate(&mut self, key: impl Into<String>) {
        self.associate.push(key.into());
    }

    /// Ends the instance after this step: its state, keys and deadlines are removed; the
    /// commands it decided are still sent.
    pub fn end(&mut self) {
        self.end = true;
    }

    /// Not public API. Used by generated code: queues a returned command.
    #[doc(hidden)]
    pub fn push_command<C: HandledCommand + Serialize>(&mut self, command: &C) {
        match serde_json::to_vec(command) {
            Ok(payload) => self.commands.push((C::NAME, payload)),
            Err(e) => self.failed(C::NAME, &e),
        }
    }

    fn failed(&mut self, what: &str, e: &serde_json::Error) {
        self.error
            .get_or_insert_with(|| format!("`{what}` does not serialize: {e}"));
    }
}

/// What a saga handler may return: nothing, a command, or an `Option`, `Vec` or tuple of
/// them. `#[saga]` implements it for each command type a handler of saga `S` returns.
#[diagnostic::on_unimplemented(
    message = "a saga handler cannot return `{Self}`",
    label = "return a command, an `Option` or `Vec` of commands, a tuple of them, or nothing",
    note = "commands go back to the runner, which stores them with the saga's state and sends them once"
)]
pub trait Sends<S> {
    /// Queues the commands on `steps`, in order.
    fn send_into(self, steps: &mut Steps<S>);
}

impl<S> Sends<S> for () {
    fn send_into(self, _steps: &mut Steps<S>) {}
}

impl<S, T: Sends<S>> Sends<S> for Option<T> {
    fn send_into(self, steps: &mut Steps<S>) {
        if let Some(commands) = self {
            commands.send_into(steps);
        }
    }
}

impl<S, T: Sends<S>> Sends<S> for Vec<T> {
    fn send_into(self, steps: &mut Steps<S>) {
        for commands in self {
            commands.send_into(steps);
        }
    }
}

macro_rules! tuple_sends {
    ($($name:ident),+) => {
        impl<S, $($name: Sends<S>),+> Sends<S> for ($($name,)+) {
            #[allow(non_snake_case, reason = "the bindings are named after the type parameters")]
            fn send_into(self, steps: &mut Steps<S>) {
                let ($($name,)+) = self;
                $($name.send_into(steps);)+
            }
        }
    };
}

tuple_sends!(A);
tuple_sends!(A, B);
tuple_sends!(A, B, C);
tuple_sends!(A, B, C, D);
tuple_sends!(A, B, C, D, E);
tuple_sends!(A, B, C, D, E, F);

/// Not public API. Used by generated code: decodes one event a saga handles.
///
/// # Errors
/// Which event and why.
#[doc(hidden)]
pub fn decode_event<E: Event, C: Codec>(
    codec: &C,
    event: &RecordedEvent,
) -> Result<E, DecodeError> {
    E::decode_stored(codec, event.schema_version, &event.payload)
        .map_err(|failure| DecodeError::new(event, failure))
}

/// Not public API. Used by generated code: the association key of an event, from a field or
/// what a key function answers.
#[doc(hidden)]
pub fn key_of<K: std::fmt::Display + ?Sized>(key: &K) -> String {
    key.to_string()
}

/// Not public API. Used by generated code: sends one stored command of type `C`, and makes
/// its outcome the saga's (`rejected` wraps a rejection a `#[rejected]` handler takes).
pub async fn send_stored<C, B, R>(
    bus: &B,
    stored: &PendingCommand,
    saga: &'static str,
    rejected: Option<fn(C, C::Error) -> R>,
) -> Sent<R>
where
    C: HandledCommand + DeserializeOwned,
    B: CommandBus,
{
    let command: C = match serde_json::from_slice(&stored.payload) {
        Ok(command) => command,
        Err(e) => {
            return Sent::Failed(format!(
                "the stored command `{}` ({}) does not decode: {e}",
                stored.name, stored.id
            ));
        }
    };
    let kept = rejected.map(|wrap| (wrap, command.clone()));
    match bus.send(command, &stored.id, saga).await {
        Ok(()) => Sent::Done,
        Err(SendError::Failed(why)) => Sent::Failed(why),
        Err(SendError::Rejected(error)) => match kept {
            Some((wrap, command)) => Sent::Rejected(wrap(command, error)),
            None => Sent::Unhandled(format!("`{}` was rejected: {error:?}", stored.name)),
        },
    }
}

/// Not public API. Used by generated code: a stored command of a name no handler returns.
#[must_use]
pub fn unknown_command<R>(stored: &PendingCommand) -> Sent<R> {
    Sent::Failed(format!(
        "no handler of this saga returns the command `{}` ({})",
        stored.name, stored.id
    ))
}
