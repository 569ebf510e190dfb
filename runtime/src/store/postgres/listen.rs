//! Keeps the store's head current while anyone watches it (and notes it as behind while
//! nobody does):
//! - a dedicated connection LISTENs for the notifications that other processes send after
//!   their appends; the store's own, which carry its token, are ignored, as its appends
//!   signal directly when they commit;
//! - a timer polls as a fallback: notifications are lost while the listening connection is
//!   down, and a long transaction elsewhere can hold readers back without any append to
//!   announce its end;
//! - while a watched head stays below the last append known (this process's, or one that
//!   another's notification announced), some transaction elsewhere on the server began
//!   before that append and still runs, and it may end without a word: the head is looked
//!   at again after 1, 2, 4, … ms (at most 100 ms apart) rather than at the next poll.
//!
//! Reconnects with backoff; stops when the store is dropped.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use super::Inner;
use super::tls::Connector;
use crate::store::StoreError;
use crate::util::backoff::Backoff;
use crate::util::retry::Retry;

/// The longest wait between two looks at a watched head short of the last append known.
const CHASE_CAP: Duration = Duration::from_millis(100);

/// `refresh` is signalled by this process's own appends and NOTIFYs (and by a new watcher
/// of a head that fell behind): the head is refreshed at once.
pub(crate) fn spawn(
    store: Weak<Inner>,
    config: tokio_postgres::Config,
    connector: Connector,
    poll: Duration,
    refresh: std::sync::Arc<Notify>,
) {
    tokio::spawn(async move {
        let mut reconnect = Retry::new(Backoff::exponential(
            Duration::from_millis(50),
            Duration::from_secs(5),
        ));
        let chase =
            Backoff::exponential(Duration::from_millis(1), poll.min(CHASE_CAP)).without_jitter();
        loop {
            let Some((channel, token)) = store
                .upgrade()
                .map(|s| (s.names.channel.clone(), s.token.clone()))
            else {
                return;
            };
            let woken = std::sync::Arc::new(Notify::new());
            let notified = Notified::new(&store, token);
            let listening = listen(&config, &connector, &channel, notified, &woken).await;
            let Ok((client, pump)) = listening else {
                reconnect.wait_after_failure().await;
                continue;
            };
            reconnect.succeeded();
            // Refreshes in a row that left a watched head short of the last append known.
            let mut short = 0;
            loop {
                let wait = if short > 0 { chase.delay(short) } else { poll };
                tokio::select! {
                    () = woken.notified() => {}
                    () = refresh.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
                let Some(inner) = store.upgrade() else {
                    return;
                };
                // A failed refresh is retried on the next wake-up or tick.
                let _ = inner.refresh_watched_head().await;
                short = if inner.head_short_of_known_appends() {
                    short + 1
                } else {
                    0
                };
                if pump.is_finished() {
                    break;
                }
            }
            drop(client);
        }
    });
}

/// What the listening connection does with a notification.
struct Notified {
    store: Weak<Inner>,
    /// The store's own token: its own notifications are ignored.
    token: String,
}

impl Notified {
    fn new(store: &Weak<Inner>, token: String) -> Self {
        Self {
            store: Weak::clone(store),
            token,
        }
    }

    /// Whether `payload` (`"<token> <position>"`) is another store's: then the position it
    /// announces is noted for the head to be chased up to.
    fn foreign(&self, payload: &str) -> bool {
        let (token, position) = payload.split_once(' ').unwrap_or((payload, ""));
        if token == self.token {
            return false;
        }
        if let (Ok(position), Some(inner)) = (position.parse(), self.store.upgrade()) {
            inner.note_appended(position);
        }
        true
    }
}

/// A connection that LISTENs on `channel`; notifications of other stores wake `woken`.
async fn listen(
    config: &tokio_postgres::Config,
    connector: &Connector,
    channel: &str,
    notified: Notified,
    woken: &std::sync::Arc<Notify>,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(super::tls::another(connector)).await?;
    let wake = std::sync::Arc::clone(woken);
    let pump = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) if notified.foreign(n.payload()) => {
                    wake.notify_one();
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // The connection is gone: wake the loop so it reconnects.
        wake.notify_one();
    });
    client
        .batch_execute(&format!("LISTEN {}", super::schema::quote_ident(channel)))
        .await?;
    Ok((client, pump))
}

/// Keeping the head: refreshed on a signal while watched, noted as behind while not.
impl Inner {
    /// Raises the head to the last position a reader can see now. The head is no longer
    /// behind, unless the refresh fails (or an append finishes meanwhile).
    pub(crate) async fn refresh_head(&self) -> Result<(), StoreError> {
        // Cleared before the query, so an append that finishes during it marks it again.
        self.head_behind.store(false, Ordering::SeqCst);
        let refreshed = async {
            let client = self.client().await?;
            self.visible_head(&client).await
        };
        match refreshed.await {
            Ok(head) => {
                self.head.raise(head.unsigned_abs());
                Ok(())
            }
            Err(e) => {
                self.head_behind.store(true, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Refreshes the head if anyone watches it; otherwise only notes that it may be behind,
    /// and [`PgStore::head`] has it refreshed for the next watcher. The query would
    /// otherwise follow every append, for nobody.
    pub(crate) async fn refresh_watched_head(&self) -> Result<(), StoreError> {
        // Noted before looking, so a watcher that arrives meanwhile finds it (see `head`).
        self.head_behind.store(true, Ordering::SeqCst);
        if !self.head.watched() {
            return Ok(());
        }
        self.refresh_head().await
    }

    /// This process committed events up to `position`: the head is refreshed now if anyone
    /// watches it (nobody watching, the listener is not even woken), and other processes
    /// are told by a NOTIFY.
    pub(crate) fn after_append(&self, position: u64) {
        self.note_appended(position);
        // Noted before looking, as in `refresh_watched_head`.
        self.head_behind.store(true, Ordering::SeqCst);
        if self.head.watched() {
            self.refresh.notify_one();
        }
        self.announcer.announce();
    }

    /// Events up to `position` were committed (here or in another process).
    pub(crate) fn note_appended(&self, position: u64) {
        self.appended_to.fetch_max(position, Ordering::SeqCst);
    }

    /// The last position known appended, for the NOTIFY that announces it.
    pub(crate) fn appended_to(&self) -> u64 {
        self.appended_to.load(Ordering::SeqCst)
    }

    /// Whether someone watches a head that is below the last append known: every
    /// transaction older than the append must end before readers see it, and one that
    /// appended nothing sends no word when it does.
    pub(crate) fn head_short_of_known_appends(&self) -> bool {
        self.head.watched() && self.head.get() < self.appended_to()
    }
}
