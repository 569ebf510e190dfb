use eventsmith::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(nmae = "x", version = "two", name = "a", name = "b", version = 0)]
struct Opened;

fn main() {}
