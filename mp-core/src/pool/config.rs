//! The pool's options ([`PoolBuilder`]) and starting it.

use super::Pool;
use super::scheduling::Inner;
use crate::StartMethod;
use mp_ipc::handoff::{self, Fd};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Options for a [`Pool`] (Python's `Pool(processes, initializer, maxtasksperchild)`, and the
/// context's start method).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let pool = mp_core::Pool::builder()
///     .processes(2)
///     .initializer(|| { /* open a connection, seed an RNG … */ })
///     .maxtasksperchild(100)
///     .task_timeout(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(pool.processes(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct PoolBuilder {
    pub(super) processes: usize,
    pub(super) initializer: Option<Initializer>,
    pub(super) max_tasks: Option<usize>,
    pub(super) task_timeout: Option<Duration>,
    pub(super) start_method: StartMethod,
}

/// A worker initializer: a `fn(A)` and its arguments, run in place by a forked worker, or
/// encoded (with their descriptors) for a worker started by the fork server.
#[derive(Clone)]
pub(super) struct Initializer {
    run: Arc<dyn Fn() + Send + Sync>,
    encode: Arc<dyn Fn() -> io::Result<InitCall> + Send + Sync>,
}

impl Initializer {
    fn new<A>(init: fn(A), initargs: A) -> Initializer
    where
        A: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let args = Arc::new(initargs);
        let shared = Arc::clone(&args);
        Initializer {
            // Each worker gets its own copy, made the way a fork-server worker gets it (handles
            // in it become handles of their own).
            run: Arc::new(move || match handoff::encode_with_fds(&*shared) {
                Ok((bytes, fds)) => call_init::<A>(init as usize, &bytes, fds),
                Err(e) => panic!("cannot encode the pool initializer's arguments: {e}"),
            }),
            encode: Arc::new(move || {
                let (bytes, fds) = handoff::encode_with_fds(&*args)?;
                Ok(InitCall {
                    call: call_init::<A> as InitFn as usize,
                    func: init as usize,
                    args: bytes,
                    fds: fds.into_iter().map(Fd::new).collect(),
                })
            }),
        }
    }

    /// Runs it here (a forked worker).
    pub(super) fn run(&self) {
        (self.run)()
    }

    /// Encodes it for a fork-server worker.
    pub(super) fn encode(&self) -> io::Result<InitCall> {
        (self.encode)()
    }
}

/// An `fn()` initializer, sent as its address (an `fn()` is not encodable; the address is valid
/// in the worker, a fork of the same program).
fn call_plain(addr: usize) {
    // SAFETY: `addr` was taken from an `fn()` by `PoolBuilder::initializer`, in this program.
    let init = unsafe { std::mem::transmute::<usize, fn()>(addr) };
    init()
}

/// The trampoline an [`InitCall`] names: decodes the arguments and calls the initializer.
type InitFn = fn(func: usize, args: &[u8], fds: Vec<OwnedFd>);

fn call_init<A: DeserializeOwned>(func: usize, args: &[u8], fds: Vec<OwnedFd>) {
    // SAFETY: `func` is the address of an `fn(A)` taken by `Initializer::new::<A>`, in the pool's
    // process: this worker is a fork of the fork server, a fork of the same program, so the
    // address names the same function here.
    let init = unsafe { std::mem::transmute::<usize, fn(A)>(func) };
    match handoff::decode_with_fds::<A>(args, fds) {
        Ok(a) => init(a),
        Err(e) => panic!("cannot decode the pool initializer's arguments: {e}"),
    }
}

/// An initializer on its way to a fork-server worker: trampoline and function addresses, the
/// encoded arguments and their descriptors.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct InitCall {
    call: usize,
    func: usize,
    args: Vec<u8>,
    fds: Vec<Fd>,
}

impl InitCall {
    /// Runs the initializer (in the worker).
    pub(super) fn run(self) {
        // SAFETY: `call` is the address of a `call_init::<A>` taken in the pool's process, which
        // runs this same program (see `call_init`).
        let call = unsafe { std::mem::transmute::<usize, InitFn>(self.call) };
        call(self.func, &self.args, self.fds.into_iter().map(Fd::into_inner).collect())
    }
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.is_some())
            .field("maxtasksperchild", &self.max_tasks)
            .field("task_timeout", &self.task_timeout)
            .field("start_method", &self.start_method)
            .finish()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            processes: crate::cpu_count(),
            initializer: None,
            max_tasks: None,
            task_timeout: None,
            start_method: StartMethod::ForkServer,
        }
    }
}

impl PoolBuilder {
    /// Number of worker processes (default: [`cpu_count`](crate::cpu_count)).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = n;
        self
    }

    /// A function each worker runs once when it starts.
    pub fn initializer(mut self, init: fn()) -> Self {
        self.initializer = Some(Initializer::new(call_plain, init as usize));
        self
    }

    /// A function each worker runs once when it starts, with `initargs` (Python's
    /// `Pool(initializer=f, initargs=(…))`); use a tuple for several. A worker started by the fork
    /// server receives them encoded, so they may hold mp-ipc handles (a [`Queue`](mp_ipc::Queue),
    /// a [`Lock`](mp_ipc::Lock)), which travel with their descriptors; a forked worker decodes
    /// its own copy the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// static SCALE: AtomicU32 = AtomicU32::new(1);
    ///
    /// fn set_scale((scale, _name): (u32, String)) {
    ///     SCALE.store(scale, Ordering::Relaxed);
    /// }
    ///
    /// let pool = mp_core::Pool::builder().processes(2).initializer_with(set_scale, (10, "tens".to_string())).build()?;
    /// assert_eq!(pool.apply(|x: u32| x * SCALE.load(Ordering::Relaxed), 4)?, 40);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn initializer_with<A>(mut self, init: fn(A), initargs: A) -> Self
    where
        A: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.initializer = Some(Initializer::new(init, initargs));
        self
    }

    /// How workers start (default [`StartMethod::ForkServer`], as Python 3.14 chose on Linux).
    ///
    /// With the fork server a worker is a clean copy of the program as it was at
    /// [`forkserver::start`](crate::forkserver::start), holding only the pool's sockets and
    /// shared memory: safe when this program has other threads (a lock another thread held is
    /// never stuck in a worker), and no worker keeps another's pipes or the program's files open.
    /// Its tasks are plain functions with encoded arguments either way, so nothing is lost; a
    /// worker starts in about twice the time of a `fork`, once per worker.
    ///
    /// [`StartMethod::Fork`] forks this process for each worker: workers then see the program's
    /// state as it is when the pool starts them (statics set since `start`), and a
    /// single-threaded program saves the fork server.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_core::{Pool, StartMethod};
    /// let forked = Pool::builder().processes(1).start_method(StartMethod::Fork).build()?;
    /// let served = Pool::builder().processes(1).start_method(StartMethod::ForkServer).build()?;
    /// assert_eq!(forked.apply(|x: u32| x + 1, 1)?, served.apply(|x: u32| x + 1, 1)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = method;
        self
    }

    /// Replace a worker after it has run `n` tasks (a `map` chunk counts as one task).
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.max_tasks = Some(n.max(1));
        self
    }

    /// Fail a task that runs longer than `timeout`, killing its worker.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for 0 processes; the `fork` or `socketpair` error.
    pub fn build(self) -> io::Result<Pool> {
        if self.processes == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a pool needs at least one process"));
        }
        Ok(Pool { inner: Mutex::new(Inner::start(self)?) })
    }
}
