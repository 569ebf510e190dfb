//! Test support for the SQL read-model crash tests: runs the ledger projection over a store
//! in small batches until killed, printing `READY` once started.
//!
//! `eventsmith-crash-projector sqlite <file>` or
//! `eventsmith-crash-projector postgres <url> <schema>` (the tables created beforehand)

#[path = "ledger_pg.rs"]
mod ledger_pg;
#[path = "ledger_table.rs"]
mod ledger_table;

use std::io::Write as _;

use eventsmith::projection::Progress;
use eventsmith::rusqlite::Connection;
use eventsmith::store::PgOptions;
use eventsmith::{PgStore, ProjectionRunner, SqliteStore};
use tokio::sync::watch;

/// Waits for ever: the runner only stops on an error, which is a failure of the test.
async fn run_until_killed(mut progress: watch::Receiver<Progress>) {
    println!("READY");
    std::io::stdout().flush().expect("flush");
    while progress.changed().await.is_ok() {
        if !progress.borrow().is_running() {
            break;
        }
    }
    panic!("the runner stopped: {:?}", *progress.borrow());
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["sqlite", path] => {
            let store = SqliteStore::open(path).expect("open the store");
            let db = Connection::open(path).expect("open the file");
            ledger_table::create_tables(&db).expect("create the tables");
            drop(db);
            let running = ProjectionRunner::sqlite(store, ledger_table::LedgerTable)
                .expect("open the read model")
                .batch_size(16)
                .start()
                .await
                .expect("start the runner");
            run_until_killed(running.watch()).await;
        }
        ["postgres", url, schema] => {
            let store = PgStore::connect_with(url, PgOptions::default().schema(schema))
                .await
                .expect("connect");
            let projection = ledger_pg::LedgerPg {
                schema: schema.to_owned(),
            };
            let running = ProjectionRunner::postgres(store, projection)
                .await
                .expect("open the read model")
                .batch_size(16)
                .start()
                .await
                .expect("start the runner");
            run_until_killed(running.watch()).await;
        }
        _ => panic!("usage: eventsmith-crash-projector sqlite <file> | postgres <url> <schema>"),
    }
}
