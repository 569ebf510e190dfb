use eventsmith::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 2)]
#[upcast(from = 1, json = v1_to_v2)]
struct Opened;

fn v1_to_v2(v: String) -> String {
    v
}

fn main() {}
