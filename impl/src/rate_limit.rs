//! Limits on failed client authentication at the token endpoint, per client_id and per
//! source address, so that nobody can guess client secrets at the speed of the network.
//!
//! Each key (a client_id, or a source address) has a fixed window that starts with its
//! first counted attempt and lasts [`FAILURE_WINDOW`]. Every authentication attempt is
//! counted *before* its secret is checked and refunded when it turns out not to be a
//! failure (the right secret, or a fault of the server), so that many attempts sent at
//! once cannot slip past the limit while the first ones are still being checked. Once a
//! key has used up its attempts, every further one is refused with a 429 until the
//! window ends, the right secret too, and whether or not the client_id exists.
//!
//! A success refunds only its own attempt: it never resets anyone's counter, so an
//! attacker holding one valid credential cannot clear its address's failures with it.
//!
//! Memory is bounded: each table keeps at most [`MAX_TRACKED_KEYS`] keys; a full table
//! first forgets windows that have ended and then the oldest one. Client_ids are kept
//! as 64-bit keyed hashes (a client_id can be 64 KiB long), with keys random per process
//! so that collisions cannot be aimed. IPv6 addresses count per /64, the block one
//! subscriber usually holds.

use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failed authentications one client_id may have in a window.
pub const MAX_FAILURES_PER_CLIENT: u32 = 10;

/// How many failed authentications one source address (an IPv4 address or an IPv6 /64)
/// may have in a window, whatever client_ids they name. Higher than the per-client limit
/// because several clients may share an address (NAT), and lower than 10 clients' worth
/// so that one address cannot try 10 client_ids at full rate each.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 30;

/// How long a window of counted failures lasts, from its first failure.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The most keys each table (client_ids, addresses) tracks: at most about 3 MiB each.
pub const MAX_TRACKED_KEYS: usize = 50_000;

tokio::task_local! {
    /// The source address of the request being served, set by the request envelope
    /// for everything the request runs: the generated handlers do not pass it on.
    static PEER: IpAddr;
}

/// Runs `future` (one request) with `peer` as its [`current_peer`].
pub async fn with_peer<F: std::future::Future>(peer: IpAddr, future: F) -> F::Output {
    PEER.scope(peer, future).await
}

/// The source address of the request being served, if the server recorded one.
pub fn current_peer() -> Option<IpAddr> {
    PEER.try_with(|peer| *peer).ok()
}

/// Counts failed client authentications and says when to refuse attempts.
pub struct AuthFailureLimiter {
    window: Duration,
    hasher: RandomState,
    tables: Mutex<Tables>,
}

struct Tables {
    clients: Table<u64>,
    addresses: Table<u128>,
}

/// One counted attempt, to be refunded with [`AuthFailureLimiter::refund`] if it did not fail.
#[must_use = "an attempt that did not fail must be refunded"]
#[derive(Debug)]
pub struct Attempt {
    client: Option<(u64, Instant)>,
    address: Option<(u128, Instant)>,
}

/// Refused: too many failures; the client may try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// How long until every window that refused the attempt has ended.
    pub retry_after: Duration,
}

impl Limited {
    /// [`Limited::retry_after`] in whole seconds, rounded up, at least 1: what `Retry-After` says.
    pub fn retry_after_seconds(self) -> u64 {
        let seconds = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        seconds.max(1)
    }
}

impl Default for AuthFailureLimiter {
    fn default() -> Self {
        AuthFailureLimiter::new(FAILURE_WINDOW)
    }
}

impl AuthFailureLimiter {
    /// A limiter with [`MAX_FAILURES_PER_CLIENT`] and [`MAX_FAILURES_PER_ADDRESS`] per `window`.
    pub fn new(window: Duration) -> Self {
        AuthFailureLimiter {
            window,
            hasher: RandomState::new(),
            tables: Mutex::new(Tables {
                clients: Table::new(MAX_FAILURES_PER_CLIENT),
                addresses: Table::new(MAX_FAILURES_PER_ADDRESS),
            }),
        }
    }

