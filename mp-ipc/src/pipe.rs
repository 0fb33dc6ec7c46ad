//! Pipes between processes: Python's `Pipe(duplex=True)` and `Pipe(duplex=False)`.
//!
//! Messages are length-framed ([`postcard`]-encoded for typed messages): a 4-byte little-endian
//! length, then the bytes. Any size up to a maximum works (64 MiB by default, settable per end
//! with `set_max_message_size`); a length prefix over the maximum is an error
//! ([`RecvError::TooLarge`]), never an allocation of the claimed size. Within the maximum, the
//! receiver reserves memory as the message's bytes arrive (doubling, so a large message takes few
//! reallocations), not for the length the prefix claims: a peer that announces 64 MiB and sends
//! a few bytes costs the receiver about 128 KiB of buffer, not 64 MiB.
//!
//! Each end is meant for one process at a time (after a `fork`, close or drop the ends a process
//! does not use, or move them into the child's target). For many producers or consumers, use
//! [`Queue`](crate::Queue).
//!
//! # Examples
//!
//! ```
//! use mp_ipc::Pipe;
//!
//! let (mut parent, mut child) = Pipe::duplex()?;
//! parent.send(&("ping", 1u32))?;
//! let (word, n): (String, u32) = child.recv()?;
//! child.send(&format!("{word}-pong-{n}"))?;
//! assert_eq!(parent.recv::<String>()?, "ping-pong-1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{RecvError, SendError};
use crate::frame::{self, FrameReader};
use crate::park::Wait;
use crate::sys;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Constructors for both kinds of pipe (Python's `Pipe`).
#[derive(Debug)]
pub struct Pipe(());

impl Pipe {
    /// Two connected ends that can each send and receive (Python's `Pipe()`, a `socketpair`).
    ///
    /// # Errors
    ///
    /// The `socketpair(2)` error (for example, too many open files).
    pub fn duplex() -> io::Result<(Connection, Connection)> {
        let (a, b) = sys::fd::socketpair()?;
        Ok((Connection::new(a), Connection::new(b)))
    }

    /// A read end and a write end (Python's `Pipe(duplex=False)`, a `pipe(2)`): writing to the
    /// read end does not compile.
    ///
    /// # Errors
    ///
    /// The `pipe2(2)` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut rx, tx) = mp_ipc::Pipe::simplex()?;
    /// tx.send(&vec![1u8, 2, 3])?;
    /// assert_eq!(rx.recv::<Vec<u8>>()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn simplex() -> io::Result<(PipeReader, PipeWriter)> {
        let (r, w) = sys::fd::pipe()?;
        Ok((PipeReader { fd: r, reader: FrameReader::new() }, PipeWriter { fd: w, max: frame::DEFAULT_MAX }))
    }
}

