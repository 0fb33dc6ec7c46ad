//! The registry of this process's unreaped children: [`active_children`], the reaping of
//! children whose handle was dropped, and [`join_children_at_exit`].
//!
//! # Reaping without `SIGCHLD`
//!
//! Each child started by [`Builder::spawn`](super::Builder::spawn) gets a [`Child`] record,
//! shared by its [`Process`](super::Process) handle and by the registry. The record's mutex is
//! held across every `waitpid` of that pid and the status is stored before it is released, so
//! whoever reaps the child (a join through the handle, [`active_children`], the exit hook) leaves
//! the status for the others, and a pid is never waited for after it was reaped (when the kernel
//! may have given it to another child).
//!
//! A record whose handle was dropped while the child still ran is an *orphan*. Orphans are
//! reaped without waiting at the next [`spawn`](super::spawn) and at each [`active_children`]
//! call. So a program that drops handles keeps at most the orphans that ended since its last
//! spawn as zombies, never an unbounded number. No `SIGCHLD` handler is installed and no
//! `waitpid(-1)` is made: children started by other code are never reaped here.
//!
//! Sweeps only `try_lock` a record: a thread blocked in [`Process::join`](super::Process::join)
//! holds its record's lock, and a sweep never waits for it.

use super::{ExitStatus, Pid, ProcessInfo, SIGTERM};
use mp_ipc::os as sys;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Instant;

/// One child started by this process, until it is reaped.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: Pid,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    /// The exit status once reaped. Held across every wait for the status.
    pub(crate) status: Mutex<Option<ExitStatus>>,
    /// `Some` for a child of the fork server: the server reaps it, and this process learns the
    /// status through the server's report. `None` for a child forked here.
    pub(crate) served: Option<Served>,
}

/// What this process holds of a fork-server child (see `crate::forkserver`).
#[derive(Debug)]
pub(crate) struct Served {
    /// The child's pidfd, sent by the server before it could reap the child: signals go
    /// through it, so they never reach a process that reused the pid.
    pub(crate) pidfd: OwnedFd,
    /// The socket on which the server sends the raw wait status once it has reaped the child.
    pub(crate) status: OwnedFd,
}

impl Child {
    pub(super) fn status(&self) -> MutexGuard<'_, Option<ExitStatus>> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Collects the raw wait status (`waitpid`, or the fork server's report); `Ok(None)` when
    /// `nohang` and the child runs. Call with the status record locked.
    pub(super) fn wait_raw(&self, nohang: bool) -> io::Result<Option<i32>> {
        match &self.served {
            None => sys::waitpid(self.pid.as_raw(), nohang),
            Some(served) => crate::forkserver::read_status(served.status.as_fd(), nohang),
        }
    }

    /// Whether the child has ended, without collecting it (another thread holds the record).
    pub(super) fn has_exited(&self) -> io::Result<bool> {
        match &self.served {
            None => sys::has_exited(self.pid.as_raw()),
            Some(served) => Ok(sys::poll_readable(&[served.pidfd.as_fd()], Some(Instant::now()))?[0]),
        }
    }

    /// Reaps the child if it has ended, without waiting; `Some` once it has been reaped (also
    /// by someone else: `ECHILD` counts as gone, with no status to report).
    fn try_reap(&self, status: &mut Option<ExitStatus>) -> Option<Option<ExitStatus>> {
        if status.is_some() {
            return Some(*status);
        }
        match self.wait_raw(true) {
            Ok(Some(raw)) => {
                *status = Some(ExitStatus(raw));
                Some(*status)
            }
            Ok(None) => None,
            Err(_) => Some(None),
        }
    }
}

/// The unreaped children of this process (reaped records leave at the next sweep).
static CHILDREN: Mutex<Vec<Arc<Child>>> = Mutex::new(Vec::new());

/// Locks the registry (a panic elsewhere cannot poison it: it only holds plain records).
pub(crate) fn registry() -> MutexGuard<'static, Vec<Arc<Child>>> {
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Called by `spawn` with the registry locked: drops reaped records and reaps ended orphans
/// (records whose handle was dropped), without waiting. Children with a live handle are left to
/// it, so a spawn costs no system call per running child.
pub(crate) fn sweep(children: &mut Vec<Arc<Child>>) {
    children.retain(|c| match c.status.try_lock() {
        Ok(mut status) => {
            let orphan = Arc::strong_count(c) == 1;
            if orphan { c.try_reap(&mut status).is_none() } else { status.is_none() }
        }
        Err(TryLockError::Poisoned(p)) => p.into_inner().is_none(),
        Err(TryLockError::WouldBlock) => true,
    });
}

