use eventsmith::Event;
use eventsmith::upcast::{UpcastError, Value, rename_field};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Plain {
    a: u8,
}

// Every kind of step: JSON, JSON, typed with `From`, typed with a function.
#[derive(Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.item-added", version = 5, renamed_from = ["shop.item-put", "ItemPut"])]
#[upcast(from = 1, json = v1_to_v2)]
#[upcast(from = 4, typed = ItemAddedV4, with = ItemAdded::from_v4)]
#[upcast(from = 2, json = v2_to_v3)]
#[upcast(from = 3, typed = ItemAddedV3)]
struct ItemAdded {
    sku: u32,
    quantity: u32,
}

fn v1_to_v2(mut value: Value) -> Result<Value, UpcastError> {
    rename_field(&mut value, "id", "item")?;
    Ok(value)
}

fn v2_to_v3(mut value: Value) -> Result<Value, UpcastError> {
    rename_field(&mut value, "item", "sku")?;
    Ok(value)
}

#[derive(Deserialize)]
struct ItemAddedV3 {
    sku: u32,
}

#[derive(Deserialize)]
struct ItemAddedV4 {
    sku: u32,
    count: u32,
}

impl From<ItemAddedV3> for ItemAddedV4 {
    fn from(old: ItemAddedV3) -> Self {
        Self { sku: old.sku, count: 1 }
    }
}

impl ItemAdded {
    fn from_v4(old: ItemAddedV4) -> Self {
        Self { sku: old.sku, quantity: old.count }
    }
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 2)]
#[event(name = "status")]
#[upcast(from = 1, json = status_v1)]
enum Status {
    Up,
    Down { reason: String },
}

fn status_v1(value: Value) -> Result<Value, UpcastError> {
    Ok(value)
}

fn main() {
    use eventsmith::testing::UpcastTest;
    use eventsmith::upcast::json;

    assert_eq!((Plain::NAME, Plain::VERSION), ("Plain", 1));
    assert_eq!((ItemAdded::NAME, ItemAdded::VERSION), ("shop.item-added", 5));
    assert_eq!(ItemAdded::PREVIOUS_NAMES, ["shop.item-put", "ItemPut"]);
    assert_eq!((Status::NAME, Status::VERSION), ("status", 2));
    let expected = ItemAdded { sku: 7, quantity: 1 };
    UpcastTest::<ItemAdded>::stored("ItemPut", 1, json!({"id": 7})).decodes_to(&expected);
    UpcastTest::<ItemAdded>::stored("shop.item-added", 3, json!({"sku": 7}))
        .decodes_to(&expected);
    UpcastTest::<ItemAdded>::stored("shop.item-added", 5, json!({"sku": 7, "quantity": 1}))
        .decodes_to(&expected);
}
