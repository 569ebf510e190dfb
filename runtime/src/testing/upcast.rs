//! Given/when/then for upcasters: a stored payload of an older version in, the current type
//! (or the decode error) out.

use std::fmt::Debug;
use std::marker::PhantomData;

use crate::model::event::{DecodeFailure, Event};
use crate::wire::codec::{Codec, JsonCodec};
use crate::wire::upcast::Value;

/// An event as it was stored: name, schema version and JSON payload, decoded as `E`.
///
/// ```
/// use eventsmith::testing::UpcastTest;
/// use eventsmith::upcast::json;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, PartialEq, Serialize, Deserialize, eventsmith::Event)]
/// # #[event(version = 2)]
/// # #[upcast(from = 1, typed = PingedV1)]
/// # struct Pinged { count: u32 }
/// # #[derive(Deserialize)] struct PingedV1 {}
/// # impl From<PingedV1> for Pinged { fn from(_: PingedV1) -> Self { Self { count: 1 } } }
/// UpcastTest::<Pinged>::stored("Pinged", 1, json!({})).decodes_to(&Pinged { count: 1 });
/// UpcastTest::<Pinged>::stored("Pinged", 3, json!({})).fails();
/// ```
#[derive(Debug)]
pub struct UpcastTest<E> {
    name: String,
    version: u32,
    payload: Vec<u8>,
    event: PhantomData<fn() -> E>,
}

impl<E: Event> UpcastTest<E> {
    /// An event stored under `name` at `version` with the JSON `payload`.
    ///
    /// # Panics
    /// If the payload does not serialize (it always does for a JSON value).
    #[must_use]
    #[track_caller]
    pub fn stored(name: &str, version: u32, payload: Value) -> Self {
        Self {
            name: name.to_owned(),
            version,
            payload: JsonCodec.encode(&payload).expect("a JSON value serializes"),
            event: PhantomData,
        }
    }

    /// Decodes the stored event as `E`, as every consumer does on read: the name must be
    /// `E`'s name or a previous one, then the upcasters run.
    ///
    /// # Errors
    /// The [`DecodeFailure`] a consumer would see.
    pub fn decode(&self) -> Result<E, DecodeFailure> {
        if !E::is_stored_as(&self.name) {
            return Err(DecodeFailure::UnknownEvent {
                name: self.name.clone(),
                known: &[],
            });
        }
        E::decode_stored(&JsonCodec, self.version, &self.payload)
    }

    /// Asserts that the stored event decodes to `expected`.
    ///
    /// # Panics
    /// With the decode error, or both values, when it does not.
    #[track_caller]
    pub fn decodes_to(self, expected: &E)
    where
        E: PartialEq,
    {
        match self.decode() {
            Ok(event) => assert!(
                event == *expected,
                "`{}` version {} decoded to\n  {event:?}\nbut the test expected\n  {expected:?}",
                self.name,
                self.version
            ),
            Err(e) => panic!(
                "`{}` version {} did not decode as `{}`: {e}",
                self.name,
                self.version,
                std::any::type_name::<E>()
            ),
        }
    }

    /// Asserts that the stored event does not decode, and returns the error.
    ///
    /// # Panics
    /// With the decoded value when it decodes.
    #[track_caller]
    pub fn fails(self) -> DecodeFailure
    where
        E: Debug,
    {
        match self.decode() {
            Ok(event) => panic!(
                "expected `{}` version {} to fail to decode, but it decoded to {event:?}",
                self.name, self.version
            ),
            Err(e) => e,
        }
    }
}
