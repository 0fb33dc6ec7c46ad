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
//! time-outs, reconnection, per-client rate limit and a client cap, `/list`, `/kick`,
//! `/shutdown` on the console, clean shutdown on `SIGTERM`/`SIGINT`.
//!
//! # Defaults
//!
//! Server: history 50 lines, time-out 10 s, at most 1024 clients, rate limit a burst of 20 lines
//! then 5 per second (over it, the sender gets a `Refused` event and the line is dropped; the
//! others are unaffected). Client: heartbeat every second, server considered gone after 5 s of
//! silence, then login retries at 1, 2, 4, 8, 8 … s.
#![deny(missing_docs)]

pub mod client;
mod fanout;
pub mod protocol;
pub mod reliable;
pub mod server;
pub mod text;
