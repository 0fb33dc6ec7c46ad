//! Child processes: Python's `multiprocessing.Process`, over `fork` and `waitpid`.
//!
//! A child is a `fork` of the caller that runs one target and then leaves with `_exit`: it never
//! returns into the caller's code and never runs the parent's destructors. Its standard input is
//! `/dev/null`; its standard output and error are the parent's (both are flushed before the fork,
//! so text printed before [`spawn`] appears once).
//!
//! What a `fork` child of a multithreaded parent may do is on the crate's front page ("Forking a
//! multithreaded process"), where `cargo doc` shows it.
//!
//! # Lifecycle
//!
//! Every child started here is recorded in a registry of this process's unreaped children
//! (`lifecycle.rs`). That is how [`active_children`] finds them, how children whose [`Process`]
//! handle was dropped are still reaped, and how [`join_children_at_exit`] joins them. There is no
//! `SIGCHLD` handler and no `waitpid(-1)`: only the pids started here are ever waited for, so
//! children started by other code (`std::process::Command`, another library) are never stolen.
//!
//! The files: `builder.rs` (options, the fork and the child's setup), `handle.rs` ([`Process`]),
//! `lifecycle.rs` (the registry, [`active_children`], [`join_children_at_exit`]).

mod builder;
mod handle;
mod lifecycle;

pub(crate) use builder::forget_dev_null;
pub use builder::{Builder, spawn};
pub use handle::Process;
pub(crate) use lifecycle::{Child, Served, registry, sweep};
pub use lifecycle::{active_children, join_children_at_exit};

use mp_ipc::os as sys;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

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
/// `()` exits with 0; a target that never returns (`!`) is accepted too. `Result<T, E>` exits
/// like `T` on `Ok`, and on `Err` prints `{process name}: Error: {err:?}` to standard error (for
/// example `Process-1: Error: "boom"`: the name leads, as in the header of Python's traceback)
/// and exits with 1 (as a `main` returning `Result` does).
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
                let name = identity().map_or("MainProcess", |id| id.name.as_str());
                // One write, so that lines of processes failing together do not interleave.
                let line = format!("{name}: Error: {e:?}\n");
                let _ = io::stderr().write_all(line.as_bytes());
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

/// `SIGTERM` is Python's `terminate()`; `SIGKILL` its `kill()`, and how a daemon ends when its
/// parent has.
use mp_ipc::signal::consts::{SIGKILL, SIGTERM};

static IDENTITY: AtomicPtr<Identity> = AtomicPtr::new(std::ptr::null_mut());
/// Children started so far by this process (Python's `_process_counter`).
static CHILD_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Flushes buffered standard output and error and takes both locks, to be held across a
/// `fork`: buffered output is then not printed twice (once by each process), and no other
/// thread holds either lock at that moment (the child, a copy of this thread, can still take
/// them: they are reentrant).
pub(crate) fn hold_output() -> (io::StdoutLock<'static>, io::StderrLock<'static>) {
    let mut out = io::stdout().lock();
    let _ = out.flush();
    let mut err = io::stderr().lock();
    let _ = err.flush();
    (out, err)
}

/// Numbers and names the next child of this process: `(identity numbers, name)`, the name
/// being `name` or `Process-N` (see [`Builder::name`]).
pub(crate) fn next_child(name: Option<String>) -> (Vec<u32>, String) {
    let number = CHILD_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let mut numbers = identity().map(|id| id.numbers.clone()).unwrap_or_default();
    numbers.push(number);
    let name = name.unwrap_or_else(|| {
        let n: Vec<String> = numbers.iter().map(u32::to_string).collect();
        format!("Process-{}", n.join(":"))
    });
    (numbers, name)
}

/// In a new child, before its target runs: records who it is (for [`current_process`],
/// [`parent_process`] and the `Process-N: Error:` line) and restarts the child numbering.
pub(crate) fn enter_child(numbers: Vec<u32>, name: String, parent: Option<ProcessInfo>) {
    enter_identity(Box::leak(Box::new(Identity { numbers, name, parent })));
}

fn enter_identity(id: &'static mut Identity) {
    IDENTITY.store(id, Ordering::Release);
    CHILD_COUNTER.store(0, Ordering::Relaxed);
}

/// Runs a child's target and ends the child with its exit code (`_exit`): a panic exits with 1
/// (the panic hook has printed its message), an `Err` prints `{name}: Error: …` first.
pub(crate) fn run_and_exit<R: Run>(target: R) -> ! {
    let code =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run().into_exit_code())).unwrap_or(1);
    let _ = io::stdout().flush();
    sys::exit_now(code)
}

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
