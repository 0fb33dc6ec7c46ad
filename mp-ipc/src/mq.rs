//! Named POSIX message queues (`mq_overview(7)`): bounded queues of byte messages with
//! priorities, that unrelated processes open by name (they appear under `/dev/mqueue`).
//!
//! # Kernel limits
//!
//! For an unprivileged user, Linux allows by default at most **10 messages** per queue
//! (`/proc/sys/fs/mqueue/msg_max`) of at most **8 KiB** each (`msgsize_max`), and 256 queues in
//! all (`queues_max`); asking for more gives `EINVAL` (`InvalidInput`) at creation. All queues of
//! a user together are also bounded by `RLIMIT_MSGQUEUE` (800 KiB by default; `EMFILE`/`ENOMEM`
//! past it). A full queue makes `send` wait; a message larger than the queue's message size is
//! refused with `EMSGSIZE`.

use crate::park::deadline_after;
use crate::sys;
use crate::sys::mq::Mqd;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

/// The attributes of a queue (`mq_getattr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqAttributes {
    /// Most messages the queue holds.
    pub max_messages: usize,
    /// Largest message, in bytes.
    pub message_size: usize,
    /// Messages in the queue now.
    pub current_messages: usize,
}

/// A named POSIX message queue, opened for sending and receiving.
///
/// The creator's handle removes the name when it drops, unless [`persist`](Self::persist) was
/// called; handles from [`open`](Self::open) never remove it.
///
/// # Examples
///
/// ```
/// use mp_ipc::MessageQueue;
/// use std::time::Duration;
/// let name = format!("/mp-doc-mq-{}", std::process::id());
/// let q = MessageQueue::create(&name, 10, 128)?;
/// q.send(b"low", 1)?;
/// q.send(b"high", 9)?;
/// assert_eq!(q.recv()?, (b"high".to_vec(), 9)); // highest priority first
/// assert_eq!(q.recv()?, (b"low".to_vec(), 1));
/// assert!(q.try_recv()?.is_none());
/// assert!(q.recv_timeout(Duration::from_millis(5))?.is_none());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct MessageQueue {
    q: Mqd,
    name: CString,
    message_size: usize,
    unlink_on_drop: bool,
}

fn mq_name(name: &str) -> io::Result<CString> {
    crate::shm::posix_name(name, "message queue")
}

impl MessageQueue {
    /// Creates `name` holding at most `max_messages` messages of at most `message_size` bytes;
    /// fails if it exists. Mode 0600.
    ///
    /// # Errors
    ///
    /// `AlreadyExists`; `InvalidInput` for a bad name or sizes past the kernel limits (see the
    /// module docs); the system's error.
    pub fn create(name: &str, max_messages: usize, message_size: usize) -> io::Result<MessageQueue> {
        let cname = mq_name(name)?;
        let q = sys::mq::open(&cname, Some((true, max_messages as i64, message_size as i64)))?;
        Ok(MessageQueue { q, name: cname, message_size, unlink_on_drop: true })
    }

    /// Opens an existing queue.
    ///
    /// # Errors
    ///
    /// `NotFound`, `InvalidInput` for a bad name, or the system's error.
    pub fn open(name: &str) -> io::Result<MessageQueue> {
        let cname = mq_name(name)?;
        let q = sys::mq::open(&cname, None)?;
        let (_, size, _) = sys::mq::getattr(&q)?;
        Ok(MessageQueue { q, name: cname, message_size: size as usize, unlink_on_drop: false })
    }

    /// Removes `name` (open handles keep working).
    ///
    /// # Errors
    ///
    /// `NotFound` or the system's error.
    pub fn unlink(name: &str) -> io::Result<()> {
        sys::mq::unlink(&mq_name(name)?)
    }

    /// Keeps the name after this handle drops.
    pub fn persist(&mut self) {
        self.unlink_on_drop = false;
    }

    /// The queue's attributes now.
    ///
    /// # Errors
    ///
    /// The `mq_getattr` error.
    pub fn attributes(&self) -> io::Result<MqAttributes> {
        let (max, size, cur) = sys::mq::getattr(&self.q)?;
        Ok(MqAttributes {
            max_messages: max as usize,
            message_size: size as usize,
            current_messages: cur as usize,
        })
    }

    fn send_until(&self, msg: &[u8], priority: u32, deadline: Option<Instant>) -> io::Result<bool> {
        sys::mq::send(&self.q, msg, priority, deadline)
    }

    /// Sends `msg` with `priority` (higher first; at most 32767), waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// `EMSGSIZE` for a message over the queue's size, `EINVAL` for a bad priority.
    pub fn send(&self, msg: &[u8], priority: u32) -> io::Result<()> {
        self.send_until(msg, priority, None).map(drop)
    }

    /// Sends only if there is room now; `false` if the queue is full.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn try_send(&self, msg: &[u8], priority: u32) -> io::Result<bool> {
        self.send_until(msg, priority, Some(Instant::now()))
    }

    /// Sends, waiting at most `timeout` for room; `false` if none came.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_timeout(&self, msg: &[u8], priority: u32, timeout: Duration) -> io::Result<bool> {
        self.send_until(msg, priority, deadline_after(timeout))
    }

    /// Sends, waiting until `deadline` at the latest for room; `false` if none came.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_deadline(&self, msg: &[u8], priority: u32, deadline: Instant) -> io::Result<bool> {
        self.send_until(msg, priority, Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> io::Result<Option<(Vec<u8>, u32)>> {
        let mut buf = vec![0u8; self.message_size.max(1)];
        Ok(sys::mq::receive(&self.q, &mut buf, deadline)?.map(|(n, prio)| {
            buf.truncate(n);
            (buf, prio)
        }))
    }

    /// Receives the oldest message of the highest priority, waiting while the queue is empty.
    ///
    /// # Errors
    ///
    /// The `mq_receive` error.
    pub fn recv(&self) -> io::Result<(Vec<u8>, u32)> {
        match self.recv_until(None)? {
            Some(m) => Ok(m),
            None => Err(io::Error::other("mq_receive returned no message")),
        }
    }

    /// Receives only if a message is there now.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv(&self) -> io::Result<Option<(Vec<u8>, u32)>> {
        self.recv_until(Some(Instant::now()))
    }

    /// Receives, waiting at most `timeout`; `None` if nothing came.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_timeout(&self, timeout: Duration) -> io::Result<Option<(Vec<u8>, u32)>> {
        self.recv_until(deadline_after(timeout))
    }

    /// Receives, waiting until `deadline` at the latest; `None` if nothing came.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_deadline(&self, deadline: Instant) -> io::Result<Option<(Vec<u8>, u32)>> {
        self.recv_until(Some(deadline))
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        if self.unlink_on_drop {
            let _ = sys::mq::unlink(&self.name);
        }
    }
}

impl AsFd for MessageQueue {
    /// On Linux a message queue descriptor is a file descriptor: `poll` reports it readable when
    /// a message is there.
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: on Linux an mqd_t is an open file descriptor, owned by `self.q` for the
        // lifetime of the borrow.
        unsafe { BorrowedFd::borrow_raw(self.q.raw()) }
    }
}

impl AsRawFd for MessageQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.q.raw()
    }
}
