//! [`JoinableQueue`] and [`SimpleQueue`]: Python's two other queues, built on [`Queue`].

use crate::error::{RecvError, SendError, WaitError};
use crate::mapping::Mapping;
use crate::park::deadline_after;
use crate::park::{bump_and_wake, wait_ready};
use crate::queue::Queue;
use crate::sys::futex::Wake;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The count of items put and not yet marked done, shared by every process.
#[repr(C)]
struct Tasks {
    unfinished: AtomicU64,
    /// Bumped when `unfinished` reaches 0 while someone sleeps in `join`.
    seq: AtomicU32,
    waiters: AtomicU32,
}

/// `task_done` was called more times than items were put (Python's `ValueError`). Nothing was
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done called more times than items were put")
    }
}

impl std::error::Error for TaskDoneError {}

/// A [`Queue`] that also counts unfinished tasks (Python's `multiprocessing.JoinableQueue`):
/// every `put` adds one, every [`task_done`](Self::task_done) takes one away, and
/// [`join`](Self::join) waits until the count is back to zero, in any process.
///
/// The count is raised before an item enters the queue (and lowered again if the put fails), so
/// a consumer can never mark an item done before it was counted. A producer killed in the
/// middle of a `put` may leave the count one too high; [`join_timeout`](Self::join_timeout)
/// bounds the wait in programs that kill producers. A consumer that dies between `get` and
/// `task_done` leaves its item unfinished, as in Python.
///
/// Closing and disconnection work as for [`Queue`]: a process that only consumes calls
/// [`close`](Self::close) first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let q: mp_ipc::JoinableQueue<u32> = mp_ipc::JoinableQueue::new(0)?;
/// let worker = mp_core::spawn(|| {
///     q.close();
///     while let Ok(n) = q.get() {
///         let _ = n * 2; // the work
///         q.task_done().unwrap();
///     }
/// })?;
/// for n in 0..10 {
///     q.put(&n)?;
/// }
/// q.join_timeout(Duration::from_secs(10))?; // every item was taken and marked done
/// assert_eq!(q.unfinished_tasks(), 0);
/// assert!(q.task_done().is_err()); // one too many
/// q.close();
/// assert!(worker.join()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
    tasks: Mapping<Tasks>,
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue of at most `maxsize` items (0: unbounded), as [`Queue::new`].
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    pub fn new(maxsize: usize) -> io::Result<JoinableQueue<T>> {
        JoinableQueue::with_queue(Queue::new(maxsize)?)
    }

    /// A joinable queue with `capacity` bytes in flight, as [`Queue::with_capacity`].
    ///
    /// # Errors
    ///
    /// As [`Queue::with_capacity`].
    pub fn with_capacity(maxsize: usize, capacity: usize) -> io::Result<JoinableQueue<T>> {
        JoinableQueue::with_queue(Queue::with_capacity(maxsize, capacity)?)
    }

    fn with_queue(queue: Queue<T>) -> io::Result<JoinableQueue<T>> {
        // SAFETY: zeroed memory is a valid `Tasks` (no unfinished task, no sleeper).
        let tasks = unsafe { Mapping::new(0, |_| Ok(()))? };
        Ok(JoinableQueue { queue, tasks })
    }

    /// Counts one task, runs `put`, and takes the count back if the put failed.
    fn counted(&self, put: impl FnOnce(&Queue<T>) -> Result<(), SendError>) -> Result<(), SendError> {
        self.tasks.unfinished.fetch_add(1, Ordering::SeqCst);
        let r = put(&self.queue);
        if r.is_err() {
            self.finish_one();
        }
        r
    }

    /// Puts `item` and counts it as an unfinished task; waits while the queue is full.
    ///
    /// # Errors
    ///
    /// As [`Queue::put`]; a failed put is not counted.
    pub fn put(&self, item: &T) -> Result<(), SendError> {
        self.counted(|q| q.put(item))
    }

    /// As [`put`](Self::put), only if there is room now.
    ///
    /// # Errors
    ///
    /// As [`Queue::try_put`].
    pub fn try_put(&self, item: &T) -> Result<(), SendError> {
        self.counted(|q| q.try_put(item))
    }

    /// As [`put`](Self::put), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`Queue::put_timeout`].
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), SendError> {
        self.counted(|q| q.put_timeout(item, timeout))
    }

    /// As [`put`](Self::put), waiting until `deadline` at the latest for room.
    ///
    /// # Errors
    ///
    /// As [`Queue::put_deadline`].
    pub fn put_deadline(&self, item: &T, deadline: Instant) -> Result<(), SendError> {
        self.counted(|q| q.put_deadline(item, deadline))
    }

    /// As [`Queue::get`]; the item stays an unfinished task until [`task_done`](Self::task_done).
    ///
    /// # Errors
    ///
    /// As [`Queue::get`].
    pub fn get(&self) -> Result<T, RecvError> {
        self.queue.get()
    }

    /// As [`Queue::try_get`].
    ///
    /// # Errors
    ///
    /// As [`Queue::try_get`].
    pub fn try_get(&self) -> Result<T, RecvError> {
        self.queue.try_get()
    }

    /// As [`Queue::get_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Queue::get_timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        self.queue.get_timeout(timeout)
    }

    /// As [`Queue::get_deadline`].
    ///
    /// # Errors
    ///
    /// As [`Queue::get_deadline`].
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, RecvError> {
        self.queue.get_deadline(deadline)
    }
}

impl<T> JoinableQueue<T> {
    /// The queue and the memory file of the task count (for [`crate::handoff`]).
    pub(crate) fn handoff_parts(&self) -> (&Queue<T>, BorrowedFd<'_>) {
        (&self.queue, self.tasks.fd())
    }

