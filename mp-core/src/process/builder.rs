//! [`Builder`]: a child's options, the fork, and the child's setup before its target runs.

use super::lifecycle::{self, Child};
use super::{Identity, Outcome, Pid, Process, Run, SIGKILL, current_process};
use crate::forkserver::StartMethod;
use mp_ipc::os as sys;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// `/dev/null`, opened (close-on-exec) by the first spawn and kept, so that each child only has
/// to `dup2` it onto its standard input.
static DEV_NULL: OnceLock<OwnedFd> = OnceLock::new();
/// Set in a child whose `close_fds` closed the inherited `DEV_NULL`: its number may name another
/// file there, so that child's own children open `/dev/null` afresh.
static DEV_NULL_CLOSED: AtomicBool = AtomicBool::new(false);

/// In a process that closed every inherited descriptor (the fork server): the inherited
/// `/dev/null` number may name another file now, so children forked from here open it afresh.
pub(crate) fn forget_dev_null() {
    DEV_NULL_CLOSED.store(true, Ordering::Relaxed);
}

/// Options for a child process before it starts (Python's `Process(name=…, daemon=…)`, plus
/// descriptor hygiene: [`close_fds`](Builder::close_fds)).
///
/// Options exist only before the start, so a daemon flag set after `start` cannot be written.
///
/// # Examples
///
/// ```
/// let p = mp_core::Builder::new().name("indexer").daemon(true).spawn(|| ())?;
/// assert_eq!(p.name(), "indexer");
/// assert!(p.is_daemon());
/// assert!(p.join()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
    close_fds: bool,
    /// Sorted, without duplicates.
    keep_fds: Vec<RawFd>,
    /// `None`: `fork` for [`spawn`](Builder::spawn), the fork server for
    /// [`spawn_fn`](Builder::spawn_fn).
    start_method: Option<StartMethod>,
}

