//! The [`Aggregate`] trait that `#[aggregate]` implements.

use crate::event::EventSet;

/// A consistency boundary whose state is the fold of its events.
///
/// Implemented by `#[aggregate]` on an impl block of the state type; `apply` is a `match` over
/// the generated event enum that calls the `#[apply]` methods.
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The aggregate's type name; stream ids are `"{TYPE}-{id}"`.
    const TYPE: &'static str;

    /// The names of the commands its `#[handle]` methods take.
    const COMMANDS: &'static [&'static str];

    /// The enum of every event the aggregate applies.
    type Event: EventSet;

    /// Evolves the state by one event.
    fn apply(&mut self, event: &Self::Event);

    /// The stream id of the instance with `id`.
    ///
    /// ```
    /// # use eventsmith::Aggregate;
    /// # #[derive(Default)] struct Account;
    /// # #[eventsmith::aggregate] impl Account {}
    /// assert_eq!(Account::stream_id("42"), "Account-42");
    /// ```
    fn stream_id(id: &str) -> String {
        let mut stream = String::with_capacity(Self::TYPE.len() + 1 + id.len());
        stream.push_str(Self::TYPE);
        stream.push('-');
        stream.push_str(id);
        stream
    }
}
