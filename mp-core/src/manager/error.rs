//! [`ManagerError`]: what a proxy call can fail with.

use std::fmt;
use std::io;

/// Why a call on a [`Manager`](super::Manager) proxy failed.
///
/// The one to look for is [`Gone`](ManagerError::Gone): the manager was shut down, or its server
/// process died. A proxy never hangs on a dead manager: a refused connection, a closed socket and
/// a missing socket file all give `Gone` at once, and a server that stops answering gives
/// [`Timeout`](ManagerError::Timeout) after the manager's timeout (30 s unless set with
/// [`ManagerBuilder::timeout`](super::ManagerBuilder::timeout)).
///
/// # Examples
///
/// ```
/// let mut manager = mp_core::Manager::start()?;
/// let d = manager.dict::<u32, u32>()?;
/// manager.shutdown()?;
/// let err = d.get(&1).unwrap_err();
/// assert!(err.is_gone());
/// assert_eq!(err.to_string(), "the manager process has shut down or died");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ManagerError {
    /// The manager has shut down or its server process died.
    Gone,
    /// The server did not answer within the manager's timeout.
    Timeout,
    /// A value could not be encoded, or a stored value could not be decoded as the proxy's type
    /// (for example a namespace attribute stored as a `String` and read as a `u32`).
    Codec(postcard::Error),
    /// A list index past the end (`len` is the list's length when the server looked).
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// A request or a reply larger than the wire allows (1 GiB).
    TooLarge,
    /// The server answered something this proxy did not ask for (a bug, or a socket that is not
    /// a manager's).
    Protocol(&'static str),
    /// Another I/O error on the manager's socket.
    Io(io::Error),
}

impl ManagerError {
    /// Whether the manager has shut down or died.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp_core::manager::ManagerError::Gone.is_gone());
    /// assert!(!mp_core::manager::ManagerError::Timeout.is_gone());
    /// ```
    pub fn is_gone(&self) -> bool {
        matches!(self, ManagerError::Gone)
    }

    /// Whether the server did not answer in time.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp_core::manager::ManagerError::Timeout.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, ManagerError::Timeout)
    }

    /// Sorts an I/O error on the manager's socket: the kinds that mean "nobody is listening any
    /// more" become [`Gone`](ManagerError::Gone), an expired socket timeout
    /// [`Timeout`](ManagerError::Timeout).
    pub(crate) fn from_io(e: io::Error) -> ManagerError {
        use io::ErrorKind::*;
        match e.kind() {
            NotFound | ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe
            | UnexpectedEof | NotConnected => ManagerError::Gone,
            WouldBlock | TimedOut => ManagerError::Timeout,
            _ => ManagerError::Io(e),
        }
    }
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagerError::Gone => f.write_str("the manager process has shut down or died"),
            ManagerError::Timeout => f.write_str("the manager process did not answer in time"),
            ManagerError::Codec(e) => write!(f, "a manager value could not be encoded or decoded: {e}"),
            ManagerError::IndexOutOfRange { index, len } => {
                write!(f, "list index {index} out of range (length {len})")
            }
            ManagerError::TooLarge => f.write_str("a manager request or reply is larger than 1 GiB"),
            ManagerError::Protocol(what) => write!(f, "unexpected answer from the manager: {what}"),
            ManagerError::Io(e) => write!(f, "manager socket error: {e}"),
        }
    }
}

impl std::error::Error for ManagerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ManagerError::Codec(e) => Some(e),
            ManagerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<postcard::Error> for ManagerError {
    fn from(e: postcard::Error) -> ManagerError {
        ManagerError::Codec(e)
    }
}
