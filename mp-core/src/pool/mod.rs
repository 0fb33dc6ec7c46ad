//! A pool of worker processes (Python's `multiprocessing.Pool`) that never hangs.
//!
//! Workers are forks of the process that made the pool. A task is a plain function
//! `fn(A) -> R` (a non-capturing closure coerces to one) and its argument: the function's
//! address is valid in the workers because they are copies of this process, and the argument and
//! result cross as postcard bytes. Captured state cannot cross a process boundary, so capturing
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
//!   (A worker sends results in batches of up to a millisecond; tasks it had finished in that
//!   last batch run again on another worker, so a task may run twice, never fail wrongly.)
//! * With [`PoolBuilder::task_timeout`], a task over its time has its worker killed and fails
//!   with [`TaskError::Timeout`].
//!
//! No call blocks for ever because a worker died.
//!
//! # How work moves
//!
//! There is no thread inside the pool: the calling thread moves tasks and results whenever it
//! calls into the pool. `apply_async` sends a task at once to a worker with fewer than 4
//! unanswered tasks, and gathers further tasks into batches of 16 (one system call and one
//! wake-up per batch); `get`, `wait`, `ready`, `map`, `join` and the iterators send everything
//! and collect results. A worker is given up to 64 short tasks ahead, 2 once its tasks take over
//! a millisecond, so that long tasks spread over the workers. Tasks beyond that wait in the pool
//! until the next call into it.
//!
//! The pool is `Send` and `Sync`; calls from several threads take turns.
//!
//! # Fork safety
//!
//! Workers are forked when the pool starts and when one is replaced. See the process module
//! docs for what a child of a multithreaded process may do; tasks run under the same rules.

mod error;
mod wire;

pub use error::{MapError, TaskError};

use crate::{Builder, ExitStatus, Process};
use mp_ipc::__private::encode_into;
use mp_ipc::{Array, Connection, Pipe, RecvError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wire::{CallChunk, Outcome};

/// Bytes of unanswered tasks a worker may hold; below a socket buffer, so that sending a task
/// never blocks (a lone larger task goes only to an idle worker).
const IN_FLIGHT_BYTES: usize = 64 << 10;
const WINDOW_SHORT: usize = 64;
const WINDOW_LONG: usize = 2;
/// Tasks for a worker that already has this many unanswered tasks are held back and sent in
/// batches of `BATCH` (one system call, one wake-up of the worker), or at the next pump.
const SEND_AHEAD: usize = 4;
/// Largest automatic `map` chunk, in items.
const MAX_AUTO_CHUNK: usize = 8192;
const BATCH: usize = 16;
const LONG_TASK: Duration = Duration::from_millis(1);
/// Consecutive workers that die before finishing a task, with an initializer set, before the
/// pool stops starting new ones.
const STARTUP_FAILURES: u32 = 3;

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
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    processes: usize,
    initializer: Option<fn()>,
    max_tasks: Option<usize>,
    task_timeout: Option<Duration>,
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
        self.initializer = Some(init);
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
        let running = Arc::new(Array::from_elem(0u64, self.processes)?);
        let mut inner = Inner {
            running,
            cfg: self,
            workers: Vec::new(),
            pending: VecDeque::new(),
            done: HashMap::new(),
            outstanding: HashSet::new(),
            abandoned: HashSet::new(),
            next_id: 0,
            state: State::Running,
            startup_failures: 0,
            broken: None,
            worker_seq: 0,
        };
        for slot in 0..inner.cfg.processes {
            let w = inner.spawn_worker(slot)?;
            inner.workers.push(Some(w));
        }
        Ok(Pool { inner: Mutex::new(inner) })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Closed,
    Terminated,
}

#[derive(Debug)]
struct Task {
    id: u64,
    frame: Vec<u8>,
}

