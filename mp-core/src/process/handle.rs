//! [`Process`]: the parent's handle of a started child.

use super::lifecycle::{self, Child};
use super::{ExitStatus, Pid, SIGKILL, SIGTERM};
use mp_ipc::os as sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// A started child process (Python's `Process` after `start()`).
///
/// The exit status is cached the first time it is collected, so joining twice returns the same
/// status and a signal never reaches a pid the kernel has reused.
///
/// The handle is `Send` and `Sync`: one thread may join while another signals or asks
/// [`is_alive`](Process::is_alive); [`active_children`](crate::active_children) may reap the
/// child too, and the handle then reports that status.
///
/// # Waiting together with pipes
///
/// `Process` implements `AsFd` with its pidfd (Python's `Process.sentinel`): it becomes readable
/// when the child ends, so [`mp_ipc::wait_readable`] can wait for a child and for messages at
/// once. The pidfd is opened right after the fork (one system call), so each handle holds one
/// descriptor until it is dropped; it stays valid after the child is reaped.
///
/// # Dropping
///
/// Dropping the handle does not wait and does not kill: like `std::process::Child`, a child still
/// running goes on (a daemon child still dies with its parent). If it has already exited it is
/// reaped on drop; otherwise it stays in this process's registry of children and is reaped, once
/// it has ended, at the next [`spawn`](crate::spawn) or [`active_children`](crate::active_children)
/// call, so it is never left a zombie for long. Call [`join`](Process::join) to collect it.
#[derive(Debug)]
pub struct Process {
    child: Arc<Child>,
    /// Opened right after the fork; if that failed, on first use.
    pidfd: OnceLock<OwnedFd>,
}

impl Process {
    pub(crate) fn new(child: Arc<Child>) -> Process {
        let pidfd = OnceLock::new();
        if child.served.is_none()
            && let Ok(fd) = sys::pidfd_open(child.pid.as_raw())
        {
            let _ = pidfd.set(fd);
        }
        Process { child, pidfd }
    }

    /// What a join waits on: the pidfd of a forked child; for a fork-server child, the socket
    /// on which the server reports the status (readable a moment after the pidfd, once the
    /// server has reaped the child).
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        match &self.child.served {
            Some(served) => Ok(served.status.as_fd()),
            None => self.sentinel(),
        }
    }

    /// The child's pidfd (Python's `sentinel`): readable once the child has ended.
    ///
    /// # Errors
    ///
    /// `pidfd_open`'s error, when it failed right after the fork and fails again now (for
    /// example `ENOSYS` before Linux 5.3, `EMFILE` at the descriptor limit, or `ESRCH` once the
    /// child has been reaped).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp_core::spawn(|| ())?;
    /// let ready = mp_ipc::wait_readable(&[&p.sentinel()?], Some(std::time::Duration::from_secs(30)))?;
    /// assert_eq!(ready, [0]);
    /// p.join()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sentinel(&self) -> io::Result<BorrowedFd<'_>> {
        if let Some(served) = &self.child.served {
            return Ok(served.pidfd.as_fd());
        }
        if let Some(fd) = self.pidfd.get() {
            return Ok(fd.as_fd());
        }
        let fd = sys::pidfd_open(self.child.pid.as_raw())?;
        Ok(self.pidfd.get_or_init(|| fd).as_fd())
    }

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
        self.child.pid
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
        &self.child.name
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
        self.child.daemon
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
        // The record stays locked while waiting (see `lifecycle.rs`): a sweep skips it.
        let mut status = self.child.status();
        if let Some(s) = *status {
            return Ok(s);
        }
        match self.child.wait_raw(false)? {
            Some(raw) => Ok(*status.insert(ExitStatus(raw))),
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
            if !sys::poll_readable(&[self.wait_fd()?], Some(deadline))?[0] {
                return Ok(None);
            }
        }
    }

    /// Collects the status if the child has ended, without waiting. While another thread is
    /// blocked in [`join`](Process::join) on this child, that thread collects it, and this
    /// returns `None` until it has.
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
        let mut status = match self.child.status.try_lock() {
            Ok(status) => status,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(None),
        };
        if let Some(s) = *status {
            return Ok(Some(s));
        }
        Ok(self.child.wait_raw(true)?.map(|raw| *status.insert(ExitStatus(raw))))
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
        match self.child.status.try_lock() {
            Err(TryLockError::WouldBlock) => {
                // Another thread is joining: look without reaping.
                self.child.has_exited().is_ok_and(|ended| !ended)
            }
            held => {
                drop(held);
                matches!(self.try_join(), Ok(None))
            }
        }
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
        match self.child.status.try_lock() {
            Ok(status) => *status,
            Err(TryLockError::Poisoned(p)) => *p.into_inner(),
            // Another thread is joining: nothing is cached yet.
            Err(TryLockError::WouldBlock) => None,
        }
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
        self.signal(SIGTERM)
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
        self.signal(SIGKILL)
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
        // `try_lock`: a thread blocked in `join` holds the record. Then the child may be reaped
        // at any moment, so the signal goes through the pidfd, which names this child only.
        let status = match self.child.status.try_lock() {
            Ok(status) if status.is_some() => return Ok(()),
            Ok(status) => Some(status),
            Err(_) => None,
        };
        let served = self.child.served.as_ref().map(|s| &s.pidfd);
        match (status, served.or(self.pidfd.get())) {
            // A fork-server child is reaped by the server, whatever this process holds: only
            // its pidfd names it safely.
            (_, Some(fd)) if served.is_some() => match sys::pidfd_send_signal(fd.as_fd(), sig) {
                Err(e) if e.raw_os_error() == Some(ESRCH) => Ok(()),
                other => other,
            },
            (Some(_held), _) => sys::kill(self.child.pid.as_raw(), sig),
            (None, Some(fd)) => match sys::pidfd_send_signal(fd.as_fd(), sig) {
                Err(e) if e.raw_os_error() == Some(ESRCH) => Ok(()),
                other => other,
            },
            (None, None) => sys::kill(self.child.pid.as_raw(), sig),
        }
    }
}

/// `ESRCH`: no such process (a pidfd's process has been reaped).
const ESRCH: i32 = 3;

impl AsFd for Process {
    /// The pidfd, as [`Process::sentinel`].
    ///
    /// # Panics
    ///
    /// If no pidfd could be opened (see [`Process::sentinel`]'s errors); it is opened right
    /// after the fork, so this happens only on kernels before 5.3 or at the descriptor limit.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sentinel().expect("the child's pidfd (pidfd_open)")
    }
}

impl AsRawFd for Process {
    /// As [`AsFd::as_fd`], including its panic.
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A collected child leaves the registry now, with the descriptors its record holds
        // (a fork-server child's pidfd and status socket), rather than at the next sweep.
        if matches!(self.try_join(), Ok(Some(_))) {
            lifecycle::forget(&self.child);
        }
    }
}
