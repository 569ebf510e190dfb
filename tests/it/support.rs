//! Test support kept beside the processes the crash tests kill (`tests/support`), which
//! include the read models too.

#[path = "../support/harness.rs"]
pub(crate) mod harness;
#[path = "../support/ledger_pg.rs"]
pub(crate) mod ledger_pg;
#[path = "../support/ledger_table.rs"]
pub(crate) mod ledger_table;
#[path = "../support/sql_queries.rs"]
pub(crate) mod sql_queries;
