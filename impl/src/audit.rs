//! The audit trail's background work: token denials folded in memory and written in
//! batches, and retention pruning in small batches, both off the request path.
//!
//! Every other event is written by the store in the transaction of the change it
//! records. A denial changes nothing, and a flood of them must cost neither the
//! database nor the writer: each is counted in memory under its fold key (client_id,
//! address, reason, minute: the store's own) and written at most once a second per
//! key, the store adding the count to the event already written for that key.
//! Attempts refused by a throttle on the whole address are counted without their
//! client_id, so an attacker cycling client_ids still makes one key per address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keycred_store::{Millis, Store, TokenDenial};

/// How often denials counted in memory are written.
pub const DENIAL_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The most distinct keys counted between two writes. Past it, further new keys are
/// counted under one key per reason with neither client_id nor address, so memory
/// stays bounded under a flood from many addresses and no attempt goes uncounted.
const MAX_PENDING_KEYS: usize = 10_000;

/// The most denial keys one write records.
const DENIALS_PER_WRITE: usize = 500;

/// Token denials counted in memory until the next write.
#[derive(Debug, Default)]
pub struct DenialRecorder {
    /// The denials of each fold key since the last write, each with its count.
    pending: Mutex<HashMap<String, TokenDenial>>,
}

impl DenialRecorder {
    /// Counts one denial.
    pub fn record(&self, denial: TokenDenial) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut key = denial.fold_key();
        let denial = if pending.len() >= MAX_PENDING_KEYS && !pending.contains_key(&key) {
            let anonymous = TokenDenial {
                client_id: None,
                credential: None,
                source_address: None,
                ..denial
            };
            key = anonymous.fold_key();
            anonymous
        } else {
            denial
        };
        pending
            .entry(key)
            .and_modify(|counted| counted.count += denial.count)
            .or_insert(denial);
    }

    /// Takes every denial counted so far.
    fn take(&self) -> Vec<TokenDenial> {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.drain().map(|(_, denial)| denial).collect()
    }

    /// Puts back denials whose write failed, to be tried again with the next ones.
    fn put_back(&self, denials: Vec<TokenDenial>) {
        for denial in denials {
            self.record(denial);
        }
    }

    /// Writes every denial counted so far to `store`, [`DENIALS_PER_WRITE`] keys per
    /// write so that no write holds the others up for long; those that could not be
    /// written are kept for the next time, and the failure logged.
    pub async fn flush<S: Store>(&self, store: &S) {
        let mut denials = self.take();
        while !denials.is_empty() {
            let rest = denials.split_off(denials.len().min(DENIALS_PER_WRITE));
            if let Err(error) = store.record_token_denials(denials.clone()).await {
                tracing::warn!(%error, keys = denials.len() + rest.len(), "token denials could not be recorded yet; retrying");
                self.put_back(denials);
                self.put_back(rest);
                return;
            }
            denials = rest;
        }
    }
}

/// The task writing token denials to the store; [`DenialWriter::finish`] writes the
/// last ones and stops it.
pub struct DenialWriter {
    /// Tells the task to write what is left and stop.
    stop: tokio::sync::oneshot::Sender<()>,
    /// The task.
    task: tokio::task::JoinHandle<()>,
}

impl DenialWriter {
    /// Writes `recorder`'s denials to `store` every [`DENIAL_FLUSH_INTERVAL`] until
    /// [`DenialWriter::finish`].
    pub fn start<S: Store>(store: Arc<S>, recorder: Arc<DenialRecorder>) -> DenialWriter {
        let (stop, mut stopping) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(DENIAL_FLUSH_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => recorder.flush(store.as_ref()).await,
                    _ = &mut stopping => break,
                }
            }
            recorder.flush(store.as_ref()).await;
        });
        DenialWriter { stop, task }
    }

    /// Writes the denials counted since the last write and stops: at shutdown, once
    /// the last request has been answered.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the token denial writer did not finish");
        }
    }
}

/// How many events one pruning write deletes at most: small enough that the writes
/// queued behind it barely notice.
pub const PRUNE_BATCH: usize = 500;

/// How often pruning looks for events past the retention, when it found none.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// The retention of the audit trail: events older than this are pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long events are kept.
    pub keep: Duration,
}

impl Retention {
    /// Events kept for `days` days.
    pub fn days(days: u32) -> Retention {
        Retention {
            keep: Duration::from_secs(u64::from(days) * 24 * 60 * 60),
        }
    }

    /// The time before which events are pruned, at `now`.
    fn cutoff(self, now: Millis) -> Millis {
        now.saturating_sub(i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Prunes events older than `retention` from `store` in the background: batches of
/// [`PRUNE_BATCH`] one after the other while there are any, then a look every
/// `interval`. Never inside a request; a failure is logged and tried again later.
pub fn spawn_pruner<S: Store>(
    store: Arc<S>,
    retention: Retention,
    interval: Duration,
    clock: fn() -> Millis,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let cutoff = retention.cutoff(clock());
            let mut pruned = 0;
            loop {
                match store.prune_audit_events(cutoff, PRUNE_BATCH).await {
                    Ok(deleted) => {
                        pruned += deleted;
                        if deleted < PRUNE_BATCH {
                            break;
                        }
                        // Let the writes waiting behind this batch go first.
                        tokio::task::yield_now().await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "audit events could not be pruned; retrying later");
                        break;
                    }
                }
            }
            if pruned > 0 {
                tracing::info!(pruned, "pruned audit events past the retention");
            }
            tokio::time::sleep(interval).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keycred_store::DenialReason;

    fn denial(address: &str, client_id: &str) -> TokenDenial {
        TokenDenial {
            occurred_at: 60_000,
            client_id: Some(client_id.to_owned()),
            credential: None,
            source_address: Some(address.to_owned()),
            reason: DenialReason::UnknownClient,
            request_id: None,
            client_request_id: None,
            count: 1,
        }
    }

    #[test]
    fn equal_denials_are_counted_under_one_key() {
        let recorder = DenialRecorder::default();
        for _ in 0..5 {
            recorder.record(denial("192.0.2.1", "guess"));
        }
        recorder.record(denial("192.0.2.2", "guess"));
        let mut taken = recorder.take();
        taken.sort_by_key(|denial| denial.count);
        assert_eq!(taken.iter().map(|denial| denial.count).collect::<Vec<_>>(), [1, 5]);
        assert!(recorder.take().is_empty());
    }

    #[test]
    fn past_the_limit_new_keys_fold_into_one_anonymous_key_and_every_attempt_is_counted() {
        let recorder = DenialRecorder::default();
        for index in 0..MAX_PENDING_KEYS + 100 {
            recorder.record(denial("192.0.2.1", &format!("guess-{index}")));
        }
        let taken = recorder.take();
        assert_eq!(taken.len(), MAX_PENDING_KEYS + 1);
        let total: i64 = taken.iter().map(|denial| denial.count).sum();
        assert_eq!(total, i64::try_from(MAX_PENDING_KEYS + 100).unwrap());
        let anonymous = taken.iter().find(|denial| denial.client_id.is_none()).unwrap();
        assert_eq!((anonymous.count, anonymous.source_address.as_deref()), (100, None));
    }

    #[test]
    fn the_retention_cutoff_is_that_many_days_ago() {
        assert_eq!(Retention::days(1).cutoff(100_000_000), 100_000_000 - 86_400_000);
        assert_eq!(Retention::days(400).cutoff(0), -400 * 86_400_000);
    }
}
