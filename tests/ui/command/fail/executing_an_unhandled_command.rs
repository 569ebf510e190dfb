use eventsmith::{App, Command, InMemoryStore};

#[derive(Clone, Command)]
struct Forgotten {
    #[command(id)]
    id: String,
}

async fn run(app: App<InMemoryStore>) {
    let _ = app.execute(Forgotten { id: "x".into() }).await;
}

fn main() {
    let _ = run;
}
