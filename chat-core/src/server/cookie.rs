//! Stateless address validation: a login's cookie, as TCP SYN cookies, QUIC Retry tokens and
//! DTLS HelloVerifyRequest do it.
//!
//! A cookie is a keyed SipHash (std's, with a random key) of the client's address, the login
//! attempt's nonce and the current time period of [`PERIOD`]; its lowest bit says which of the
//! two live keys made it. The keys rotate: each period one is replaced with a fresh random key,
//! so a cookie is good for one to two periods and then never again. Making or checking one
//! costs a hash and no memory, so a flood of spoofed logins costs the server nothing but the
//! answers, each smaller than the login it answers.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a key is the current one; a cookie is accepted in its period and the next.
pub const PERIOD: Duration = Duration::from_secs(30);

/// The cookie maker and checker.
#[derive(Debug)]
pub struct Cookies {
    /// Key of the periods with even and odd numbers.
    keys: [RandomState; 2],
    /// The period the newer key belongs to.
    period: u64,
    start: Instant,
}

impl Cookies {
    /// Fresh random keys.
    pub fn new(now: Instant) -> Cookies {
        Cookies { keys: [RandomState::new(), RandomState::new()], period: 0, start: now }
    }

    /// Rotates the keys up to `now`; returns the current period number.
    fn rotate(&mut self, now: Instant) -> u64 {
        let period =
            (now.saturating_duration_since(self.start).as_secs() / PERIOD.as_secs()).max(self.period);
        let passed = period - self.period;
        if passed >= 2 {
            self.keys = [RandomState::new(), RandomState::new()];
        } else if passed == 1 {
            self.keys[(period % 2) as usize] = RandomState::new();
        }
        self.period = period;
        period
    }

    fn mac(&self, period: u64, addr: SocketAddr, nonce: u64) -> u64 {
        let h = self.keys[(period % 2) as usize].hash_one((period, addr, nonce));
        (h & !1) | (period % 2)
    }

    /// The cookie for a login attempt `nonce` from `addr`.
    pub fn make(&mut self, addr: SocketAddr, nonce: u64, now: Instant) -> u64 {
        let period = self.rotate(now);
        self.mac(period, addr, nonce)
    }

    /// Whether `cookie` was made for this address and attempt, in this period or the last.
    pub fn check(&mut self, addr: SocketAddr, nonce: u64, cookie: u64, now: Instant) -> bool {
        let period = self.rotate(now);
        let made_in = if cookie & 1 == period % 2 { period } else { period.wrapping_sub(1) };
        made_in <= period && self.mac(made_in, addr, nonce) == cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_good_for_its_address_and_attempt_for_one_to_two_periods() {
        let t0 = Instant::now();
        let mut c = Cookies::new(t0);
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let k = c.make(a, 7, t0);
        assert!(c.check(a, 7, k, t0));
        assert!(!c.check(b, 7, k, t0), "another port");
        assert!(!c.check(a, 8, k, t0), "another attempt");
        assert!(!c.check(a, 7, k ^ 2, t0), "a changed bit");
        assert!(!c.check(a, 7, k ^ 1, t0), "the other key");
        assert!(c.check(a, 7, k, t0 + PERIOD), "the next period");
        assert!(!c.check(a, 7, k, t0 + PERIOD * 2), "expired");
        assert!(!c.check(a, 7, k, t0 + PERIOD * 3), "and never again");
        let later = c.make(a, 7, t0 + PERIOD * 3);
        assert_ne!(later, k, "the keys rotated");
        assert!(c.check(a, 7, later, t0 + PERIOD * 3));
    }

    #[test]
    fn two_servers_make_different_cookies() {
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let (mut x, mut y) = (Cookies::new(t0), Cookies::new(t0));
        assert_ne!(x.make(a, 1, t0), y.make(a, 1, t0));
    }
}
