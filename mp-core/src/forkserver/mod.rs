//! The fork server: child processes that are safe to start from a multithreaded program
//! (Python's `forkserver` start method).
//!
//! [`start`] forks a small *server* process from the program while it is still single-threaded
//! (call it at the top of `main`). The server does nothing but wait for requests and fork; as it
//! is single-threaded, each child it forks is a clean copy of the program as it was at
//! [`start`]: no lock held by another thread, no other thread's half-done work. A child of the
//! server runs a plain function with [`serde`] arguments, like a [`Pool`](crate::Pool) task:
//!
//! ```
//! use mp_core::forkserver;
//!
//! fn greet((name, times): (String, u32)) -> Result<(), String> {
//!     if times == 0 { return Err(format!("nothing to say to {name}")); }
//!     Ok(())
//! }
//!
//! forkserver::start()?; // at the top of main, before any thread
//! let p = forkserver::spawn(greet, ("Levi".to_string(), 3))?;
//! assert!(p.join()?.success());
//! let failing = forkserver::spawn(greet, ("Ada".to_string(), 0))?;
//! assert_eq!(failing.join()?.code(), Some(1)); // "Process-2: Error: …" on stderr
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Which start method
//!
//! | | [`StartMethod::Fork`] | [`StartMethod::ForkServer`] |
//! | --- | --- | --- |
//! | the target | any closure ([`spawn`](crate::spawn)) | a `fn(A) -> O` and its arguments |
//! | the child starts from | the caller, now, including its captured state | the program as it was at [`start`] |
//! | in a multithreaded program | only async-signal-safe work is guaranteed ([see why](crate#forking-a-multithreaded-process)) | safe |
//! | descriptors in the child | all of the caller's (or [`Builder::close_fds`](crate::Builder::close_fds)) | stdio and those in the arguments |
//! | cost of start + join | one `fork` | two messages and a `fork` of the smaller server |
//!
//! `fork` stays the default of [`spawn`](crate::spawn) and [`Builder::spawn`](crate::Builder::spawn),
//! whose closures can only cross into a child by copying the whole process. The
//! [`Pool`](crate::Pool) uses the fork server by default, as Python 3.14 made `forkserver` the
//! default start method on Linux: a pool is long-lived, often made after the program has started
//! threads (a GUI, a runtime, a logger), and its tasks are already plain functions with encoded
//! arguments, so it loses nothing and no longer inherits the caller's locks or descriptors.
//! [`PoolBuilder::start_method`](crate::PoolBuilder::start_method) picks `fork` back.
//!
//! # The function-pointer rule
//!
//! The request names the function by its address. That address is valid in the server because
//! the server is a `fork` of this same program: the same executable, mapped at the same
//! addresses (ASLR chooses them once, at `exec`; `fork` keeps them). So a target must be a plain
//! `fn` (a non-capturing closure coerces to one): a capturing closure does not compile, and what
//! it would capture goes into the arguments instead. Code loaded with `dlopen` after [`start`]
//! does not exist in the server: do not start its functions this way.
//!
//! # What a child holds
//!
//! * The program's memory as it was when [`start`] ran: statics set later in the requesting
//!   process are not seen (pass what the child needs in its arguments).
//! * Standard input `/dev/null`; standard output and error as they were at [`start`].
//! * Exactly the descriptors carried by its arguments, and no other: mp-ipc handles
//!   ([`Connection`](mp_ipc::Connection), [`Queue`](mp_ipc::Queue), [`Lock`](mp_ipc::Lock),
//!   [`Event`](mp_ipc::Event), [`Value`](mp_ipc::Value), …) and any descriptor wrapped in
//!   [`Fd`](mp_ipc::handoff::Fd) travel with `SCM_RIGHTS` (see [`mp_ipc::handoff`]). A passed
//!   [`Queue`](mp_ipc::Queue) makes the child one of its producers until it closes its handle;
//!   the requester's own copies of the arguments are dropped when the request is sent, as a
//!   closure's are after a fork.
//! * Its name (`Process-N`), [`current_process`](crate::current_process) and
//!   [`parent_process`](crate::parent_process) (the requester), as a forked child does.
//!
//! Arguments are limited to 160 KiB encoded and 250 descriptors: pass bulk data through a
//! [`Queue`](mp_ipc::Queue), a pipe or shared memory.
//!
//! # The handle
//!
//! A fork-server child is the *server's* child, but the requester gets an ordinary
//! [`Process`]: the server sends it the child's pidfd (opened before the server can reap the
//! child, so signals through it never reach a recycled pid) and, once it has reaped the child,
//! its wait status on a socket held by the handle. [`join`](Process::join),
//! [`join_timeout`](Process::join_timeout), [`is_alive`](Process::is_alive),
//! [`kill`](Process::kill), [`terminate`](Process::terminate),
//! [`sentinel`](Process::sentinel) (the pidfd) and [`exit_status`](Process::exit_status) behave
//! as for a forked child. Fork-server children are listed by
//! [`active_children`](crate::active_children) of the process that requested them (they are its
//! children in Python's sense), and [`join_children_at_exit`](crate::join_children_at_exit)
//! joins them. A dropped handle never leaves a zombie: the server reaps every child.
//!
//! A daemon child ([`Builder::daemon`](crate::Builder::daemon)) is killed within milliseconds of
//! the *requesting* process's death (`SIGKILL` included): the request carries the requester's
//! pidfd, and the child watches it as a forked daemon watches its parent.
//!
//! # Starting the server
//!
//! [`start`] at the top of `main` is the way to use it. Without it, the first fork-server child
//! (or fork-server pool) starts the server, which is then a fork of the program *as it is at that
//! moment*: in a multithreaded program, a lock another thread held then stays locked in the
//! server and in every child it forks, which is the hazard the server exists to avoid. A child
//! forked (with `fork`) after the server started shares it; a fork-server child that asks for
//! children of its own starts its own server.
//!
//! The server exits once every process holding its control socket (this process and its forked
//! children) has closed it, by exiting, and every child it started has been reaped. If the server
//! is killed, the children it started run on, and their handles report an error from `join`.
//!
//! What a child of the `fork` method may do in a multithreaded program is on the crate's front
//! page ([Forking a multithreaded process](crate#forking-a-multithreaded-process)).