    /// How long a window lasts.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts an attempt by `client_id` from `address` (either may be unknown), or refuses
    /// it if either has used up its attempts. Nothing is counted when it is refused, so
    /// being refused does not push the end of the window further away.
    pub fn begin(&self, client_id: Option<&str>, address: Option<IpAddr>, now: Instant) -> Result<Attempt, Limited> {
        let client = client_id.map(|client_id| self.hasher.hash_one(client_id));
        let address = address.map(address_key);
        let mut tables = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let waits = [
            client.and_then(|key| tables.clients.wait(&key, now, self.window)),
            address.and_then(|key| tables.addresses.wait(&key, now, self.window)),
        ];
        if let Some(retry_after) = waits.into_iter().flatten().max() {
            return Err(Limited { retry_after });
        }
        Ok(Attempt {
            client: client.map(|key| (key, tables.clients.count(key, now, self.window))),
            address: address.map(|key| (key, tables.addresses.count(key, now, self.window))),
        })
    }

    /// Takes back an attempt that turned out not to be a failed authentication. Only
    /// that attempt: every other count stays as it is.
    pub fn refund(&self, attempt: Attempt) {
        let mut tables = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((key, started)) = attempt.client {
            tables.clients.uncount(&key, started);
        }
        if let Some((key, started)) = attempt.address {
            tables.addresses.uncount(&key, started);
        }
    }

    /// How many keys are tracked, client_ids and addresses together (for tests).
    pub fn tracked(&self) -> usize {
        let tables = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tables.clients.windows.len() + tables.addresses.windows.len()
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

/// The windows of one kind of key.
struct Table<K> {
    limit: u32,
    windows: HashMap<K, Window>,
}

/// Attempts counted since `started`.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

impl<K: Hash + Eq + Copy> Table<K> {
    fn new(limit: u32) -> Self {
        Table {
            limit,
            windows: HashMap::new(),
        }
    }

    /// How long `key` must wait before its next attempt, if it has used up its attempts.
    fn wait(&self, key: &K, now: Instant, length: Duration) -> Option<Duration> {
        let window = self.windows.get(key)?;
        let ends = window.started + length;
        (window.attempts >= self.limit && now < ends).then(|| ends - now)
    }

    /// Counts one attempt of `key`, starting a new window if its last one has ended.
    /// Returns when the window the attempt was counted in started.
    fn count(&mut self, key: K, now: Instant, length: Duration) -> Instant {
        if !self.windows.contains_key(&key) && self.windows.len() >= MAX_TRACKED_KEYS {
            self.make_room(now, length);
        }
        let window = match self.windows.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Window {
                started: now,
                attempts: 0,
            }),
        };
        if now >= window.started + length {
            *window = Window {
                started: now,
                attempts: 0,
            };
        }
        window.attempts = window.attempts.saturating_add(1);
        window.started
    }

    /// Takes back one attempt counted in the window that started at `started`; nothing
    /// if that window has since been replaced by a new one.
    fn uncount(&mut self, key: &K, started: Instant) {
        if let Some(window) = self.windows.get_mut(key) {
            if window.started == started {
                window.attempts = window.attempts.saturating_sub(1);
            }
        }
    }