/// The receive operations, shared by [`Connection`] and [`PipeReader`].
macro_rules! recv_methods {
    () => {
        /// Receives one message and decodes it as `T`, waiting as long as it takes.
        ///
        /// # Errors
        ///
        /// [`RecvError::Disconnected`] when the sender is gone (also in the middle of a
        /// message), [`RecvError::Decode`] when the bytes are not a `T`,
        /// [`RecvError::TooLarge`] on a length prefix over the maximum, or an I/O error.
        pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, RecvError> {
            self.reader.recv(self.fd.as_fd(), Wait::Forever)
        }

        /// Receives a message only if one is there now; [`RecvError::Empty`] otherwise.
        ///
        /// # Errors
        ///
        /// As [`recv`](Self::recv), plus [`RecvError::Empty`].
        pub fn try_recv<T: DeserializeOwned>(&mut self) -> Result<T, RecvError> {
            self.reader.recv(self.fd.as_fd(), Wait::Now)
        }

        /// Receives one message, waiting at most `timeout`.
        ///
        /// # Errors
        ///
        /// As [`recv`](Self::recv), plus [`RecvError::Empty`] when nothing came in time. Part of a message that arrived
        /// before the timeout is kept for the next call.
        pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T, RecvError> {
            self.reader.recv(self.fd.as_fd(), Wait::timeout(timeout))
        }

        /// Receives one message, waiting until `deadline` at the latest.
        ///
        /// # Errors
        ///
        /// As [`recv_timeout`](Self::recv_timeout).
        pub fn recv_deadline<T: DeserializeOwned>(&mut self, deadline: Instant) -> Result<T, RecvError> {
            self.reader.recv(self.fd.as_fd(), Wait::Until(deadline))
        }

        /// Receives one message as raw bytes (Python's `recv_bytes`).
        ///
        /// # Errors
        ///
        /// As [`recv`](Self::recv), without the decoding error.
        pub fn recv_bytes(&mut self) -> Result<Vec<u8>, RecvError> {
            self.reader.recv_bytes(self.fd.as_fd(), Wait::Forever)
        }

        /// Receives one message as raw bytes, only if one is there now.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes`](Self::recv_bytes), plus [`RecvError::Empty`].
        pub fn try_recv_bytes(&mut self) -> Result<Vec<u8>, RecvError> {
            self.reader.recv_bytes(self.fd.as_fd(), Wait::Now)
        }

        /// Receives one message as raw bytes, waiting at most `timeout`.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes`](Self::recv_bytes), plus [`RecvError::Empty`] when nothing came in time.
        pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvError> {
            self.reader.recv_bytes(self.fd.as_fd(), Wait::timeout(timeout))
        }

        /// Receives one message as raw bytes, waiting until `deadline` at the latest.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_timeout`](Self::recv_bytes_timeout).
        pub fn recv_bytes_deadline(&mut self, deadline: Instant) -> Result<Vec<u8>, RecvError> {
            self.reader.recv_bytes(self.fd.as_fd(), Wait::Until(deadline))
        }

        /// Receives one message as raw bytes into `buf`, without allocating for it, and returns
        /// its length (Python's `recv_bytes_into`).
        ///
        /// # Errors
        ///
        /// As [`recv_bytes`](Self::recv_bytes), plus [`RecvError::BufferTooShort`] for a message
        /// longer than `buf`: the message is consumed and handed back in the error.
        ///
        /// # Examples
        ///
        /// ```
        /// let (mut rx, tx) = mp_ipc::Pipe::simplex()?;
        /// tx.send_bytes(b"hello")?;
        /// tx.send_bytes(b"a longer message")?;
        /// let mut buf = [0u8; 8];
        /// let n = rx.recv_bytes_into(&mut buf)?;
        /// assert_eq!(&buf[..n], b"hello");
        /// match rx.recv_bytes_into(&mut buf) {
        ///     Err(mp_ipc::RecvError::BufferTooShort { message }) => assert_eq!(message, b"a longer message"),
        ///     other => panic!("{other:?}"),
        /// }
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
            self.reader.recv_bytes_into(self.fd.as_fd(), buf, Wait::Forever)
        }

        /// As [`recv_bytes_into`](Self::recv_bytes_into), only if a whole message is there now.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_into`](Self::recv_bytes_into), plus [`RecvError::Empty`].
        pub fn try_recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
            self.reader.recv_bytes_into(self.fd.as_fd(), buf, Wait::Now)
        }

        /// As [`recv_bytes_into`](Self::recv_bytes_into), waiting at most `timeout`.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_into`](Self::recv_bytes_into), plus [`RecvError::Empty`] when nothing came in time.
        pub fn recv_bytes_into_timeout(
            &mut self,
            buf: &mut [u8],
            timeout: Duration,
        ) -> Result<usize, RecvError> {
            self.reader.recv_bytes_into(self.fd.as_fd(), buf, Wait::timeout(timeout))
        }

        /// As [`recv_bytes_into`](Self::recv_bytes_into), waiting until `deadline` at the latest.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_into_timeout`](Self::recv_bytes_into_timeout).
        pub fn recv_bytes_into_deadline(
            &mut self,
            buf: &mut [u8],
            deadline: Instant,
        ) -> Result<usize, RecvError> {
            self.reader.recv_bytes_into(self.fd.as_fd(), buf, Wait::Until(deadline))
        }

        /// Whether a message (or end of stream) can be received now, waiting at most `timeout`
        /// for one (Python's `Connection.poll(timeout)`; `Duration::ZERO` does not wait).
        ///
        /// # Errors
        ///
        /// The `poll(2)` error.
        pub fn poll(&self, timeout: Duration) -> io::Result<bool> {
            if self.reader.has_buffered() {
                return Ok(true);
            }
            frame::poll_fd(self.fd.as_fd(), Wait::timeout(timeout).deadline())
        }

        /// Whether bytes already read from the kernel wait in this end's read-ahead buffer (a
        /// whole message, or the start of one whose rest is on its way), so that the next
        /// receive starts without waiting for the descriptor to become readable.
        pub fn has_buffered(&self) -> bool {
            self.reader.has_buffered()
        }

        /// The largest message this end accepts (64 MiB by default).
        pub fn max_message_size(&self) -> usize {
            self.reader.max
        }
    };
}

macro_rules! send_methods {
    () => {
        /// Encodes `value` with postcard and sends it as one message. Blocks while the pipe is
        /// full.
        ///
        /// # Errors
        ///
        /// [`SendError::Disconnected`] when the receiver is gone, [`SendError::TooLarge`] over
        /// the maximum message size, [`SendError::Encode`], or an I/O error.
        pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
            frame::send_encoded(self.fd.as_fd(), Self::SOCKET, value, self.max_len())
        }

        /// Sends raw bytes as one message (Python's `send_bytes`).
        ///
        /// # Errors
        ///
        /// As [`send`](Self::send), without the encoding error.
        pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError> {
            frame::write_bytes(self.fd.as_fd(), Self::SOCKET, bytes, self.max_len())
        }

        /// Sends each of `messages` as its own message, all in one write (one system call for
        /// a batch that fits the pipe): the receiver sees them one by one, in order.
        ///
        /// # Errors
        ///
        /// As [`send_bytes`](Self::send_bytes); a message over the maximum refuses the whole
        /// batch before anything is written.
        pub fn send_bytes_many(&self, messages: &[&[u8]]) -> Result<(), SendError> {
            frame::write_many(self.fd.as_fd(), Self::SOCKET, messages, self.max_len())
        }
    };
}