#[derive(Debug)]
struct Worker {
    proc: Process,
    conn: Connection,
    /// Sent and not answered, oldest first.
    in_flight: VecDeque<Task>,
    /// Assigned to this worker but not yet sent.
    outbox: Vec<Task>,
    /// When the task at the head of `in_flight` started (about: when the one before answered).
    head_started: Instant,
    sent: usize,
    completed: usize,
    /// Average run time of this worker's recent tasks.
    avg_task: Option<Duration>,
}

impl Worker {
    fn assigned(&self) -> usize {
        self.in_flight.len() + self.outbox.len()
    }

    fn assigned_bytes(&self) -> usize {
        self.in_flight.iter().chain(&self.outbox).map(|t| t.frame.len()).sum()
    }

    fn has_room_for(&self, task: &Task, max_tasks: Option<usize>) -> bool {
        if max_tasks.is_some_and(|m| self.sent + self.outbox.len() >= m) {
            return false;
        }
        if self.assigned() == 0 {
            return true;
        }
        let window = match self.avg_task {
            Some(t) if t < LONG_TASK => WINDOW_SHORT,
            _ => WINDOW_LONG,
        };
        self.assigned() < window && self.assigned_bytes() + task.frame.len() <= IN_FLIGHT_BYTES
    }

    /// Sends the outbox in one write. `Err` when the worker is gone.
    fn flush(&mut self) -> Result<(), ()> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        if let [one] = self.outbox.as_slice() {
            self.conn.send_bytes(&one.frame).map_err(drop)?;
        } else {
            let frames: Vec<&[u8]> = self.outbox.iter().map(|t| t.frame.as_slice()).collect();
            self.conn.send_bytes_many(&frames).map_err(drop)?;
        }
        if self.in_flight.is_empty() {
            self.head_started = Instant::now();
        }
        self.sent += self.outbox.len();
        self.in_flight.extend(self.outbox.drain(..));
        Ok(())
    }
}

/// One task's results inside a received batch, shared without copying.
#[derive(Debug)]
struct Body {
    batch: Arc<Vec<u8>>,
    range: std::ops::Range<usize>,
}

impl Body {
    fn bytes(&self) -> &[u8] {
        &self.batch[self.range.clone()]
    }
}

#[derive(Debug)]
struct Inner {
    cfg: PoolBuilder,
    /// Per worker slot: the id + 1 of the task the worker last started (shared memory).
    running: Arc<Array<u64>>,
    /// `None` only briefly, while a dead worker is being replaced, or after a failed replacement.
    workers: Vec<Option<Worker>>,
    pending: VecDeque<Task>,
    /// Finished tasks: the encoded result body (a range of a received batch), or why
    /// there is none.
    done: HashMap<u64, Result<Body, TaskError>>,
    /// Submitted and not finished.
    outstanding: HashSet<u64>,
    /// Finished or not, nobody will ask for these any more.
    abandoned: HashSet<u64>,
    next_id: u64,
    state: State,
    startup_failures: u32,
    broken: Option<ExitStatus>,
    worker_seq: u32,
}

impl Inner {
    fn spawn_worker(&mut self, slot: usize) -> io::Result<Worker> {
        self.worker_seq += 1;
        let (conn, child_end) = Pipe::duplex()?;
        // The new worker must not keep the other workers' sockets open (their end-of-stream
        // tells those workers to stop).
        let inherited: Vec<RawFd> = self.workers.iter().flatten().map(|w| w.conn.as_raw_fd()).collect();
        let init = self.cfg.initializer;
        let max = self.cfg.max_tasks;
        let conn_fd = conn.as_raw_fd();
        let running = Arc::clone(&self.running);
        running.set(slot, 0);
        let proc = Builder::new().name(format!("PoolWorker-{}", self.worker_seq)).spawn(move || {
            for fd in inherited.iter().copied().chain([conn_fd]) {
                // SAFETY: the worker never uses the parent's ends; it ends in `_exit`, so no
                // destructor closes them again.
                unsafe { mp_ipc::__private::close_raw(fd) };
            }
            wire::worker_main(child_end, &running, slot, init, max);
        })?;
        Ok(Worker {
            proc,
            conn,
            in_flight: VecDeque::new(),
            outbox: Vec::new(),
            head_started: Instant::now(),
            sent: 0,
            completed: 0,
            avg_task: None,
        })
    }

