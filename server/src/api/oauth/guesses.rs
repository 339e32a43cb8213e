//! Failed sign-ins, counted per client address and account name together.
//!
//! Counting per account alone let anyone lock anyone out with a few wrong passwords, and
//! telling "locked" only for accounts that exist told which ones do. Here the guesser's own
//! address is slowed for the account it guesses at: after `limit` failures in a row it waits
//! `delay`, and each further failure doubles the wait (up to 64 × `delay`), while the owner
//! signing in from anywhere else is not held up at all. An unknown account name is counted
//! and answered exactly like a known one. Each replica counts its own attempts, like the
//! per-address rate limit; a success clears the count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The doublings of `delay` a guesser can reach: 64 × 15 min is 16 hours.
const MAX_DOUBLINGS: u32 = 6;
/// Forget counts beyond this many (address, account) pairs whose wait is over.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone)]
pub struct FailedSignIns {
    limit: u32,
    delay: Duration,
    seen: Arc<Mutex<HashMap<(IpAddr, String), Failures>>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    wait_until: Option<Instant>,
}

impl FailedSignIns {
    pub fn new(limit: u32, delay: Duration) -> FailedSignIns {
        FailedSignIns {
            limit: limit.max(1),
            delay,
            seen: Arc::default(),
        }
    }

    /// How long `address` must still wait before it may try `account` again, if at all.
    pub fn wait(&self, address: IpAddr, account: &str, now: Instant) -> Option<Duration> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let until = seen.get(&(address, key(account)))?.wait_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; answers how long the address now waits for this account, if at all.
    pub fn failed(&self, address: IpAddr, account: &str, now: Instant) -> Option<Duration> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > PRUNE_ABOVE {
            seen.retain(|_, f| f.wait_until.is_some_and(|until| until > now));
        }
        let failures = seen.entry((address, key(account))).or_insert(Failures {
            count: 0,
            wait_until: None,
        });
        failures.count += 1;
        let over = failures.count.checked_sub(self.limit)?;
        let wait = self.delay * 2u32.pow(over.min(MAX_DOUBLINGS));
        failures.wait_until = Some(now + wait);
        Some(wait)
    }

    /// A successful sign-in from `address` clears its count for `account`.
    pub fn succeeded(&self, address: IpAddr, account: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(&(address, key(account)));
    }
}

fn key(account: &str) -> String {
    account.trim().to_lowercase()
}

/// The message a person sees while their address waits, the same for every account name.
pub fn waiting_message(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    format!(
        "Too many failed attempts for this account from your address; try again in {minutes} minute(s)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 66));
    const OWNER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));

    #[test]
    fn the_guessers_address_waits_longer_with_each_failure_and_the_owner_not_at_all() {
        let guesses = FailedSignIns::new(3, Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(guesses.failed(ATTACKER, "alice", t), None);
        assert_eq!(guesses.failed(ATTACKER, "Alice", t), None);
        assert_eq!(
            guesses.failed(ATTACKER, "alice", t),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            guesses.failed(ATTACKER, "alice", t),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            guesses.failed(ATTACKER, "alice", t),
            Some(Duration::from_secs(240))
        );
        assert_eq!(
            guesses.wait(ATTACKER, "alice", t),
            Some(Duration::from_secs(240))
        );
        assert_eq!(
            guesses.wait(OWNER, "alice", t),
            None,
            "the owner is not held up"
        );
        assert_eq!(
            guesses.wait(ATTACKER, "bob", t),
            None,
            "only the account guessed at"
        );
        let later = t + Duration::from_secs(241);
        assert_eq!(guesses.wait(ATTACKER, "alice", later), None);
        for _ in 0..20 {
            guesses.failed(ATTACKER, "alice", later);
        }
        assert_eq!(
            guesses.wait(ATTACKER, "alice", later),
            Some(Duration::from_secs(60 * 64)),
            "doubling stops"
        );
        guesses.succeeded(ATTACKER, "alice");
        assert_eq!(guesses.wait(ATTACKER, "alice", later), None);
    }
}
