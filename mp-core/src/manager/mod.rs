//! Python's `multiprocessing.Manager()`: a server process holding dicts, lists, namespaces and
//! locks, with proxies that any process holding them can use.
//!
//! | Python | `mp-core` |
//! | --- | --- |
//! | `manager = Manager()` / `with Manager() as m:` | [`Manager::start`] (shut down on drop) |
//! | `manager.shutdown()` | [`Manager::shutdown`] |
//! | `manager.address` | [`Manager::address`] (a Unix socket path) |
//! | `manager.dict()` | [`Manager::dict`] → [`DictProxy<K, V>`](DictProxy) |
//! | `d[k]`, `d.get(k)`, `d.get(k, default)` | [`DictProxy::get`], [`DictProxy::get_or_default`] |
//! | `d[k] = v`, `del d[k]`, `d.pop(k)` | [`DictProxy::set`] / [`insert`](DictProxy::insert), [`DictProxy::delete`], [`DictProxy::remove`] |
//! | `k in d`, `len(d)`, `d.setdefault(k, v)` | [`DictProxy::contains_key`], [`DictProxy::len`], [`DictProxy::setdefault`] |
//! | `d.keys()`, `d.values()`, `d.items()`, `d.update(…)`, `d.clear()` | [`DictProxy::keys`], [`values`](DictProxy::values), [`items`](DictProxy::items), [`update`](DictProxy::update), [`clear`](DictProxy::clear) |
//! | `with lock: d[k] = f(d[k])` | [`DictProxy::update_with`] (atomic, no lock) or [`LockProxy::acquire`] |
//! | `manager.list()` | [`Manager::list`] → [`ListProxy<T>`](ListProxy) |
//! | `l.append`, `l.extend`, `l[i]`, `l[i] = v`, `l.insert`, `l.pop()`, `l.pop(i)`, `list(l)` | [`ListProxy::push`], [`extend`](ListProxy::extend), [`get`](ListProxy::get), [`set`](ListProxy::set), [`insert`](ListProxy::insert), [`pop`](ListProxy::pop), [`remove`](ListProxy::remove), [`to_vec`](ListProxy::to_vec) |
//! | `manager.Namespace()`, `ns.x = v`, `ns.x`, `del ns.x` | [`Manager::namespace`] → [`NamespaceProxy::set`], [`get`](NamespaceProxy::get), [`delete`](NamespaceProxy::delete) |
//! | `manager.Lock()` | [`Manager::lock`] → [`LockProxy`] (released if its holder dies) |
//! | a proxy raises `EOFError`/`BrokenPipeError` when the manager is gone | [`ManagerError::Gone`] |
//!
//! # How it works
//!
//! [`Manager::start`] makes a private directory (mode `0700`, under `$XDG_RUNTIME_DIR` or the
//! temporary directory), binds a Unix socket (mode `0600`) in it, and starts the server: an
//! ordinary daemon child ([`Builder::daemon`](crate::Builder::daemon)), so it dies with the
//! process that started the manager, however that one ends. Only this user can reach the socket;
//! nothing else authenticates a connection. The server serves each connection on its own thread
//! (see `server/mod.rs`; at most 1,024 at once).
//!
//! Values are serde types, stored encoded (postcard) in the server, which never decodes them and
//! so needs no type parameters: keys are compared by their encoded bytes. Equal keys must
//! therefore encode equally, which holds for ordinary serde types but not for a `HashMap` used as
//! a key (see [`DictProxy`]).
//!
//! A proxy is `Send + Sync + Clone`. Every call is one request and one reply on a connection of
//! the calling process: each process (a child that inherited a proxy included) connects on its
//! first call, and each thread takes its own connection from a small per-process pool, so no two
//! callers ever share a socket mid-call. The proxies of one manager share that pool.
//!
//! A call on a manager that has shut down or died fails with [`ManagerError::Gone`] at once; a
//! server that stops answering gives [`ManagerError::Timeout`] after the manager's timeout (30 s,
//! see [`ManagerBuilder::timeout`]). Objects live as long as the server.
//!
//! Proxies write with plain `write(2)`: a process whose `SIGPIPE` is not ignored (Rust programs
//! ignore it from `main` on) would be killed by a write to a manager that died mid-call.
//!
//! # Examples
//!
//! ```
//! use mp_core::Manager;
//!
//! let manager = Manager::start()?;
//! let (counts, lock) = (manager.dict::<String, u64>()?, manager.lock()?);
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let (counts, lock) = (counts.clone(), lock.clone());
//!         mp_core::spawn(move || -> Result<(), mp_core::manager::ManagerError> {
//!             for _ in 0..25 {
//!                 let _held = lock.acquire()?;
//!                 let n = counts.get("hits")?.unwrap_or(0);
//!                 counts.set("hits", &(n + 1))?;
//!             }
//!             Ok(())
//!         })
//!     })
//!     .collect::<Result<_, _>>()?;
//! for w in workers {
//!     assert!(w.join()?.success());
//! }
//! assert_eq!(counts.get("hits")?, Some(100));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod error;
mod protocol;
mod proxies;
mod server;
mod socket_dir;

pub use error::ManagerError;
pub use proxies::{DictProxy, ListProxy, LockProxy, LockProxyGuard, NamespaceProxy};

