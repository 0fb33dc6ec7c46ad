//! The proxies' side of the socket: one pool of connections per process, shared by every proxy
//! of a manager.
//!
//! A call takes an idle connection from the pool (or connects), writes one request frame, reads
//! one reply frame and puts the connection back. Two threads therefore never share a connection
//! mid-call, and neither do two processes: the pool remembers the pid that filled it, and a
//! process that finds another pid there (a forked child using a proxy it inherited) empties it
//! (closing only its own copies of the descriptors) and connects afresh, as Python's proxies do
//! after a fork. A connection that saw any error is dropped, never reused, so a late reply
//! cannot be read as the answer to the next request.

use super::error::ManagerError;
use super::protocol::{self, EncodeError, Failure, Reply, Request};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a proxy waits for the server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReplyWait {
    /// The client's timeout.
    Default,
    /// No limit (a blocking lock acquire: only the server's death ends it early).
    Forever,
    /// This long.
    For(Duration),
}

/// A connection to the server, out of the pool for one call (or for as long as it holds a lock).
#[derive(Debug)]
pub(crate) struct Conn {
    stream: UnixStream,
    /// The read timeout set on the socket now, to skip the system call when it does not change.
    read_timeout: Option<Duration>,
}

impl Conn {
    /// One request, one reply. A refusal ([`Reply::Failed`]) is returned as a reply: the
    /// connection is still in step and may go back to the pool; see [`into_result`].
    pub(crate) fn call(&mut self, req: &Request, wait: Option<Duration>) -> Result<Reply, ManagerError> {
        let frame = protocol::encode_frame(req).map_err(|e| match e {
            EncodeError::Codec(e) => ManagerError::Codec(e),
            EncodeError::TooLarge => ManagerError::TooLarge,
        })?;
        if self.read_timeout != wait {
            self.stream.set_read_timeout(wait).map_err(ManagerError::Io)?;
            self.read_timeout = wait;
        }
        protocol::write_frame(&mut self.stream, &frame).map_err(ManagerError::from_io)?;
        let body = protocol::read_frame(&mut self.stream).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => ManagerError::TooLarge,
            _ => ManagerError::from_io(e),
        })?;
        postcard::from_bytes::<Reply>(&body)
            .map_err(|_| ManagerError::Protocol("a reply that does not decode"))
    }
}

/// A reply, or the error a proxy reports for a refusal of the server.
pub(crate) fn into_result(reply: Reply) -> Result<Reply, ManagerError> {
    let Reply::Failed(f) = reply else { return Ok(reply) };
    Err(match f {
        Failure::IndexOutOfRange { index, len } => {
            ManagerError::IndexOutOfRange { index: index as usize, len: len as usize }
        }
        Failure::TooLarge => ManagerError::TooLarge,
        Failure::NoSuchObject => ManagerError::Protocol("no such object in the manager"),
        Failure::WrongKind => ManagerError::Protocol("the object is of another kind"),
        Failure::NotOwner => ManagerError::Protocol("a lock released by a connection that does not hold it"),
    })
}

/// Idle connections of one process.
#[derive(Debug)]
struct Pool {
    pid: u32,
    idle: Vec<Conn>,
}

/// Where the server listens, how long to wait for it, and this process's idle connections.
#[derive(Debug)]
pub(crate) struct Client {
    path: PathBuf,
    timeout: Duration,
    pool: Mutex<Pool>,
}

impl Client {
    pub(crate) fn new(path: PathBuf, timeout: Duration) -> Client {
        Client { path, timeout, pool: Mutex::new(Pool { pid: std::process::id(), idle: Vec::new() }) }
    }

    /// The pool, emptied first if it was filled by another process (this is a forked child).
    fn pool(&self) -> MutexGuard<'_, Pool> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let me = std::process::id();
        if pool.pid != me {
            pool.idle.clear();
            pool.pid = me;
        }
        pool
    }

    /// An idle connection of this process, or a new one.
    pub(crate) fn checkout(&self) -> Result<Conn, ManagerError> {
        if let Some(conn) = self.pool().idle.pop() {
            return Ok(conn);
        }
        let stream = UnixStream::connect(&self.path).map_err(ManagerError::from_io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(ManagerError::Io)?;
        Ok(Conn { stream, read_timeout: None })
    }

    /// Returns a healthy connection to the pool (dropped if this process forked meanwhile).
    pub(crate) fn checkin(&self, conn: Conn) {
        let mut pool = self.pool();
        pool.idle.push(conn);
    }

    /// The reply timeout for `wait`.
    pub(crate) fn wait(&self, wait: ReplyWait) -> Option<Duration> {
        match wait {
            ReplyWait::Default => Some(self.timeout),
            ReplyWait::Forever => None,
            ReplyWait::For(d) => Some(d.saturating_add(self.timeout).max(Duration::from_millis(1))),
        }
    }

    /// One request on a pooled connection, waiting the default timeout for the reply.
    pub(crate) fn call(&self, req: &Request) -> Result<Reply, ManagerError> {
        let mut conn = self.checkout()?;
        let reply = conn.call(req, self.wait(ReplyWait::Default))?;
        self.checkin(conn);
        into_result(reply)
    }
}
