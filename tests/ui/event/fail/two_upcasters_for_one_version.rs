use eventsmith::Event;
use eventsmith::upcast::{UpcastError, Value};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 2)]
#[upcast(from = 1, json = first)]
#[upcast(from = 1, json = second)]
struct Opened;

fn first(v: Value) -> Result<Value, UpcastError> {
    Ok(v)
}

fn second(v: Value) -> Result<Value, UpcastError> {
    Ok(v)
}

fn main() {}
