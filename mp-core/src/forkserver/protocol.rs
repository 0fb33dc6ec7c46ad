//! The messages between a requester and the fork server.
//!
//! A request is one `SOCK_SEQPACKET` message on the server's control socket: a postcard
//! [`Request`] with descriptors attached, `[reply, requester pidfd (daemons only), arguments…]`.
//! One message per request, so any number of threads and forked processes can send on the same
//! socket at once without a lock: the kernel never interleaves two messages.
//!
//! The server answers on the request's own reply socket: first [`Reply::Started`] (with the
//! child's pidfd attached) or [`Reply::Failed`], then, once it has reaped the child,
//! [`Reply::Exited`]. The reply socket is the requester's per-child status descriptor.

use serde::{Deserialize, Serialize};

/// Largest encoded request, arguments included (a `SOCK_SEQPACKET` message must fit in the
/// socket's send buffer, about 208 KiB by default).
pub(super) const MAX_REQUEST: usize = 160 << 10;

/// What the requester asks the server to start.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Request {
    /// Address of the monomorphized trampoline that decodes the arguments and calls `func`
    /// (a `Call`). Valid in the server: it is a fork of this same program, so every function
    /// sits at the same address.
    pub(super) call: usize,
    /// Address of the user's `fn(A) -> O`.
    pub(super) func: usize,
    pub(super) name: String,
    /// The child's identity numbers (`Process-2:1`).
    pub(super) numbers: Vec<u32>,
    pub(super) parent_name: String,
    pub(super) parent_pid: i32,
    /// A daemon: the requester's pidfd is attached after the reply socket.
    pub(super) daemon: bool,
    /// The postcard-encoded arguments; their descriptors follow the fixed ones.
    pub(super) args: Vec<u8>,
}

/// What the server sends back on a request's reply socket.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Reply {
    /// The child runs; its pidfd is attached.
    Started { pid: i32 },
    /// No child was started: the `errno` of the failure (`fork`, `pidfd_open`, a malformed
    /// request).
    Failed { errno: i32 },
    /// The child was reaped with this raw wait status.
    Exited { status: i32 },
}

/// The trampoline a request names: decodes the arguments with their descriptors, calls the
/// function at `func`, and returns the exit code.
pub(super) type Call = fn(func: usize, args: &[u8], fds: Vec<std::os::fd::OwnedFd>) -> i32;
