//! Sagas (process managers): long-running processes that react to events across aggregates
//! by sending commands, with durable state and deadlines. `#[saga]` implements [`Saga`] on
//! the state type; a [`SagaRunner`] runs it over a store that keeps sagas
//! ([`SagaStore`](crate::store::SagaStore)), sending through the [`App`](crate::App).

mod bus;
mod clock;
mod effects;
mod runner;
pub(crate) mod saga;
mod status;
pub(crate) mod step;
mod task;

pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::runner::{RunningSaga, SagaRunner};
pub use self::saga::{
    Association, CommandBus, Role, Saga, SagaDeadline, SendError, Sends, Sent, Steps,
};
pub use self::status::{SagaError, SagaProgress, SagaState};
pub use eventsmith_macros::{deadline, end, rejected, saga, start};
