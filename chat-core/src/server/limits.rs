//! Rate limits: token buckets per session and per source IP address.
//!
//! The per-address buckets live in a fixed table indexed by a keyed hash of the address, so
//! that no sequence of datagrams from any number of addresses makes it grow: two addresses
//! that share a slot share its limits (which only makes them stricter).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket { tokens: f64::INFINITY, last: None }
    }
}

impl Bucket {
    /// Takes `cost` tokens if there are that many.
    pub fn take(&mut self, cost: f64, burst: f64, rate: f64, now: Instant) -> bool {
        let elapsed = self.last.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = Some(now);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// Slots in the per-address table.
const SLOTS: usize = 4096;

/// The limits of one address slot.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddrLimits {
    /// Logins.
    pub logins: Bucket,
    /// Requests of every session from the address.
    pub requests: Bucket,
}

/// Per-address buckets in a fixed table; datagram buckets per source socket (address and
/// port) in another.
#[derive(Debug)]
pub struct AddrTable {
    key: RandomState,
    slots: Box<[AddrLimits]>,
    sockets: Box<[Bucket]>,
}

impl Default for AddrTable {
    fn default() -> Self {
        AddrTable {
            key: RandomState::new(),
            slots: vec![AddrLimits::default(); SLOTS].into_boxed_slice(),
            sockets: vec![Bucket::default(); SLOTS].into_boxed_slice(),
        }
    }
}

impl AddrTable {
    /// The slot of `ip`. An IPv6 address counts by its /64 network, as one host usually
    /// holds a whole /64.
    pub fn get(&mut self, ip: IpAddr) -> &mut AddrLimits {
        let key = match ip {
            IpAddr::V4(v4) => u128::from(v4.to_bits()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => u128::from(v4.to_bits()),
                None => (v6.to_bits() >> 64) | (1 << 127),
            },
        };
        let i = (self.key.hash_one(key) % SLOTS as u64) as usize;
        &mut self.slots[i]
    }

    /// The datagram bucket of one source socket: checked before a datagram is decoded, so a
    /// flood from one socket costs a hash per datagram and leaves the others' alone.
    pub fn socket(&mut self, addr: SocketAddr) -> &mut Bucket {
        let i = (self.key.hash_one(addr) % SLOTS as u64) as usize;
        &mut self.sockets[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::default();
        let n = (0..100).filter(|_| b.take(1.0, 10.0, 2.0, t0)).count();
        assert_eq!(n, 10);
        assert!(!b.take(1.0, 10.0, 2.0, t0 + Duration::from_millis(100)));
        assert!(b.take(1.0, 10.0, 2.0, t0 + Duration::from_millis(600)));
        assert!(!b.take(1.0, 10.0, 2.0, t0 + Duration::from_millis(700)));
    }

    #[test]
    fn the_address_table_never_grows_and_keeps_addresses_apart() {
        let t0 = Instant::now();
        let mut t = AddrTable::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        while t.get(a).logins.take(1.0, 5.0, 0.0, t0) {}
        // Almost surely another slot: b still has its burst.
        assert!(t.get(b).logins.take(1.0, 5.0, 0.0, t0));
        let same_net: IpAddr = "2001:db8::1".parse().unwrap();
        let same_net2: IpAddr = "2001:db8::2".parse().unwrap();
        while t.get(same_net).logins.take(1.0, 5.0, 0.0, t0) {}
        assert!(!t.get(same_net2).logins.take(1.0, 5.0, 0.0, t0), "one /64, one slot");
        assert_eq!(t.slots.len(), SLOTS);
    }
}