    fn submit(&mut self, call: CallChunk, func: usize, args: Vec<u8>) -> Result<u64, TaskError> {
        if self.state != State::Running {
            return Err(TaskError::Closed);
        }
        if let Some(status) = self.broken {
            return Err(TaskError::InitializerFailed { status });
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = args;
        frame[..8].copy_from_slice(&id.to_le_bytes());
        frame[8..16].copy_from_slice(&(call as usize as u64).to_le_bytes());
        frame[16..24].copy_from_slice(&(func as u64).to_le_bytes());
        self.pending.push_back(Task { id, frame });
        self.outstanding.insert(id);
        self.dispatch(false);
        if !self.pending.is_empty() {
            // Workers are full: collect what they have finished, so that they get more.
            self.pump(Some(Instant::now()))?;
        }
        Ok(id)
    }

    /// Assigns pending tasks to workers with room and sends them: at once to a worker with few
    /// unanswered tasks, in batches otherwise, and everything when `all` (at each pump).
    fn dispatch(&mut self, all: bool) {
        let max_tasks = self.cfg.max_tasks;
        let mut dead = Vec::new();
        for (slot, w) in self.workers.iter_mut().enumerate() {
            let Some(w) = w else { continue };
            while let Some(task) = self.pending.pop_front() {
                if !w.has_room_for(&task, max_tasks) {
                    self.pending.push_front(task);
                    break;
                }
                w.outbox.push(task);
            }
            if (all || w.in_flight.len() < SEND_AHEAD || w.outbox.len() >= BATCH) && w.flush().is_err() {
                dead.push(slot);
            }
        }
        for slot in dead {
            self.worker_gone(slot, None);
        }
    }

    /// One round: send what can be sent, wait (until `deadline`) for any worker to answer,
    /// die or overrun its task timeout, and handle all of that.
    fn pump(&mut self, deadline: Option<Instant>) -> Result<(), TaskError> {
        self.prepare()?;
        let timeout = self.cfg.task_timeout;
        let mut wake = deadline;
        for w in self.workers.iter().flatten() {
            if let (Some(t), false) = (timeout, w.in_flight.is_empty()) {
                let d = w.head_started + t;
                wake = Some(wake.map_or(d, |x| x.min(d)));
            }
        }
        let live: Vec<usize> = (0..self.workers.len()).filter(|&i| self.workers[i].is_some()).collect();
        let buffered: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| self.workers[i].as_ref().is_some_and(|w| w.conn.has_buffered()))
            .collect();
        let ready: Vec<usize> = if !buffered.is_empty() {
            buffered
        } else {
            let fds: Vec<&dyn AsFd> =
                live.iter().filter_map(|&i| self.workers[i].as_ref().map(|w| &w.conn as &dyn AsFd)).collect();
            let left = wake.map(|d| d.saturating_duration_since(Instant::now()));
            if fds.is_empty() {
                if let Some(l) = left {
                    std::thread::sleep(l.min(Duration::from_millis(10)));
                }
                Vec::new()
            } else {
                mp_ipc::wait_readable(&fds, left)?.into_iter().map(|k| live[k]).collect()
            }
        };
        for slot in ready {
            self.read_results(slot);
        }
        if let Some(t) = timeout {
            let now = Instant::now();
            let overdue: Vec<usize> = (0..self.workers.len())
                .filter(|&i| {
                    self.workers[i]
                        .as_ref()
                        .is_some_and(|w| !w.in_flight.is_empty() && now >= w.head_started + t)
                })
                .collect();
            for slot in overdue {
                if let Some(w) = &self.workers[slot] {
                    let _ = w.proc.kill();
                }
                self.worker_gone(slot, Some(t));
            }
        }
        self.prepare()
    }

