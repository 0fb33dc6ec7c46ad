//! Waiting on several descriptors at once.

use crate::park::deadline_after;
use crate::sys;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

/// Waits until at least one of `sources` is readable (or at end of stream), for at most
/// `timeout` (`None`: no limit). Returns the indices of the ready ones, empty on timeout.
///
/// Any mix of pipe ends, sockets, signal sets and message queues works, since they all
/// implement `AsFd`. A [`Connection`](crate::Connection) or [`PipeReader`](crate::PipeReader)
/// may already hold a whole message it read ahead: ask its `poll(Duration::ZERO)` first.
///
/// # Errors
///
/// The `poll(2)` error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let (a, _a2) = mp_ipc::Pipe::duplex()?;
/// let (b, b2) = mp_ipc::Pipe::duplex()?;
/// assert!(mp_ipc::wait_readable(&[&a, &b], Some(Duration::ZERO))?.is_empty());
/// b2.send(&1u8)?;
/// assert_eq!(mp_ipc::wait_readable(&[&a, &b], Some(Duration::from_secs(5)))?, [1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait_readable(sources: &[&dyn AsFd], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    let fds: Vec<_> = sources.iter().map(|s| s.as_fd()).collect();
    // A timeout too large for a deadline means no limit.
    let deadline = timeout.and_then(deadline_after);
    let ready = sys::fd::poll_readable(&fds, deadline)?;
    Ok(ready.iter().enumerate().filter(|(_, r)| **r).map(|(i, _)| i).collect())
}