    /// A handle rebuilt from the parts another process sent (for [`crate::handoff`]).
    pub(crate) fn from_handoff_parts(queue: Queue<T>, tasks: OwnedFd) -> io::Result<JoinableQueue<T>> {
        // SAFETY: sent by `handoff_parts` of a `JoinableQueue` in a process running this same
        // program; `from_fd` checks the file's size.
        let tasks = unsafe { Mapping::from_fd(tasks, 0)? };
        Ok(JoinableQueue { queue, tasks })
    }

    /// Takes one from the count; wakes `join` when it reaches zero. `false` if it was zero.
    fn finish_one(&self) -> bool {
        let t = &*self.tasks;
        let mut v = t.unfinished.load(Ordering::SeqCst);
        loop {
            if v == 0 {
                return false;
            }
            match t.unfinished.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if v == 1 {
            bump_and_wake(&t.seq, &t.waiters, i32::MAX);
        }
        true
    }

    /// Marks one item taken with `get` as done (Python's `task_done`).
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] when every item put is already done; the count stays at zero.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.finish_one() { Ok(()) } else { Err(TaskDoneError) }
    }

    /// Items put and not yet marked done, in all processes (a snapshot).
    pub fn unfinished_tasks(&self) -> u64 {
        self.tasks.unfinished.load(Ordering::SeqCst)
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        let t = &*self.tasks;
        let done = || t.unfinished.load(Ordering::SeqCst) == 0;
        loop {
            if done() {
                return Ok(());
            }
            if wait_ready(&t.seq, &t.waiters, deadline, done)? == Wake::TimedOut {
                return if done() { Ok(()) } else { Err(WaitError::Timeout) };
            }
        }
    }

    /// Waits until every item put (by any process) has been marked done (Python's `join`).
    ///
    /// # Errors
    ///
    /// [`WaitError::Io`] for an unexpected `futex` error.
    pub fn join(&self) -> Result<(), WaitError> {
        self.join_until(None)
    }

    /// As [`join`](Self::join), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join), plus [`WaitError::Timeout`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
        self.join_until(deadline_after(timeout))
    }

    /// As [`join`](Self::join), waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`join_timeout`](Self::join_timeout).
    pub fn join_deadline(&self, deadline: Instant) -> Result<(), WaitError> {
        self.join_until(Some(deadline))
    }

    /// As [`Queue::qsize`].
    pub fn qsize(&self) -> usize {
        self.queue.qsize()
    }

    /// As [`Queue::empty`].
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// As [`Queue::full`].
    pub fn full(&self) -> bool {
        self.queue.full()
    }

    /// As [`Queue::maxsize`].
    pub fn maxsize(&self) -> usize {
        self.queue.maxsize()
    }

    /// As [`Queue::close`]: this handle will put no more.
    pub fn close(&self) {
        self.queue.close();
    }
}

/// A plain FIFO between processes (Python's `multiprocessing.SimpleQueue`): no item bound, just
/// `put`, `get` and `empty`.
///
/// It is a [`Queue`] without `maxsize`; a `put` waits only while the queue's bytes in flight
/// (1 MiB by default) are all taken. Closing and disconnection work as for [`Queue`].
///
/// # Examples
///
/// ```
/// let q: mp_ipc::SimpleQueue<String> = mp_ipc::SimpleQueue::new()?;
/// let child = mp_core::spawn(|| q.put(&"hello".to_string()).unwrap())?;
/// q.close(); // the parent only consumes
/// assert_eq!(q.get()?, "hello");
/// assert!(q.empty());
/// assert!(child.join()?.success());
/// assert!(q.get().unwrap_err().is_disconnected());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue").field("qsize", &self.queue.qsize()).finish()
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// An empty queue with the default bytes in flight.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    pub fn new() -> io::Result<SimpleQueue<T>> {
        Ok(SimpleQueue { queue: Queue::new(0)? })
    }

    /// An empty queue with `capacity` bytes in flight.
    ///
    /// # Errors
    ///
    /// As [`Queue::with_capacity`].
    pub fn with_capacity(capacity: usize) -> io::Result<SimpleQueue<T>> {
        Ok(SimpleQueue { queue: Queue::with_capacity(0, capacity)? })
    }

    /// Puts `item` at the back.
    ///
    /// # Errors
    ///
    /// As [`Queue::put`].
    pub fn put(&self, item: &T) -> Result<(), SendError> {
        self.queue.put(item)
    }

    /// Takes the oldest item, waiting while there is none.
    ///
    /// # Errors
    ///
    /// As [`Queue::get`].
    pub fn get(&self) -> Result<T, RecvError> {
        self.queue.get()
    }

    /// Takes the oldest item only if there is one now.
    ///
    /// # Errors
    ///
    /// As [`Queue::try_get`].
    pub fn try_get(&self) -> Result<T, RecvError> {
        self.queue.try_get()
    }

    /// Takes the oldest item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Queue::get_timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        self.queue.get_timeout(timeout)
    }

    /// Takes the oldest item, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`Queue::get_deadline`].
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, RecvError> {
        self.queue.get_deadline(deadline)
    }
}

impl<T> SimpleQueue<T> {
    /// The queue (for [`crate::handoff`]).
    pub(crate) fn queue(&self) -> &Queue<T> {
        &self.queue
    }

    /// A handle over a queue another process sent (for [`crate::handoff`]).
    pub(crate) fn from_queue(queue: Queue<T>) -> SimpleQueue<T> {
        SimpleQueue { queue }
    }

    /// Whether the queue holds no item now.
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// As [`Queue::close`]: this handle will put no more.
    pub fn close(&self) {
        self.queue.close();
    }
}
