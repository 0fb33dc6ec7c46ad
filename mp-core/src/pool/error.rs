//! Errors of pool tasks.

use crate::{ExitStatus, Pid};
use std::fmt;
use std::io;
use std::time::Duration;

/// Why a task (or one item of a `map`) produced no result.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError {
    /// The function panicked; the message includes where.
    Panicked(String),
    /// The worker running the task died (a signal such as `SIGKILL`, `abort`, the OOM killer,
    /// or `std::process::exit` inside the task). A new worker took its place.
    WorkerDied {
        /// The dead worker's pid.
        pid: Pid,
        /// How it ended.
        status: ExitStatus,
    },
    /// The task ran longer than the pool's task timeout; its worker was killed and replaced.
    Timeout {
        /// The killed worker's pid.
        pid: Pid,
        /// The timeout.
        after: Duration,
    },
    /// The pool was terminated before the task finished.
    Terminated,
    /// The pool is closed (or terminated) and takes no new tasks.
    Closed,
    /// New workers cannot start: the initializer failed in several workers in a row.
    InitializerFailed {
        /// How the last worker ended.
        status: ExitStatus,
    },
    /// The arguments or the result could not be encoded or decoded.
    Codec(String),
    /// The task was cancelled ([`AsyncResult::cancel`](super::AsyncResult::cancel)) before
    /// any worker started it; it never ran.
    Cancelled,
    /// An operating-system error in the pool itself (fork, pipe).
    Io(io::Error),
}

impl TaskError {
    /// Whether the task was cancelled before it started ([`TaskError::Cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(m) => write!(f, "task panicked: {m}"),
            TaskError::WorkerDied { pid, status } => {
                write!(f, "worker {pid} died while running the task: {status}")
            }
            TaskError::Timeout { pid, after } => {
                write!(f, "task ran longer than {after:?}; its worker {pid} was killed")
            }
            TaskError::Terminated => f.write_str("the pool was terminated before the task finished"),
            TaskError::Closed => f.write_str("the pool is closed and takes no new tasks"),
            TaskError::InitializerFailed { status } => {
                write!(f, "pool workers cannot start: the initializer failed ({status})")
            }
            TaskError::Codec(m) => write!(f, "encoding error: {m}"),
            TaskError::Cancelled => f.write_str("the task was cancelled before it started"),
            TaskError::Io(e) => write!(f, "pool I/O error: {e}"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TaskError {
    fn from(e: io::Error) -> Self {
        TaskError::Io(e)
    }
}

/// A `map` (or `starmap`) that failed: the first failing item and why.
#[derive(Debug)]
pub struct MapError {
    /// Index (in the input order) of the first item that failed. When a whole chunk failed (its
    /// worker died), the index of the chunk's first item.
    pub index: usize,
    /// Why it failed.
    pub error: TaskError,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} failed: {}", self.index, self.error)
    }
}

impl std::error::Error for MapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
