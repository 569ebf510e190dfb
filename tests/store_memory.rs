//! The conformance suite on the in-memory store.

use eventsmith::testing::conformance;

use eventsmith::InMemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_passes_the_conformance_suite() {
    conformance::run_all(|| async { InMemoryStore::new() }).await;
}
