//! eventsmith's SQLite store and diesel's SQLite backend in one binary: the store writes an
//! event, diesel reads it from the same file while the store is open, and writes a table of
//! its own in another file. Exits non-zero on any failure.

#[path = "common.rs"]
mod common;

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use common::{Res, TempDir, check};

#[derive(QueryableByName)]
struct Events {
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = Text)]
    stream: String,
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Text)]
    value: String,
}

fn text(conn: &mut SqliteConnection, sql: &str) -> Res<String> {
    Ok(diesel::sql_query(sql).get_result::<One>(conn)?.value)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let dir = TempDir::new("diesel-coexistence")?;
    let events = dir.path().join("events.db");
    let store = common::eventsmith_round_trip(&events).await?;

    let path = events.to_str().ok_or("the temporary path is not UTF-8")?;
    let mut conn = SqliteConnection::establish(path)?;
    let read = diesel::sql_query("SELECT count(*) AS count, max(stream_id) AS stream FROM events")
        .get_result::<Events>(&mut conn)?;
    check(
        (read.count, read.stream.as_str()) == (1, "ping-1"),
        format!("diesel read {} events of {:?}", read.count, read.stream),
    )?;
    let mode = text(
        &mut conn,
        "SELECT journal_mode AS value FROM pragma_journal_mode",
    )?;
    check(mode == "wal", format!("journal mode is {mode}, not wal"))?;
    let version = text(&mut conn, "SELECT sqlite_version() AS value")?;
    check(
        version == common::eventsmith_sqlite_version(),
        format!(
            "diesel runs SQLite {version}, the store {}",
            common::eventsmith_sqlite_version()
        ),
    )?;
    drop(conn);

    let other = dir.path().join("app.db");
    let mut conn = SqliteConnection::establish(other.to_str().ok_or("not UTF-8")?)?;
    diesel::sql_query("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&mut conn)?;
    diesel::sql_query("INSERT INTO notes (body) VALUES (?)")
        .bind::<Text, _>("hello")
        .execute(&mut conn)?;
    let body = text(&mut conn, "SELECT body AS value FROM notes")?;
    check(body == "hello", format!("diesel read back {body:?}"))?;
    drop(conn);
    drop(store);

    common::report("diesel", &version);
    Ok(())
}
