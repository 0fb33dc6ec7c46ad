//! A pool of worker processes (Python's `multiprocessing.Pool`) that never hangs.
//!
//! Workers are started by the fork server ([`crate::forkserver`]) by default, or forked from the
//! process that made the pool ([`PoolBuilder::start_method`]). A task is a plain function
//! `fn(A) -> R` (a non-capturing closure coerces to one) and its argument: the function's
//! address is valid in the workers because they are copies of this same program, and the
//! argument and result cross as postcard bytes. Captured state cannot cross a process boundary, so capturing
//! closures do not compile here; pass what the task needs in its argument (a struct stands in
//! for Python's `kwds`):
//!
//! ```compile_fail
//! let pool = mp_core::Pool::new(2)?;
//! let offset = 10;
//! pool.apply(|x: u32| x + offset, 1); // error: a capturing closure is not a `fn`
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ```
//! let pool = mp_core::Pool::new(2)?;
//! assert_eq!(pool.apply(|(x, offset): (u32, u32)| x + offset, (1, 10))?, 11);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Failure is per task
//!
//! * A task that panics fails alone ([`TaskError::Panicked`], with the message); the worker
//!   goes on.
//! * A worker that dies (`SIGKILL`, `abort`, the OOM killer) is noticed at once (its socket
//!   closes): the task it was running fails with [`TaskError::WorkerDied`] naming the pid and the
//!   signal, the tasks queued behind it go to other workers, and a new worker takes its place.
//!   A worker sends each result the moment its task ends, so only the task it was running fails;
//!   a result it was still writing when it died makes that task run again elsewhere.
//! * With [`PoolBuilder::task_timeout`], a task over its time has its worker killed and fails
//!   with [`TaskError::Timeout`].
//!
//! No call blocks for ever because a worker died.
//!
//! # How work moves
//!
//! There is no thread inside the pool: the calling thread moves tasks and results whenever it
//! calls into the pool (any `get`, `wait`, `is_ready`, `map`, `join`, an iterator's `next`), and
//! callbacks run there too. Between such calls, workers finish the tasks they were sent and
//! their results wait in the sockets.
//!
//! * A task goes to the worker with the fewest unanswered tasks. `apply_async` sends it at
//!   once to a worker with fewer than 4, and gathers further tasks into batches of 16 (one
//!   system call and one wake-up per batch).
//! * A worker is sent up to 64 short tasks ahead, 2 once its tasks take over a millisecond.
//!   A worker whose current task has run over a millisecond is sent nothing more, and while
//!   another worker is idle, the tasks queued behind that long task are taken back (revoked
//!   before the busy worker can start them, see `control.rs`) and run by the idle one: no task
//!   waits behind a long one while a worker is free.
//! * Each result leaves its worker as soon as its task ends, whatever the worker does next.
//!   `map` sends items in chunks (about four per worker), so trivial items still cost about one
//!   message per thousands of items.
//! * [`AsyncResult::cancel`] uses the same revocation: a task no worker has started never runs.
//!
//! The pool is `Send` and `Sync`; calls from several threads take turns.
//!
//! # Start method, and why the fork server is the default
//!
//! Workers start when the pool starts and when one is replaced. As Python 3.14 did on Linux,
//! the default is the fork server: a pool is often made by a program that already runs threads
//! (a GUI, a runtime, a logging thread), and a plain `fork` of such a program may leave a lock
//! held for ever in the worker. A fork-server worker is a copy of the program as it was at
//! [`forkserver::start`](crate::forkserver::start) (call it at the top of `main`), holding only
//! the pool's socket and shared memory. Tasks are plain functions with encoded arguments either
//! way, so the pool loses nothing; an initializer is a `fn(A)` whose `initargs` are encoded too.
//! Only worker start-up costs more (about twice a `fork`, once per worker).
//!
//! [`StartMethod::Fork`](crate::StartMethod::Fork) forks the caller instead: workers then see
//! the program's state as it is when the pool starts (statics set since `start`), and a child
//! of a multithreaded process must follow the rules of
//! [Forking a multithreaded process](crate#forking-a-multithreaded-process); tasks run under
//! them too.

mod config;
mod control;
mod error;
mod handles;
mod imap;
mod map_result;
mod results;
mod scheduling;
mod star;
mod wire;
mod worker;

pub use config::PoolBuilder;
pub use error::{MapError, TaskError};
pub use handles::{AsCompleted, AsyncResult};
pub use imap::Imap;
pub use map_result::MapResult;
pub use star::StarFn;

use map_result::Gather;
use mp_ipc::encode_into;
use results::Body;
use scheduling::{Inner, State, Worker};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wire::{CallChunk, Outcome};

/// Largest automatic `map` chunk, in items.
const MAX_AUTO_CHUNK: usize = 8192;
/// Chunks per worker that [`Pool::imap`] keeps submitted ahead of the results taken.
pub const IMAP_IN_FLIGHT: usize = 4;

/// A pool of worker processes. See the [module docs](self).
///
/// # Examples
///
/// ```
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = mp_core::Pool::new(2)?;
/// assert_eq!(pool.map(square, 0..10u64)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// let r = pool.apply_async(square, 12)?;
/// assert_eq!(r.get()?, 144);
/// pool.close();
/// pool.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pool {
    inner: Mutex<Inner>,
}

