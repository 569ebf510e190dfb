//! Test support for the SQL read-model crash test: runs the `ledger-table` projection over
//! a SQLite store in small batches until killed, printing `READY` once started.
//!
//! `eventsmith-crash-projector <file>`

#[path = "ledger_table.rs"]
mod ledger_table;

use std::io::Write as _;

use eventsmith::rusqlite::Connection;
use eventsmith::{ProjectionRunner, SqliteStore};

#[tokio::main]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: eventsmith-crash-projector <file>");
    let store = SqliteStore::open(&path).expect("open the store");
    let db = Connection::open(&path).expect("open the file");
    ledger_table::create_tables(&db).expect("create the tables");
    drop(db);
    let running = ProjectionRunner::sqlite(store, ledger_table::LedgerTable)
        .expect("open the read model")
        .batch_size(16)
        .start()
        .await
        .expect("start the runner");
    println!("READY");
    std::io::stdout().flush().expect("flush");
    // Runs until killed.
    let mut progress = running.watch();
    while progress.changed().await.is_ok() {}
    panic!("the runner stopped: {:?}", running.progress());
}