    /// Replaces dead workers and sends everything that can be sent. Sending may find another
    /// worker dead (its tasks go back to `pending`), so this repeats until every slot is live:
    /// waiting afterwards is then safe, as every outstanding task is on a live worker.
    fn prepare(&mut self) -> Result<(), TaskError> {
        for _ in 0..16 {
            self.refill_workers()?;
            self.dispatch(true);
            let all_live = self.workers.iter().all(Option::is_some);
            if all_live || self.state == State::Terminated || self.broken.is_some() {
                return Ok(());
            }
        }
        Err(TaskError::Io(io::Error::other("pool workers keep dying as soon as they are sent a task")))
    }

    fn read_results(&mut self, slot: usize) {
        loop {
            let Some(w) = self.workers[slot].as_mut() else { return };
            match w.conn.try_recv_bytes() {
                Ok(batch) => {
                    let now = Instant::now();
                    let mut n = 0u32;
                    let batch = Arc::new(batch);
                    for (id, range) in wire::results(&batch) {
                        n += 1;
                        let pos = w.in_flight.iter().position(|t| t.id == id);
                        if let Some(pos) = pos {
                            w.in_flight.remove(pos);
                        }
                        w.completed += 1;
                        self.outstanding.remove(&id);
                        if !self.abandoned.remove(&id) {
                            self.done.insert(id, Ok(Body { batch: Arc::clone(&batch), range }));
                        }
                    }
                    if n > 0 {
                        let per = now.saturating_duration_since(w.head_started) / n;
                        w.avg_task = Some(w.avg_task.map_or(per, |a| (a * 3 + per) / 4));
                        w.head_started = now;
                        self.startup_failures = 0;
                    }
                }
                Err(RecvError::Empty) => return,
                Err(_) => {
                    self.worker_gone(slot, None);
                    return;
                }
            }
        }
    }

    /// A worker ended (or was killed for a timeout): collect it, fail the task it was running,
    /// give its queued tasks back, and leave its slot empty for `refill_workers`.
    fn worker_gone(&mut self, slot: usize, timed_out: Option<Duration>) {
        let Some(mut w) = self.workers[slot].take() else { return };
        let status = match w.proc.join_timeout(Duration::from_secs(5)) {
            Ok(Some(s)) => s,
            _ => {
                let _ = w.proc.kill();
                w.proc.join().unwrap_or(ExitStatus::from_raw(9))
            }
        };
        let pid = w.proc.pid();
        let retired = timed_out.is_none()
            && status.success()
            && w.in_flight.is_empty()
            && self.cfg.max_tasks.is_some_and(|m| w.completed >= m);
        // The task it was running, if it had not answered it: that one failed. The others
        // (queued behind it, or finished with their results not yet sent) run again elsewhere.
        let running = self.running.get(slot).unwrap_or(0).checked_sub(1);
        if let Some(pos) = running.and_then(|id| w.in_flight.iter().position(|t| t.id == id)) {
            let err = match timed_out {
                Some(after) => TaskError::Timeout { pid, after },
                None => TaskError::WorkerDied { pid, status },
            };
            let id = w.in_flight.remove(pos).map_or(0, |t| t.id);
            self.finish(id, Err(err));
        }
        for t in w.outbox.drain(..).rev() {
            self.pending.push_front(t);
        }
        while let Some(t) = w.in_flight.pop_back() {
            self.pending.push_front(t);
        }
        if !retired && timed_out.is_none() && w.completed == 0 && self.cfg.initializer.is_some() {
            self.startup_failures += 1;
            if self.startup_failures >= STARTUP_FAILURES {
                self.broken = Some(status);
                let ids: Vec<u64> = self.pending.drain(..).map(|t| t.id).collect();
                for id in ids {
                    self.finish(id, Err(TaskError::InitializerFailed { status }));
                }
            }
        }
    }