impl Pool {
    /// A pool of `processes` workers with default options.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`].
    pub fn new(processes: usize) -> io::Result<Pool> {
        PoolBuilder::default().processes(processes).build()
    }

    /// Options: processes, initializer, maxtasksperchild, task timeout.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of worker processes.
    pub fn processes(&self) -> usize {
        self.lock().cfg.processes
    }

    /// The pids of the current workers (they change when workers are replaced).
    pub fn worker_pids(&self) -> Vec<crate::Pid> {
        self.lock().workers.iter().flatten().map(|w| w.proc.pid()).collect()
    }

    fn submit_chunk<A: Serialize>(&self, call: CallChunk, func: usize, args: &[A]) -> Result<u64, TaskError> {
        let mut frame =
            Vec::with_capacity(wire::TASK_HEADER + 8 + args.len() * std::mem::size_of::<A>().min(64));
        frame.resize(wire::TASK_HEADER, 0);
        encode_into(args, &mut frame).map_err(|e| TaskError::Codec(e.to_string()))?;
        self.lock().submit(call, func, frame)
    }

    /// Waits until `ready` holds for the pool's state or `deadline` passes. Runs the callbacks
    /// of finished tasks on the way (here, in the caller's thread, without the pool's lock).
    fn wait_until(
        &self,
        deadline: Option<Instant>,
        ready: impl Fn(&Inner) -> bool,
    ) -> Result<bool, TaskError> {
        let mut pumped = false;
        loop {
            let mut inner = self.lock();
            let due = inner.results.take_due();
            if !due.is_empty() {
                drop(inner);
                for callback in due {
                    callback();
                }
                continue;
            }
            if ready(&inner) {
                return Ok(true);
            }
            // Past the deadline, still collect once what has already arrived.
            if pumped && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            inner.pump(deadline)?;
            pumped = true;
        }
    }

    /// Takes finished task `id`'s result body, or why it has none.
    fn take_result(&self, id: u64) -> Result<Body, TaskError> {
        self.lock().results.take(id).unwrap_or_else(|| {
            // Each handle takes its result once, by value: a bug if it happens.
            Err(TaskError::Io(io::Error::other("the pool holds no result for this task")))
        })
    }

    /// Takes finished task `id`'s results, one outcome per item.
    fn take<R: DeserializeOwned>(&self, id: u64) -> Result<Vec<Outcome<R>>, TaskError> {
        handles::decode_outcomes(self.take_result(id)?)
    }

