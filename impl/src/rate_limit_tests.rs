//! Unit tests of the token endpoint's limits on failed client authentication.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

const WINDOW: Duration = Duration::from_secs(60);

fn home() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
}

fn elsewhere() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
}

/// One failed attempt, refused or counted: what a guesser's request does.
fn guess(limiter: &AuthFailureLimiter, client_id: &str, address: IpAddr, now: Instant) -> Result<(), Limited> {
    limiter.check(client_id, Some(address), now)?;
    limiter.record_failure(client_id, Some(address), now);
    Ok(())
}

#[test]
fn a_pair_is_refused_after_its_failures_until_its_throttle_ends() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let start = Instant::now();
    for attempt in 0..MAX_FAILURES_PER_CLIENT {
        let now = start + Duration::from_secs(u64::from(attempt));
        assert!(guess(&limiter, "victim", home(), now).is_ok(), "attempt {attempt}");
    }
    // The throttle started with the tenth failure, at 9 s.
    let refused = limiter.check("victim", Some(home()), start + Duration::from_secs(20));
    assert_eq!(refused.unwrap_err().retry_after, Duration::from_secs(49));
    assert!(limiter
        .check("victim", Some(home()), start + Duration::from_secs(9) + WINDOW)
        .is_ok());
}

#[test]
fn failures_from_one_address_never_refuse_the_same_client_id_elsewhere() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let now = Instant::now();
    for _ in 0..MAX_FAILURES_PER_CLIENT * 3 {
        let _ = guess(&limiter, "victim", home(), now);
    }
    assert!(limiter.check("victim", Some(home()), now).is_err());
    assert!(limiter.check("victim", Some(elsewhere()), now).is_ok());
}

#[test]
fn one_address_is_limited_across_client_ids() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let now = Instant::now();
    for n in 0..MAX_FAILURES_PER_ADDRESS {
        guess(&limiter, &format!("client-{n}"), home(), now).unwrap();
    }
    let refused = limiter.check("fresh", Some(home()), now).unwrap_err();
    assert_eq!(refused.key, ThrottledKey::Address);
    assert!(limiter.check("fresh", Some(elsewhere()), now).is_ok());
}

#[test]
fn checking_counts_nothing_so_correct_attempts_in_flight_are_never_refused() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let now = Instant::now();
    for _ in 0..1000 {
        assert!(limiter.check("busy", Some(home()), now).is_ok());
    }
    assert_eq!(limiter.tracked(), 0);
}

#[test]
fn a_success_clears_its_pair_but_not_its_address() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let now = Instant::now();
    for _ in 0..MAX_FAILURES_PER_CLIENT - 1 {
        guess(&limiter, "owner", home(), now).unwrap();
    }
    limiter.record_success("owner", Some(home()));
    for _ in 0..MAX_FAILURES_PER_CLIENT - 1 {
        guess(&limiter, "owner", home(), now).unwrap();
    }
    assert!(limiter.check("owner", Some(home()), now).is_ok());
    // 18 failures on the address so far; twelve more from other client_ids reach its limit.
    for n in 0..MAX_FAILURES_PER_ADDRESS - 2 * (MAX_FAILURES_PER_CLIENT - 1) {
        guess(&limiter, &format!("other-{n}"), home(), now).unwrap();
    }
    assert!(limiter.check("owner", Some(home()), now).is_err());
}

#[test]
fn each_throttle_of_a_key_lasts_twice_as_long_as_the_last() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let mut now = Instant::now();
    let mut lengths = Vec::new();
    for _ in 0..MAX_BACKOFF_DOUBLINGS + 2 {
        let mut started = Vec::new();
        for _ in 0..MAX_FAILURES_PER_CLIENT {
            started = limiter.record_failure("victim", Some(home()), now);
        }
        let throttle = started[0];
        assert_eq!(throttle.key, ThrottledKey::ClientAtAddress);
        lengths.push(throttle.lasts.as_secs() / 60);
        now += throttle.lasts;
    }
    assert_eq!(lengths, [1, 2, 4, 8, 16, 32, 64, 64]);
    // After the longest throttle without a failure, the key starts over.
    now += longest_throttle(WINDOW);
    let started = (0..MAX_FAILURES_PER_CLIENT)
        .flat_map(|_| limiter.record_failure("victim", Some(home()), now))
        .next();
    assert_eq!(started.map(|throttle| throttle.lasts), Some(WINDOW));
}

#[test]
fn a_throttle_starts_once_and_only_its_first_refusal_is_marked() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let now = Instant::now();
    let started: Vec<ThrottleStarted> = (0..MAX_FAILURES_PER_CLIENT * 2)
        .flat_map(|_| limiter.record_failure("victim", Some(home()), now))
        .collect();
    assert_eq!(started.len(), 1, "failures in flight start nothing more: {started:?}");
    let first = limiter.check("victim", Some(home()), now).unwrap_err();
    let second = limiter.check("victim", Some(home()), now).unwrap_err();
    assert!(first.first_refusal && !second.first_refusal);
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
fn memory_stays_bounded_under_a_flood_of_client_ids_and_addresses() {
    let limiter = AuthFailureLimiter::new(WINDOW);
    let start = Instant::now();
    for n in 0..MAX_TRACKED_KEYS + 1000 {
        let address = IpAddr::V6(Ipv6Addr::from((n as u128) << 64));
        let now = start + Duration::from_millis(n as u64 / 1000);
        limiter.record_failure(&n.to_string(), Some(address), now);
    }
    let tracked = limiter.tracked();
    assert!(tracked <= 2 * MAX_TRACKED_KEYS, "{tracked} keys tracked");
}

#[test]
fn retry_after_is_rounded_up_to_whole_seconds() {
    let limited = |millis| Limited {
        retry_after: Duration::from_millis(millis),
        key: ThrottledKey::Address,
        first_refusal: true,
    };
    assert_eq!(limited(1).retry_after_seconds(), 1);
    assert_eq!(limited(1000).retry_after_seconds(), 1);
    assert_eq!(limited(1001).retry_after_seconds(), 2);
    assert_eq!(limited(0).retry_after_seconds(), 1);
}