/// Drops `child`'s record from the registry (its handle has collected it).
pub(super) fn forget(child: &Arc<Child>) {
    registry().retain(|c| !Arc::ptr_eq(c, child));
}

/// Reaps every child of this process that has ended and returns the ones still running (Python's
/// `multiprocessing.active_children()`).
///
/// Like Python's, it has a side effect: the children that ended are reaped, and their
/// [`Process`](super::Process) handles (if still held) report the status from then on. It also
/// reaps the children whose handles were dropped. Only children started by mp-core in this
/// process are seen (pool workers included); a child being joined by another thread at that
/// moment is listed while it runs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let sleeper = mp_core::spawn(|| std::thread::sleep(Duration::from_secs(30)))?;
/// let quick = mp_core::spawn(|| ())?;
/// quick.join()?;
/// let live = mp_core::active_children();
/// assert!(live.iter().any(|c| c.pid == sleeper.pid()));
/// assert!(!live.iter().any(|c| c.pid == quick.pid()));
/// sleeper.kill()?;
/// sleeper.join()?;
/// assert!(!mp_core::active_children().iter().any(|c| c.pid == sleeper.pid()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn active_children() -> Vec<ProcessInfo> {
    let mut live = Vec::new();
    registry().retain(|c| {
        let running = match c.status.try_lock() {
            Ok(mut status) => c.try_reap(&mut status).is_none(),
            Err(TryLockError::Poisoned(p)) => c.try_reap(&mut p.into_inner()).is_none(),
            // Another thread is joining it: look without reaping (the joiner will).
            Err(TryLockError::WouldBlock) => {
                if c.has_exited().is_ok_and(|ended| !ended) {
                    live.push(ProcessInfo { name: c.name.clone(), pid: c.pid });
                }
                return true;
            }
        };
        if running {
            live.push(ProcessInfo { name: c.name.clone(), pid: c.pid });
        }
        running
    });
    live
}

static AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Gives this process Python's exit behaviour: when it ends through `exit` (returning from
/// `main`, `std::process::exit`), its daemon children are terminated (`SIGTERM`) and then every
/// child is joined, daemon or not, whether its handle is still held or was dropped.
///
/// Opt-in, because a non-daemon child that never ends then keeps the program from exiting, as
/// in Python. That includes the workers of a [`Pool`](crate::Pool) still alive at exit (they
/// are not daemons and wait for tasks): drop or [`join`](crate::Pool::join) pools before the
/// program ends. Calling it again does nothing. Children started by mp-core call `_exit`, so the
/// hook never runs in them when their target returns; it runs in a child that calls
/// `std::process::exit`, for that child's own children. Death by a signal or `_exit` skips it.
///
/// # Errors
///
/// `atexit`'s failure (out of memory for the handler table).
///
/// # Examples
///
/// ```
/// mp_core::join_children_at_exit()?;
/// mp_core::spawn(|| ())?; // joined when this program exits, even without a handle
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn join_children_at_exit() -> std::io::Result<()> {
    if AT_EXIT.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    sys::at_exit(join_at_exit).inspect_err(|_| AT_EXIT.store(false, Ordering::Release))
}

extern "C" fn join_at_exit() {
    // A copy, so that the registry is not locked while waiting.
    let children: Vec<Arc<Child>> = registry().clone();
    for c in children.iter().filter(|c| c.daemon) {
        let status = c.status();
        // Holding the record: the pid is not reaped (so not reused) while it is signalled.
        if status.is_none() {
            let _ = match &c.served {
                None => sys::kill(c.pid.as_raw(), SIGTERM),
                Some(served) => sys::pidfd_send_signal(served.pidfd.as_fd(), SIGTERM),
            };
        }
    }
    for c in &children {
        let mut status = c.status();
        if status.is_none()
            && let Ok(Some(raw)) = c.wait_raw(false)
        {
            *status = Some(ExitStatus(raw));
        }
    }
    registry().clear();
}
