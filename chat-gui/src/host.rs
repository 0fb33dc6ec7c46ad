//! "Host a room here": a room on this machine, as `chat-cli --host` starts one.

pub use chat_core::server::HostedRoom;
