//! Keeps the store's head current while anyone watches it: a dedicated connection LISTENs
//! for the notifications that other processes send after their appends, this process's own
//! appends signal directly, and a timer polls as a fallback (notifications are lost while the
//! listening connection is down, and a long transaction elsewhere can hold readers back
//! without any append to announce its end). The store's own notifications, which carry its
//! token, are ignored: its appends were acted on when they committed. Reconnects with
//! backoff; stops when the store is dropped.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};

use super::Inner;
use crate::backoff::Backoff;

/// `refresh` is signalled by this process's own appends and NOTIFYs (and by a new watcher
/// of a head that fell behind): the head is refreshed at once.
pub(crate) fn spawn(
    store: Weak<Inner>,
    config: tokio_postgres::Config,
    poll: Duration,
    refresh: std::sync::Arc<Notify>,
) {
    tokio::spawn(async move {
        let reconnect = Backoff::exponential(Duration::from_millis(50), Duration::from_secs(5));
        let mut failures = 0;
        loop {
            let Some((channel, token)) = store
                .upgrade()
                .map(|s| (s.names.channel.clone(), s.token.clone()))
            else {
                return;
            };
            let woken = std::sync::Arc::new(Notify::new());
            let listening = listen(&config, &channel, token, &woken).await;
            let Ok((client, pump)) = listening else {
                failures += 1;
                tokio::time::sleep(reconnect.delay(failures)).await;
                continue;
            };
            failures = 0;
            loop {
                tokio::select! {
                    () = woken.notified() => {}
                    () = refresh.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
                let Some(inner) = store.upgrade() else {
                    return;
                };
                // A failed refresh is retried on the next wake-up or tick.
                let _ = inner.refresh_watched_head().await;
                if pump.is_finished() {
                    break;
                }
            }
            drop(client);
        }
    });
}

/// A connection that LISTENs on `channel`; notifications without our `token` wake `woken`.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    token: String,
    woken: &std::sync::Arc<Notify>,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let wake = std::sync::Arc::clone(woken);
    let pump = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) if n.payload() != token => wake.notify_one(),
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
