//! The revocation listener: a task with a PostgreSQL connection of its own (not one
//! of the pool's) that `LISTEN`s on the revocation channel and passes on what the
//! other instances announce.
//!
//! A notification sent while no connection listens is lost for good, so whenever
//! the listener (re)connects it first tells its subscriber [`Revoked::Everything`]
//! (after `LISTEN` took effect, so nothing falls between the two). A lost connection
//! is made anew after a pause that doubles from [`FIRST_RETRY`] up to
//! [`LAST_RETRY`]; until then the token cache's TTL is the only bound. The task ends
//! when its subscriber drops the feed.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedSender};
use tokio_postgres::{AsyncMessage, Config, NoTls, Notification};

use crate::revocations::{self, RevocationFeed, Revoked};
use crate::sql;

/// The pause before the first attempt to connect again after a loss.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The longest pause between two attempts.
const LAST_RETRY: Duration = Duration::from_secs(5);

/// How long the listener's connection may stay silent before TCP probes it, how
/// often it probes, and how many unanswered probes end it: a server gone without a
/// word (a network partition) is noticed within about a minute, not the hours of
/// the operating system's defaults. A connection whose server ends it (a restart,
/// `pg_terminate_backend`) is noticed at once.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

/// Starts listening on a connection made from `config` (whose application name
/// gets `-revocations` appended, so that operators can tell it from the pool's);
/// the feed hears every revocation whose origin is not `origin`.
pub(super) fn spawn(mut config: Config, origin: Arc<str>) -> RevocationFeed {
    let name = format!("{}-revocations", config.get_application_name().unwrap_or("keycred"));
    config.application_name(&name);
    config
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES);
    let (subscriber, feed) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        tokio::select! {
            () = listen(&config, &origin, &subscriber) => {}
            () = subscriber.closed() => {}
        }
    });
    feed
}

/// Listens, reconnecting whenever the connection is lost, until the subscriber is gone.
async fn listen(config: &Config, origin: &str, subscriber: &UnboundedSender<Revoked>) {
    let mut retry = FIRST_RETRY;
    let mut connected_before = false;
    loop {
        match listen_once(config, origin, subscriber, connected_before).await {
            Lost::SubscriberGone => return,
            Lost::AfterListening(reason) => {
                connected_before = true;
                retry = FIRST_RETRY;
                tracing::warn!(%reason, retry_ms = retry.as_millis(), "the revocation listener lost its connection");
            }
            Lost::BeforeListening(reason) => {
                tracing::warn!(%reason, retry_ms = retry.as_millis(), "the revocation listener cannot connect");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Why [`listen_once`] returned.
enum Lost {
    /// Nobody hears the feed any more: stop.
    SubscriberGone,
    /// The connection could not be made, or `LISTEN` failed.
    BeforeListening(String),
    /// The connection listened, then broke.
    AfterListening(String),
}

/// Connects, listens, flushes the subscriber and passes on notifications until the
/// connection breaks.
async fn listen_once(config: &Config, origin: &str, subscriber: &UnboundedSender<Revoked>, reconnecting: bool) -> Lost {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(connected) => connected,
        Err(error) => return Lost::BeforeListening(error.to_string()),
    };
    // The connection is driven by a task of its own (the client's statements need it
    // polled); it hands notifications over and ends with the connection.
    let (notifications_in, mut notifications) = mpsc::unbounded_channel::<Notification>();
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|context| connection.poll_message(context)).await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if notifications_in.send(notification).is_err() {
                        return "the listener stopped".to_owned();
                    }
                }
                Ok(_) => {}
                Err(error) => return error.to_string(),
            }
        }
        "the server closed the connection".to_owned()
    });
    if let Err(error) = client.batch_execute(sql::LISTEN_FOR_REVOCATIONS.postgres()).await {
        driver.abort();
        return Lost::BeforeListening(error.to_string());
    }
    tracing::info!(reconnected = reconnecting, "listening for revocations");
    if subscriber.send(Revoked::Everything).is_err() {
        return Lost::SubscriberGone;
    }
    while let Some(notification) = notifications.recv().await {
        if notification.channel() != sql::REVOCATION_CHANNEL {
            continue;
        }
        let (revoked, from) = revocations::parse(notification.payload());
        // This store's own announcements: whoever announced them has acted on them.
        if from == origin {
            continue;
        }
        if subscriber.send(revoked).is_err() {
            return Lost::SubscriberGone;
        }
    }
    drop(client);
    let reason = driver
        .await
        .unwrap_or_else(|error| format!("the connection's task failed: {error}"));
    Lost::AfterListening(reason)
}
