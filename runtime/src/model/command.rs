//! Commands: the [`Command`] trait, the conversions of id and idempotency-key fields, and
//! [`HandledCommand`], the route from a command to its one aggregate.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use uuid::Uuid;

use crate::model::aggregate::Aggregate;

/// A request to change one aggregate.
///
/// Implement it with `#[derive(Command)]`, marking the field that holds the target aggregate's
/// id with `#[command(id)]` and, optionally, an idempotency-key field with
/// `#[command(idempotency_key)]`. Commands are cloned when a decision is retried after a
/// version conflict.
///
/// ```
/// use eventsmith::Command;
///
/// #[derive(Clone, Command)]
/// struct Deposit {
///     #[command(id)]
///     account: String,
///     amount: u64,
///     #[command(idempotency_key)]
///     request_id: Option<String>,
/// }
///
/// let cmd = Deposit { account: "acc-1".into(), amount: 5, request_id: Some("r-1".into()) };
/// assert_eq!(cmd.aggregate_id(), "acc-1");
/// assert_eq!(cmd.idempotency_key().as_deref(), Some("r-1"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command",
    label = "not a command",
    note = "derive it: `#[derive(Clone, eventsmith::Command)]`, with the target aggregate's id field marked `#[command(id)]`"
)]
pub trait Command: Clone + Send + Sync + 'static {
    /// The command's name, for logs and errors.
    const NAME: &'static str;

    /// The id of the aggregate instance this command targets.
    fn aggregate_id(&self) -> Cow<'_, str>;

    /// A key that makes the command idempotent: a repeated command with the same key for the
    /// same aggregate returns the first outcome and appends nothing.
    fn idempotency_key(&self) -> Option<Cow<'_, str>> {
        None
    }
}

/// A type usable as a command's `#[command(id)]` field.
///
/// Implemented for strings, UUIDs and integers; implement it for your own id newtypes.
///
/// ```
/// use std::borrow::Cow;
/// use eventsmith::command::AggregateId;
///
/// struct AccountNo(u32);
/// impl AggregateId for AccountNo {
///     fn to_aggregate_id(&self) -> Cow<'_, str> {
///         Cow::Owned(format!("ACC{:06}", self.0))
///     }
/// }
/// assert_eq!(AccountNo(42).to_aggregate_id(), "ACC000042");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an aggregate id",
    note = "use a `String`, `Uuid` or integer field, or implement `eventsmith::command::AggregateId` for `{Self}`"
)]
pub trait AggregateId {
    /// The id as text; it becomes part of the aggregate's stream id.
    fn to_aggregate_id(&self) -> Cow<'_, str>;
}

/// A type usable as a command's `#[command(idempotency_key)]` field: text, a UUID, or an
/// `Option` of either (no key when `None`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an idempotency key",
    note = "use a `String`, `Uuid`, or an `Option` of either, or implement `eventsmith::command::IdempotencyKey` for `{Self}`"
)]
pub trait IdempotencyKey {
    /// The key as text, `None` for no key.
    fn to_idempotency_key(&self) -> Option<Cow<'_, str>>;
}

macro_rules! text_ids {
    ($($ty:ty),*) => {$(
        impl AggregateId for $ty {
            fn to_aggregate_id(&self) -> Cow<'_, str> {
                Cow::Borrowed(&**self)
            }
        }
        impl IdempotencyKey for $ty {
            fn to_idempotency_key(&self) -> Option<Cow<'_, str>> {
                Some(Cow::Borrowed(&**self))
            }
        }
    )*};
}
text_ids!(String, Box<str>, Arc<str>, &str);

macro_rules! display_ids {
    ($($ty:ty),*) => {$(
        impl AggregateId for $ty {
            fn to_aggregate_id(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}
display_ids!(
    Uuid, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl IdempotencyKey for Uuid {
    fn to_idempotency_key(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.to_string()))
    }
}

impl<T: IdempotencyKey> IdempotencyKey for Option<T> {
    fn to_idempotency_key(&self) -> Option<Cow<'_, str>> {
        self.as_ref().and_then(IdempotencyKey::to_idempotency_key)
    }
}

/// The result of a decision: the aggregate's events, or the handler's domain error.
pub type Decision<C> = Result<
    Vec<<<C as HandledCommand>::Aggregate as Aggregate>::Event>,
    <C as HandledCommand>::Error,
>;

/// The route from a command to the one aggregate that handles it, implemented by
/// `#[aggregate]` for the command of each `#[handle]` method.
///
/// Because this is a trait implementation, a command handled by two aggregates does not
/// compile (conflicting implementations), and executing a command that no aggregate handles
/// does not compile either.
#[diagnostic::on_unimplemented(
    message = "no aggregate handles the command `{Self}`",
    label = "`{Self}` has no `#[handle]` method",
    note = "add `#[handle] fn on_command(&self, command: {Self}) -> ...` to the `#[aggregate]` impl block of the aggregate it targets"
)]
pub trait HandledCommand: Command {
    /// The aggregate whose `#[handle]` method takes this command.
    type Aggregate: Aggregate;
    /// The handler's domain error (`Infallible` for handlers that cannot fail).
    type Error: std::fmt::Debug + Send + 'static;

    /// Runs the handler against the aggregate's current state.
    fn handle(
        aggregate: &Self::Aggregate,
        command: Self,
    ) -> impl Future<Output = Decision<Self>> + Send + '_;

    /// The command's check of itself, run before anything is loaded: a command it refuses
    /// is rejected with the handler's error type without a read of the store. Generated from
    /// `#[handle(validate = path)]`, where `path` is a function `fn(&Command) -> Result<(), E>`
    /// with `E: Into<Self::Error>`; without one, every command passes.
    ///
    /// # Errors
    /// The domain error that rejects the command.
    fn validate(command: &Self) -> Result<(), Self::Error> {
        let _ = command;
        Ok(())
    }
}