impl Builder {
    /// Default options: named `Process-N`, not a daemon.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::Builder::new().spawn(|| ())?;
    /// assert!(p.name().starts_with("Process-"));
    /// assert!(!p.is_daemon());
    /// p.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The process name (default `Process-N`, N counting the children this process started,
    /// with the parent's numbers first in a grandchild: `Process-2:1`, as Python does).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::Builder::new().name("loader").spawn(|| ())?;
    /// assert_eq!(p.name(), "loader");
    /// p.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// A daemon child is killed (`SIGKILL`) when its parent *process* ends, however it ends
    /// (`SIGKILL` included), whichever thread spawned it: a daemon started from a short-lived
    /// thread outlives that thread.
    ///
    /// How: right after the fork the child opens a pidfd of its parent (`pidfd_open(2)`), checks
    /// that `getppid()` is still that parent (if the parent died before, the pid may already
    /// name another process: the child then exits before running the target, so there is no
    /// window in which a daemon can miss its parent's death), and starts a tiny watcher thread
    /// (a raw `pthread` with a 64 KiB stack and every signal blocked) that waits for the pidfd to
    /// become readable, which happens when the whole parent process has exited, and then sends
    /// `SIGKILL` to the child. The kernel notices the exit itself, so the daemon ends within
    /// milliseconds. Python instead notices at its parent's orderly exit only.
    ///
    /// The watcher makes the daemon a two-thread process, which matters only if its target forks
    /// (the watcher does not exist in the grandchild; it takes no lock). On kernels without
    /// `pidfd_open` (before Linux 5.3) it falls back to `PR_SET_PDEATHSIG`, which fires when the
    /// spawning *thread* exits, plus the same `getppid` check.
    ///
    /// [`join_children_at_exit`](crate::join_children_at_exit) additionally terminates daemons
    /// (`SIGTERM`) and joins them at an orderly exit, as Python does.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::Builder::new().daemon(true).spawn(|| ())?;
    /// assert!(p.is_daemon());
    /// p.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = daemon;
        self
    }

    /// Closes, in the child, every inherited descriptor except standard input, output and error
    /// and those given to [`keep_fd`](Builder::keep_fd) (default `false`: the child inherits
    /// every descriptor of the parent, as a plain `fork` does).
    ///
    /// A `fork` copies all of the parent's descriptors, close-on-exec or not. Without this, a
    /// child holds, for example, the write end of another child's pipe, and the reader of that
    /// pipe never sees the end of the stream while the child runs. The child closes them with one
    /// `close_range(2)` per gap between kept descriptors (on kernels before 5.9, by listing
    /// `/proc/self/fd`, or else every number below the descriptor limit).
    ///
    /// Every descriptor the target uses must be kept: one moved into the closure and not kept is
    /// closed before the target runs, and dropping it then closes a number that may name another
    /// file by then. The same holds for descriptors that libraries keep in statics (a log file,
    /// an epoll instance): the target must not use those. Descriptors the child opens itself are
    /// not affected, nor are its own children (mp-core's `/dev/null` is reopened for them).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut rd, wr) = std::io::pipe()?;
    /// let p = mp_core::Builder::new().close_fds(true).keep_fd(&wr).spawn(move || {
    ///     let mut wr = wr;
    ///     let open = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    ///     // stdin, stdout, stderr, `wr`, and read_dir's own descriptor
    ///     writeln!(wr, "{open}").map_err(|e| e.to_string())
    /// })?;
    /// let mut got = String::new();
    /// rd.read_to_string(&mut got)?;
    /// assert_eq!(got.trim(), "5");
    /// assert!(p.join()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close_fds(mut self, close: bool) -> Builder {
        self.close_fds = close;
        self
    }

    /// A descriptor that [`close_fds`](Builder::close_fds) leaves open in the child (any number
    /// of calls; without `close_fds(true)` every descriptor is inherited anyway).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rd, wr) = std::io::pipe()?;
    /// let p = mp_core::Builder::new().close_fds(true).keep_fd(&wr).spawn(move || {
    ///     drop(wr); // still open here, so this closes it once
    /// })?;
    /// assert!(p.join()?.success());
    /// drop(rd);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn keep_fd(mut self, fd: impl AsFd) -> Builder {
        let raw = fd.as_fd().as_raw_fd();
        if let Err(at) = self.keep_fds.binary_search(&raw) {
            self.keep_fds.insert(at, raw);
        }
        self
    }

    /// How the child is started (Python's `set_start_method`, per process): see
    /// [`StartMethod`]. By default [`spawn`](Builder::spawn) forks (a closure can only reach a
    /// child that way) and [`spawn_fn`](Builder::spawn_fn) asks the fork server.
    ///
    /// [`close_fds`](Builder::close_fds) and [`keep_fd`](Builder::keep_fd) apply to `fork`
    /// only: a fork-server child always holds just standard I/O and its arguments' descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_core::{Builder, StartMethod};
    /// let p = Builder::new().start_method(StartMethod::ForkServer).spawn_fn(|n: u32| assert_eq!(n, 7), 7)?;
    /// assert!(p.join()?.success());
    /// let refused = Builder::new().start_method(StartMethod::ForkServer).spawn(|| ());
    /// assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Builder {
        self.start_method = Some(method);
        self
    }

    /// Starts `f(args)` in a new child (Python's `Process(target=f, args=…).start()`), through
    /// the fork server unless [`start_method`](Builder::start_method) chose `fork`. See
    /// [`crate::forkserver`] for what the child holds and why `f` must be a plain `fn`.
    ///
    /// # Errors
    ///
    /// As [`forkserver::spawn`](crate::forkserver::spawn), or with `fork`, as
    /// [`spawn`](Builder::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut mine, theirs) = mp_ipc::Pipe::duplex()?;
    /// let p = mp_core::Builder::new().name("producer").daemon(true).spawn_fn(
    ///     |mut conn: mp_ipc::Connection| conn.send(&5u32).map_err(|e| e.to_string()),
    ///     theirs, // its socket travels to the child; this process's copy is closed
    /// )?;
    /// assert_eq!(mine.recv::<u32>()?, 5);
    /// assert!(p.join()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_fn<A, O>(mut self, f: fn(A) -> O, args: A) -> io::Result<Process>
    where
        A: Serialize + DeserializeOwned,
        O: Outcome,
    {
        match self.start_method {
            Some(StartMethod::Fork) => {
                self.start_method = None;
                self.spawn(move || f(args))
            }
            _ => crate::forkserver::spawn_with(self.name, self.daemon, f, args),
        }
    }

    /// Forks and runs `target` in the child (Python's `Process.start()`).
    ///
    /// The child gets a copy of the target (and of everything it captured); the parent's copy is
    /// dropped when `spawn` returns, so a pipe end or socket moved into the closure is closed in
    /// the parent, and only the child holds it.
    ///
    /// The first spawn opens `/dev/null` (close-on-exec) and keeps it open for the life of the
    /// process: each child only duplicates it onto its standard input, which saves two system
    /// calls in every child.
    ///
    /// The child is recorded in this process's registry of children (see
    /// [`active_children`](crate::active_children)); children whose handles were dropped and
    /// that have ended since are reaped here, before the fork.
    ///
    /// # Errors
    ///
    /// The `fork` error, for example `EAGAIN` (`io::ErrorKind::WouldBlock`) when the process
    /// limit is reached; `InvalidInput` when [`start_method`](Builder::start_method) chose the
    /// fork server, which cannot run a closure.
    ///
    /// # Examples
    ///
    /// ```
    /// let data = vec![1, 2, 3];
    /// let p = mp_core::Builder::new().spawn(move || assert_eq!(data.iter().sum::<i32>(), 6))?;
    /// assert!(p.join()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<R: Run>(mut self, target: R) -> io::Result<Process> {
        if self.start_method == Some(StartMethod::ForkServer) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a closure can only be started with fork: use spawn_fn(f, args) with the fork server",
            ));
        }
        let (numbers, name) = super::next_child(self.name.take());
        let (out_lock, err_lock) = super::hold_output();
        if DEV_NULL.get().is_none()
            && let Ok(fd) = sys::open_dev_null()
        {
            let _ = DEV_NULL.set(fd);
        }
        let parent = current_process();
        let parent_pid = parent.pid;
        // Built before the fork, so that the child writes as few pages as possible (each page it
        // writes is a copy-on-write fault: most of the cost of a short-lived child).
        let id = Box::into_raw(Box::new(Identity { numbers, name, parent: Some(parent) }));
        // Held across the fork like the output locks: in the child it is then held by the one
        // thread there, which empties it (the parent's children are not the child's).
        let mut children = lifecycle::registry();
        lifecycle::sweep(&mut children);
        // SAFETY: the child branch below only sets up its identity, stdin, descriptors and
        // parent watch, runs the target, and ends in `_exit` (`child_main`); the
        // multithreaded-parent limits are documented on this module and on `spawn`.
        let forked = unsafe { sys::fork() };
        // SAFETY: `id` came from `Box::into_raw` above; each process takes it back once.
        let id = unsafe { Box::from_raw(id) };
        match forked {
            Ok(sys::Forked::Child) => {
                // Forgotten, not dropped: freeing the parent's records would only dirty pages.
                std::mem::forget(std::mem::take(&mut *children));
                drop(children);
                drop((out_lock, err_lock));
                child_main(Box::leak(id), parent_pid, &self, target)
            }
            Ok(sys::Forked::Parent(pid)) => {
                let child = Arc::new(Child {
                    pid: Pid(pid),
                    name: id.name,
                    daemon: self.daemon,
                    status: Mutex::new(None),
                    served: None,
                });
                children.push(Arc::clone(&child));
                drop(children);
                Ok(Process::new(child))
            }
            Err(e) => Err(e),
        }
    }
}

