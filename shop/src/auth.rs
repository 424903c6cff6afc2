//! Passwords and session tokens of the demo shop.
//!
//! Passwords are salted, iterated FNV-1a "hashes". NOT a password hash: FNV is fast and not cryptographic. The target is a load-test
//! stand-in whose users are all known (`u1`… with password `secret`); this only gives login
//! a realistic shape (look up the user, hash with its salt, compare) and a little CPU work,
//! using std alone. It is stable across Rust versions, unlike `DefaultHasher`, so a kept
//! `--db` file still logs in after a toolchain update.

use std::hash::{BuildHasher, RandomState};

/// Iterations: enough to be visible in a profile, far below a real KDF.
const ROUNDS: u32 = 1_000;

/// A fresh random salt (from std's per-process random SipHash keys).
pub fn new_salt() -> String {
    format!("{:016x}", random_u64())
}

/// A fresh 128-bit session token (or payment reference), as hex. Random, not guessable in
/// practice, not from `--seed`: a kept `--db` file must not see the same token twice.
pub fn new_token() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// 64 random bits: every `RandomState` hashes with fresh keys.
fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

/// `salt$hash`, the form stored in the users table.
pub fn hash(salt: &str, password: &str) -> String {
    format!("{salt}${:016x}", digest(salt, password))
}

/// Whether `password` matches a stored `salt$hash`. A malformed entry matches nothing.
pub fn verify(stored: &str, password: &str) -> bool {
    match stored.split_once('$') {
        Some((salt, _)) => constant_time_eq(hash(salt, password).as_bytes(), stored.as_bytes()),
        None => false,
    }
}

fn digest(salt: &str, password: &str) -> u64 {
    let mut h = fnv1a(FNV_OFFSET, salt.as_bytes());
    h = fnv1a(h, password.as_bytes());
    for _ in 0..ROUNDS {
        h = fnv1a(h, &h.to_le_bytes());
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Compares without an early exit, as a real login would.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_password() {
        let stored = hash(&new_salt(), "secret");
        assert!(verify(&stored, "secret"));
        assert!(!verify(&stored, "Secret"));
        assert!(!verify(&stored, ""));
        assert!(!verify("no-dollar", "secret"));
    }

    #[test]
    fn salts_differ_and_hashes_are_stable() {
        assert_ne!(new_salt(), new_salt());
        assert_ne!(new_token(), new_token());
        assert_eq!(new_token().len(), 32);
        assert_eq!(hash("00", "secret"), hash("00", "secret"));
        assert_ne!(hash("00", "secret"), hash("01", "secret"));
    }
}
