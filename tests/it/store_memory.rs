//! The conformance suite on the in-memory store.

use eventsmith::InMemoryStore;
use eventsmith::testing::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_passes_the_conformance_suite() {
    conformance::run_all(|| async { InMemoryStore::new() }).await;
}

#[tokio::test]
async fn in_memory_store_passes_the_saga_checks() {
    conformance::run_sagas(|| async { InMemoryStore::new() }).await;
}
