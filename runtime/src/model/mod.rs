//! What the macros implement, with no I/O: events, commands, aggregates, projections and
//! queries, the envelope of a stored event, and the registry of all of them.

pub(crate) mod aggregate;
pub(crate) mod command;
pub(crate) mod envelope;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod projection;
pub(crate) mod query;
pub(crate) mod registry;
