//! Limits on failed client authentication at the token endpoint, aimed at whoever is
//! guessing and never at the owner of the client_id being guessed.
//!
//! Failures are counted under two keys: the pair (client_id, source address), and the
//! source address alone, whatever client_ids it names. Never under a client_id alone:
//! client_ids are not secret, so a limit per client_id would let anyone lock a client
//! out by failing on its behalf. A client whose secret is right is thus never refused
//! because of failures made from other addresses.
//!
//! Only failures count, and only once they have happened (after the secret is checked):
//! a correct secret in flight never counts against anyone, so a fleet of workers minting
//! at once is never refused. The price is that attempts already in flight when a key
//! reaches its limit are still checked; with 381-bit random secrets a few extra guesses
//! change nothing, and throttling is about the cost and noise of guessing, not about
//! making guessing feasible.
//!
//! A key that reaches its limit within a counting window is throttled (every attempt
//! refused with a 429, before anything is checked) for a while that doubles each time
//! it is throttled again: one window, then two, four, … up to [`MAX_BACKOFF_DOUBLINGS`]
//! doublings. A key that has been quiet (no failure, no throttle) for as long as the
//! longest throttle starts over. A success clears its own (client_id, address) pair's
//! failures, never its address's: otherwise one valid credential would wipe an
//! address's guesses clean.
//!
//! Memory is bounded: each table keeps at most [`MAX_TRACKED_KEYS`] keys; a full table
//! first forgets keys with nothing left to remember and then the ones that failed
//! longest ago. Pairs are kept as 64-bit keyed hashes (a client_id can be 64 KiB long),
//! with keys random per process so that collisions cannot be aimed. IPv6 addresses
//! count per /64, the block one subscriber usually holds.

use std::collections::hash_map::{HashMap, RandomState};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failed authentications one (client_id, address) pair may have in a window.
pub const MAX_FAILURES_PER_CLIENT: u32 = 10;

/// How many failed authentications one source address (an IPv4 address or an IPv6 /64)
/// may have in a window, whatever client_ids they name. Higher than the per-pair limit
/// because several clients may share an address (NAT), and lower than three pairs'
/// worth so that one address cannot try many client_ids at full rate each.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 30;

/// How long a window of counted failures lasts, from its first failure; also how long
/// a key's first throttle lasts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// How many times a throttle's length doubles, at most: with the default window the
/// longest throttle is 64 minutes.
pub const MAX_BACKOFF_DOUBLINGS: u32 = 6;

/// The most keys each table (pairs, addresses) tracks: a few MiB each.
pub const MAX_TRACKED_KEYS: usize = 50_000;

/// Which of the two keys a throttle is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottledKey {
    /// The (client_id, source address) pair.
    ClientAtAddress,
    /// The source address, whatever client_ids it names.
    Address,
}

impl ThrottledKey {
    /// The key's name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottledKey::ClientAtAddress => "client_id_and_address",
            ThrottledKey::Address => "address",
        }
    }
}

/// Refused: a key is throttled; the client may try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// How long until every throttle that refused the attempt has ended.
    pub retry_after: Duration,
    /// The key whose throttle ends last.
    pub key: ThrottledKey,
    /// Whether this is the first attempt this throttle refused: only that one is worth
    /// a warning in the log, so that a flood cannot grow the log faster than the
    /// throttle lets attempts through.
    pub first_refusal: bool,
}

impl Limited {
    /// [`Limited::retry_after`] in whole seconds, rounded up, at least 1: what `Retry-After` says.
    pub fn retry_after_seconds(self) -> u64 {
        let seconds = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        seconds.max(1)
    }
}

/// A throttle a failure just started: worth one line in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleStarted {
    /// The key now throttled.
    pub key: ThrottledKey,
    /// How long the throttle lasts.
    pub lasts: Duration,
}

/// Counts failed client authentications and says when to refuse attempts.
pub struct AuthFailureLimiter {
    window: Duration,
    hasher: RandomState,
    tables: Mutex<Tables>,
}

struct Tables {
    pairs: Table<u64>,
    addresses: Table<u128>,
}

impl Default for AuthFailureLimiter {
    fn default() -> Self {
        AuthFailureLimiter::new(FAILURE_WINDOW)
    }
}

impl AuthFailureLimiter {
    /// A limiter counting failures in windows of `window`, whose first throttles last as long.
    pub fn new(window: Duration) -> Self {
        AuthFailureLimiter {
            window,
            hasher: RandomState::new(),
            tables: Mutex::new(Tables {
                pairs: Table::new(MAX_FAILURES_PER_CLIENT),
                addresses: Table::new(MAX_FAILURES_PER_ADDRESS),
            }),
        }
    }

