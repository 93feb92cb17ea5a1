//! A small, short-lived cache of bearer tokens, so that most requests are
//! authenticated without a database round trip.
//!
//! What it may and may not do, and why that is safe:
//!
//! - It keeps a token's *record* (the secret's hash, its expiry, and who it speaks
//!   for), never a secret. The presented secret is hashed and compared with the
//!   cached hash in constant time on every request, exactly as against the database.
//! - A token whose `expires_at` has passed is never honoured (and is dropped).
//! - Revocations made through *this* instance take effect at once: every handler that
//!   revokes tokens (deleting a credential or a service account, changing a service
//!   account's role, RFC 7009 revocation, …) goes through the handlers' `revoking`
//!   helper, which calls [`TokenCache::revoke`] after the write and before answering.
//! - Revocations made through *other* instances on the same PostgreSQL database take
//!   effect within milliseconds: `revoking` also announces each one through the store
//!   (a PostgreSQL `NOTIFY`), and every instance listens on a connection of its own
//!   and calls [`TokenCache::revoke`] with what it hears. An instance does not hear
//!   its own announcements (it has already acted on them). Whenever the listener
//!   (re)connects it hears [`Revocation::Everything`], since an announcement may
//!   have been missed while it was away, and the cache is emptied.
//! - It forgets every entry at most [`TOKEN_CACHE_TTL`] after reading it from the
//!   database. That remains the bound when an announcement is lost (the listener's
//!   connection down, or an instance gone between its write and its announcement)
//!   and on SQLite, where nothing is announced (one process serves the file; the TTL
//!   bounds what another process, such as the CLI, revokes behind its back).
//! - A database read that began before a revocation, whether made here or heard from
//!   another instance, can never put its (stale) answer into the cache afterwards:
//!   see [`FillTicket`].
//! - It holds at most [`TOKEN_CACHE_CAPACITY`] entries. A full shard first drops what
//!   has gone stale, then the entry it has held longest.
//! - Unknown tokens are never cached, so a token minted a moment ago by another
//!   instance is found in the database on first use.
//!
//! The entries are split over [`SHARDS`] mutex-guarded maps, so concurrent requests
//! rarely wait for one another, and the work done under a lock is a map lookup and a
//! 32-byte comparison (the secret is hashed before the lock is taken).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::auth::{self, Caller};
use keycred_store::{Millis, Revoked, TokenRecord};

/// How long a token's record may be used from memory after it was read from the
/// database. This is the longest a revocation this instance did not hear of (see the
/// module docs) can go unnoticed here. Short, because it is a security bound; long
/// enough that a busy client hits the database about once per token per period.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// The most tokens held at once, over all shards (a few hundred bytes each, so a few
/// megabytes at most). More active tokens than this still work; the least recently
/// read ones are simply looked up in the database more often.
pub const TOKEN_CACHE_CAPACITY: usize = 16 * 1024;

/// How many independently locked parts the cache is split into.
const SHARDS: usize = 16;

/// A token's record as read from the database, and when it was read.
struct Entry {
    /// The record; its secret hash and expiry never change in the database.
    record: TokenRecord,
    /// When the record was read, for [`TOKEN_CACHE_TTL`].
    read_at: Instant,
}

/// What the cache knows about a presented token.
#[derive(Debug, PartialEq, Eq)]
pub enum Cached {
    /// A fresh entry, and the secret matches: the caller, no database needed.
    Valid(Caller),
    /// A fresh entry, and the secret does not match or the token has expired. Both
    /// are final (a token's hash and expiry never change), so no database is needed.
    Invalid,
    /// Nothing usable in memory: ask the database.
    Unknown,
}

/// Taken just before reading a token from the database, and handed back with what
/// was read. If a revocation happened in between, the read may predate it and the
/// record is not cached (it is still used once, for the request that read it, which
/// began before the revocation was answered).
#[derive(Debug, Clone, Copy)]
pub struct FillTicket(u64);

/// Tokens to forget at once, because they, their credential or their service
/// account changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every token minted by this credential (it was deleted, or no longer mints).
    Credential(String),
    /// Every token of this service account (it was deleted, or its role changed).
    ServiceAccount(String),
    /// This one token (its client revoked it, RFC 7009).
    Token(String),
    /// Every token: a revocation may have gone unheard.
    Everything,
}

/// The cache itself; one per [`crate::handlers::KeycredApi`].
pub struct TokenCache {
    /// The entries, by token ID, split by a hash of the ID.
    shards: Box<[Mutex<HashMap<String, Entry>>]>,
    /// Picks the shard of a token ID.
    shard_hasher: RandomState,
    /// The most entries one shard holds.
    shard_capacity: usize,
    /// How long an entry is used after its record was read.
    ttl: Duration,
    /// Bumped by every revocation; a fill whose ticket is older is refused.
    generation: AtomicU64,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(TOKEN_CACHE_CAPACITY, TOKEN_CACHE_TTL)
    }
}

