//! Upcasting: reading events stored at an older schema version as the current type.
//!
//! `#[derive(Event)]` takes one `#[upcast(...)]` attribute per older version; the macro checks
//! at compile time that every version below the current one has exactly one, and generates
//! [`Event::decode_stored`](crate::Event::decode_stored) as a `match` on the stored version
//! that walks the chain. Two kinds of step:
//!
//! - **typed**: `#[upcast(from = 1, typed = DepositedV1)]`: the payload is read as an old
//!   struct kept for decoding, then converted to the type of the next version by `From`
//!   (or by a function: `with = path::to_fn`);
//! - **JSON**: `#[upcast(from = 2, json = path::to_fn)]`: the payload is read as a
//!   [`Value`] and the function, `fn(Value) -> Result<Value, UpcastError>`, rewrites it into
//!   the next version's shape (rename, split or merge fields).
//!
//! ```
//! use eventsmith::Event;
//! use eventsmith::upcast::{UpcastError, Value, json, object_mut, take_field};
//! use serde::{Deserialize, Serialize};
//!
//! /// Version 3, the current one. Versions 1 and 2 were stored as "FundsDeposited".
//! #[derive(Debug, PartialEq, Serialize, Deserialize, Event)]
//! #[event(name = "MoneyDeposited", version = 3, renamed_from = ["FundsDeposited"])]
//! #[upcast(from = 1, json = v1_to_v2)]
//! #[upcast(from = 2, typed = DepositedV2)]
//! struct MoneyDeposited {
//!     amount_cents: u64,
//!     currency: String,
//! }
//!
//! /// Version 1 stored `amount` in whole units; version 2 stores `cents`.
//! fn v1_to_v2(mut value: Value) -> Result<Value, UpcastError> {
//!     let fields = object_mut(&mut value)?;
//!     let amount = take_field(fields, "amount")?
//!         .as_u64()
//!         .ok_or_else(|| UpcastError::new("`amount` is not a whole number"))?;
//!     fields.insert("cents".into(), (amount * 100).into());
//!     Ok(value)
//! }
//!
//! /// The shape of version 2, kept for decoding.
//! #[derive(Deserialize)]
//! struct DepositedV2 {
//!     cents: u64,
//! }
//!
//! impl From<DepositedV2> for MoneyDeposited {
//!     fn from(old: DepositedV2) -> Self {
//!         Self { amount_cents: old.cents, currency: "EUR".into() }
//!     }
//! }
//!
//! use eventsmith::testing::UpcastTest;
//! UpcastTest::<MoneyDeposited>::stored("FundsDeposited", 1, json!({"amount": 5}))
//!     .decodes_to(&MoneyDeposited { amount_cents: 500, currency: "EUR".into() });
//! ```
//!
//! A typed step produces the type of the next version, so it is followed by another typed
//! step or by the current version; a JSON step may follow either kind.

pub use serde_json::{Map, Value, json};

/// An upcaster could not rewrite a payload; says why.
///
/// ```
/// use eventsmith::upcast::UpcastError;
/// let e = UpcastError::new("field `amount` is missing");
/// assert_eq!(e.to_string(), "field `amount` is missing");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UpcastError {
    message: String,
}

impl UpcastError {
    /// An error with a message that says what was wrong with the payload.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The payload as a JSON object, or an error saying it is not one.
///
/// # Errors
/// [`UpcastError`] when `value` is not an object.
pub fn object_mut(value: &mut Value) -> Result<&mut Map<String, Value>, UpcastError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(UpcastError::new(format!(
            "expected a JSON object, found {}",
            kind(other)
        ))),
    }
}

/// Renames the field `from` of an object payload to `to`.
///
/// ```
/// # use eventsmith::upcast::{json, rename_field};
/// let mut v = json!({"cents": 5});
/// rename_field(&mut v, "cents", "amount_cents").unwrap();
/// assert_eq!(v, json!({"amount_cents": 5}));
/// assert!(rename_field(&mut v, "cents", "x").is_err());
/// ```
///
/// # Errors
/// [`UpcastError`] when the payload is not an object, `from` is missing or `to` exists.
pub fn rename_field(value: &mut Value, from: &str, to: &str) -> Result<(), UpcastError> {
    let map = object_mut(value)?;
    if map.contains_key(to) {
        return Err(UpcastError::new(format!(
            "cannot rename `{from}` to `{to}`: `{to}` is already there"
        )));
    }
    let field = take_field(map, from)?;
    map.insert(to.to_owned(), field);
    Ok(())
}

/// Removes and returns the field `name` of an object.
///
/// # Errors
/// [`UpcastError`] when the field is missing.
pub fn take_field(map: &mut Map<String, Value>, name: &str) -> Result<Value, UpcastError> {
    map.remove(name)
        .ok_or_else(|| UpcastError::new(format!("field `{name}` is missing")))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The conversion of a typed upcaster: the old struct of version `TO - 1` into `Next`, the
/// type of version `TO`. Implemented for every `From` conversion; the generated code names the
/// target so that an upcaster aimed at the wrong version does not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not upcast into `{Next}`, the type of the next version ({TO})",
    label = "a typed upcaster converts into the next version's type, not another",
    note = "implement `From<{Self}> for {Next}`, or name a conversion: `#[upcast(from = .., typed = {Self}, with = path::to_fn)]` with `fn(old: {Self}) -> {Next}`"
)]
pub trait UpcastInto<Next, const TO: u32> {
    /// Converts the old value.
    fn upcast_into(self) -> Next;
}

#[diagnostic::do_not_recommend]
impl<Old, Next: From<Old>, const TO: u32> UpcastInto<Next, TO> for Old {
    fn upcast_into(self) -> Next {
        Next::from(self)
    }
}
