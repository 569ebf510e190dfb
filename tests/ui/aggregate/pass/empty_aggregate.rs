use eventsmith::event::EventSet;
use eventsmith::{Aggregate, aggregate};

#[derive(Default)]
struct Nothing;

#[aggregate]
impl Nothing {}

fn main() {
    assert!(<NothingEvent as EventSet>::NAMES.is_empty());
    assert_eq!(Nothing::stream_id("1"), "Nothing-1");
}