/// Runs in the child: never returns.
fn child_main<R: Run>(id: &'static mut Identity, parent: Pid, opts: &Builder, target: R) -> ! {
    super::enter_identity(id);
    // A child cannot use standard input.
    match DEV_NULL.get().filter(|_| !DEV_NULL_CLOSED.load(Ordering::Relaxed)) {
        Some(null) => {
            let _ = sys::dup2(null.as_fd(), 0);
        }
        None => match sys::open_dev_null() {
            Ok(null) => {
                let _ = sys::dup2(null.as_fd(), 0);
            }
            Err(_) => sys::exit_now(1),
        },
    }
    if opts.close_fds {
        // SAFETY: this child ends in `_exit`, so no destructor of a parent's handle closes a
        // descriptor again; the target keeps the ones it uses (`keep_fd`), as documented.
        if unsafe { sys::close_fds_except(&opts.keep_fds) }.is_err() {
            sys::exit_now(1);
        }
        if DEV_NULL.get().is_some_and(|null| opts.keep_fds.binary_search(&null.as_raw_fd()).is_err()) {
            DEV_NULL_CLOSED.store(true, Ordering::Relaxed);
        }
    }
    // After `close_fds`: the pidfd opened here must stay open.
    if opts.daemon && watch_parent(parent).is_err() {
        // A daemon that could outlive its parent must not run.
        sys::exit_now(1);
    }
    super::run_and_exit(target)
}

/// Ties this (daemon) child to its parent process: see [`Builder::daemon`].
fn watch_parent(parent: Pid) -> io::Result<()> {
    match sys::pidfd_open(parent.as_raw()) {
        Ok(pidfd) => {
            // The pidfd names `parent` only if the parent was still alive after it was opened:
            // else the pid may have been reused and the watch would follow a stranger.
            if sys::getppid() != parent.as_raw() {
                return Err(io::ErrorKind::NotFound.into());
            }
            sys::kill_self_when_readable(pidfd)
        }
        Err(e) if e.raw_os_error() == Some(ENOSYS) => {
            sys::set_parent_death_signal(SIGKILL)?;
            // The parent may have died between the fork and the prctl: then no signal comes.
            if sys::getppid() != parent.as_raw() {
                return Err(io::ErrorKind::NotFound.into());
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `ENOSYS` on Linux: a system call the kernel does not have.
const ENOSYS: i32 = 38;

/// Starts `target` in a new child process with default options; see [`Builder::spawn`].
///
/// # Errors
///
/// As [`Builder::spawn`].
///
/// # Examples
///
/// ```
/// let n = 21;
/// let p = mp_core::spawn(move || assert_eq!(n * 2, 42))?;
/// assert!(p.name().starts_with("Process-"));
/// assert!(p.join()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn<R: Run>(target: R) -> io::Result<Process> {
    Builder::new().spawn(target)
}