    fn finish(&mut self, id: u64, r: Result<Body, TaskError>) {
        self.outstanding.remove(&id);
        if !self.abandoned.remove(&id) {
            self.done.insert(id, r);
        }
    }

    fn refill_workers(&mut self) -> Result<(), TaskError> {
        if self.state == State::Terminated || self.broken.is_some() {
            return Ok(());
        }
        for slot in 0..self.workers.len() {
            if self.workers[slot].is_none() {
                let w = self.spawn_worker(slot)?;
                self.workers[slot] = Some(w);
            }
        }
        Ok(())
    }

    fn terminate(&mut self) {
        if self.state == State::Terminated {
            return;
        }
        self.state = State::Terminated;
        for w in self.workers.iter().flatten() {
            let _ = w.proc.kill();
        }
        for w in self.workers.drain(..).flatten() {
            let _ = w.proc.join();
        }
        let ids: Vec<u64> = self.outstanding.iter().copied().collect();
        self.pending.clear();
        for id in ids {
            self.finish(id, Err(TaskError::Terminated));
        }
    }
}

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

    /// Waits until `ready` holds for the pool's state or `deadline` passes.
    fn wait_until(
        &self,
        deadline: Option<Instant>,
        ready: impl Fn(&Inner) -> bool,
    ) -> Result<bool, TaskError> {
        let mut inner = self.lock();
        let mut pumped = false;
        loop {
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

    fn take<R: DeserializeOwned>(&self, id: u64) -> Result<Vec<Outcome<R>>, TaskError> {
        let mut values = Vec::new();
        Ok(match self.take_into(id, &mut values)? {
            Ok(_) => values.into_iter().map(Outcome::Ok).collect(),
            Err(outcomes) => outcomes,
        })
    }

    /// Takes task `id`'s results: appended to `out` (returning how many) when every call
    /// returned, otherwise the outcomes one by one.
    fn take_into<R: DeserializeOwned>(
        &self,
        id: u64,
        out: &mut Vec<R>,
    ) -> Result<Result<usize, Vec<Outcome<R>>>, TaskError> {
        let body = match self.lock().done.remove(&id) {
            Some(Ok(body)) => body,
            Some(Err(e)) => return Err(e),
            None => return Err(TaskError::AlreadyTaken),
        };
        wire::decode_results(body.bytes(), out).map_err(|e| TaskError::Codec(e.to_string()))
    }

    fn abandon(&self, id: u64) {
        let mut inner = self.lock();
        if inner.done.remove(&id).is_none() && inner.outstanding.contains(&id) {
            inner.abandoned.insert(id);
        }
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
        Ok(AsyncResult { pool: self, id, taken: Cell::new(false), _r: PhantomData })
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
        let total = chunks.iter().map(|c| c.2).sum();
        let mut out = Vec::with_capacity(total);
        let mut first_err: Option<MapError> = None;
        let mut chunks = chunks.into_iter();
        // Chunk by chunk, in order: each is decoded here while the workers compute the later ones.
        while let Some((id, start, len)) = chunks.next() {
            if let Err(error) = self.wait_until(None, |inner| !inner.outstanding.contains(&id)) {
                self.abandon(id);
                for (rest, _, _) in chunks {
                    self.abandon(rest);
                }
                return Err(first_err.unwrap_or(MapError { index: start, error }));
            }
            let returned = match self.take_into::<R>(id, &mut out) {
                Ok(Ok(n)) => n,
                Ok(Err(outcomes)) => {
                    let n = outcomes.len();
                    for (k, o) in outcomes.into_iter().enumerate() {
                        match o {
                            Outcome::Ok(r) if first_err.is_none() => out.push(r),
                            Outcome::Ok(_) => {}
                            Outcome::Panicked(m) => {
                                first_err.get_or_insert(MapError {
                                    index: start + k,
                                    error: TaskError::Panicked(m),
                                });
                            }
                            Outcome::Failed(m) => {
                                first_err
                                    .get_or_insert(MapError { index: start + k, error: TaskError::Codec(m) });
                            }
                        }
                    }
                    n
                }
                Err(error) => {
                    first_err.get_or_insert(MapError { index: start, error });
                    len
                }
            };
            if returned < len && first_err.is_none() {
                first_err = Some(MapError {
                    index: start + returned,
                    error: TaskError::Codec("a worker returned fewer results than items".into()),
                });
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
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

    /// Applies a two-argument `f` to every `(a, b)` (Python's `starmap`). For more arguments,
    /// use [`map`](Self::map) with a tuple pattern: `pool.map(|(a, b, c): (u8, u8, u8)| …, items)`.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = mp_core::Pool::new(2)?;
    /// let sums = pool.starmap(|a: u32, b: u32| a + b, vec![(1, 2), (3, 4)])?;
    /// assert_eq!(sums, [3, 7]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn starmap<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>, MapError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let chunks = self
            .submit_all(wire::call_chunk2::<A, B, R>, f as usize, &items, None)
            .map_err(|error| MapError { index: 0, error })?;
        self.collect(chunks)
    }

    /// Like [`map`](Self::map), but yields each result (a `Result` per item) in input order as
    /// soon as it and those before it are ready (Python's `imap`, chunk size 1).
    ///
    /// # Errors
    ///
    /// [`TaskError::Closed`] or an encoding error when submitting.
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
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Imap<'_, R>, TaskError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.imap_inner(f, items, Some(1), true)
    }

    /// Like [`imap`](Self::imap), in the order results finish (Python's `imap_unordered`).
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap).
    pub fn imap_unordered<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Imap<'_, R>, TaskError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.imap_inner(f, items, Some(1), false)
    }

    fn imap_inner<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        ordered: bool,
    ) -> Result<Imap<'_, R>, TaskError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<A> = items.into_iter().collect();
        let chunks = self.submit_all(wire::call_chunk::<A, R>, f as usize, &items, chunksize)?;
        Ok(Imap {
            pool: self,
            chunks: chunks.into_iter().map(|(id, _, len)| (id, len)).collect(),
            ready: VecDeque::new(),
            ordered,
        })
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
        let mut inner = self.lock();
        if inner.state == State::Running {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "join on a pool that is still running: call close() first",
            ));
        }
        while !inner.outstanding.is_empty() && inner.state != State::Terminated {
            inner.pump(None).map_err(|e| io::Error::other(e.to_string()))?;
        }
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

