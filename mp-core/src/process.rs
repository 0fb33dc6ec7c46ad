//! Child processes: Python's `multiprocessing.Process`, over `fork` and `waitpid`.
//!
//! A child is a `fork` of the caller that runs one target and then leaves with `_exit`: it never
//! returns into the caller's code and never runs the parent's destructors. Its standard input is
//! `/dev/null`; its standard output and error are the parent's (both are flushed before the fork,
//! so text printed before [`spawn`] appears once).
//!
//! # Forking a multithreaded process
//!
//! Only the thread that calls [`spawn`] exists in the child. A lock that another thread held at
//! that moment stays locked in the child for ever. So in the child of a multithreaded parent:
//!
//! * safe: computing, allocating (glibc's allocator resets its locks at `fork`), system calls,
//!   the `mp-ipc` types (they hold no process-local locks), writing with `libc`/raw fds;
//! * not safe: anything that takes a lock another parent thread may have held, such as a
//!   `std::sync::Mutex` shared with those threads, or a logging framework's global lock.
//!   (`print!`/`eprint!` are fine: `spawn` holds the `stdout` and `stderr` locks across the fork.)
//!
//! A single-threaded parent (the common case) has none of these limits.

use mp_ipc::__private as sys;
use std::cell::{Cell, OnceCell};
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A process id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(i32);

impl Pid {
    /// The raw `pid_t`.
    ///
    /// # Examples
    ///
    /// ```
    /// let me = mp_core::current_process();
    /// assert_eq!(me.pid.as_raw() as u32, std::process::id());
    /// ```
    pub fn as_raw(self) -> i32 {
        self.0
    }

    /// Wraps a raw pid.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp_core::Pid::from_raw(42).as_raw(), 42);
    /// ```
    pub fn from_raw(pid: i32) -> Pid {
        Pid(pid)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a process ended, as `waitpid` reported it.
///
/// # Examples
///
/// ```
/// let p = mp_core::spawn(|| -> Result<(), String> { Err("no luck".into()) })?;
/// let status = p.join()?;
/// assert_eq!(status.code(), Some(1));
/// assert_eq!(status.exitcode(), 1);
/// assert!(!status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitStatus(i32);

impl ExitStatus {
    /// Wraps a raw wait status (as filled in by `waitpid(2)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp_core::ExitStatus::from_raw(3 << 8); // exit(3)
    /// assert_eq!(s.code(), Some(3));
    /// assert_eq!(s.into_raw(), 3 << 8);
    /// ```
    pub fn from_raw(status: i32) -> ExitStatus {
        ExitStatus(status)
    }

    /// The raw wait status.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp_core::ExitStatus::from_raw(9).into_raw(), 9);
    /// ```
    pub fn into_raw(self) -> i32 {
        self.0
    }

    /// The exit code, when the process exited normally.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::process::exit(4))?;
    /// assert_eq!(p.join()?.code(), Some(4));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn code(self) -> Option<i32> {
        sys::decode_status(self.0).0
    }

    /// The signal that ended the process, when a signal did.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// p.kill()?;
    /// assert_eq!(p.join()?.signal(), Some(9));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn signal(self) -> Option<i32> {
        sys::decode_status(self.0).1
    }

    /// Whether the process dumped core.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| ())?;
    /// assert!(!p.join()?.core_dumped());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn core_dumped(self) -> bool {
        sys::decode_status(self.0).2
    }

    /// Whether the process exited normally with code 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| ())?;
    /// assert!(p.join()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn success(self) -> bool {
        self.code() == Some(0)
    }

    /// Python's `Process.exitcode`: the exit code, or minus the signal number.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// p.terminate()?;
    /// assert_eq!(p.join()?.exitcode(), -15);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn exitcode(self) -> i32 {
        match sys::decode_status(self.0) {
            (Some(code), _, _) => code,
            (_, Some(sig), _) => -sig,
            _ => 0,
        }
    }
}

impl fmt::Debug for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExitStatus({self})")
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match sys::decode_status(self.0) {
            (Some(code), _, _) => write!(f, "exit code {code}"),
            (_, Some(sig), core) => {
                match sys::signal_name(sig) {
                    Some(name) => write!(f, "killed by signal {sig} ({name})")?,
                    None => write!(f, "killed by signal {sig}")?,
                }
                if core {
                    f.write_str(", core dumped")?;
                }
                Ok(())
            }
            _ => write!(f, "wait status {:#x}", self.0),
        }
    }
}

/// What a process target returns; it decides the child's exit code.
///
/// `()` exits with 0; a target that never returns (`!`) is accepted too. `Result<T, E>` exits like `T` on `Ok`, and on `Err` prints
/// `Error: {err:?}` to standard error and exits with 1 (as a `main` returning `Result` does).
pub trait Outcome {
    /// The exit code this value stands for. May print (an error) first.
    fn into_exit_code(self) -> i32;
}

