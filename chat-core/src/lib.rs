//! The seed's UDP group chat, done for real: a protocol with reliable, ordered delivery over UDP,
//! the server (its network loop in a child process, the operator's console in the parent), and
//! the client session shared by `chat-cli` and `chat-gui`.
//!
//! | seed (Python) | here |
//! | --- | --- |
//! | `L name` login, refused when taken | [`protocol::ClientMsg::Login`] → `LoginOk` (with a session token) or `LoginRefused` (reason) |
//! | `C name text` broadcast | [`protocol::Request::Chat`], delivered reliably and in one order to all |
//! | `Q name` + the `EXIT` flag | [`protocol::Request::Quit`] → [`protocol::Event::Goodbye`] |
//! | admin lines via a forked console | [`server::AdminCmd`] over an `mp-ipc` pipe from the console process |
//!
//! Beyond the seed: `/who`, `/msg NAME TEXT`, history for newcomers, timestamps, heartbeats and
//! time-outs, reconnection, rate limits and caps, `/list`, `/kick`, `/shutdown` on the
//! console, clean shutdown on `SIGTERM`/`SIGINT` — and a server that a hostile user on the same
//! network cannot crash, flood, impersonate others on, or use against a third party (see
//! [`server`]: stateless login cookies, session-bound datagrams, path checks on address
//! changes, bounded cost per request). Text from the network is shown through
//! [`text::visible`], never as terminal control; names are checked and made unique by
//! [`names`].
//!
//! # Defaults
//!
//! Server: history 50 lines, time-out 10 s, at most 1024 clients and 16 per IP address; rate
//! limits per user a burst of 20 requests then 5 per second, per address 100 then 25 per
//! second, logins per address 20 then 2 per second (over a limit, the sender gets a `Refused`
//! event, at most once a second, and the request is dropped; the others are unaffected).
//! Client: heartbeat every second, server considered gone after 5 s of silence, then login
//! retries at 1, 2, 4, 8, 8 … s, proving the name with the old session's token.
#![deny(missing_docs)]

pub mod client;
pub mod names;
pub mod protocol;
pub mod reliable;
pub mod server;
pub mod text;