impl TokenCache {
    /// A cache of at most `capacity` entries (at least one per shard), each used for
    /// at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> TokenCache {
        TokenCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_hasher: RandomState::new(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            ttl,
            generation: AtomicU64::new(0),
        }
    }

    /// What the cache knows of token `token_id` presented with `secret` at `now`.
    pub fn lookup(&self, token_id: &str, secret: &str, now: Millis) -> Cached {
        self.lookup_at(token_id, secret, now, Instant::now())
    }

    /// [`TokenCache::lookup`] as if the monotonic clock read `at`.
    fn lookup_at(&self, token_id: &str, secret: &str, now: Millis, at: Instant) -> Cached {
        // Hash outside the lock: it is the only costly step.
        let presented = auth::hash_secret(secret);
        let mut shard = self.shard(token_id);
        let Some(entry) = shard.get(token_id) else {
            return Cached::Unknown;
        };
        if at.saturating_duration_since(entry.read_at) >= self.ttl {
            shard.remove(token_id);
            return Cached::Unknown;
        }
        if now >= entry.record.expires_at {
            shard.remove(token_id);
            return Cached::Invalid;
        }
        match auth::verify_token_hash(&entry.record, &presented, now) {
            Some(caller) => Cached::Valid(caller),
            None => Cached::Invalid,
        }
    }

    /// Take one before reading a token from the database; see [`FillTicket`].
    pub fn ticket(&self) -> FillTicket {
        FillTicket(self.generation.load(Ordering::SeqCst))
    }

    /// Remembers `record`, read from the database after `ticket` was taken, unless a
    /// revocation has happened since or the token has already expired at `now`.
    pub fn fill(&self, ticket: FillTicket, record: TokenRecord, now: Millis) {
        self.fill_at(ticket, record, now, Instant::now());
    }

    /// [`TokenCache::fill`] as if the monotonic clock read `at`.
    fn fill_at(&self, ticket: FillTicket, record: TokenRecord, now: Millis, at: Instant) {
        if now >= record.expires_at {
            return;
        }
        let mut shard = self.shard(&record.id);
        // Checked under the shard's lock: a revocation bumps the generation before it
        // takes the locks, so either this sees the bump, or the revocation, taking
        // this lock later, removes what is inserted here.
        if self.generation.load(Ordering::SeqCst) != ticket.0 {
            return;
        }
        if shard.len() >= self.shard_capacity && !shard.contains_key(&record.id) {
            self.make_room(&mut shard, now, at);
        }
        shard.insert(record.id.clone(), Entry { record, read_at: at });
    }

    /// Frees at least one slot of a full shard: everything stale first, else the
    /// entry read longest ago.
    fn make_room(&self, shard: &mut HashMap<String, Entry>, now: Millis, at: Instant) {
        shard
            .retain(|_, entry| at.saturating_duration_since(entry.read_at) < self.ttl && now < entry.record.expires_at);
        if shard.len() < self.shard_capacity {
            return;
        }
        let oldest = shard
            .iter()
            .min_by_key(|(_, entry)| entry.read_at)
            .map(|(id, _)| id.clone());
        if let Some(oldest) = oldest {
            shard.remove(&oldest);
        }
    }

    /// Forgets every token `revocation` names, and stops fills of reads that began
    /// before it. Call it after the revoking write has committed.
    pub fn revoke(&self, revocation: &Revocation) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Revocation::Token(id) = revocation {
            // One token lives in one known shard: no need to look through the others.
            self.shard(id).remove(id);
            return;
        }
        for shard in self.shards.iter() {
            lock(shard).retain(|_, entry| !revocation.covers(&entry.record));
        }
    }

    /// How many entries the cache holds (including stale ones not yet dropped).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// Whether the cache holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The locked shard that holds (or would hold) `token_id`.
    fn shard(&self, token_id: &str) -> MutexGuard<'_, HashMap<String, Entry>> {
        let index = self.shard_hasher.hash_one(token_id) as usize % self.shards.len();
        lock(&self.shards[index])
    }
}

impl Revocation {
    /// Whether the token of `record` is one of those revoked.
    fn covers(&self, record: &TokenRecord) -> bool {
        match self {
            Revocation::Credential(id) => record.credential_id == *id,
            Revocation::ServiceAccount(id) => record.service_account_id == *id,
            Revocation::Token(id) => record.id == *id,
            Revocation::Everything => true,
        }
    }

    /// The label of the revocation's kind, for the metrics and the log.
    pub fn kind(&self) -> &'static str {
        match self {
            Revocation::Credential(_) => "credential",
            Revocation::ServiceAccount(_) => "service_account",
            Revocation::Token(_) => "token",
            Revocation::Everything => "everything",
        }
    }
}