impl Outcome for () {
    fn into_exit_code(self) -> i32 {
        0
    }
}

/// Names the never type `!` on stable Rust, so that a target that never returns (it panics, or
/// calls `std::process::exit`) is accepted.
mod never {
    pub trait FnReturn {
        type Output;
    }
    impl<R> FnReturn for fn() -> R {
        type Output = R;
    }
    pub type Never = <fn() -> ! as FnReturn>::Output;
}

impl Outcome for never::Never {
    fn into_exit_code(self) -> i32 {
        self
    }
}

impl<T: Outcome, E: fmt::Debug> Outcome for Result<T, E> {
    fn into_exit_code(self) -> i32 {
        match self {
            Ok(v) => v.into_exit_code(),
            Err(e) => {
                let _ = writeln!(io::stderr(), "Error: {e:?}");
                1
            }
        }
    }
}

/// The body of a child process: Python's `Process.run`.
///
/// Closures implement it, so [`spawn`] takes either a closure (Python's `target=` with its
/// `args` captured) or a value of your own type (Python's custom `Process` subclass).
///
/// # Examples
///
/// ```
/// use mp_core::{Builder, Run};
///
/// struct Countdown { from: u32 }
///
/// impl Run for Countdown {
///     type Output = Result<(), String>;
///     fn run(self) -> Self::Output {
///         (0..=self.from).rev().for_each(|_| {});
///         if self.from < 100 { Ok(()) } else { Err(format!("{} is too many", self.from)) }
///     }
/// }
///
/// let ok = Builder::new().name("countdown").spawn(Countdown { from: 3 })?;
/// let bad = mp_core::spawn(Countdown { from: 1000 })?;
/// assert!(ok.join()?.success());
/// assert_eq!(bad.join()?.code(), Some(1));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Run {
    /// What `run` returns: `()` or a `Result` (see [`Outcome`]).
    type Output: Outcome;
    /// Runs in the child, then the child exits.
    fn run(self) -> Self::Output;
}

impl<F, O> Run for F
where
    F: FnOnce() -> O,
    O: Outcome,
{
    type Output = O;
    fn run(self) -> O {
        self()
    }
}

/// The name and pid of a process, as [`current_process`] and [`parent_process`] report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `MainProcess` for a process not started by mp-core, else the name it was given.
    pub name: String,
    /// Its pid.
    pub pid: Pid,
}

/// Who this process is, set in each child right after the fork (the child is single-threaded
/// then, so a plain pointer swap is enough; the old value is leaked on purpose: one per process).
struct Identity {
    /// Python's `_identity`: the child numbers from the main process down to this one.
    numbers: Vec<u32>,
    name: String,
    parent: Option<ProcessInfo>,
}

/// `/dev/null`, opened (close-on-exec) by the first spawn and kept, so that each child only has
/// to `dup2` it onto its standard input.
static DEV_NULL: OnceLock<OwnedFd> = OnceLock::new();

static IDENTITY: AtomicPtr<Identity> = AtomicPtr::new(std::ptr::null_mut());
/// Children started so far by this process (Python's `_process_counter`).
static CHILD_COUNTER: AtomicU32 = AtomicU32::new(0);

fn identity() -> Option<&'static Identity> {
    let p = IDENTITY.load(Ordering::Acquire);
    // SAFETY: a non-null pointer came from `Box::leak` in `child_main` and is never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The name and pid of the running process (Python's `multiprocessing.current_process()`).
///
/// # Examples
///
/// ```
/// let me = mp_core::current_process();
/// assert_eq!(me.name, "MainProcess");
///
/// let p = mp_core::Builder::new().name("worker").spawn(|| {
///     assert_eq!(mp_core::current_process().name, "worker");
/// })?;
/// assert!(p.join()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn current_process() -> ProcessInfo {
    let pid = Pid(sys::getpid());
    match identity() {
        Some(id) => ProcessInfo { name: id.name.clone(), pid },
        None => ProcessInfo { name: "MainProcess".into(), pid },
    }
}

/// The process that started this one with mp-core (Python's `parent_process()`), or `None` in a
/// process that mp-core did not start.
///
/// The name is the one the parent had when it forked; the pid is the parent's pid (if the
/// parent has since exited, the process may have been re-parented: compare with `getppid`).
///
/// # Examples
///
/// ```
/// assert!(mp_core::parent_process().is_none());
/// let me = mp_core::current_process();
/// let p = mp_core::spawn(move || {
///     assert_eq!(mp_core::parent_process(), Some(me));
/// })?;
/// assert!(p.join()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    identity().and_then(|id| id.parent.clone())
}

