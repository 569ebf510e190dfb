use eventsmith::query;

struct Count;

struct Accounts;

impl Accounts {
    #[query]
    fn count(&self, _query: Count) -> u64 {
        0
    }
}

fn main() {}
