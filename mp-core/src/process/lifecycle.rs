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
use mp_ipc::__private as sys;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

/// One child of this process, until it is reaped.
#[derive(Debug)]
pub(super) struct Child {
    pub(super) pid: Pid,
    pub(super) name: String,
    pub(super) daemon: bool,
    /// The exit status once reaped. Held across every `waitpid` of `pid`.
    pub(super) status: Mutex<Option<ExitStatus>>,
}

impl Child {
    pub(super) fn status(&self) -> MutexGuard<'_, Option<ExitStatus>> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reaps the child if it has ended, without waiting; `Some` once it has been reaped (also
    /// by someone else: `ECHILD` counts as gone, with no status to report).
    fn try_reap(status: &mut Option<ExitStatus>, pid: Pid) -> Option<Option<ExitStatus>> {
        if status.is_some() {
            return Some(*status);
        }
        match sys::waitpid(pid.as_raw(), true) {
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
pub(super) fn registry() -> MutexGuard<'static, Vec<Arc<Child>>> {
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Called by `spawn` with the registry locked: drops reaped records and reaps ended orphans
/// (records whose handle was dropped), without waiting. Children with a live handle are left to
/// it, so a spawn costs no system call per running child.
pub(super) fn sweep(children: &mut Vec<Arc<Child>>) {
    children.retain(|c| match c.status.try_lock() {
        Ok(mut status) => {
            let orphan = Arc::strong_count(c) == 1;
            if orphan { Child::try_reap(&mut status, c.pid).is_none() } else { status.is_none() }
        }
        Err(TryLockError::Poisoned(p)) => p.into_inner().is_none(),
        Err(TryLockError::WouldBlock) => true,
    });
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
            Ok(mut status) => Child::try_reap(&mut status, c.pid).is_none(),
            Err(TryLockError::Poisoned(p)) => Child::try_reap(&mut p.into_inner(), c.pid).is_none(),
            // Another thread is joining it: look without reaping (the joiner will).
            Err(TryLockError::WouldBlock) => {
                if sys::has_exited(c.pid.as_raw()).is_ok_and(|ended| !ended) {
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
            let _ = sys::kill(c.pid.as_raw(), SIGTERM);
        }
    }
    for c in &children {
        let mut status = c.status();
        if status.is_none()
            && let Ok(Some(raw)) = sys::waitpid(c.pid.as_raw(), false)
        {
            *status = Some(ExitStatus(raw));
        }
    }
    registry().clear();
}