/// The number of online CPUs (Python's `cpu_count()`), at least 1.
///
/// # Examples
///
/// ```
/// assert!(mp_core::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    sys::cpu_count()
}

/// Options for a child process before it starts (Python's `Process(name=…, daemon=…)`).
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

    /// A daemon child is killed (`SIGKILL`) when its parent ends, also when the parent dies by
    /// `SIGKILL`. Precisely: when the *thread* that spawned it exits (Linux's
    /// `PR_SET_PDEATHSIG`), so spawn daemons from a thread that lives as long as they should,
    /// normally the main thread. A parent that is already gone when the child starts is noticed
    /// too: the child then kills itself before running the target.
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
    /// # Errors
    ///
    /// The `fork` error, for example `EAGAIN` (`io::ErrorKind::WouldBlock`) when the process
    /// limit is reached.
    ///
    /// # Examples
    ///
    /// ```
    /// let data = vec![1, 2, 3];
    /// let p = mp_core::Builder::new().spawn(move || assert_eq!(data.iter().sum::<i32>(), 6))?;
    /// assert!(p.join()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<R: Run>(self, target: R) -> io::Result<Process> {
        let number = CHILD_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
        let mut numbers = identity().map(|id| id.numbers.clone()).unwrap_or_default();
        numbers.push(number);
        let name = self.name.unwrap_or_else(|| {
            let n: Vec<String> = numbers.iter().map(u32::to_string).collect();
            format!("Process-{}", n.join(":"))
        });
        // Buffered output must not be printed twice (once by each process): flush it, and hold
        // both locks across the fork, so that no other thread holds them at that moment (the
        // child, a copy of this thread, can then still take them: they are reentrant).
        let stdout = io::stdout();
        let mut out_lock = stdout.lock();
        let _ = out_lock.flush();
        let stderr = io::stderr();
        let mut err_lock = stderr.lock();
        let _ = err_lock.flush();
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
        // SAFETY: the child branch below only sets up its identity and stdin, runs the target,
        // and ends in `_exit` (`child_main`); the multithreaded-parent limits are documented on
        // this module and on `spawn`.
        let forked = unsafe { sys::fork() };
        // SAFETY: `id` came from `Box::into_raw` above; each process takes it back once.
        let id = unsafe { Box::from_raw(id) };
        match forked? {
            sys::Forked::Child => child_main(Box::leak(id), parent_pid, self.daemon, target),
            sys::Forked::Parent(pid) => Ok(Process {
                pid: Pid(pid),
                name: id.name,
                daemon: self.daemon,
                status: Cell::new(None),
                pidfd: OnceCell::new(),
            }),
        }
    }
}

/// Runs in the child: never returns.
fn child_main<R: Run>(id: &'static mut Identity, parent: Pid, daemon: bool, target: R) -> ! {
    IDENTITY.store(id, Ordering::Release);
    CHILD_COUNTER.store(0, Ordering::Relaxed);
    if daemon {
        // A failure here would leave a daemon that outlives its parent: refuse to run.
        if sys::set_parent_death_signal(9).is_err() {
            sys::exit_now(1);
        }
        // The parent may have died between fork and prctl: then no signal will come.
        if sys::getppid() != parent.as_raw() {
            let _ = sys::kill(sys::getpid(), 9);
            sys::exit_now(1);
        }
    }
    // The seed: a child cannot use standard input.
    match DEV_NULL.get() {
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
    // On a panic, the hook has printed the message to stderr already: exit with 1.
    let code = panic::catch_unwind(AssertUnwindSafe(|| target.run().into_exit_code())).unwrap_or(1);
    let _ = io::stdout().flush();
    sys::exit_now(code)
}

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

/// A started child process (Python's `Process` after `start()`).
///
/// The exit status is cached the first time it is collected, so joining twice returns the same
/// status and a signal never reaches a pid the kernel has reused.
///
/// # Dropping
///
/// Dropping the handle does not wait and does not kill: like `std::process::Child`, a child still
/// running goes on (a daemon child still dies with its parent). If it has already exited it is
/// reaped on drop; otherwise it stays a zombie after it exits, until this process ends. Call
/// [`join`](Process::join) to collect it.
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    name: String,
    daemon: bool,
    status: Cell<Option<ExitStatus>>,
    /// Opened on the first timed join.
    pidfd: OnceCell<OwnedFd>,
}

