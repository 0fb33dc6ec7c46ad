//! [`LockProxy`]: Python's `Manager().Lock()`, a lock held in the server.

use super::unexpected;
use crate::manager::client::{self, Client, Conn, ReplyWait};
use crate::manager::error::ManagerError;
use crate::manager::protocol::{ObjId, Reply, Request};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A lock held by a [`Manager`](crate::Manager) server (Python's `manager.Lock()`), for
/// compound updates of its dicts, lists and namespaces.
///
/// The lock belongs to the connection that took it: a [`LockProxyGuard`] keeps that connection
/// out of the proxy's pool until it releases the lock. If the holding process dies, its
/// connection closes and the server releases the lock at once, so a dead holder never blocks the
/// others. The lock is not re-entrant: acquiring it again while holding it waits for ever, as
/// Python's `Lock` does.
///
/// # Examples
///
/// ```
/// let manager = mp_core::Manager::start()?;
/// let (lock, d) = (manager.lock()?, manager.dict::<String, u64>()?);
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let (lock, d) = (lock.clone(), d.clone());
///         mp_core::spawn(move || -> Result<(), mp_core::manager::ManagerError> {
///             for _ in 0..50 {
///                 let _held = lock.acquire()?;
///                 let n = d.get("n")?.unwrap_or(0);
///                 d.set("n", &(n + 1))?;
///             }
///             Ok(())
///         })
///     })
///     .collect::<Result<_, _>>()?;
/// for w in workers {
///     assert!(w.join()?.success());
/// }
/// assert_eq!(d.get("n")?, Some(100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LockProxy {
    client: Arc<Client>,
    obj: ObjId,
}

impl fmt::Debug for LockProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockProxy").field("id", &self.obj).finish_non_exhaustive()
    }
}

impl LockProxy {
    pub(crate) fn new(client: Arc<Client>, obj: ObjId) -> Self {
        LockProxy { client, obj }
    }

    /// Waits for the lock, with no time limit (Python's `lock.acquire()`).
    ///
    /// Only the server's death ends the wait early ([`ManagerError::Gone`]), not the manager's
    /// timeout.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] once the manager has shut down or died.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let lock = manager.lock()?;
    /// let guard = lock.acquire()?;
    /// assert!(lock.try_acquire()?.is_none());
    /// drop(guard);
    /// assert!(lock.try_acquire()?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire(&self) -> Result<LockProxyGuard<'_>, ManagerError> {
        let guard = self.acquire_with(None, ReplyWait::Forever)?;
        guard.ok_or(ManagerError::Protocol("a lock refused without a time limit"))
    }

    /// Takes the lock if it is free, without waiting (Python's `lock.acquire(False)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Timeout`] if the server does not answer.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let lock = manager.lock()?;
    /// let held = lock.try_acquire()?.expect("free");
    /// assert!(lock.try_acquire()?.is_none());
    /// held.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire(&self) -> Result<Option<LockProxyGuard<'_>>, ManagerError> {
        self.acquire_with(Some(0), ReplyWait::Default)
    }

    /// Waits at most `timeout` for the lock (Python's `lock.acquire(timeout=t)`): `None` if it
    /// stayed taken.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Timeout`] if the server does not answer within
    /// `timeout` plus the manager's timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let manager = mp_core::Manager::start()?;
    /// let lock = manager.lock()?;
    /// let _held = lock.acquire()?;
    /// assert!(lock.acquire_timeout(Duration::from_millis(20))?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockProxyGuard<'_>>, ManagerError> {
        let ms = timeout.as_nanos().div_ceil(1_000_000);
        self.acquire_with(Some(u64::try_from(ms).unwrap_or(u64::MAX)), ReplyWait::For(timeout))
    }

    /// Waits until `deadline` at most for the lock: `None` if it stayed taken.
    ///
    /// # Errors
    ///
    /// As [`acquire_timeout`](LockProxy::acquire_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let manager = mp_core::Manager::start()?;
    /// let lock = manager.lock()?;
    /// assert!(lock.acquire_deadline(Instant::now() + Duration::from_secs(5))?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<Option<LockProxyGuard<'_>>, ManagerError> {
        self.acquire_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// Sends an acquire that waits `wait_ms` in the server (`None`: for ever), waiting `reply`
    /// for the answer on a connection taken out of the pool for the guard.
    fn acquire_with(
        &self,
        wait_ms: Option<u64>,
        reply: ReplyWait,
    ) -> Result<Option<LockProxyGuard<'_>>, ManagerError> {
        let mut conn = self.client.checkout()?;
        let answer = conn.call(&Request::LockAcquire(self.obj, wait_ms), self.client.wait(reply))?;
        match client::into_result(answer) {
            Ok(Reply::Bool(true)) => {
                Ok(Some(LockProxyGuard { lock: self, conn: Some(conn), pid: std::process::id() }))
            }
            Ok(Reply::Bool(false)) => {
                self.client.checkin(conn);
                Ok(None)
            }
            Ok(_) => Err(unexpected()),
            Err(e) => {
                self.client.checkin(conn);
                Err(e)
            }
        }
    }
}

/// A held [`LockProxy`]: releases the lock when dropped (or by
/// [`release`](LockProxyGuard::release), which reports a failure).
///
/// # Examples
///
/// ```
/// let manager = mp_core::Manager::start()?;
/// let lock = manager.lock()?;
/// {
///     let _held = lock.acquire()?;
///     assert!(lock.try_acquire()?.is_none());
/// }
/// assert!(lock.try_acquire()?.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockProxyGuard<'a> {
    lock: &'a LockProxy,
    /// The connection that holds the lock; `None` once released.
    conn: Option<Conn>,
    /// The process that took the lock: only it may use `conn` (a forked child's copy of the
    /// guard must not write on its parent's connection).
    pid: u32,
}

impl fmt::Debug for LockProxyGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockProxyGuard").field("lock", self.lock).finish_non_exhaustive()
    }
}

impl LockProxyGuard<'_> {
    /// Releases the lock now (Python's `lock.release()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] if the manager died meanwhile (the lock is gone with it).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let lock = manager.lock()?;
    /// lock.acquire()?.release()?;
    /// assert!(lock.try_acquire()?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(mut self) -> Result<(), ManagerError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), ManagerError> {
        let Some(mut conn) = self.conn.take() else { return Ok(()) };
        if self.pid != std::process::id() {
            // Dropping closes only this process's copy; the holder keeps the lock.
            return Ok(());
        }
        let client = &self.lock.client;
        let reply = conn.call(&Request::LockRelease(self.lock.obj), client.wait(ReplyWait::Default))?;
        client.checkin(conn);
        match client::into_result(reply)? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }
}

impl Drop for LockProxyGuard<'_> {
    fn drop(&mut self) {
        // A failed release means the connection is dropped, and the server releases the lock
        // when it sees the connection close: nothing is left held either way.
        let _ = self.release_inner();
    }
}