mod client;
mod protocol;
mod server;

pub(crate) use client::read_status;

use crate::{Outcome, Process};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;

/// How a child process is started (Python's `multiprocessing` start methods).
///
/// # Examples
///
/// ```
/// use mp_core::{Builder, StartMethod};
///
/// fn double(x: u32) -> Result<(), String> {
///     if x * 2 == 84 { Ok(()) } else { Err(format!("{x}")) }
/// }
///
/// let served = Builder::new().start_method(StartMethod::ForkServer).spawn_fn(double, 42)?;
/// let forked = Builder::new().start_method(StartMethod::Fork).spawn_fn(double, 42)?;
/// assert!(served.join()?.success() && forked.join()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartMethod {
    /// A `fork` of the caller (Python's `fork`): the fastest, runs any closure, but in a
    /// multithreaded program the child may only do async-signal-safe work.
    Fork,
    /// A `fork` of the fork server (Python's `forkserver`): safe in a multithreaded program; runs
    /// a `fn` with serde arguments. See the [module docs](self).
    ForkServer,
}

/// Starts the fork server for this process, if it is not running yet. Call it at the top of
/// `main`, while the program is single-threaded: every fork-server child is a copy of the
/// program as it is now.
///
/// Calling it again does nothing. Without it, the first fork-server request starts the server
/// (see [Starting the server](self#starting-the-server) for why that is worse in a multithreaded
/// program).
///
/// # Errors
///
/// The `socketpair` or `fork` error.
///
/// # Examples
///
/// ```
/// fn main() -> std::io::Result<()> {
///     mp_core::forkserver::start()?;
///     // … start threads, a GUI, pools …
///     Ok(())
/// }
/// # main().unwrap();
/// ```
pub fn start() -> io::Result<()> {
    client::control().map(drop)
}

/// Starts `f(args)` in a new child of the fork server, with default options (named
/// `Process-N`, not a daemon); see [`Builder::spawn_fn`](crate::Builder::spawn_fn) for options.
/// Starts the server first if [`start`] was not called.
///
/// `f` returns `()` or a `Result` (an `Err` prints `Process-N: Error: …` and exits with 1, as
/// for a forked child; a panic exits with 1).
///
/// # Errors
///
/// `InvalidData` if the arguments cannot be encoded (see
/// [`encode_with_fds`](mp_ipc::handoff::encode_with_fds)); `InvalidInput` if they exceed 160 KiB;
/// the server's `fork` error (`WouldBlock` for `EAGAIN` at the process limit); `BrokenPipe` if
/// the server has ended (it was killed).
///
/// # Examples
///
/// ```
/// use mp_ipc::{Pipe, Connection};
///
/// fn echo(mut conn: Connection) -> Result<(), mp_ipc::RecvError> {
///     let n: u64 = conn.recv()?;
///     conn.send(&(n + 1)).map_err(|_| mp_ipc::RecvError::Disconnected)
/// }
///
/// let (mut mine, theirs) = Pipe::duplex()?;
/// let p = mp_core::forkserver::spawn(echo, theirs)?;
/// mine.send(&41u64)?;
/// assert_eq!(mine.recv::<u64>()?, 42);
/// assert!(p.join()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn<A, O>(f: fn(A) -> O, args: A) -> io::Result<Process>
where
    A: Serialize + DeserializeOwned,
    O: Outcome,
{
    client::request(None, false, f, args)
}

/// [`spawn`] with a name and a daemon flag (for [`Builder::spawn_fn`](crate::Builder::spawn_fn)).
pub(crate) fn spawn_with<A, O>(
    name: Option<String>,
    daemon: bool,
    f: fn(A) -> O,
    args: A,
) -> io::Result<Process>
where
    A: Serialize + DeserializeOwned,
    O: Outcome,
{
    client::request(name, daemon, f, args)
}
