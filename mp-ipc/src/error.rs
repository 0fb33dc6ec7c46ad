//! Errors of the sending and receiving operations.

use std::fmt;
use std::io;

/// Why a message could not be received.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// `try_` form: nothing is there right now.
    Empty,
    /// Timed form: nothing arrived before the deadline.
    Timeout,
    /// The other side is gone (Python's `EOFError`): every sender closed, also when it vanished in
    /// the middle of a message. For a queue: closed and drained.
    Disconnected,
    /// A length prefix larger than the configured maximum: a corrupt or hostile stream. Nothing
    /// of that size was allocated; the connection cannot be trusted past this point.
    TooLarge {
        /// The length the prefix claimed.
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The bytes arrived but are not a valid encoding of the requested type (for example, the
    /// sender sent another type).
    Decode(postcard::Error),
    /// Any other operating-system error.
    Io(io::Error),
    /// `recv_bytes_into`: the message is longer than the buffer (Python's `BufferTooShort`). The
    /// message was received whole and is here; the buffer is unchanged.
    BufferTooShort {
        /// The message.
        message: Vec<u8>,
    },
}

impl RecvError {
    /// Whether this is [`RecvError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvError::Timeout)
    }

    /// Whether this is [`RecvError::Empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self, RecvError::Empty)
    }

    /// Whether this is [`RecvError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvError::Disconnected)
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Empty => f.write_str("nothing to receive right now"),
            RecvError::Timeout => f.write_str("timed out waiting to receive"),
            RecvError::Disconnected => f.write_str("the sending side is disconnected"),
            RecvError::TooLarge { len, max } => {
                write!(f, "message length {len} is over the maximum of {max} bytes")
            }
            RecvError::Decode(e) => write!(f, "could not decode the message: {e}"),
            RecvError::Io(e) => write!(f, "receive failed: {e}"),
            RecvError::BufferTooShort { message } => {
                write!(f, "a message of {} bytes is longer than the buffer given", message.len())
            }
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecvError::Decode(e) => Some(e),
            RecvError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RecvError {
    fn from(e: io::Error) -> Self {
        RecvError::Io(e)
    }
}

/// Why a message could not be sent. The caller still owns the value (sends take `&T`), so
/// nothing is lost on failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// `try_` form: no room right now (a full queue).
    Full,
    /// Timed form: no room before the deadline.
    Timeout,
    /// The receiving side is gone (a closed pipe), or this queue handle was closed.
    Disconnected,
    /// The encoded message is larger than the maximum the channel accepts.
    TooLarge {
        /// The encoded length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// The value could not be encoded (a `Serialize` impl that fails).
    Encode(postcard::Error),
    /// Any other operating-system error.
    Io(io::Error),
}

impl SendError {
    /// Whether this is [`SendError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendError::Timeout)
    }

    /// Whether this is [`SendError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, SendError::Full)
    }

    /// Whether this is [`SendError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendError::Disconnected)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full => f.write_str("no room to send right now"),
            SendError::Timeout => f.write_str("timed out waiting for room to send"),
            SendError::Disconnected => f.write_str("the receiving side is disconnected"),
            SendError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes is over the maximum of {max} bytes")
            }
            SendError::Encode(e) => write!(f, "could not encode the message: {e}"),
            SendError::Io(e) => write!(f, "send failed: {e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Encode(e) => Some(e),
            SendError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => SendError::Disconnected,
            _ => SendError::Io(e),
        }
    }
}

/// Why a wait for a condition (such as [`JoinableQueue::join`](crate::JoinableQueue::join))
/// ended without it.
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitError {
    /// Timed form: the deadline passed first.
    Timeout,
    /// An unexpected operating-system error.
    Io(io::Error),
}

impl WaitError {
    /// Whether this is [`WaitError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, WaitError::Timeout)
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Timeout => f.write_str("timed out waiting"),
            WaitError::Io(e) => write!(f, "wait failed: {e}"),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Io(e) => Some(e),
            WaitError::Timeout => None,
        }
    }
}

impl From<io::Error> for WaitError {
    fn from(e: io::Error) -> Self {
        WaitError::Io(e)
    }
}

/// Deadline for a timeout: `None` (wait for ever) when the timeout is too large to add to now.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}
