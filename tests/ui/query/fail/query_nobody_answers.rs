use eventsmith::{App, InMemoryStore};

struct Unanswered;

fn main() {
    let app = App::new(InMemoryStore::new()).unwrap();
    let _ = app.query(Unanswered);
}
