//! Errors of the sending and receiving operations.

use std::fmt;
use std::io;

/// Why a message could not be received.
///
/// "Nothing came in the time allowed" is one variant, [`Empty`](RecvError::Empty), for the
/// `try_` forms (no time allowed) and the `_timeout`/`_deadline` forms alike, as Python raises
/// `queue.Empty` for both; [`is_timeout`](RecvError::is_timeout) asks the same question on every
/// error type of this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// Nothing to receive within the time allowed: none for a `try_` form, the timeout or
    /// deadline for a timed form (Python's `queue.Empty`).
    Empty,
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
    /// Whether the time allowed ran out with nothing received ([`RecvError::Empty`]; the same
    /// as [`is_empty`](Self::is_empty), named like every other error's timeout test).
    pub fn is_timeout(&self) -> bool {
        self.is_empty()
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
            RecvError::Empty => f.write_str("nothing to receive within the time allowed"),
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
///
/// "No room in the time allowed" is one variant, [`Full`](SendError::Full), for the `try_` and
/// the timed forms alike (Python's `queue.Full`).
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// No room within the time allowed: none for a `try_` form, the timeout or deadline for a
    /// timed form (Python's `queue.Full`).
    Full,
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
    /// The value holds an mp-ipc handle, which cannot travel as bytes (it can as a fork-server
    /// argument: see [`handoff`](crate::handoff)); the text says why.
    Handle(&'static str),
    /// Any other operating-system error.
    Io(io::Error),
}

impl SendError {
    /// The error of an encoding that failed: [`SendError::Handle`] when an mp-ipc handle
    /// refused (postcard drops the text of custom errors), else [`SendError::Encode`].
    pub(crate) fn encoding(e: postcard::Error) -> SendError {
        crate::handoff::take_refusal().map_or(SendError::Encode(e), SendError::Handle)
    }

    /// Whether the time allowed ran out with no room ([`SendError::Full`]; the same as
    /// [`is_full`](Self::is_full), named like every other error's timeout test).
    pub fn is_timeout(&self) -> bool {
        self.is_full()
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
            SendError::Full => f.write_str("no room to send within the time allowed"),
            SendError::Disconnected => f.write_str("the receiving side is disconnected"),
            SendError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes is over the maximum of {max} bytes")
            }
            SendError::Encode(e) => write!(f, "could not encode the message: {e}"),
            SendError::Handle(why) => write!(f, "could not encode the message: {why}"),
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
