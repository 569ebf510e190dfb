// Version 1 must upcast into version 2's type, but converts straight into the current one.
use eventsmith::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 3)]
#[upcast(from = 1, typed = OpenedV1)]
#[upcast(from = 2, typed = OpenedV2)]
struct Opened {
    owner: String,
}

#[derive(Deserialize)]
struct OpenedV1 {}

#[derive(Deserialize)]
struct OpenedV2 {
    name: String,
}

impl From<OpenedV1> for Opened {
    fn from(_: OpenedV1) -> Self {
        Self { owner: String::new() }
    }
}

impl From<OpenedV2> for Opened {
    fn from(old: OpenedV2) -> Self {
        Self { owner: old.name }
    }
}

fn main() {}