/// The pending result of [`Pool::apply_async`] (Python's `AsyncResult`).
///
/// Dropping it without taking the result tells the pool to discard the result when it comes.
#[derive(Debug)]
pub struct AsyncResult<'p, R> {
    pool: &'p Pool,
    id: u64,
    taken: Cell<bool>,
    _r: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> AsyncResult<'_, R> {
    fn finished(&self, inner: &Inner) -> bool {
        !inner.outstanding.contains(&self.id)
    }

    /// Waits for the result and takes it.
    ///
    /// # Errors
    ///
    /// Why the task failed ([`TaskError`]); [`TaskError::AlreadyTaken`] on a second call.
    pub fn get(&self) -> Result<R, TaskError> {
        self.get_deadline(None)
    }

    /// Waits at most `timeout`; [`TaskError::WaitTimeout`] if the task is still running then
    /// (it goes on; call again to wait more).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`TaskError::WaitTimeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, TaskError> {
        self.get_deadline(Instant::now().checked_add(timeout))
    }

    fn get_deadline(&self, deadline: Option<Instant>) -> Result<R, TaskError> {
        if self.taken.get() {
            return Err(TaskError::AlreadyTaken);
        }
        if !self.pool.wait_until(deadline, |inner| self.finished(inner))? {
            return Err(TaskError::WaitTimeout);
        }
        self.taken.set(true);
        match self.pool.take::<R>(self.id)?.into_iter().next() {
            Some(Outcome::Ok(r)) => Ok(r),
            Some(Outcome::Panicked(m)) => Err(TaskError::Panicked(m)),
            Some(Outcome::Failed(m)) => Err(TaskError::Codec(m)),
            None => Err(TaskError::Codec("the worker returned no result".into())),
        }
    }

    /// Waits until the task has finished (successfully or not).
    ///
    /// # Errors
    ///
    /// A pool I/O error while waiting.
    pub fn wait(&self) -> Result<(), TaskError> {
        self.pool.wait_until(None, |inner| self.finished(inner)).map(drop)
    }

    /// Waits at most `timeout`; returns whether the task has finished.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TaskError> {
        self.pool.wait_until(Instant::now().checked_add(timeout), |inner| self.finished(inner))
    }

    /// Whether the task has finished (Python's `ready()`); collects finished results first.
    pub fn ready(&self) -> bool {
        self.taken.get()
            || self.pool.wait_until(Some(Instant::now()), |inner| self.finished(inner)).unwrap_or(false)
    }

    /// `Some(true)` if the task finished with a result, `Some(false)` if it failed, `None` while
    /// it runs (Python's `successful()`, which raises in that case).
    pub fn successful(&self) -> Option<bool> {
        if !self.ready() {
            return None;
        }
        let inner = self.pool.lock();
        match inner.done.get(&self.id) {
            Some(Ok(body)) => Some(wire::all_ok(body.bytes())),
            Some(Err(_)) => Some(false),
            None => None,
        }
    }
}

