//! Python's `multiprocessing`, done right for Rust systems code.
//!
//! `mp-core` starts child processes with `fork` or through a fork server ([`forkserver`]: safe
//! in multithreaded programs) and runs a process pool over them; it re-exports
//! [`mp_ipc`] (pipes, queues, locks, semaphores, shared memory, message queues, signals), so one
//! dependency gives you everything. No async runtime, no hidden threads: a [`Process`] is a pid
//! and a cached exit status.
//!
//! | Python `multiprocessing` | `mp-core` |
//! | --- | --- |
//! | `Process(target=f, args=(a,))` + `start()` | [`spawn`]`(move \|\| f(a))` |
//! | `Process(name=…, daemon=True)` | [`Builder::new()`](Builder)`.name(…).daemon(true).spawn(…)` |
//! | `set_start_method("forkserver")`, `get_context("forkserver").Process(target=f, args=(a,))` | [`forkserver::start`] at the top of `main`, then [`forkserver::spawn`]`(f, a)` or [`Builder::start_method`]`(`[`StartMethod::ForkServer`]`)`[`.spawn_fn(f, a)`](Builder::spawn_fn) |
//! | `get_context("fork")` | [`StartMethod::Fork`]: [`spawn`] (closures), or `start_method(StartMethod::Fork)` |
//! | `get_context(m).Pool(n)` | [`Pool::builder`]`().start_method(m)` (default: the fork server, as Python 3.14 on Linux) |
//! | subclass with `run()` | a type implementing [`Run`] |
//! | `p.join()` / `p.join(timeout)` | [`Process::join`] / [`Process::join_timeout`] (`None` while running) |
//! | `p.name`, `p.pid`, `p.daemon` | [`Process::name`], [`Process::pid`], [`Process::is_daemon`] |
//! | `p.is_alive()` | [`Process::is_alive`] |
//! | `p.exitcode` | [`Process::exit_status`] → [`ExitStatus::exitcode`] (negative signal) |
//! | `p.terminate()` / `p.kill()` | [`Process::terminate`] / [`Process::kill`] |
//! | `p.sentinel` | [`Process::sentinel`], `AsFd for Process` (a pidfd: wait with [`mp_ipc::wait_readable`]) |
//! | `active_children()` | [`active_children`] (reaps the ended ones, lists the live ones) |
//! | exit: daemons terminated, children joined | [`join_children_at_exit`] (opt-in) |
//! | `close_fds` (of `subprocess`) for a forked child | [`Builder::close_fds`], [`Builder::keep_fd`] |
//! | `current_process()`, `parent_process()` | [`current_process`], [`parent_process`] |
//! | `cpu_count()` | [`cpu_count`] |
//! | `Pool(n, initializer, initargs, maxtasksperchild)` | [`Pool::new`], [`Pool::builder`] ([`PoolBuilder::initializer_with`]) |
//! | `pool.apply(f, (a,))`, `apply_async`, `executor.submit` | [`Pool::apply`], [`Pool::apply_async`] → [`AsyncResult`] |
//! | `map`, `starmap`, `map_async`, `starmap_async` | [`Pool::map`], [`Pool::starmap`] ([`StarFn`]), [`Pool::map_async`], [`Pool::starmap_async`] → [`MapResult`] |
//! | `imap`, `imap_unordered` (with `chunksize`) | [`Pool::imap`], [`Pool::imap_unordered`], [`Pool::imap_chunked`] (lazy) |
//! | `r.get()`, `r.wait(t)`, `r.ready()`, `r.successful()` | [`AsyncResult::get`] (by value), [`AsyncResult::wait_timeout`], [`AsyncResult::is_ready`], [`AsyncResult::successful`] |
//! | `callback=`, `error_callback=` | [`AsyncResult::callback`], [`MapResult::callback`] (run by the caller's next wait) |
//! | `future.cancel()`, `as_completed`, `wait(FIRST_COMPLETED / ALL_COMPLETED)` | [`AsyncResult::cancel`], [`Pool::as_completed`], [`Pool::wait_any`] / [`Pool::wait_all`] |
//! | `close()`, `join()`, `terminate()` | [`Pool::close`], [`Pool::join`], [`Pool::terminate`] |
//! | `JoinableQueue`, `SimpleQueue` | [`mp_ipc::JoinableQueue`] (`task_done` one too many is an error), [`mp_ipc::SimpleQueue`] |
//! | `RLock`, `Condition` | [`mp_ipc::RLock`], [`mp_ipc::Condition`] (robust: a dead lock holder is reported, never a hang) |
//! | `Barrier` (`abort`, `reset`, `broken`, `n_waiting`) | [`mp_ipc::Barrier`] (`wait` gives the arrival index; a timeout breaks it) |
//! | `conn.recv_bytes_into(buf)`, `bytes` in a message | [`mp_ipc::Connection::recv_bytes_into`], [`mp_ipc::Bytes`] (sent as one block) |
//! | `Manager()`: `dict`, `list`, `Namespace`, `Lock` | [`Manager`] → [`manager::DictProxy`], [`manager::ListProxy`], [`manager::NamespaceProxy`], [`manager::LockProxy`] (serde values; [`manager::ManagerError::Gone`] once it is gone) |
//! | `Pipe(duplex=True)` / `Pipe(False)` | [`mp_ipc::Pipe::duplex`] / [`mp_ipc::Pipe::simplex`]: typed `send`/`recv` (postcard, not pickle), `send_bytes`/`recv_bytes`, `poll` |
//! | `Queue(maxsize)`: `put`, `get`, `put_nowait`, `get_nowait`, `qsize`, `close` | [`mp_ipc::Queue`]: `put`/`get` with `try_`/`_timeout`/`_deadline`; no feeder thread (`put` has copied the item when it returns); `qsize` is exact |
//! | `queue.Empty`, `queue.Full` | [`mp_ipc::RecvError::Empty`], [`mp_ipc::SendError::Full`] (for `try_` and timed forms alike) |
//! | `Lock`, `Semaphore`, `BoundedSemaphore`, `Event` | [`mp_ipc::Lock`] (robust: a dead holder is reported as [`mp_ipc::OwnerDied`]), [`mp_ipc::Semaphore`], [`mp_ipc::BoundedSemaphore`], [`mp_ipc::Event`] |
//! | `Value(typecode, v)`, `Array(typecode, seq)` | [`mp_ipc::Value`], [`mp_ipc::Array`]: any [`mp_ipc::Plain`] type instead of a typecode, always with a lock |
//! | `shared_memory.SharedMemory(name, create, size)` | [`mp_ipc::SharedMemory`] (mode 0600; the creator's handle unlinks it) |
//! | `multiprocessing.connection.wait` | [`mp_ipc::wait_readable`] (pipes, queues' descriptors, process sentinels) |
//!
//! A target returns `()` or a `Result`: `Err` prints `Process-1: Error: …` (the child's name
//! first) on stderr and exits with 1; a panic prints its message and exits with 1.
//!
//! Children are reaped without a `SIGCHLD` handler: a child whose handle was dropped is reaped at
//! the next spawn or [`active_children`] call, and only children started here are ever waited
//! for. A daemon child watches its parent *process* through a pidfd and is gone within
//! milliseconds of its death, whichever thread started it.
//!
//! # Forking a multithreaded process
//!
//! With [`StartMethod::Fork`] ([`spawn`], [`Builder::spawn`]) a child is a copy of the caller in
//! which only the calling thread exists. A lock that another thread held at that moment stays
//! locked in the child for ever. So in a `fork` child of a multithreaded parent:
//!
//! * safe: computing, allocating (glibc's allocator resets its locks at `fork`), system calls,
//!   the `mp-ipc` types (they hold no process-local locks), `print!`/`eprint!` (`spawn` holds
//!   the `stdout` and `stderr` locks across the fork);
//! * not safe: anything that takes a lock another parent thread may have held, such as a
//!   `std::sync::Mutex` shared with those threads, or a logging framework's global lock.
//!
//! The fork server ([`forkserver`], [`StartMethod::ForkServer`]) has none of these limits: its
//! children are forks of a small single-threaded server started at the top of `main`, and they
//! hold only the descriptors passed to them. A single-threaded parent has no limits either way.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! fn greet(name: &str, times: u32) {
//!     for _ in 0..times {
//!         let _ = name.len();
//!     }
//! }
//!
//! let name = String::from("Levi");
//! let p = mp_core::spawn(move || greet(&name, 3))?;
//! let status = p.join_timeout(Duration::from_secs(10))?.expect("child finished");
//! assert!(status.success());
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

pub mod forkserver;
pub mod manager;
pub mod pool;
mod process;

pub use forkserver::StartMethod;
pub use manager::Manager;
pub use mp_ipc;
pub use pool::{AsCompleted, AsyncResult, Imap, MapError, MapResult, Pool, PoolBuilder, StarFn, TaskError};
pub use process::{
    Builder, ExitStatus, Outcome, Pid, Process, ProcessInfo, Run, active_children, cpu_count,
    current_process, join_children_at_exit, parent_process, spawn,
};