/// What the store announces to the other instances.
impl From<Revocation> for Revoked {
    fn from(revocation: Revocation) -> Revoked {
        match revocation {
            Revocation::Credential(id) => Revoked::Credential(id),
            Revocation::ServiceAccount(id) => Revoked::ServiceAccount(id),
            Revocation::Token(id) => Revoked::Token(id),
            Revocation::Everything => Revoked::Everything,
        }
    }
}

/// What another instance announced, as this cache forgets it.
impl From<Revoked> for Revocation {
    fn from(revoked: Revoked) -> Revocation {
        match revoked {
            Revoked::Credential(id) => Revocation::Credential(id),
            Revoked::ServiceAccount(id) => Revocation::ServiceAccount(id),
            Revoked::Token(id) => Revocation::Token(id),
            Revoked::Everything => Revocation::Everything,
        }
    }
}

/// Locks a shard. A panic while one was held cannot leave a half-made entry (every
/// change is one map operation), so a poisoned lock is used as it is.
fn lock(shard: &Mutex<HashMap<String, Entry>>) -> MutexGuard<'_, HashMap<String, Entry>> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keycred_store::Role;

    const NOW: Millis = 1_000_000;

    /// A token record valid until `NOW + 60 s`, with secret `secret-<id>`.
    fn record(id: &str, credential_id: &str, service_account_id: &str) -> TokenRecord {
        TokenRecord {
            id: id.to_owned(),
            secret_hash: auth::hash_secret(&format!("secret-{id}")),
            expires_at: NOW + 60_000,
            credential_id: credential_id.to_owned(),
            service_account_id: service_account_id.to_owned(),
            organization_id: "org".to_owned(),
            role: Role::OrgMember,
        }
    }

    fn secret(id: &str) -> String {
        format!("secret-{id}")
    }

    fn cached(cache: &TokenCache, record: TokenRecord) {
        cache.fill(cache.ticket(), record, NOW);
    }

    #[test]
    fn a_cached_token_with_its_secret_is_a_hit_with_its_caller() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));

        let Cached::Valid(caller) = cache.lookup("t1", &secret("t1"), NOW) else {
            panic!("not a hit");
        };
        assert_eq!(caller.credential_id, "c1");
        assert_eq!(caller.service_account_id, "s1");
        assert_eq!(caller.organization_id, "org");
        assert_eq!(caller.role, Role::OrgMember);
    }

    #[test]
    fn a_cached_token_with_the_wrong_secret_is_invalid() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));

        assert_eq!(cache.lookup("t1", "not-the-secret", NOW), Cached::Invalid);
        assert_eq!(cache.lookup("t1", &secret("t2"), NOW), Cached::Invalid);
        assert!(matches!(cache.lookup("t1", &secret("t1"), NOW), Cached::Valid(_)));
    }

    #[test]
    fn a_token_never_cached_is_unknown() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));

        assert_eq!(cache.lookup("t2", &secret("t2"), NOW), Cached::Unknown);
    }

    #[test]
    fn an_expired_token_is_never_honoured_and_never_cached() {
        let cache = TokenCache::default();
        let token = record("t1", "c1", "s1");
        let expires_at = token.expires_at;
        cached(&cache, token);

        assert!(matches!(
            cache.lookup("t1", &secret("t1"), expires_at - 1),
            Cached::Valid(_)
        ));
        assert_eq!(cache.lookup("t1", &secret("t1"), expires_at), Cached::Invalid);
        assert!(cache.is_empty(), "the expired entry is dropped");

        cache.fill(cache.ticket(), record("t2", "c1", "s1"), expires_at);
        assert!(cache.is_empty(), "an expired record is not cached");
    }

    #[test]
    fn an_entry_is_used_only_for_the_ttl() {
        let ttl = Duration::from_secs(5);
        let cache = TokenCache::new(64, ttl);
        let read_at = Instant::now();
        cache.fill_at(cache.ticket(), record("t1", "c1", "s1"), NOW, read_at);

        let just_before = read_at + ttl - Duration::from_millis(1);
        assert!(matches!(
            cache.lookup_at("t1", &secret("t1"), NOW, just_before),
            Cached::Valid(_)
        ));
        assert_eq!(
            cache.lookup_at("t1", &secret("t1"), NOW, read_at + ttl),
            Cached::Unknown
        );
        assert!(cache.is_empty(), "the stale entry is dropped");
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let capacity = 64;
        let cache = TokenCache::new(capacity, TOKEN_CACHE_TTL);
        for index in 0..capacity * 20 {
            cached(&cache, record(&format!("t{index}"), "c1", "s1"));
            assert!(cache.len() <= capacity, "{} entries after {index} fills", cache.len());
        }
        // Every shard is full, and the most recent token is still there.
        assert_eq!(cache.len(), capacity);
        let last = format!("t{}", capacity * 20 - 1);
        assert!(matches!(cache.lookup(&last, &secret(&last), NOW), Cached::Valid(_)));
    }

    #[test]
    fn a_full_shard_evicts_the_entry_read_longest_ago() {
        // Capacity 1 per shard: a second token in the same shard replaces the first.
        let cache = TokenCache::new(SHARDS, TOKEN_CACHE_TTL);
        let start = Instant::now();
        let first = record("t0", "c1", "s1");
        let shard_of = |id: &str| cache.shard_hasher.hash_one(id) as usize % SHARDS;
        let neighbour = (1..)
            .map(|index| format!("t{index}"))
            .find(|id| shard_of(id) == shard_of("t0"))
            .unwrap();
        cache.fill_at(cache.ticket(), first, NOW, start);
        cache.fill_at(
            cache.ticket(),
            record(&neighbour, "c1", "s1"),
            NOW,
            start + Duration::from_millis(1),
        );

        let later = start + Duration::from_millis(2);
        assert_eq!(cache.lookup_at("t0", &secret("t0"), NOW, later), Cached::Unknown);
        assert!(matches!(
            cache.lookup_at(&neighbour, &secret(&neighbour), NOW, later),
            Cached::Valid(_)
        ));
    }

    #[test]
    fn revoking_a_credential_forgets_exactly_its_tokens() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));
        cached(&cache, record("t2", "c1", "s1"));
        cached(&cache, record("t3", "c2", "s1"));

        cache.revoke(&Revocation::Credential("c1".to_owned()));

        assert_eq!(cache.lookup("t1", &secret("t1"), NOW), Cached::Unknown);
        assert_eq!(cache.lookup("t2", &secret("t2"), NOW), Cached::Unknown);
        assert!(matches!(cache.lookup("t3", &secret("t3"), NOW), Cached::Valid(_)));
    }

    #[test]
    fn revoking_a_service_account_forgets_all_its_tokens() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));
        cached(&cache, record("t2", "c2", "s1"));
        cached(&cache, record("t3", "c3", "s2"));

        cache.revoke(&Revocation::ServiceAccount("s1".to_owned()));

        assert_eq!(cache.lookup("t1", &secret("t1"), NOW), Cached::Unknown);
        assert_eq!(cache.lookup("t2", &secret("t2"), NOW), Cached::Unknown);
        assert!(matches!(cache.lookup("t3", &secret("t3"), NOW), Cached::Valid(_)));
    }

    #[test]
    fn revoking_a_token_forgets_only_that_token() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));
        cached(&cache, record("t2", "c1", "s1"));

        cache.revoke(&Revocation::Token("t1".to_owned()));

        assert_eq!(cache.lookup("t1", &secret("t1"), NOW), Cached::Unknown);
        assert!(matches!(cache.lookup("t2", &secret("t2"), NOW), Cached::Valid(_)));
    }

    #[test]
    fn revoking_everything_empties_the_cache_and_stops_reads_already_begun() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));
        cached(&cache, record("t2", "c2", "s2"));
        let ticket = cache.ticket();

        // What a revocation listener does when it (re)connects.
        cache.revoke(&Revoked::Everything.into());
        cache.fill(ticket, record("t3", "c3", "s3"), NOW);

        assert!(cache.is_empty());
    }

    #[test]
    fn a_revocation_heard_from_another_instance_stops_a_read_that_began_before_it() {
        let cache = TokenCache::default();
        cached(&cache, record("t1", "c1", "s1"));
        let ticket = cache.ticket();
        // ... a database read of t2 begins, and meanwhile another instance announces
        // that credential c2 was deleted.
        cache.revoke(&Revoked::Credential("c2".to_owned()).into());
        cache.fill(ticket, record("t2", "c2", "s1"), NOW);

        assert_eq!(cache.lookup("t2", &secret("t2"), NOW), Cached::Unknown);
        assert!(matches!(cache.lookup("t1", &secret("t1"), NOW), Cached::Valid(_)));
    }

    #[test]
    fn a_read_that_began_before_a_revocation_is_not_cached() {
        let cache = TokenCache::default();
        let ticket = cache.ticket();
        // ... the database read happens here, and meanwhile the credential is deleted.
        cache.revoke(&Revocation::Credential("c1".to_owned()));
        cache.fill(ticket, record("t1", "c1", "s1"), NOW);

        assert_eq!(cache.lookup("t1", &secret("t1"), NOW), Cached::Unknown);
        assert!(cache.is_empty());

        // A read that began after it is cached as usual.
        cached(&cache, record("t2", "c2", "s1"));
        assert!(matches!(cache.lookup("t2", &secret("t2"), NOW), Cached::Valid(_)));
    }
}
