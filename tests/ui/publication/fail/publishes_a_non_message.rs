// What a handler returns is an integration message: a type that derives `Event`.
use eventsmith::{Event, publication};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Placed;

#[derive(Debug, Serialize)]
struct NotAMessage;

struct Contract;

#[publication(name = "fail.non_message")]
impl Contract {
    #[publish(subject = "orders.placed")]
    fn placed(&self, _event: &Placed) -> NotAMessage {
        NotAMessage
    }
}

fn main() {}
