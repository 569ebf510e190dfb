use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

struct Count;
struct Recount;
struct Names;
struct Owners;
struct Total;

#[derive(Default)]
struct Accounts {
    count: u64,
}

#[projection]
impl Accounts {
    #[on]
    fn opened(&mut self, _event: &Opened) {
        self.count += 1;
    }

    #[query]
    fn count(&self, _query: Count) -> u64 {
        self.count
    }

    #[query]
    fn recount(&mut self, _query: Recount) -> u64 {
        self.count
    }

    #[query]
    fn names(&self, _query: &Names) -> Vec<String> {
        Vec::new()
    }

    #[query]
    async fn owners(&self, _query: Owners) -> Vec<String> {
        Vec::new()
    }

    #[query]
    fn total(&self, _query: Total, _extra: u8) -> u64 {
        0
    }

    #[query]
    fn count_again(&self, _query: Count) -> u64 {
        0
    }

    #[on]
    #[query]
    fn both(&mut self, _event: &Opened) {}

    #[query(fast)]
    fn nothing(&self) {}
}

fn main() {}
