//! The published contract as JSON Schema: every message type a [`Publication`] publishes,
//! with its name, version and subjects, for services not written in Rust.

use serde_json::{Map, Value, json};

use crate::outbox::message::header;
use crate::outbox::publication::Publication;
use crate::wire::json_schema::DIALECT;
use crate::wire::shape::ShapeError;

/// A message type's JSON Schema could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publication `{publication}`: message `{message}` ({rust_type}): {cause}")]
#[non_exhaustive]
pub struct ContractError {
    /// The publication's name.
    pub publication: &'static str,
    /// The message type's stable name.
    pub message: &'static str,
    /// The Rust type.
    pub rust_type: &'static str,
    /// Why.
    pub cause: ShapeError,
}

/// The contract of publication `P` as one JSON Schema (draft 2020-12) document: under
/// `$defs`, a schema for each message type and version, keyed `<name>@v<version>`, with its
/// own `$id` (`urn:eventsmith:message:<name>:v<version>`) so its references resolve inside it,
/// and an `x-eventsmith` member naming its subjects and Rust type. A message's payload is
/// what its schema describes; its name and version travel in the headers
/// [`header::NAME`] and [`header::VERSION`].
///
/// ```
/// use eventsmith::outbox::contract_schema;
/// use eventsmith::{Event, publication};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(name = "order_placed")]
/// struct OrderPlaced { order: String, total: u64, card: String }
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(name = "orders.placed")]
/// struct Placed { order: String, total: u64 }
///
/// struct OrdersContract;
///
/// #[publication(name = "orders.public")]
/// impl OrdersContract {
///     #[publish(subject = "orders.{tenant}.placed")]
///     fn placed(&self, event: &OrderPlaced) -> Placed {
///         Placed { order: event.order.clone(), total: event.total }
///     }
/// }
///
/// let schema = contract_schema::<OrdersContract>().unwrap();
/// let placed = &schema["$defs"]["orders.placed@v1"];
/// assert_eq!(placed["x-eventsmith"]["subjects"][0], "orders.{tenant}.placed");
/// assert_eq!(placed["$defs"]["Placed"]["required"], serde_json::json!(["order", "total"]));
/// ```
///
/// # Errors
/// [`ContractError`] for a message type the tracer cannot follow (see
/// [`json_schema_of`](crate::codec::json_schema_of)).
pub fn contract_schema<P: Publication>() -> Result<Value, ContractError> {
    let mut defs = Map::new();
    for message in P::MESSAGES {
        let key = format!("{}@v{}", message.name, message.version);
        if let Some(Value::Object(known)) = defs.get_mut(&key) {
            // Another handler publishes the same type: one more subject.
            if let Some(Value::Array(subjects)) = known
                .get_mut("x-eventsmith")
                .and_then(|x| x.get_mut("subjects"))
            {
                if !subjects.iter().any(|s| s == message.subject) {
                    subjects.push(json!(message.subject));
                }
            }
            continue;
        }
        let schema = (message.schema)().map_err(|cause| ContractError {
            publication: P::NAME,
            message: message.name,
            rust_type: message.rust_type,
            cause,
        })?;
        let Value::Object(body) = schema else {
            continue;
        };
        let mut out = Map::new();
        out.insert(
            "$id".to_owned(),
            json!(format!(
                "urn:eventsmith:message:{}:v{}",
                message.name, message.version
            )),
        );
        out.insert("title".to_owned(), json!(message.name));
        out.insert(
            "x-eventsmith".to_owned(),
            json!({
                "name": message.name,
                "version": message.version,
                "subjects": [message.subject],
                "rust_type": message.rust_type,
            }),
        );
        out.extend(body);
        defs.insert(key, Value::Object(out));
    }
    Ok(json!({
        "$schema": DIALECT,
        "$id": format!("urn:eventsmith:publication:{}", P::NAME),
        "title": P::NAME,
        "description": format!(
            "The integration messages of the publication `{}`: a schema under `$defs` for each \
             message type and version. A message's name and version travel in its `{}` and `{}` \
             headers, its id in `{}`.",
            P::NAME,
            header::NAME,
            header::VERSION,
            header::ID
        ),
        "$defs": defs,
    }))
}
