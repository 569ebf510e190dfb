// Every mistake in the upcast attributes is reported in one compile.
use eventsmith::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 3, renamed_from = ["Opened", ""])]
#[upcast(json = a)]
#[upcast(from = 1, json = a, typed = A)]
#[upcast(from = 2, json = a, with = b)]
#[upcast(from = 3, json = a, colour = "red")]
#[upcast(from = 0)]
struct Opened;

fn main() {}
