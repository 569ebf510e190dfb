//! Test helpers, with no store: [`AggregateTest`] given/when/then for aggregates,
//! [`ProjectionTest`] for projections, [`SagaTest`] for sagas,
//! [`UpcastTest`] for the upcasters of an event, and [`SchemaLock`], which fails a test when
//! an event's serialized shape changed without a version bump.

mod aggregate;
#[cfg(feature = "conformance")]
pub mod conformance;
mod projection;
mod saga;
mod schema_lock;
mod upcast;

pub use aggregate::{AggregateTest, Then};
pub use projection::ProjectionTest;
pub use saga::SagaTest;
pub use schema_lock::{BLESS_VAR, LockMismatch, LockProblem, NameKind, SchemaLock};
pub use upcast::UpcastTest;

pub use crate::wire::shape::shape_of;
