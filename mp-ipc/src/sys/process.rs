//! Process calls: `fork`, `_exit`, `waitpid`, `waitid`, `pidfd_open`, `kill`, `prctl`, `atexit`,
//! `close_range`, and the parent-watcher thread of a daemon child.

use super::{cvt, cvt_pthread, cvt_r};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

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

/// Whether child `pid` has exited, without reaping it and without waiting
/// (`waitid(P_PID, pid, WEXITED | WNOHANG | WNOWAIT)`): the child stays waitable, so its pid
/// cannot be reused. `ECHILD` when `pid` is not an unreaped child of this process.
pub fn has_exited(pid: libc::pid_t) -> io::Result<bool> {
    // SAFETY: an all-zero siginfo_t is a valid value to pass for the kernel to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid writable siginfo_t; the id is a pid.
    cvt_r(|| unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) })?;
    // SAFETY: after a successful waitid, si_pid is set (to 0 when no child has changed state).
    Ok(unsafe { info.si_pid() } != 0)
}

/// `pidfd_open(2)`: a descriptor that becomes readable when the process exits. Close-on-exec is
/// always set on pidfds.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: the raw syscall takes a pid and a flags word and returns a new descriptor.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the syscall succeeded; the descriptor is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `pidfd_send_signal(2)`: sends `sig` to the process `pidfd` names, which cannot be another
/// process that reused its pid. `ESRCH` once that process has been reaped.
pub fn pidfd_send_signal(pidfd: std::os::fd::BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: the raw syscall takes a descriptor, a signal number, a null siginfo and flags.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
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

/// `atexit(3)`: runs `f` when the process ends through `exit` (returning from `main` or
/// `std::process::exit`), not through `_exit` or a signal.
pub fn at_exit(f: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `f` is a plain function with the signature atexit expects; it lives for ever.
    match unsafe { libc::atexit(f) } {
        0 => Ok(()),
        _ => Err(io::Error::from(io::ErrorKind::OutOfMemory)),
    }
}

/// Starts a detached thread that waits until `parent` (a pidfd) becomes readable, which happens
/// when that whole process has exited, however it died, and then kills this process with
/// `SIGKILL`. The thread blocks every signal, so it never takes one meant for the program, and
/// has a small stack. It is a raw `pthread`, not a `std::thread`: it is started in a freshly
/// forked child, where std's thread setup could wait on a lock another parent thread held.
pub fn kill_self_when_readable(parent: OwnedFd) -> io::Result<()> {
    extern "C" fn watch(arg: *mut libc::c_void) -> *mut libc::c_void {
        let fd = arg as usize as libc::c_int;
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        loop {
            // SAFETY: `p` is a valid one-element pollfd array.
            let r = unsafe { libc::poll(&mut p, 1, -1) };
            if r > 0 {
                break;
            }
            // EINTR cannot happen with every signal blocked, but retrying is harmless; any other
            // error (there is none for a valid pollfd) must not leave the daemon unwatched.
            if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
        // SAFETY: kill has no memory-safety preconditions; this ends the whole process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        std::ptr::null_mut()
    }
    // SAFETY: the attribute, the signal sets and the thread id are valid, initialised locals;
    // the new thread only reads the descriptor number it is given and owns it for ever.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        cvt_pthread(libc::pthread_attr_init(&mut attr))?;
        let _ = libc::pthread_attr_setstacksize(&mut attr, 64 * 1024);
        let _ = libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        // The new thread inherits this mask: it is created with every signal blocked.
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let fd = parent.as_raw_fd();
        let mut tid: libc::pthread_t = std::mem::zeroed();
        let r = libc::pthread_create(&mut tid, &attr, watch, fd as usize as *mut libc::c_void);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        cvt_pthread(r)?;
    }
    // The thread owns the descriptor now.
    let _ = parent.into_raw_fd();
    Ok(())
}

/// Closes every descriptor from 3 up except those in `keep` (which must be sorted), with
/// `close_range(2)`; where the kernel lacks it (`ENOSYS`, before Linux 5.9), closes the
/// descriptors listed in `/proc/self/fd`, or failing that every number below the descriptor
/// limit.
///
/// # Safety
///
/// For a freshly forked child that ends in `_exit`: nothing may use a closed descriptor
/// afterwards, and no `OwnedFd` of one may be dropped (it would close a number that may have
/// been reused).
pub unsafe fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    debug_assert!(keep.windows(2).all(|w| w[0] <= w[1]));
    let mut first: libc::c_uint = 3;
    let mut ranges = Vec::with_capacity(keep.len() + 1);
    for &k in keep.iter().filter(|&&k| k >= 3) {
        let k = k as libc::c_uint;
        if k > first {
            ranges.push((first, k - 1));
        }
        first = first.max(k + 1);
    }
    ranges.push((first, libc::c_uint::MAX));
    for &(lo, hi) in &ranges {
        // SAFETY: close_range takes two numbers and flags; the caller guarantees the closed
        // descriptors are not used again.
        match cvt(unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) }) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                // SAFETY: as above, from the caller.
                return unsafe { close_fds_by_listing(keep) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The `close_range` fallback: closes what `/proc/self/fd` lists, else every number up to the
/// soft `RLIMIT_NOFILE`.
///
/// # Safety
///
/// As [`close_fds_except`].
unsafe fn close_fds_by_listing(keep: &[RawFd]) -> io::Result<()> {
    let doomed = |fd: RawFd| fd >= 3 && keep.binary_search(&fd).is_err();
    match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => {
            // Collected first: the directory's own descriptor is open while it is listed.
            let fds: Vec<RawFd> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&fd| doomed(fd))
                .collect();
            for fd in fds {
                // SAFETY: the caller guarantees nothing uses these again; close is not retried.
                unsafe { libc::close(fd) };
            }
        }
        Err(_) => {
            // SAFETY: an all-zero rlimit is valid for getrlimit to fill in.
            let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
            // SAFETY: `lim` is a valid writable rlimit.
            cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
            let max = RawFd::try_from(lim.rlim_cur).unwrap_or(RawFd::MAX);
            for fd in (3..max).filter(|&fd| doomed(fd)) {
                // SAFETY: as above.
                unsafe { libc::close(fd) };
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens descriptors up to number 40, runs `close` in a forked child keeping `30 + k` for
    /// each `k` in `keep`, and returns which `k` in `0..8` are still open there (the child
    /// reports them as exit-code bits).
    fn open_after(keep: &[RawFd], close: unsafe fn(&[RawFd]) -> io::Result<()>) -> Vec<RawFd> {
        let mut files = Vec::new();
        while files.last().is_none_or(|f: &std::fs::File| f.as_raw_fd() < 40) {
            files.push(std::fs::File::open("/dev/null").unwrap());
        }
        let keep: Vec<RawFd> = keep.iter().map(|k| k + 30).collect();
        // SAFETY: the child only calls close/fcntl and ends in `_exit`.
        match unsafe { fork() }.unwrap() {
            Forked::Child => {
                // SAFETY: this child ends in `_exit` and uses none of the closed descriptors.
                if unsafe { close(&keep) }.is_err() {
                    exit_now(255);
                }
                let mut bits = 0;
                for i in 0..8 {
                    // SAFETY: F_GETFD only queries a descriptor number.
                    if unsafe { libc::fcntl(30 + i, libc::F_GETFD) } != -1 {
                        bits |= 1 << i;
                    }
                }
                exit_now(bits)
            }
            Forked::Parent(pid) => {
                let status = waitpid(pid, false).unwrap().unwrap();
                let (code, _, _) = decode_status(status);
                let bits = code.expect("the child exited");
                assert_ne!(bits, 255, "the close call failed");
                (0..8).filter(|i| bits & (1 << i) != 0).collect()
            }
        }
    }

    #[test]
    fn close_range_keeps_exactly_the_listed_descriptors() {
        assert_eq!(open_after(&[1, 2, 5], close_fds_except), [1, 2, 5]);
        assert_eq!(open_after(&[0, 7], close_fds_except), [0, 7]);
        assert_eq!(open_after(&[], close_fds_except), Vec::<RawFd>::new());
    }

    #[test]
    fn the_proc_listing_fallback_keeps_exactly_the_listed_descriptors() {
        assert_eq!(open_after(&[1, 2, 5], close_fds_by_listing), [1, 2, 5]);
        assert_eq!(open_after(&[3], close_fds_by_listing), [3]);
    }
}
