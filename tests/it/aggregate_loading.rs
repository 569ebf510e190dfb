//! Loading an aggregate reads its stream page by page: every length around the page
//! boundaries loads each event once, in order. Run on every backend.

use eventsmith::{App, Command, Event, EventStore, InMemoryStore, SqliteStore, aggregate};
use serde::{Deserialize, Serialize};

use crate::services;

/// The page size the loads use.
const PAGE: usize = 4;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Ticked {
    /// 1 for the stream's first event, 2 for its second, …
    n: u64,
}

#[derive(Debug, Clone, Command)]
struct Tick {
    #[command(id)]
    id: String,
}

#[derive(Debug, Default)]
struct Ticker {
    ticks: u64,
}

#[aggregate]
impl Ticker {
    #[handle]
    fn tick(&self, _cmd: Tick) -> Ticked {
        Ticked { n: self.ticks + 1 }
    }

    #[apply]
    fn ticked(&mut self, event: &Ticked) {
        // An event applied twice, skipped or out of order fails the load.
        assert_eq!(event.n, self.ticks + 1, "events applied out of order");
        self.ticks = event.n;
    }
}

async fn every_length_around_page_boundaries_loads_whole<S: EventStore>(store: S) {
    let writer = App::new(store.clone()).unwrap();
    let lengths = 0..=(3 * PAGE + 1);
    for length in lengths.clone() {
        for _ in 0..length {
            writer
                .execute(Tick {
                    id: format!("t{length}"),
                })
                .await
                .unwrap();
        }
    }
    let loader = App::builder(store).read_batch(PAGE).build().unwrap();
    for length in lengths {
        let (state, version) = loader.load::<Ticker>(&format!("t{length}")).await.unwrap();
        let length = length as u64;
        assert_eq!(
            (state.ticks, version),
            (length, length),
            "a stream of {length}"
        );
    }
}

#[tokio::test]
async fn in_memory() {
    every_length_around_page_boundaries_loads_whole(InMemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("e.db")).unwrap();
    every_length_around_page_boundaries_loads_whole(store).await;
}

#[tokio::test]
async fn postgres() {
    let Some(store) = services::pg_store("loading").await else {
        return;
    };
    every_length_around_page_boundaries_loads_whole(store.clone()).await;
    store.drop_schema().await.unwrap();
}