    fn abandon(&self, id: u64) {
        self.lock().results.abandon(id);
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`).
    ///
    /// # Errors
    ///
    /// See [`TaskError`].
    pub fn apply<A: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<R, TaskError> {
        self.apply_async(f, arg)?.get()
    }

    /// Starts `f(arg)` in a worker and returns a handle to its result (Python's
    /// `apply_async`).
    ///
    /// # Errors
    ///
    /// [`TaskError::Closed`] on a closed pool; [`TaskError::Codec`] if `arg` cannot be encoded.
    pub fn apply_async<A: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<AsyncResult<'_, R>, TaskError> {
        let call: CallChunk = wire::call_chunk::<A, R>;
        let id = self.submit_chunk(call, f as usize, std::slice::from_ref(&arg))?;
        Ok(AsyncResult::new(self, id))
    }

    fn chunks_for(&self, n: usize, chunksize: Option<usize>) -> usize {
        chunksize.unwrap_or_else(|| {
            // Python's rule: about four chunks per worker; capped, so that a chunk's arguments
            // and results stay small buffers (decoded while the workers compute the next ones).
            let per = n.div_ceil(self.processes() * 4);
            per.clamp(1, MAX_AUTO_CHUNK)
        })
    }

    fn submit_all<A: Serialize>(
        &self,
        call: CallChunk,
        func: usize,
        items: &[A],
        chunksize: Option<usize>,
    ) -> Result<Vec<(u64, usize, usize)>, TaskError> {
        let size = self.chunks_for(items.len(), chunksize).max(1);
        let mut chunks = Vec::with_capacity(items.len().div_ceil(size));
        for (k, chunk) in items.chunks(size).enumerate() {
            let id = self.submit_chunk(call, func, chunk)?;
            chunks.push((id, k * size, chunk.len()));
        }
        Ok(chunks)
    }

    fn collect<R: DeserializeOwned>(&self, chunks: Vec<(u64, usize, usize)>) -> Result<Vec<R>, MapError> {
        let mut gather = Gather::<R>::new(chunks.iter().map(|c| c.2).sum());
        let mut chunks = chunks.into_iter();
        // Chunk by chunk, in order: each is decoded here while the workers compute the later ones.
        while let Some((id, start, len)) = chunks.next() {
            if let Err(error) = self.wait_until(None, |inner| inner.results.is_finished(id)) {
                self.abandon(id);
                for (rest, _, _) in chunks {
                    self.abandon(rest);
                }
                gather.absorb(Err(error), start, len);
                return gather.finish();
            }
            gather.absorb(self.take_result(id), start, len);
        }
        gather.finish()
    }

    /// Applies `f` to every item and returns the results in input order (Python's `map`),
    /// sending the items in automatic chunks (about four per worker, at most 8192 items each).
    ///
    /// # Errors
    ///
    /// The first failing item, with its index ([`MapError`]).
    pub fn map<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Result<Vec<R>, MapError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.map_chunked(f, items, None)
    }

    /// [`map`](Self::map) with an explicit `chunksize` (`None`: automatic).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn map_chunked<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, MapError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<A> = items.into_iter().collect();
        let chunks = self
            .submit_all(wire::call_chunk::<A, R>, f as usize, &items, chunksize)
            .map_err(|error| MapError { index: 0, error })?;
        self.collect(chunks)
    }

    /// Applies `f` to the arguments in each tuple (Python's `starmap`): `f(a, b, …)` for
    /// every `(a, b, …)`, for functions of 1 to 12 parameters ([`StarFn`]). `f` is a function
    /// or a closure that captures nothing.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Examples
    ///
    /// ```
    /// fn describe(name: String, n: u32, hot: bool) -> String {
    ///     format!("{n} {name}{}", if hot { ", hot" } else { "" })
    /// }
    ///
    /// let pool = mp_core::Pool::new(2)?;
    /// let sums = pool.starmap(|a: u32, b: u32| a + b, vec![(1, 2), (3, 4)])?;
    /// assert_eq!(sums, [3, 7]);
    /// let lines = pool.starmap(describe, vec![("tea".to_string(), 2, true)])?;
    /// assert_eq!(lines, ["2 tea, hot"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn starmap<F, T>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<F::Output>, MapError>
    where
        F: StarFn<T>,
        F::Output: Serialize + DeserializeOwned,
        T: Serialize + DeserializeOwned,
    {
        let _ = f;
        let items: Vec<T> = items.into_iter().collect();
        let chunks = self
            .submit_all(wire::call_star::<F, T>, 0, &items, None)
            .map_err(|error| MapError { index: 0, error })?;
        self.collect(chunks)
    }

    /// Starts [`map`](Self::map) and returns a handle to all its results (Python's
    /// `map_async`); [`MapResult::callback`] takes Python's `callback`/`error_callback`.
    ///
    /// # Errors
    ///
    /// [`TaskError::Closed`] on a closed pool; [`TaskError::Codec`] if an item cannot be
    /// encoded.
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<MapResult<'_, R>, TaskError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<A> = items.into_iter().collect();
        let chunks = self.submit_all(wire::call_chunk::<A, R>, f as usize, &items, None)?;
        Ok(MapResult::new(self, chunks))
    }

