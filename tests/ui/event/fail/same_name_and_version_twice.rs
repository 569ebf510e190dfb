// Two event types of one crate stored under the same name and version.
use eventsmith::Event;
use serde::{Deserialize, Serialize};

mod accounts {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, Event)]
    #[event(name = "Opened")]
    pub struct AccountOpened;
}

mod shops {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, Event)]
    #[event(name = "Opened")]
    pub struct ShopOpened;
}

fn main() {}
