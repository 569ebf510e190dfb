//! [`AnyStore`]: one store type for whichever backend a URL names, for tools (a command-line
//! tool, a dashboard) that learn at run time which store to open.

use tokio::sync::watch;

use super::{
    AppendOutcome, Appended, DeadLetter, InMemoryStore, Page, Snapshot, StoreError, StreamTurn,
};
use crate::model::envelope::{RecordedEvent, Timestamp};
use crate::store::{Append, FilteredRead};

/// The store a URL names: in memory, a SQLite file or PostgreSQL, each behind its feature.
///
/// It implements [`EventStore`](crate::store::EventStore) by handing every call to its backend (a `match`, no dynamic
/// dispatch), so a tool written once against `AnyStore` works on every backend. Match on it
/// to reach the backend's own methods.
///
/// | URL | store |
/// | --- | --- |
/// | `memory:` | a new, empty [`InMemoryStore`] |
/// | `sqlite://PATH` or `sqlite:PATH` | `SqliteStore` in the file at `PATH` (`sqlite:///var/lib/app/events.db` is absolute), created if missing (feature `sqlite`) |
/// | `postgres://…` or `postgresql://…` | `PgStore`, with the URL as tokio-postgres reads it (feature `postgres`) |
///
/// Settings ride in the query string, and a key the store does not know is refused:
/// - SQLite: `readers=N` (`SqliteOptions::readers`) and
///   `durability=full|normal` (`Durability`), as in
///   `sqlite://events.db?durability=normal`;
/// - PostgreSQL: `schema=NAME`, `table_prefix=PREFIX` and `pool_size=N`
///   (`PgOptions`), taken out of the URL before the rest (`sslmode`,
///   `application_name`, …) goes to the driver, as in
///   `postgres://app@db.internal/app?schema=billing&sslmode=require`;
/// - both: `idempotency_retention=7d` (a duration, or `forever`; see [`EventLog`](crate::store::EventLog) on
///   retention).
///
/// Values (and a SQLite path) are percent-decoded: write a `?`, `&` or `%` in them as
/// `%3F`, `%26` or `%25`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use eventsmith::AnyStore;
/// use eventsmith::event::NewEvent;
/// use eventsmith::store::{Append, EventLog, ExpectedVersion};
///
/// let store = AnyStore::open("memory:").await?;
/// let event = NewEvent::new("Pinged", 1, b"{}".to_vec(), Default::default());
/// store.append(Append::new("ping-1", ExpectedVersion::NoStream, vec![event])).await?;
/// assert_eq!(store.stream_version("ping-1").await?, 1);
/// assert_eq!(store.backend(), "memory");
/// # Ok::<_, eventsmith::StoreError>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyStore {
    /// `memory:`.
    Memory(InMemoryStore),
    /// `sqlite://PATH`, `sqlite:PATH`.
    #[cfg(feature = "sqlite")]
    Sqlite(super::SqliteStore),
    /// `postgres://…`, `postgresql://…`.
    #[cfg(feature = "postgres")]
    Postgres(super::PgStore),
}

/// Runs `$body` on the backend of `$store`, bound to `$backend`.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $body:expr) => {
        match $store {
            AnyStore::Memory($backend) => $body,
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($backend) => $body,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($backend) => $body,
        }
    };
}

impl AnyStore {
    /// Opens the store that `url` names (see the table above): creates the SQLite file, or
    /// connects to PostgreSQL, creating or migrating the schema.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a URL that names no store, a scheme whose feature this
    /// build lacks (the message names the scheme and the feature to enable), or a setting
    /// the store does not know or cannot read; otherwise what the backend's open or connect
    /// answers. Messages never repeat the URL, which may hold a password.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(StoreError::Invalid(
                "not a store URL (it has no scheme): use `sqlite://PATH`, `postgres://…` or `memory:`"
                    .to_owned(),
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "memory" => open_memory(rest),
            "sqlite" => open_sqlite(&scheme, rest),
            "postgres" | "postgresql" => open_postgres(&scheme, url).await,
            other => Err(StoreError::Invalid(format!(
                "unknown store URL scheme `{other}`: use `sqlite://PATH`, `postgres://…` or `memory:`"
            ))),
        }
    }

    /// The backend's name: `"memory"`, `"sqlite"` or `"postgres"`.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
        }
    }
}

impl From<InMemoryStore> for AnyStore {
    fn from(store: InMemoryStore) -> Self {
        Self::Memory(store)
    }
}

