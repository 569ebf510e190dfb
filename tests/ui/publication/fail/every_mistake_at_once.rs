// Every mistake of one block is reported in one compile.
use eventsmith::{Event, publication};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Placed;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Paid;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Shipped;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Message;

struct Contract;

#[publication(nmae = "fail.orders")]
impl Contract {
    #[publish(subject = "orders..{tenant")]
    fn placed(&self, _event: &Placed) -> Message {
        Message
    }

    #[publish]
    fn paid(&self, _event: &Paid) -> Message {
        Message
    }

    #[publish(subject = "orders.shipped")]
    async fn shipped(&mut self, _event: Shipped) {}

    #[publish(subject = "orders.again", topic = "x")]
    fn placed_again(&self, _event: &Placed) -> Message {
        Message
    }
}

fn main() {}