impl Process {
    /// The child's pid.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| ())?;
    /// assert!(p.pid().as_raw() > 0);
    /// p.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The child's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::Builder::new().name("n").spawn(|| ())?;
    /// assert_eq!(p.name(), "n");
    /// p.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the child was started as a daemon.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| ())?;
    /// assert!(!p.is_daemon());
    /// p.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Waits for the child to end and returns how it ended (Python's `join()`).
    ///
    /// # Errors
    ///
    /// `waitpid`'s error, for example `ECHILD` if something else in this process reaped the
    /// child (a `waitpid(-1)` elsewhere).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| ())?;
    /// let first = p.join()?;
    /// assert_eq!(p.join()?, first); // cached
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(&self) -> io::Result<ExitStatus> {
        if let Some(s) = self.status.get() {
            return Ok(s);
        }
        match sys::waitpid(self.pid.0, false)? {
            Some(raw) => Ok(self.record(raw)),
            None => Err(io::Error::other("waitpid returned no status")),
        }
    }

    /// Waits at most `timeout`; `None` if the child is still running then (Python's
    /// `join(timeout)`). The wait sleeps in the kernel (`poll` on a pidfd), it does not spin.
    ///
    /// # Errors
    ///
    /// As [`join`](Process::join), or the `pidfd_open`/`poll` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = mp_core::spawn(|| std::thread::sleep(Duration::from_secs(30)))?;
    /// assert_eq!(p.join_timeout(Duration::from_millis(10))?, None);
    /// p.terminate()?;
    /// assert_eq!(p.join_timeout(Duration::from_secs(30))?.and_then(|s| s.signal()), Some(15));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.join_deadline(deadline),
            None => self.join().map(Some),
        }
    }

    /// Waits until `deadline`; `None` if the child is still running then.
    ///
    /// # Errors
    ///
    /// As [`join_timeout`](Process::join_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let p = mp_core::spawn(|| ())?;
    /// let s = p.join_deadline(Instant::now() + Duration::from_secs(30))?;
    /// assert!(s.is_some_and(|s| s.success()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_deadline(&self, deadline: Instant) -> io::Result<Option<ExitStatus>> {
        loop {
            if let Some(s) = self.try_join()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let fd = match self.pidfd.get() {
                Some(fd) => fd,
                None => {
                    let fd = sys::pidfd_open(self.pid.0)?;
                    self.pidfd.get_or_init(|| fd)
                }
            };
            if !sys::poll_readable(&[fd.as_fd()], Some(deadline))?[0] {
                return Ok(None);
            }
        }
    }

    /// Collects the status if the child has ended, without waiting.
    ///
    /// # Errors
    ///
    /// As [`join`](Process::join).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// assert_eq!(p.try_join()?, None);
    /// p.kill()?;
    /// p.join()?;
    /// assert!(p.try_join()?.is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_join(&self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status.get() {
            return Ok(Some(s));
        }
        Ok(sys::waitpid(self.pid.0, true)?.map(|raw| self.record(raw)))
    }

    /// Whether the child is still running (Python's `is_alive()`); collects it if it ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// assert!(p.is_alive());
    /// p.kill()?;
    /// p.join()?;
    /// assert!(!p.is_alive());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        matches!(self.try_join(), Ok(None))
    }

    /// The cached exit status: `None` until a join or `is_alive` has seen the child end
    /// (Python's `exitcode`, see [`ExitStatus::exitcode`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| ())?;
    /// assert_eq!(p.exit_status(), None);
    /// let s = p.join()?;
    /// assert_eq!(p.exit_status(), Some(s));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.status.get()
    }

    /// Sends `SIGTERM` (Python's `terminate()`). A no-op once the child has been collected.
    ///
    /// # Errors
    ///
    /// `kill`'s error.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// p.terminate()?;
    /// assert_eq!(p.join()?.signal(), Some(15));
    /// p.terminate()?; // collected: a no-op
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(15)
    }

    /// Sends `SIGKILL` (Python's `kill()`). A no-op once the child has been collected.
    ///
    /// # Errors
    ///
    /// `kill`'s error.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// p.kill()?;
    /// assert_eq!(p.join()?.signal(), Some(9));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.signal(9)
    }

    /// Sends signal `sig`. A no-op once the child has been collected, so the signal can never
    /// reach another process that reuses the pid. (An exited but uncollected child still holds
    /// its pid, so signalling it is harmless.)
    ///
    /// # Errors
    ///
    /// `kill`'s error, for example `EINVAL` for an invalid signal number.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// p.signal(2)?; // SIGINT
    /// assert_eq!(p.join()?.signal(), Some(2));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        if self.status.get().is_some() {
            return Ok(());
        }
        sys::kill(self.pid.0, sig)
    }

    fn record(&self, raw: i32) -> ExitStatus {
        let s = ExitStatus(raw);
        self.status.set(Some(s));
        s
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.try_join();
    }
}
