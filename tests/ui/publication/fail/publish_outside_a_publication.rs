// `#[publish]` belongs inside a `#[publication]` block.
use eventsmith::publish;

struct Contract;

impl Contract {
    #[publish(subject = "orders.placed")]
    fn placed(&self) {}
}

fn main() {}