    /// How long a counting window (and a first throttle) lasts.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Refuses an attempt by `client_id` from `address` if the pair or the address is
    /// throttled. Counts nothing: only a failure, once it has happened, counts.
    pub fn check(&self, client_id: &str, address: Option<IpAddr>, now: Instant) -> Result<(), Limited> {
        let pair = self.pair_key(client_id, address);
        let mut tables = self.lock();
        let refusals = [
            tables
                .pairs
                .refuse(&pair, now)
                .map(|r| (r, ThrottledKey::ClientAtAddress)),
            address
                .map(address_key)
                .and_then(|key| tables.addresses.refuse(&key, now))
                .map(|r| (r, ThrottledKey::Address)),
        ];
        let latest = refusals.into_iter().flatten().max_by_key(|((wait, _), _)| *wait);
        match latest {
            Some(((retry_after, first_refusal), key)) => Err(Limited {
                retry_after,
                key,
                first_refusal,
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed authentication by `client_id` from `address`, and returns the
    /// throttles it started (none, one or both keys).
    pub fn record_failure(&self, client_id: &str, address: Option<IpAddr>, now: Instant) -> Vec<ThrottleStarted> {
        let pair = self.pair_key(client_id, address);
        let mut tables = self.lock();
        let mut started = Vec::new();
        if let Some(lasts) = tables.pairs.fail(pair, now, self.window) {
            started.push(ThrottleStarted {
                key: ThrottledKey::ClientAtAddress,
                lasts,
            });
        }
        if let Some(lasts) = address.and_then(|address| tables.addresses.fail(address_key(address), now, self.window)) {
            started.push(ThrottleStarted {
                key: ThrottledKey::Address,
                lasts,
            });
        }
        started
    }

    /// Clears the failures of `client_id` from `address` after it authenticated: its
    /// owner, there, proved who it is. The address's own count stays as it is.
    pub fn record_success(&self, client_id: &str, address: Option<IpAddr>) {
        let pair = self.pair_key(client_id, address);
        self.lock().pairs.windows.remove(&pair);
    }

    /// How many keys are tracked, pairs and addresses together (for tests).
    pub fn tracked(&self) -> usize {
        let tables = self.lock();
        tables.pairs.windows.len() + tables.addresses.windows.len()
    }

    fn pair_key(&self, client_id: &str, address: Option<IpAddr>) -> u64 {
        self.hasher.hash_one((client_id, address.map(address_key)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The key an address is counted under: IPv4 addresses (also when mapped into IPv6)
/// one by one, IPv6 addresses by their /64. An IPv6 key has its low 64 bits clear and
/// an IPv4 key never does, so the two cannot meet.
fn address_key(address: IpAddr) -> u128 {
    match address.to_canonical() {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 1) | 1,
        IpAddr::V6(v6) => u128::from(v6) & !u128::from(u64::MAX),
    }
}

/// What is remembered of one key.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the current counting window started.
    started: Instant,
    /// Failures counted in it.
    failures: u32,
    /// The end of the key's current (or last) throttle, if it was ever throttled.
    throttled_until: Option<Instant>,
    /// How many times the key has been throttled since it last started over.
    throttles: u32,
    /// Whether an attempt was refused in the current throttle yet.
    refused: bool,
    /// The last failure, from which the key starts over once the longest throttle has passed.
    last_failure: Instant,
}

impl Window {
    /// Since when nothing happened to the key: its last failure or the end of its last
    /// throttle, whichever is later. The key starts over once the longest throttle has
    /// passed since then.
    fn quiet_since(&self) -> Instant {
        self.throttled_until
            .map_or(self.last_failure, |until| until.max(self.last_failure))
    }
}

/// The windows of one kind of key.
struct Table<K> {
    limit: u32,
    windows: HashMap<K, Window>,
}

impl<K: Hash + Eq + Copy> Table<K> {
    fn new(limit: u32) -> Self {
        Table {
            limit,
            windows: HashMap::new(),
        }
    }

    /// If `key` is throttled: how long until it is not, and whether this is the first
    /// refusal of this throttle.
    fn refuse(&mut self, key: &K, now: Instant) -> Option<(Duration, bool)> {
        let window = self.windows.get_mut(key)?;
        let until = window.throttled_until.filter(|until| now < *until)?;
        let first = !window.refused;
        window.refused = true;
        Some((until - now, first))
    }

    /// Counts one failure of `key`; returns how long the throttle lasts if this failure
    /// started one. Failures while a throttle lasts (attempts already in flight) add nothing.
    fn fail(&mut self, key: K, now: Instant, length: Duration) -> Option<Duration> {
        if !self.windows.contains_key(&key) && self.windows.len() >= MAX_TRACKED_KEYS {
            self.make_room(now, length);
        }
        let fresh = Window {
            started: now,
            failures: 0,
            throttled_until: None,
            throttles: 0,
            refused: false,
            last_failure: now,
        };
        let window = self.windows.entry(key).or_insert(fresh);
        if now >= window.quiet_since() + longest_throttle(length) {
            *window = fresh;
        }
        window.last_failure = now;
        if window.throttled_until.is_some_and(|until| now < until) {
            return None;
        }
        if now >= window.started + length {
            window.started = now;
            window.failures = 0;
        }
        window.failures = window.failures.saturating_add(1);
        if window.failures < self.limit {
            return None;
        }
        let lasts = length * 2u32.pow(window.throttles.min(MAX_BACKOFF_DOUBLINGS));
        window.throttles = window.throttles.saturating_add(1);
        window.throttled_until = Some(now + lasts);
        window.refused = false;
        window.failures = 0;
        window.started = now;
        Some(lasts)
    }

    /// Forgets every key with nothing left to remember (quiet for as long as the
    /// longest throttle), and if that frees nothing, the sixteenth that
    /// failed longest ago. Scans the whole table, but only when it is full, and then
    /// frees room for many keys at once, so a flood of new keys costs a few steps each.
    fn make_room(&mut self, now: Instant, length: Duration) {
        let forget_after = longest_throttle(length);
        self.windows
            .retain(|_, window| now < window.quiet_since() + forget_after);
        if self.windows.len() >= MAX_TRACKED_KEYS {
            let mut failures: Vec<Instant> = self.windows.values().map(|window| window.last_failure).collect();
            let (_, newest_evicted, _) = failures.select_nth_unstable(MAX_TRACKED_KEYS / 16);
            let newest_evicted = *newest_evicted;
            self.windows.retain(|_, window| window.last_failure > newest_evicted);
        }
    }
}

/// The longest a throttle lasts with windows of `length`.
fn longest_throttle(length: Duration) -> Duration {
    length * 2u32.pow(MAX_BACKOFF_DOUBLINGS)
}

#[cfg(test)]
#[path = "rate_limit_tests.rs"]
mod tests;
