//! The pool's options ([`PoolBuilder`]) and starting it.

use super::Pool;
use super::scheduling::Inner;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Options for a [`Pool`] (Python's `Pool(processes, initializer, maxtasksperchild)`).
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
    pub(super) initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    pub(super) max_tasks: Option<usize>,
    pub(super) task_timeout: Option<Duration>,
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.is_some())
            .field("maxtasksperchild", &self.max_tasks)
            .field("task_timeout", &self.task_timeout)
            .finish()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder { processes: crate::cpu_count(), initializer: None, max_tasks: None, task_timeout: None }
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
        self.initializer = Some(Arc::new(init));
        self
    }

    /// A function each worker runs once when it starts, with `initargs` (Python's
    /// `Pool(initializer=f, initargs=(…))`). Workers are forks of this process, so each starts
    /// with its own copy of `initargs`, which need not be encodable; use a tuple for several.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// static SCALE: AtomicU32 = AtomicU32::new(1);
    ///
    /// fn set_scale((scale, _name): (u32, &'static str)) {
    ///     SCALE.store(scale, Ordering::Relaxed);
    /// }
    ///
    /// let pool = mp_core::Pool::builder().processes(2).initializer_with(set_scale, (10, "tens")).build()?;
    /// assert_eq!(pool.apply(|x: u32| x * SCALE.load(Ordering::Relaxed), 4)?, 40);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn initializer_with<A: Clone + Send + Sync + 'static>(mut self, init: fn(A), initargs: A) -> Self {
        self.initializer = Some(Arc::new(move || init(initargs.clone())));
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