    /// Forgets every window that has ended, and if that frees nothing, the oldest
    /// sixteenth of them. Scans the whole table, but only when it is full, and then
    /// frees room for many keys at once, so a flood of new keys costs a few steps each.
    fn make_room(&mut self, now: Instant, length: Duration) {
        self.windows.retain(|_, window| now < window.started + length);
        if self.windows.len() >= MAX_TRACKED_KEYS {
            let mut starts: Vec<Instant> = self.windows.values().map(|window| window.started).collect();
            let (_, newest_evicted, _) = starts.select_nth_unstable(MAX_TRACKED_KEYS / 16);
            let newest_evicted = *newest_evicted;
            self.windows.retain(|_, window| window.started > newest_evicted);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn fail(limiter: &AuthFailureLimiter, client_id: &str, address: IpAddr, now: Instant) -> Result<(), Limited> {
        // Never refunded: a failed authentication.
        limiter.begin(Some(client_id), Some(address), now).map(drop)
    }

    fn home() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
    }

    #[test]
    fn a_client_id_is_refused_after_its_failures_until_the_window_ends() {
        let limiter = AuthFailureLimiter::new(WINDOW);
        let start = Instant::now();
        for attempt in 0..MAX_FAILURES_PER_CLIENT {
            let now = start + Duration::from_secs(u64::from(attempt));
            assert!(fail(&limiter, "victim", home(), now).is_ok(), "attempt {attempt}");
        }
        let refused = limiter.begin(Some("victim"), Some(home()), start + Duration::from_secs(20));
        assert_eq!(refused.unwrap_err().retry_after, Duration::from_secs(40));
        // Other client_ids from elsewhere are not affected.
        let elsewhere = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        assert!(limiter.begin(Some("other"), Some(elsewhere), start).is_ok());
        // A new window starts once the first one has ended.
        assert!(fail(&limiter, "victim", elsewhere, start + WINDOW).is_ok());
    }

    #[test]
    fn refused_attempts_are_not_counted() {
        let limiter = AuthFailureLimiter::new(WINDOW);
        let start = Instant::now();
        for _ in 0..MAX_FAILURES_PER_CLIENT {
            fail(&limiter, "victim", home(), start).unwrap();
        }
        for _ in 0..100 {
            assert!(fail(&limiter, "victim", home(), start + Duration::from_secs(59)).is_err());
        }
        assert!(fail(&limiter, "victim", home(), start + WINDOW).is_ok());
    }

    #[test]
    fn one_address_is_limited_across_client_ids() {
        let limiter = AuthFailureLimiter::new(WINDOW);
        let now = Instant::now();
        for n in 0..MAX_FAILURES_PER_ADDRESS {
            fail(&limiter, &format!("client-{n}"), home(), now).unwrap();
        }
        assert!(limiter.begin(Some("fresh"), Some(home()), now).is_err());
        assert!(limiter.begin(None, Some(home()), now).is_err());
        assert!(limiter.begin(Some("fresh"), None, now).is_ok());
    }

    #[test]
    fn a_success_refunds_only_its_own_attempt() {
        let limiter = AuthFailureLimiter::new(WINDOW);
        let now = Instant::now();
        for _ in 0..MAX_FAILURES_PER_CLIENT - 1 {
            fail(&limiter, "victim", home(), now).unwrap();
        }
        let success = limiter.begin(Some("victim"), Some(home()), now).unwrap();
        limiter.refund(success);
        // The nine failures still count: one more, then refused.
        fail(&limiter, "victim", home(), now).unwrap();
        assert!(limiter.begin(Some("victim"), Some(home()), now).is_err());
    }

    #[test]
    fn attempts_in_flight_count_before_they_are_checked() {
        let limiter = AuthFailureLimiter::new(WINDOW);
        let now = Instant::now();
        let in_flight: Vec<Attempt> = (0..MAX_FAILURES_PER_CLIENT)
            .map(|_| limiter.begin(Some("victim"), None, now).unwrap())
            .collect();
        assert!(limiter.begin(Some("victim"), None, now).is_err());
        for attempt in in_flight {
            limiter.refund(attempt);
        }
        assert!(limiter.begin(Some("victim"), None, now).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(address_key(mapped), address_key(home()));
        assert_ne!(address_key(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), address_key(home()));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_client_ids() {
        let limiter = AuthFailureLimiter::new(WINDOW);
        let start = Instant::now();
        for n in 0..MAX_TRACKED_KEYS + 1000 {
            let address = IpAddr::V6(Ipv6Addr::from((n as u128) << 64));
            let now = start + Duration::from_millis(n as u64 / 1000);
            let _ = limiter.begin(Some(&n.to_string()), Some(address), now);
        }
        let tracked = limiter.tracked();
        assert!(tracked <= 2 * MAX_TRACKED_KEYS, "{tracked} keys tracked");
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        let limited = |millis| Limited {
            retry_after: Duration::from_millis(millis),
        };
        assert_eq!(limited(1).retry_after_seconds(), 1);
        assert_eq!(limited(1000).retry_after_seconds(), 1);
        assert_eq!(limited(1001).retry_after_seconds(), 2);
        assert_eq!(limited(0).retry_after_seconds(), 1);
    }
}
