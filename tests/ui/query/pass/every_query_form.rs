use eventsmith::projection::{HandledQuery, QueryError};
use eventsmith::{App, Event, InMemoryStore, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

struct Count;
struct OwnerAt(usize);
struct Touch;
struct Generic<T>(T);

#[derive(Default)]
struct Accounts {
    owners: Vec<String>,
}

#[projection]
impl Accounts {
    #[on]
    fn opened(&mut self, event: &Opened) {
        self.owners.push(event.owner.clone());
    }

    #[query]
    fn count(&self, _query: Count) -> usize {
        self.owners.len()
    }

    #[query]
    fn owner_at(&self, OwnerAt(index): OwnerAt) -> Option<&'static str> {
        self.owners.get(index).map(|_| "someone")
    }

    /// Answers nothing: `()`.
    #[query]
    fn touch(&self, _query: Touch) {}

    #[query]
    fn generic(&self, query: Generic<u8>) -> u8 {
        query.0
    }

    /// Not a query: an ordinary method stays callable.
    fn helper(&self) -> usize {
        self.owners.len()
    }
}

fn answers<Q: HandledQuery<Projection = Accounts>>() {}

async fn ask(app: App<InMemoryStore>) -> Result<usize, QueryError> {
    app.query(Touch).await?;
    app.query(Count).after(Some(3)).await
}

fn main() {
    answers::<Count>();
    answers::<OwnerAt>();
    answers::<Touch>();
    answers::<Generic<u8>>();
    let _ = Accounts::default().helper();
    drop(ask);
}
