use eventsmith::Event;
use eventsmith::upcast::{UpcastError, Value};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 3)]
#[upcast(from = 1, typed = OpenedV1)]
#[upcast(from = 2, json = v2_to_v3)]
struct Opened;

#[derive(Deserialize)]
struct OpenedV1;

fn v2_to_v3(v: Value) -> Result<Value, UpcastError> {
    Ok(v)
}

fn main() {}
