use eventsmith::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Plain {
    a: u8,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "shop.item-added", version = 4)]
struct ItemAdded(u32);

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 2)]
#[event(name = "status")]
enum Status {
    Up,
    Down { reason: String },
}

fn main() {
    assert_eq!((Plain::NAME, Plain::VERSION), ("Plain", 1));
    assert_eq!((ItemAdded::NAME, ItemAdded::VERSION), ("shop.item-added", 4));
    assert_eq!((Status::NAME, Status::VERSION), ("status", 2));
}