use crate::{Builder, Pid, Process};
use client::Client;
use protocol::{Kind, ObjId, Reply, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use socket_dir::SocketDir;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a proxy waits for a connection or a reply unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running manager: its server process and the socket it listens on (Python's
/// `multiprocessing.Manager()`). Dropping it shuts the server down, as [`shutdown`] does.
///
/// [`shutdown`]: Manager::shutdown
///
/// # Examples
///
/// ```
/// let manager = mp_core::Manager::start()?;
/// let ns = manager.namespace()?;
/// ns.set("ready", &true)?;
/// assert_eq!(ns.get::<bool>("ready")?, Some(true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Manager {
    client: Arc<Client>,
    server: Process,
    socket: SocketDir,
    creator: u32,
    shut_down: bool,
}

/// Options for a [`Manager`] before it starts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let manager = mp_core::Manager::builder().timeout(Duration::from_secs(5)).start()?;
/// assert!(manager.address().exists());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManagerBuilder {
    timeout: Duration,
    dir: Option<PathBuf>,
}

impl Default for ManagerBuilder {
    fn default() -> Self {
        ManagerBuilder { timeout: DEFAULT_TIMEOUT, dir: None }
    }
}

impl ManagerBuilder {
    /// How long a proxy waits to send a request and for its reply (default
    /// [`DEFAULT_TIMEOUT`], 30 s) before failing with [`ManagerError::Timeout`]. A blocking
    /// [`LockProxy::acquire`] is not limited by it.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp_core::Manager::builder().timeout(std::time::Duration::from_secs(1));
    /// assert!(b.start().is_ok());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> ManagerBuilder {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The directory in which the manager's private directory is made (default
    /// `$XDG_RUNTIME_DIR`, else [`std::env::temp_dir`]). The socket path must fit in 107 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::builder().dir(std::env::temp_dir()).start()?;
    /// assert!(manager.address().starts_with(std::env::temp_dir()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> ManagerBuilder {
        self.dir = Some(dir.into());
        self
    }

    /// Makes the socket and starts the server process.
    ///
    /// # Errors
    ///
    /// Creating the directory or binding the socket (for example a path too long for a Unix
    /// socket); the `fork` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::builder().start()?;
    /// assert!(manager.dict::<u8, u8>()?.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(self) -> io::Result<Manager> {
        let (socket, listener) = SocketDir::bind(self.dir.as_deref())?;
        let server = Builder::new()
            .name("manager")
            .daemon(true)
            .close_fds(true)
            .keep_fd(&listener)
            .spawn(move || server::serve(listener))?;
        let client = Arc::new(Client::new(socket.socket().to_path_buf(), self.timeout));
        Ok(Manager { client, server, socket, creator: std::process::id(), shut_down: false })
    }
}

impl Manager {
    /// Starts a manager with the default options (Python's `Manager()`).
    ///
    /// # Errors
    ///
    /// As [`ManagerBuilder::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// assert!(manager.pid().as_raw() > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start() -> io::Result<Manager> {
        ManagerBuilder::default().start()
    }

    /// Options for a manager: [`ManagerBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::builder().start()?;
    /// drop(manager);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    fn create(&self, kind: Kind) -> Result<ObjId, ManagerError> {
        match self.client.call(&Request::Create(kind))? {
            Reply::Created(id) => Ok(id),
            _ => Err(ManagerError::Protocol("a reply of another kind than the request")),
        }
    }

    /// A new, empty dict in the server (Python's `manager.dict()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] after [`shutdown`](Manager::shutdown) or the server's death.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<String, f64>()?;
    /// d.set("pi", &3.14)?;
    /// assert_eq!(d.len()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ManagerError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        Ok(DictProxy::new(Arc::clone(&self.client), self.create(Kind::Dict)?))
    }

    /// A new, empty list in the server (Python's `manager.list()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] after [`shutdown`](Manager::shutdown) or the server's death.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u32>()?;
    /// l.push(&1)?;
    /// assert_eq!(l.to_vec()?, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ListProxy<T>, ManagerError> {
        Ok(ListProxy::new(Arc::clone(&self.client), self.create(Kind::List)?))
    }

    /// A new namespace in the server (Python's `manager.Namespace()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] after [`shutdown`](Manager::shutdown) or the server's death.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let ns = manager.namespace()?;
    /// assert!(ns.names()?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn namespace(&self) -> Result<NamespaceProxy, ManagerError> {
        Ok(NamespaceProxy::new(Arc::clone(&self.client), self.create(Kind::Namespace)?))
    }

    /// A new lock in the server (Python's `manager.Lock()`), released by the server if its
    /// holder dies.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] after [`shutdown`](Manager::shutdown) or the server's death.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let lock = manager.lock()?;
    /// assert!(lock.try_acquire()?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self) -> Result<LockProxy, ManagerError> {
        Ok(LockProxy::new(Arc::clone(&self.client), self.create(Kind::Lock)?))
    }

    /// The path of the server's Unix socket (Python's `manager.address`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// let manager = mp_core::Manager::start()?;
    /// let mode = std::fs::metadata(manager.address())?.permissions().mode();
    /// assert_eq!(mode & 0o777, 0o600);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn address(&self) -> &Path {
        self.socket.socket()
    }

    /// The server process's pid.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// assert_ne!(manager.pid().as_raw() as u32, std::process::id());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.server.pid()
    }

    /// Stops the server (`SIGKILL`: it holds nothing that needs flushing), waits for it, and
    /// removes its socket and directory (Python's `manager.shutdown()`). Every proxy fails with
    /// [`ManagerError::Gone`] from then on. Calling it again does nothing.
    ///
    /// # Errors
    ///
    /// The error of signalling or reaping the server.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u8>()?;
    /// manager.shutdown()?;
    /// assert!(!manager.address().exists());
    /// assert!(l.push(&1).unwrap_err().is_gone());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&mut self) -> io::Result<()> {
        if self.shut_down || self.creator != std::process::id() {
            return Ok(());
        }
        self.shut_down = true;
        self.socket.remove();
        let killed = self.server.kill();
        let joined = self.server.join();
        killed?;
        joined.map(drop)
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