#[cfg(feature = "sqlite")]
impl From<super::SqliteStore> for AnyStore {
    fn from(store: super::SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

#[cfg(feature = "postgres")]
impl From<super::PgStore> for AnyStore {
    fn from(store: super::PgStore) -> Self {
        Self::Postgres(store)
    }
}

fn open_memory(rest: &str) -> Result<AnyStore, StoreError> {
    if !rest.is_empty() && rest != "//" {
        return Err(StoreError::Invalid(
            "a `memory:` store URL takes nothing after the scheme".to_owned(),
        ));
    }
    Ok(AnyStore::Memory(InMemoryStore::new()))
}

/// Opens `sqlite:` + `rest`.
#[cfg(feature = "sqlite")]
fn open_sqlite(_scheme: &str, rest: &str) -> Result<AnyStore, StoreError> {
    let (path, query) = sqlite_url(rest)?;
    let mut options = super::SqliteOptions::default();
    for (key, value) in query {
        options = match key.as_str() {
            "readers" => options.readers(number(&key, &value)?),
            "durability" => options.durability(match value.to_ascii_lowercase().as_str() {
                "full" => super::Durability::Full,
                "normal" => super::Durability::Normal,
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "the store URL's `durability` is `{value}`: use `full` or `normal`"
                    )));
                }
            }),
            "idempotency_retention" => options.idempotency_retention(retention(&value)?),
            _ => {
                return Err(unknown_setting(
                    "SQLite",
                    &key,
                    "`readers`, `durability`, `idempotency_retention`",
                ));
            }
        };
    }
    super::SqliteStore::open_with(path, options).map(AnyStore::Sqlite)
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(scheme: &str, _rest: &str) -> Result<AnyStore, StoreError> {
    Err(feature_off(scheme, "sqlite"))
}

/// The path and settings of `sqlite:` + `rest` (`//PATH` or `PATH`, then `?key=value&…`).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn sqlite_url(rest: &str) -> Result<(String, Vec<(String, String)>), StoreError> {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = percent_decode(path)?;
    if path.is_empty() {
        return Err(StoreError::Invalid(
            "the `sqlite:` store URL names no file: use `sqlite://PATH`".to_owned(),
        ));
    }
    if path == ":memory:" {
        return Err(StoreError::Invalid(
            "a SQLite store lives in a file (its connections share it): use `memory:` for a store in memory"
                .to_owned(),
        ));
    }
    Ok((path, settings(query)?))
}

/// Connects to the PostgreSQL `url`.
#[cfg(feature = "postgres")]
async fn open_postgres(_scheme: &str, url: &str) -> Result<AnyStore, StoreError> {
    let (url, settings) = postgres_url(url)?;
    let mut options = super::PgOptions::default();
    for (key, value) in settings {
        options = match key.as_str() {
            "schema" => options.schema(value),
            "table_prefix" => options.table_prefix(value),
            "pool_size" => options.pool_size(number(&key, &value)?),
            "idempotency_retention" => options.idempotency_retention(retention(&value)?),
            // `postgres_url` keeps nothing else.
            _ => options,
        };
    }
    super::PgStore::connect_with(&url, options)
        .await
        .map(AnyStore::Postgres)
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(scheme: &str, _url: &str) -> Result<AnyStore, StoreError> {
    Err(feature_off(scheme, "postgres"))
}

/// The store's own settings taken out of a PostgreSQL URL: the URL for the driver, and the
/// settings (percent-decoded).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn postgres_url(url: &str) -> Result<(String, Vec<(String, String)>), StoreError> {
    const OURS: [&str; 4] = [
        "schema",
        "table_prefix",
        "pool_size",
        "idempotency_retention",
    ];
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let key = part.split_once('=').map_or(part, |(key, _)| key);
        if OURS.contains(&key) {
            taken.extend(settings(part)?);
        } else {
            kept.push(part);
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, taken))
}

/// `key=value&…`, percent-decoded; a key given twice is refused.
fn settings(query: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut settings: Vec<(String, String)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(StoreError::Invalid(format!(
                "the store URL's setting `{}` has no value (`key=value`)",
                percent_decode(part).unwrap_or_else(|_| part.to_owned())
            )));
        };
        let key = percent_decode(key)?;
        if settings.iter().any(|(k, _)| *k == key) {
            return Err(StoreError::Invalid(format!(
                "the store URL sets `{key}` twice"
            )));
        }
        settings.push((key, percent_decode(value)?));
    }
    Ok(settings)
}

/// A whole number setting.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
fn number(key: &str, value: &str) -> Result<usize, StoreError> {
    value.parse().map_err(|_| {
        StoreError::Invalid(format!(
            "the store URL's `{key}` is `{value}`, not a whole number"
        ))
    })
}

