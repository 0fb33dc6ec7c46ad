//! Process calls: `fork`, `_exit`, `waitpid`, `pidfd_open`, `kill`, `prctl`.

use super::{cvt, cvt_r};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// What `fork` returned in this process.
pub enum Forked {
    /// In the parent: the child's pid.
    Parent(libc::pid_t),
    /// In the child.
    Child,
}

/// `fork(2)`.
///
/// # Safety
///
/// In the child of a multithreaded parent only the calling thread exists: any lock another thread
/// held at the moment of the fork stays locked forever. Until it calls `_exit` or `exec`, the
/// child must only do what cannot wait on such a lock (async-signal-safe calls, in POSIX terms);
/// in practice allocation works with glibc, whose allocator resets its locks at fork, but
/// `std::io::stdout()` or any `Mutex` a parent thread held does not. The child must end with
/// [`exit_now`] (never by returning into the parent's stack or running its destructors).
pub unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller upholds the contract above.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// `_exit(2)`: ends the process at once, without running `atexit` handlers or destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// `waitpid(pid, WNOHANG?)`: `Ok(None)` when `nohang` and the child still runs.
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> io::Result<Option<libc::c_int>> {
    let mut status = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: `status` is a valid writable int.
    let r = cvt_r(|| unsafe { libc::waitpid(pid, &mut status, flags) })?;
    Ok(if r == 0 { None } else { Some(status) })
}

/// `pidfd_open(2)`: a descriptor that becomes readable when the process exits. Close-on-exec is
/// always set on pidfds.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: the raw syscall takes a pid and a flags word and returns a new descriptor.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the syscall succeeded; the descriptor is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `kill(pid, sig)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `getpid(2)`.
pub fn getpid() -> libc::pid_t {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}

/// `getppid(2)`.
pub fn getppid() -> libc::pid_t {
    // SAFETY: always succeeds.
    unsafe { libc::getppid() }
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: `sig` is delivered when the thread that forked us exits.
pub fn set_parent_death_signal(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; the unused arguments are zero.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// The name of a signal ("SIGKILL"), or `None` for a number with no standard name.
pub fn signal_name(sig: libc::c_int) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

/// A raw wait status taken apart: `(exit code, terminating signal, core dumped)`.
pub fn decode_status(status: libc::c_int) -> (Option<i32>, Option<i32>, bool) {
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None, false)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)), libc::WCOREDUMP(status))
    } else {
        (None, None, false)
    }
}

/// Builds the raw wait status of a normal exit with `code` (for tests and for statuses that
/// are reported rather than waited for).
pub fn status_from_code(code: u8) -> libc::c_int {
    libc::c_int::from(code) << 8
}

/// Builds the raw wait status of a death by `sig`.
pub fn status_from_signal(sig: libc::c_int) -> libc::c_int {
    sig & 0x7f
}