macro_rules! fd_impls {
    ($t:ty) => {
        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }
        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.fd.as_raw_fd()
            }
        }
        impl From<$t> for OwnedFd {
            fn from(v: $t) -> OwnedFd {
                v.fd
            }
        }
    };
}

/// One end of a duplex pipe: sends and receives (Python's `Connection` from `Pipe()`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let (mut a, mut b) = mp_ipc::Pipe::duplex()?;
/// assert!(!a.poll(Duration::ZERO)?);
/// assert!(a.recv_timeout::<u8>(Duration::from_millis(1)).unwrap_err().is_timeout());
/// b.send_bytes(b"raw")?;
/// assert!(a.poll(Duration::ZERO)?);
/// assert_eq!(a.recv_bytes()?, b"raw");
/// drop(b);
/// assert!(a.recv::<u8>().unwrap_err().is_disconnected());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    fd: OwnedFd,
    reader: FrameReader,
}

impl Connection {
    const SOCKET: bool = true;

    fn new(fd: OwnedFd) -> Connection {
        Connection { fd, reader: FrameReader::new() }
    }

    /// The socket, the largest message size, and whether bytes already read wait in the
    /// buffer (for [`crate::handoff`], which refuses to send those).
    pub(crate) fn handoff_parts(&self) -> (BorrowedFd<'_>, usize, bool) {
        (self.fd.as_fd(), self.reader.max, self.reader.has_buffered())
    }

    /// An end rebuilt from the socket another process sent (for [`crate::handoff`]).
    pub(crate) fn from_handoff_parts(fd: OwnedFd, max: usize) -> Connection {
        let mut c = Connection::new(fd);
        c.reader.max = max;
        c
    }

    fn max_len(&self) -> usize {
        self.reader.max
    }

    /// Sets the largest message this end sends or accepts.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.reader.max = max;
    }

    recv_methods!();
    send_methods!();
}
fd_impls!(Connection);

/// The read end of a simplex pipe.
#[derive(Debug)]
pub struct PipeReader {
    fd: OwnedFd,
    reader: FrameReader,
}

impl PipeReader {
    /// As [`Connection::handoff_parts`].
    pub(crate) fn handoff_parts(&self) -> (BorrowedFd<'_>, usize, bool) {
        (self.fd.as_fd(), self.reader.max, self.reader.has_buffered())
    }

    /// As [`Connection::from_handoff_parts`].
    pub(crate) fn from_handoff_parts(fd: OwnedFd, max: usize) -> PipeReader {
        let mut reader = FrameReader::new();
        reader.max = max;
        PipeReader { fd, reader }
    }

    /// Sets the largest message this end accepts.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.reader.max = max;
    }

    /// Sets the kernel's buffer for this pipe (`F_SETPIPE_SZ`; the default is 64 KiB); returns
    /// the size the kernel chose. Larger buffers let a writer of big messages run ahead.
    ///
    /// # Errors
    ///
    /// `EPERM` above `/proc/sys/fs/pipe-max-size` for an unprivileged process.
    pub fn set_capacity(&self, bytes: usize) -> io::Result<usize> {
        sys::fd::set_pipe_size(self.fd.as_fd(), bytes)
    }

    recv_methods!();
}
fd_impls!(PipeReader);

/// The write end of a simplex pipe.
///
/// Writing to a pipe whose read end is closed everywhere gives [`SendError::Disconnected`] (Rust
/// programs ignore `SIGPIPE` by default; a program that restores it dies instead, as with any
/// pipe write).
#[derive(Debug)]
pub struct PipeWriter {
    fd: OwnedFd,
    max: usize,
}

impl PipeWriter {
    /// As [`Connection::handoff_parts`] (a writer buffers nothing).
    pub(crate) fn handoff_parts(&self) -> (BorrowedFd<'_>, usize, bool) {
        (self.fd.as_fd(), self.max, false)
    }

    /// As [`Connection::from_handoff_parts`].
    pub(crate) fn from_handoff_parts(fd: OwnedFd, max: usize) -> PipeWriter {
        PipeWriter { fd, max }
    }

    const SOCKET: bool = false;

    fn max_len(&self) -> usize {
        self.max
    }

    /// Sets the largest message this end sends.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max = max;
    }

    /// As [`PipeReader::set_capacity`].
    ///
    /// # Errors
    ///
    /// As [`PipeReader::set_capacity`].
    pub fn set_capacity(&self, bytes: usize) -> io::Result<usize> {
        sys::fd::set_pipe_size(self.fd.as_fd(), bytes)
    }

    send_methods!();
}
fd_impls!(PipeWriter);
