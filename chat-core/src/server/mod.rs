//! The chat server: the room's state machine ([`Room`], no I/O), the network loop around it
//! ([`serve`]), a room hosted by a front end ([`HostedRoom`]) and the operator's commands
//! ([`AdminCmd`]).
//!
//! # A hostile network
//!
//! The server is meant for a shared network, so every datagram is treated as an attack until
//! proven otherwise:
//!
//! * **No work for an unverified address.** A login without a valid cookie gets one
//!   [`Retry`](crate::protocol::ServerMsg::Retry), smaller than the (padded) login, and the
//!   server keeps nothing ([`cookie`] explains the cookie). Until the client has acknowledged
//!   its `LoginOk`, a session is sent at most three times the bytes it sent.
//! * **Datagrams are bound to the session:** a client datagram needs the session's token and
//!   its address; from a new address it only earns a path challenge there, and the session
//!   moves when the challenge is echoed (NAT rebinding keeps the session, and nothing can aim
//!   the session's traffic at a victim).
//! * **Every request has a bounded cost:** logins and requests pass rate limits per session
//!   and per source address ([`limits`]); sessions per address are capped; requests per
//!   datagram are capped; a session's queued answers are capped in number and bytes when they
//!   are queued; at most one `Who` answer is in flight per session; invalid texts are refused
//!   when they arrive. Join and leave notices of one name are coalesced when they come faster
//!   than [`PRESENCE_QUIET`].

pub mod cookie;
mod fanout;
mod hosted;
mod io;
pub mod limits;
mod room;

pub use hosted::HostedRoom;
pub use io::serve;
pub use room::{MAX_BEHIND_BYTES, MAX_PRIVATE, MAX_PRIVATE_BYTES, PRESENCE_DELAY, PRESENCE_QUIET, Room};

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Server settings. Serializable, so that a hosted room's process receives them as a
/// fork-server argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Lines of history a joining user receives (default 50).
    pub history: usize,
    /// A client silent this long is removed (default 10 s).
    pub timeout: Duration,
    /// Most users logged in at once (default 1024).
    pub max_clients: usize,
    /// Most users logged in at once from one IP address (default 16).
    pub max_per_ip: usize,
    /// Rate limit per user: requests (lines, private lines, `/who`) in a burst (default 20)…
    pub burst: f64,
    /// …then this many per second (default 5).
    pub rate: f64,
    /// Rate limit per source IP address, all its users together: requests in a burst
    /// (default 100)…
    pub ip_burst: f64,
    /// …then this many per second (default 25).
    pub ip_rate: f64,
    /// Logins per source IP address in a burst (default 20)…
    pub login_burst: f64,
    /// …then this many per second (default 2).
    pub login_rate: f64,
    /// Datagrams from one source socket (address and port) in a burst (default 4000)…
    pub datagram_burst: f64,
    /// …then this many per second (default 2000); more are dropped before they are decoded.
    pub datagram_rate: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            history: 50,
            timeout: Duration::from_secs(10),
            max_clients: 1024,
            max_per_ip: 16,
            burst: 20.0,
            rate: 5.0,
            ip_burst: 100.0,
            ip_rate: 25.0,
            login_burst: 20.0,
            login_rate: 2.0,
            datagram_burst: 4000.0,
            datagram_rate: 2000.0,
        }
    }
}

impl Config {
    /// These settings with every rate limit and the per-address cap lifted: for benchmarks
    /// and tests that run many clients from one address.
    pub fn unlimited(self) -> Config {
        Config {
            max_per_ip: usize::MAX,
            burst: 1e12,
            rate: 1e12,
            ip_burst: 1e12,
            ip_rate: 1e12,
            login_burst: 1e12,
            login_rate: 1e12,
            datagram_burst: 1e12,
            datagram_rate: 1e12,
            ..self
        }
    }
}

/// What the operator's console asks of the network loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminCmd {
    /// Send `[admin] text` to everyone.
    Say(String),
    /// Who is online?
    List,
    /// Remove a user (by name, or by anything with the same skeleton).
    Kick(String),
    /// Tell everyone and stop.
    Shutdown,
    /// The counters so far.
    Stats,
    /// Send (or stop sending) [`AdminReply::Activity`]: joins, leaves, kicks and lines as they
    /// happen, for the operator's log.
    Watch(bool),
}

/// The network loop's answer to an [`AdminCmd`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminReply {
    /// Done; what was done, in words, for the console.
    Done(String),
    /// Names online.
    Users(Vec<String>),
    /// Could not do it.
    Error(String),
    /// The counters.
    Stats(Stats),
    /// What happened since the last of these (unasked, while watching): one line each, in
    /// order, network text not yet made visible.
    Activity(Vec<String>),
}

/// Counters, for the operator and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Datagrams that did not decode (or broke a protocol limit).
    pub malformed: u64,
    /// Well-formed datagrams with an unknown token or from the wrong address.
    pub rejected: u64,
    /// Requests refused by a rate limit (and datagrams dropped, undecoded, over a source's
    /// datagram budget).
    pub rate_limited: u64,
    /// Events delivered (first transmissions).
    pub delivered: u64,
    /// Logins answered with a cookie (from addresses not yet verified).
    pub retries: u64,
    /// Logins refused (name taken or invalid, full, rate-limited, too many from one address).
    pub refused_logins: u64,
    /// Sessions that moved to a new address after a path check.
    pub migrations: u64,
}