    /// Starts [`starmap`](Self::starmap) and returns a handle to all its results (Python's
    /// `starmap_async`).
    ///
    /// # Errors
    ///
    /// As [`map_async`](Self::map_async).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = mp_core::Pool::new(2)?;
    /// let r = pool.starmap_async(|a: u32, b: u32| a * b, vec![(2, 3), (4, 5)])?;
    /// assert_eq!(r.get()?, [6, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn starmap_async<F, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<MapResult<'_, F::Output>, TaskError>
    where
        F: StarFn<T>,
        F::Output: Serialize + DeserializeOwned,
        T: Serialize + DeserializeOwned,
    {
        let _ = f;
        let items: Vec<T> = items.into_iter().collect();
        let chunks = self.submit_all(wire::call_star::<F, T>, 0, &items, None)?;
        Ok(MapResult::new(self, chunks))
    }

    /// Like [`map`](Self::map), but yields each result (a `Result` per item) in input order as
    /// soon as it and those before it are ready (Python's `imap`, chunk size 1).
    ///
    /// The input is read lazily: at most [`IMAP_IN_FLIGHT`] chunks per worker are submitted
    /// and not yet yielded, so an endless iterator works (take what you need from the results).
    ///
    /// # Errors
    ///
    /// [`TaskError::Closed`] or an encoding error when submitting the first tasks. A later
    /// submission error is yielded as an item, and ends the iteration.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = mp_core::Pool::new(2)?;
    /// let mut it = pool.imap(|x: i32| 10 / x, vec![5, 0, 2])?;
    /// assert_eq!(it.next().unwrap()?, 2);
    /// assert!(it.next().unwrap().is_err()); // division by zero panicked in the worker
    /// assert_eq!(it.next().unwrap()?, 5);
    /// assert!(it.next().is_none());
    ///
    /// // Endless input, read as results are taken.
    /// let squares: Vec<u64> = pool.imap(|x: u64| x * x, 0..)?.take(4).collect::<Result<_, _>>()?;
    /// assert_eq!(squares, [0, 1, 4, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap<'p, A, R, I>(&'p self, f: fn(A) -> R, items: I) -> Result<Imap<'p, R>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'p,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.imap_chunked(f, items, 1)
    }

    /// [`imap`](Self::imap) sending `chunksize` items per task (Python's `imap(…, chunksize)`).
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap).
    pub fn imap_chunked<'p, A, R, I>(
        &'p self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<Imap<'p, R>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'p,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        Imap::start(self, wire::call_chunk::<A, R>, f as usize, items.into_iter(), chunksize, true)
    }

    /// Like [`imap`](Self::imap), in the order results finish (Python's `imap_unordered`).
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap).
    pub fn imap_unordered<'p, A, R, I>(&'p self, f: fn(A) -> R, items: I) -> Result<Imap<'p, R>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'p,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.imap_unordered_chunked(f, items, 1)
    }

    /// [`imap_unordered`](Self::imap_unordered) sending `chunksize` items per task.
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap).
    pub fn imap_unordered_chunked<'p, A, R, I>(
        &'p self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<Imap<'p, R>, TaskError>
    where
        A: Serialize + DeserializeOwned + 'p,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        Imap::start(self, wire::call_chunk::<A, R>, f as usize, items.into_iter(), chunksize, false)
    }

    /// Takes no more tasks (Python's `close`); the workers finish what was submitted.
    pub fn close(&self) {
        let mut inner = self.lock();
        if inner.state == State::Running {
            inner.state = State::Closed;
        }
    }

    /// After [`close`](Self::close): waits for every submitted task, then for the workers to
    /// exit (Python's `join`). Results not yet taken stay available.
    ///
    /// # Errors
    ///
    /// `InvalidInput` while the pool still takes tasks (call `close` or `terminate` first).
    pub fn join(&self) -> io::Result<()> {
        let inner = self.lock();
        if inner.state == State::Running {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "join on a pool that is still running: call close() first",
            ));
        }
        drop(inner);
        self.wait_until(None, |inner| inner.results.all_finished() || inner.state == State::Terminated)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut inner = self.lock();
        // Hanging up tells each worker to exit.
        let workers: Vec<Worker> = inner.workers.drain(..).flatten().collect();
        for w in workers {
            let Worker { proc, conn, .. } = w;
            drop(conn);
            if proc.join_timeout(Duration::from_secs(10))?.is_none() {
                proc.kill()?;
                proc.join()?;
            }
        }
        Ok(())
    }

    /// Stops the workers at once (`SIGKILL`) without finishing outstanding work (Python's
    /// `terminate`); unfinished tasks fail with [`TaskError::Terminated`]. Dropping the pool
    /// does this too.
    pub fn terminate(&self) {
        self.lock().terminate();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.lock().terminate();
    }
}
