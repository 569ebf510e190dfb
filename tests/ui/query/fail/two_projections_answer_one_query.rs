use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

struct Count;

#[derive(Default)]
struct First(u64);

#[projection]
impl First {
    #[on]
    fn opened(&mut self, _event: &Opened) {
        self.0 += 1;
    }

    #[query]
    fn count(&self, _query: Count) -> u64 {
        self.0
    }
}

#[derive(Default)]
struct Second(u64);

#[projection]
impl Second {
    #[on]
    fn opened(&mut self, _event: &Opened) {
        self.0 += 1;
    }

    #[query]
    fn count(&self, _query: Count) -> u64 {
        self.0
    }
}

fn main() {}