/// A retention setting: a duration such as `7d` or `12h 30m`, or `forever`.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
fn retention(value: &str) -> Result<Option<std::time::Duration>, StoreError> {
    if value.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    humantime::parse_duration(value).map(Some).map_err(|e| {
        StoreError::Invalid(format!(
            "the store URL's `idempotency_retention` is `{value}` ({e}): give a duration such as `7d`, or `forever`"
        ))
    })
}

#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn unknown_setting(store: &str, key: &str, known: &str) -> StoreError {
    StoreError::Invalid(format!(
        "the store URL sets `{key}`, which a {store} store does not know (it knows {known})"
    ))
}

#[cfg_attr(all(feature = "sqlite", feature = "postgres"), allow(dead_code))]
fn feature_off(scheme: &str, feature: &str) -> StoreError {
    StoreError::Invalid(format!(
        "the store URL scheme `{scheme}` needs the `{feature}` feature of eventsmith, which this build lacks"
    ))
}

/// `text` with each `%XX` replaced by the byte it encodes.
fn percent_decode(text: &str) -> Result<String, StoreError> {
    let bad = || {
        StoreError::Invalid(
            "the store URL has a `%` that is not followed by two hexadecimal digits".to_owned(),
        )
    };
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            decoded.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            decoded.push(byte);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| {
        StoreError::Invalid("the store URL decodes to text that is not UTF-8".to_owned())
    })
}

impl super::EventLog for AnyStore {
    async fn append(&self, append: Append<'_>) -> Result<AppendOutcome, StoreError> {
        on_backend!(self, s => s.append(append).await)
    }

    async fn idempotency_record(
        &self,
        stream: &str,
        key: &str,
    ) -> Result<Option<Appended>, StoreError> {
        on_backend!(self, s => s.idempotency_record(stream, key).await)
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.read_stream(stream, from_version, limit).await)
    }

    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Page, StoreError> {
        on_backend!(self, s => s.read_all(from_position, limit).await)
    }

    async fn read_all_filtered(&self, read: FilteredRead<'_>) -> Result<Page, StoreError> {
        on_backend!(self, s => s.read_all_filtered(read).await)
    }

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        on_backend!(self, s => s.stream_version(stream).await)
    }

    fn head(&self) -> watch::Receiver<u64> {
        on_backend!(self, s => s.head())
    }

    async fn current_head(&self) -> Result<u64, StoreError> {
        on_backend!(self, s => s.current_head().await)
    }

    async fn prune_idempotency(&self, recorded_before: Timestamp) -> Result<u64, StoreError> {
        on_backend!(self, s => s.prune_idempotency(recorded_before).await)
    }

    async fn take_turn(&self, stream: &str) -> Result<StreamTurn, StoreError> {
        on_backend!(self, s => s.take_turn(stream).await)
    }

    fn turn_contended(&self, stream: &str) -> bool {
        on_backend!(self, s => s.turn_contended(stream))
    }
}

impl super::SnapshotStore for AnyStore {
    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        on_backend!(self, s => s.save_snapshot(stream, snapshot).await)
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        on_backend!(self, s => s.load_snapshot(stream).await)
    }
}

impl super::ConsumerStore for AnyStore {
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        on_backend!(self, s => s.save_checkpoint(name, position).await)
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        on_backend!(self, s => s.load_checkpoint(name).await)
    }

    async fn park(&self, name: &str, letter: DeadLetter) -> Result<(), StoreError> {
        on_backend!(self, s => s.park(name, letter).await)
    }

    async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
        on_backend!(self, s => s.dead_letters(name).await)
    }

    async fn release(&self, name: &str, position: u64) -> Result<(), StoreError> {
        on_backend!(self, s => s.release(name, position).await)
    }
}

impl super::SagaStore for AnyStore {
    async fn saga_position(&self, saga: &str) -> Result<u64, StoreError> {
        on_backend!(self, s => s.saga_position(saga).await)
    }

    async fn find_instance(
        &self,
        saga: &str,
        key: &str,
    ) -> Result<Option<super::SagaInstance>, StoreError> {
        on_backend!(self, s => s.find_instance(saga, key).await)
    }

    async fn load_instance(
        &self,
        saga: &str,
        id: &str,
    ) -> Result<Option<super::SagaInstance>, StoreError> {
        on_backend!(self, s => s.load_instance(saga, id).await)
    }

    async fn commit_saga(&self, commit: super::SagaCommit) -> Result<(), StoreError> {
        on_backend!(self, s => s.commit_saga(commit).await)
    }

    async fn pending_commands(
        &self,
        saga: &str,
        limit: usize,
    ) -> Result<Vec<super::PendingCommand>, StoreError> {
        on_backend!(self, s => s.pending_commands(saga, limit).await)
    }

