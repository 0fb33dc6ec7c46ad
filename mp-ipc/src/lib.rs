//! Inter-process communication for processes made with `fork`: Python's `multiprocessing` IPC,
//! typed with `serde` and fast enough that nobody reaches past it for raw `libc`.
//!
//! | Python `multiprocessing` | `mp-ipc` |
//! | --- | --- |
//! | `Pipe()` (duplex) | [`Pipe::duplex`] → two [`Connection`]s |
//! | `Pipe(duplex=False)` | [`Pipe::simplex`] → [`PipeReader`] + [`PipeWriter`] |
//! | `conn.send(obj)` / `conn.recv()` | `send(&value)` / `recv::<T>()` (postcard, length-framed) |
//! | `conn.send_bytes` / `recv_bytes` / `poll(t)` | `send_bytes` / `recv_bytes` / `poll(t)` |
//! | `conn.recv_bytes_into(buf)` | [`Connection::recv_bytes_into`] ([`RecvError::BufferTooShort`] holds a longer message) |
//! | `bytes` inside a sent object | [`Bytes`] (one block on the wire, not byte by byte) |
//! | `Queue(maxsize)` | [`Queue::new`]`(maxsize)` (items of any size: larger ones go through a shared memory file) |
//! | `q.put(x, block, timeout)` | [`Queue::put`], [`Queue::try_put`], [`Queue::put_timeout`] |
//! | `q.get(block, timeout)` | [`Queue::get`], [`Queue::try_get`], [`Queue::get_timeout`] |
//! | `q.qsize()`, `empty()`, `full()`, `close()` | the same names (`qsize` is exact) |
//! | `JoinableQueue(maxsize)`: `task_done()`, `join()` | [`JoinableQueue`]: [`task_done`](JoinableQueue::task_done) (error on one too many), [`join`](JoinableQueue::join), [`join_timeout`](JoinableQueue::join_timeout) |
//! | `SimpleQueue()`: `put`, `get`, `empty` | [`SimpleQueue`] |
//! | `Lock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier` | [`Lock`], [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Barrier`] |
//! | `RLock` | [`RLock`] (re-entrant by its owner thread; robust like [`Lock`]) |
//! | `Condition(lock)`: `wait`, `wait_for`, `notify(n)`, `notify_all` | [`Condition`] (over an [`RLock`] or a [`Lock`]) |
//! | `Barrier(parties)`: `wait`, `abort`, `reset`, `broken`, `n_waiting` | [`Barrier`]: [`wait`](Barrier::wait) gives the arrival index; a timeout breaks it ([`BarrierError`]) |
//! | `Value(typecode, v)`, `Array(typecode, seq)` | [`Value`], [`Array`] (for [`Plain`] data) |
//! | `shared_memory.SharedMemory(name)` | [`SharedMemory`] (`shm_open`) |
//! | POSIX message queues (`mq_open`) | [`MessageQueue`] (`send`, `recv`, with `try_`/`_timeout`/`_deadline`) |
//! | `signal` handlers | [`signal::Signals`] (block + `signalfd`, no handler) |
//! | `multiprocessing.connection.wait` | [`wait_readable`] |
//!
//! Every blocking call comes in four shapes with the same names everywhere: blocking (`recv`),
//! `try_` (never waits), `_timeout(Duration)` and `_deadline(Instant)`. "Nothing within the time
//! allowed" (none for `try_`) has the same shape in the `try_` and the timed forms of one
//! operation, as Python raises `queue.Empty` for both:
//!
//! | operation | blocking | `try_` / `_timeout` / `_deadline`: not now |
//! | --- | --- | --- |
//! | receive ([`Connection`], [`Queue`], …) | `Result<T, RecvError>` | `Err(`[`RecvError::Empty`]`)` |
//! | send / put | `Result<(), SendError>` | `Err(`[`SendError::Full`]`)` |
//! | [`Lock`], [`RLock`], [`Condition`] lock | `LockResult<Guard>` | `None` |
//! | [`Semaphore::acquire`], [`Event::wait`] | `()` | `false` |
//! | [`MessageQueue`] | `io::Result<…>` | `Ok(None)` / `Ok(false)` |
//! | waits that can also fail ([`JoinableQueue::join`], [`Barrier::wait`], [`Condition::wait`]) | `Result<_, E>` | `Err(e)` with `e.is_timeout()` |
//!
//! Every error type has `is_timeout()` for that case, and `is_disconnected()` where the other
//! side can go away. A send takes `&T`, so the value is still yours when it fails.
//!
//! Every descriptor is an `OwnedFd` with close-on-exec set at creation, and every fd-backed type
//! implements `AsFd`/`AsRawFd`. Named objects ([`SharedMemory`], [`MessageQueue`]) are created
//! with mode 0600 and removed when their creator's handle drops. All `libc` calls live in one
//! private module.
//!
//! # Examples
//!
//! ```
//! use mp_ipc::{Pipe, Queue};
//!
//! let (mut parent, child_end) = Pipe::duplex()?;
//! let jobs: Queue<u64> = Queue::new(100)?;
//! let worker = mp_core::spawn(|| {
//!     jobs.close(); // this process only consumes: it is not one of the producers
//!     let mut sum = 0;
//!     while let Ok(n) = jobs.get() {
//!         sum += n;
//!     }
//!     child_end.send(&sum).unwrap();
//! })?;
//! for n in 1..=10 {
//!     jobs.put(&n)?;
//! }
//! jobs.close(); // the last producer: the worker's `get` ends with Disconnected once drained
//! assert_eq!(parent.recv::<u64>()?, 55);
//! assert!(worker.join()?.success());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod barrier;
mod block;
mod bytes;
mod condition;
mod error;
mod frame;
pub mod handoff;
mod joinable;
mod mapping;
mod mq;
mod park;
mod pipe;
mod queue;
mod rlock;
mod shm;
pub mod signal;
mod sock;
mod sync;
mod sys;
mod wait;

pub use barrier::{Barrier, BarrierError};
pub use bytes::Bytes;
pub use condition::{Condition, ConditionError, ConditionGuard};
pub use error::{RecvError, SendError, WaitError};
pub use joinable::{JoinableQueue, SimpleQueue, TaskDoneError};
pub use mq::{MessageQueue, MqAttributes};
pub use pipe::{Connection, Pipe, PipeReader, PipeWriter};
pub use queue::{DEFAULT_CAPACITY, Queue};
pub use rlock::{RLock, RLockGuard};
pub use shm::{Array, ArrayGuard, Guard, Plain, SharedMemory, Value};
pub use sock::{set_recv_buffer, set_send_buffer};
pub use sync::{BoundedSemaphore, Event, Lock, LockGuard, LockResult, OwnerDied, Semaphore};
pub use sys::{getrandom, trim_heap};
pub use wait::wait_readable;

pub use frame::encode_into;

/// The low-level process and descriptor calls that `mp-core` builds [`Process`] on: thin,
/// documented wrappers of `fork`, `waitpid`, pidfds, `close_range` and friends, each named after
/// the system call it makes. Most programs want `mp_core::Process` instead; this is for code that
/// needs the raw calls without writing `libc` itself.
///
/// [`Process`]: https://docs.rs/mp-core/latest/mp_core/struct.Process.html
pub mod os {
    pub use crate::sys::cpu_count;
    pub use crate::sys::fd::{close_raw, dup2, open_dev_null, poll_readable};
    pub use crate::sys::process::*;
}
