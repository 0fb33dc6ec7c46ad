//! The desktop chat client, on the same `chat-core` session as `chat-cli`.
//!
//! [`ChatApp`] is the eframe app: a connect screen ([`connect`]) and a chat screen ([`chat`]),
//! over a session that runs on its own thread ([`session`]) and wakes the UI when something
//! arrives. The app state can be driven without a window (see the `egui_kittest` tests).
#![deny(missing_docs)]

mod app;
pub mod chat;
pub mod connect;
pub mod host;
pub mod session;

pub use app::{AutoJoin, ChatApp};
