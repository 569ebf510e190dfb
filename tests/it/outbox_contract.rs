//! The published contract as JSON Schema, checked by an independent validator: every message
//! the relay publishes fits the schema of its name and version, and payloads that break the
//! contract do not.

use eventsmith::outbox::{MemoryTransport, contract_schema};
use eventsmith::{App, SqliteStore};
use serde_json::{Value, json};

use crate::outbox_relay::domain::OrdersContract;
use crate::outbox_relay::{expected_messages, place_and_ship, relay_all};

fn validator(contract: &Value, key: &str) -> jsonschema::Validator {
    let schema = &contract["$defs"][key];
    assert!(schema.is_object(), "no `{key}` in {contract:#}");
    jsonschema::draft202012::new(schema).unwrap_or_else(|e| panic!("`{key}`: {e}"))
}

#[tokio::test]
async fn every_published_message_fits_its_schema_and_a_broken_one_does_not() {
    // The macro registered the publication, for the start-up check of duplicate names.
    let registry = eventsmith::registry::Registry::from_inventory().unwrap();
    assert!(
        registry
            .publications()
            .iter()
            .any(|p| p.name == "it.orders.public" && p.rust_type.ends_with("::OrdersContract")),
        "{:?}",
        registry.publications()
    );
    let contract = contract_schema::<OrdersContract>().unwrap();
    assert_eq!(contract["title"], "it.orders.public");
    let defs = contract["$defs"].as_object().unwrap();
    let mut keys: Vec<&str> = defs.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["it.orders.parcel_shipped@v1", "it.orders.placed@v1"]);
    let placed = &defs["it.orders.placed@v1"];
    assert_eq!(
        placed["x-eventsmith"]["subjects"],
        json!(["orders.{tenant}.{region}.placed"])
    );
    // The public shape: the card number stays inside.
    let fields = &placed["$defs"]["Placed"]["properties"];
    assert!(fields.get("card").is_none(), "{fields:#}");
    assert_eq!(
        placed["$defs"]["Placed"]["required"],
        json!(["order", "region", "total"])
    );

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(store.clone()).unwrap(), 0..10).await;
    let broker = MemoryTransport::new();
    relay_all(&store, broker.clone()).await;
    let messages = broker.messages();
    assert_eq!(messages.len(), expected_messages(10));
    for message in &messages {
        let key = format!("{}@v{}", message.name, message.version);
        let payload: Value = serde_json::from_slice(&message.payload).unwrap();
        let errors: Vec<String> = validator(&contract, &key)
            .iter_errors(&payload)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{key} {payload}: {errors:?}");
    }

    let placed = validator(&contract, "it.orders.placed@v1");
    assert!(placed.is_valid(&json!({ "order": "o-1", "region": "north", "total": 10 })));
    assert!(
        !placed.is_valid(&json!({ "order": "o-1", "region": "north" })),
        "total missing"
    );
    assert!(
        !placed.is_valid(&json!({ "order": "o-1", "region": "north", "total": "10" })),
        "total as text"
    );
    assert!(
        !placed.is_valid(&json!({ "order": "o-1", "region": "north", "total": -1 })),
        "a negative u64"
    );
}