    async fn due_deadlines(
        &self,
        saga: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<super::StoredDeadline>, StoreError> {
        on_backend!(self, s => s.due_deadlines(saga, now, limit).await)
    }

    async fn next_deadline(&self, saga: &str) -> Result<Option<Timestamp>, StoreError> {
        on_backend!(self, s => s.next_deadline(saga).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(result: Result<impl std::fmt::Debug, StoreError>) -> String {
        match result {
            Err(StoreError::Invalid(message)) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%3F%26%25").unwrap(), "a b?&%");
        assert_eq!(percent_decode("plain/path.db").unwrap(), "plain/path.db");
        assert!(invalid(percent_decode("50%")).contains("two hexadecimal digits"));
        assert!(invalid(percent_decode("%zz")).contains("two hexadecimal digits"));
        assert!(invalid(percent_decode("%ff")).contains("UTF-8"));
    }

    #[test]
    fn sqlite_urls() {
        let (path, query) = sqlite_url("///var/lib/app/events.db").unwrap();
        assert_eq!((path.as_str(), query.len()), ("/var/lib/app/events.db", 0));
        assert_eq!(sqlite_url("events.db").unwrap().0, "events.db");
        assert_eq!(sqlite_url("//./data/e%3F.db").unwrap().0, "./data/e?.db");
        let (_, query) = sqlite_url("//e.db?readers=2&durability=normal").unwrap();
        assert_eq!(
            query,
            [
                ("readers".to_owned(), "2".to_owned()),
                ("durability".to_owned(), "normal".to_owned())
            ]
        );
        assert!(invalid(sqlite_url("//")).contains("names no file"));
        assert!(invalid(sqlite_url(":memory:")).contains("use `memory:`"));
        assert!(invalid(sqlite_url("//e.db?readers")).contains("has no value"));
        assert!(invalid(sqlite_url("//e.db?readers=1&readers=2")).contains("twice"));
    }

    #[test]
    fn postgres_urls_lose_the_store_settings_only() {
        let (url, taken) = postgres_url(
            "postgres://u:p@h/db?schema=my%20app&sslmode=disable&table_prefix=t_&pool_size=3",
        )
        .unwrap();
        assert_eq!(url, "postgres://u:p@h/db?sslmode=disable");
        assert_eq!(
            taken,
            [
                ("schema".to_owned(), "my app".to_owned()),
                ("table_prefix".to_owned(), "t_".to_owned()),
                ("pool_size".to_owned(), "3".to_owned())
            ]
        );
        let (url, taken) =
            postgres_url("postgresql://h/db?idempotency_retention=2d&schema=s").unwrap();
        assert_eq!(
            taken[0],
            ("idempotency_retention".to_owned(), "2d".to_owned())
        );
        assert_eq!((url.as_str(), taken.len()), ("postgresql://h/db", 2));
        let (url, taken) = postgres_url("postgres://h/db").unwrap();
        assert_eq!((url.as_str(), taken.len()), ("postgres://h/db", 0));
    }

    #[test]
    fn retention_settings() {
        assert_eq!(
            retention("7d").unwrap(),
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        assert_eq!(retention("Forever").unwrap(), None);
        assert!(invalid(retention("a while")).contains("`a while`"));
    }

    #[tokio::test]
    async fn urls_that_name_no_store_are_invalid() {
        let no_scheme = invalid(AnyStore::open("events.db").await);
        assert!(no_scheme.contains("no scheme"), "{no_scheme}");
        let unknown = invalid(AnyStore::open("mysql://root:secret@h/db").await);
        assert!(unknown.contains("`mysql`"), "{unknown}");
        assert!(!unknown.contains("secret"), "{unknown}");
        assert!(invalid(AnyStore::open("memory:x").await).contains("nothing after"));
        assert_eq!(
            AnyStore::open("memory://").await.unwrap().backend(),
            "memory"
        );
        assert_eq!(AnyStore::open("MEMORY:").await.unwrap().backend(), "memory");
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn a_postgres_url_without_the_feature_names_it() {
        for scheme in ["postgres", "postgresql"] {
            let message = invalid(AnyStore::open(&format!("{scheme}://h/db")).await);
            assert!(message.contains(&format!("scheme `{scheme}`")), "{message}");
            assert!(message.contains("`postgres` feature"), "{message}");
        }
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn a_sqlite_url_without_the_feature_names_it() {
        let message = invalid(AnyStore::open("sqlite://events.db").await);
        assert!(message.contains("scheme `sqlite`"), "{message}");
        assert!(message.contains("`sqlite` feature"), "{message}");
    }
}