impl<R> Drop for AsyncResult<'_, R> {
    fn drop(&mut self) {
        if !self.taken.get() {
            self.pool.abandon(self.id);
        }
    }
}

/// Results of [`Pool::imap`] and [`Pool::imap_unordered`], one `Result` per item.
#[derive(Debug)]
pub struct Imap<'p, R> {
    pool: &'p Pool,
    /// Chunks not yet taken: `(task id, items in it)`.
    chunks: VecDeque<(u64, usize)>,
    ready: VecDeque<Result<R, TaskError>>,
    ordered: bool,
}

impl<R: DeserializeOwned> Iterator for Imap<'_, R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.ready.pop_front() {
            return Some(r);
        }
        if self.chunks.is_empty() {
            return None;
        }
        let ordered = self.ordered;
        let first = self.chunks.front().map(|c| c.0);
        let ids: Vec<u64> = self.chunks.iter().map(|c| c.0).collect();
        let waited = self.pool.wait_until(None, |inner| {
            if ordered {
                first.is_some_and(|id| !inner.outstanding.contains(&id))
            } else {
                ids.iter().any(|id| !inner.outstanding.contains(id))
            }
        });
        if let Err(e) = waited {
            self.chunks.clear();
            return Some(Err(e));
        }
        let pos = if ordered {
            0
        } else {
            let inner = self.pool.lock();
            self.chunks.iter().position(|(id, _)| !inner.outstanding.contains(id)).unwrap_or(0)
        };
        let (id, len) = self.chunks.remove(pos)?;
        match self.pool.take::<R>(id) {
            Ok(outcomes) => {
                for o in outcomes {
                    self.ready.push_back(match o {
                        Outcome::Ok(r) => Ok(r),
                        Outcome::Panicked(m) => Err(TaskError::Panicked(m)),
                        Outcome::Failed(m) => Err(TaskError::Codec(m)),
                    });
                }
            }
            Err(e) => {
                // A whole chunk failed: one error per item in it.
                let text = e.to_string();
                self.ready.push_back(Err(e));
                for _ in 1..len {
                    self.ready.push_back(Err(TaskError::Codec(format!("chunk failed: {text}"))));
                }
            }
        }
        self.ready.pop_front()
    }
}

impl<R> Drop for Imap<'_, R> {
    fn drop(&mut self) {
        for (id, _) in self.chunks.drain(..) {
            self.pool.abandon(id);
        }
    }
}
