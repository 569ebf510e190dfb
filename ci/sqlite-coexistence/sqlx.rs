//! eventsmith's SQLite store and sqlx's SQLite driver in one binary: the store writes an
//! event, sqlx reads it from the same file while the store is open, and writes a table of
//! its own in another file. Exits non-zero on any failure.

#[path = "common.rs"]
mod common;

use sqlx::{Connection, SqliteConnection};

use common::{Res, TempDir, check};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let dir = TempDir::new("sqlx-coexistence")?;
    let events = dir.path().join("events.db");
    let store = common::eventsmith_round_trip(&events).await?;

    let url = format!("sqlite://{}", events.display());
    let mut conn = SqliteConnection::connect(&url).await?;
    let (count, stream): (i64, String) =
        sqlx::query_as("SELECT count(*), max(stream_id) FROM events")
            .fetch_one(&mut conn)
            .await?;
    check(
        (count, stream.as_str()) == (1, "ping-1"),
        format!("sqlx read {count} events of {stream:?}"),
    )?;
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await?;
    check(mode == "wal", format!("journal mode is {mode}, not wal"))?;
    let (version,): (String,) = sqlx::query_as("SELECT sqlite_version()")
        .fetch_one(&mut conn)
        .await?;
    check(
        version == common::eventsmith_sqlite_version(),
        format!(
            "sqlx runs SQLite {version}, the store {}",
            common::eventsmith_sqlite_version()
        ),
    )?;
    conn.close().await?;

    let other = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let mut conn = SqliteConnection::connect(&other).await?;
    sqlx::query("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&mut conn)
        .await?;
    sqlx::query("INSERT INTO notes (body) VALUES (?)")
        .bind("hello")
        .execute(&mut conn)
        .await?;
    let (body,): (String,) = sqlx::query_as("SELECT body FROM notes")
        .fetch_one(&mut conn)
        .await?;
    check(body == "hello", format!("sqlx read back {body:?}"))?;
    conn.close().await?;
    drop(store);

    common::report("sqlx", &version);
    Ok(())
}
