//! How events look on the wire and in storage: the codec, upcasting of older versions and
//! the serialized shapes that the schema lock records, and the JSON Schemas of published
//! contracts. Knows nothing of aggregates or stores.

pub(crate) mod codec;
pub(crate) mod json_schema;
pub(crate) mod shape;
pub mod upcast;
