//! Moving tasks to workers and results back: the pool's state behind its lock.
//!
//! Each task goes to the live worker with the fewest unanswered tasks among those with room
//! (a window of tasks sent ahead, wide for short tasks, narrow for long ones). A worker whose
//! current task has run over [`STALLED_AFTER`] gets no more, and while another worker is idle
//! the tasks queued behind that task are revoked (see [`Control`]) and sent elsewhere: no task
//! waits behind a long one while a worker is free.

use super::config::PoolBuilder;
use super::control::Control;
use super::results::{Body, ResultStore};
use super::wire::{self, CallChunk, TaskHeader};
use super::{TaskError, worker};
use crate::{Builder, ExitStatus, Process, StartMethod};
use mp_ipc::{Connection, Pipe, RecvError};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of unanswered tasks a worker may hold; below a socket buffer, so that sending a task
/// never blocks (a lone larger task goes only to an idle worker).
const IN_FLIGHT_BYTES: usize = 64 << 10;
const WINDOW_SHORT: usize = 64;
const WINDOW_LONG: usize = 2;
/// Tasks for a worker that already has this many unanswered tasks are held back and sent in
/// batches of `BATCH` (one system call, one wake-up of the worker), or at the next pump.
const SEND_AHEAD: usize = 4;
const BATCH: usize = 16;
const LONG_TASK: Duration = Duration::from_millis(1);
/// A worker whose task has run this long gets no more tasks while another worker has room, and
/// the tasks queued behind that task go to a worker that becomes idle.
const STALLED_AFTER: Duration = Duration::from_millis(1);
/// Consecutive workers that die before finishing a task, with an initializer set, before the
/// pool stops starting new ones.
const STARTUP_FAILURES: u32 = 3;

/// Whether the pool takes tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Running,
    Closed,
    Terminated,
}

#[derive(Debug)]
struct Task {
    id: u64,
    /// Place in the order it was sent to its worker (meaningful while in `in_flight`).
    seq: u64,
    frame: Vec<u8>,
}

/// A worker process, and the tasks sent to it.
#[derive(Debug)]
pub(super) struct Worker {
    pub(super) proc: Process,
    pub(super) conn: Connection,
    /// Sent and not answered, oldest first.
    in_flight: VecDeque<Task>,
    /// Assigned to this worker but not yet sent.
    outbox: Vec<Task>,
    /// When the task at the head of `in_flight` started (about: when the one before answered).
    head_started: Instant,
    sent: usize,
    /// `seq` of the next task sent.
    next_seq: u64,
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

    fn has_room_for(&self, task: &Task, max_tasks: Option<usize>, now: Instant) -> bool {
        if max_tasks.is_some_and(|m| self.sent + self.outbox.len() >= m) {
            return false;
        }
        if self.assigned() == 0 {
            return true;
        }
        if self.stalled(now) {
            return false;
        }
        let window = match self.avg_task {
            Some(t) if t < LONG_TASK => WINDOW_SHORT,
            _ => WINDOW_LONG,
        };
        self.assigned() < window && self.assigned_bytes() + task.frame.len() <= IN_FLIGHT_BYTES
    }

    /// Whether its current task has run long enough that tasks behind it should go elsewhere.
    fn stalled(&self, now: Instant) -> bool {
        !self.in_flight.is_empty() && now.saturating_duration_since(self.head_started) >= STALLED_AFTER
    }

    /// Sends the outbox in one write. `Err` when the worker is gone.
    fn flush(&mut self) -> Result<(), ()> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        for t in &mut self.outbox {
            t.seq = self.next_seq;
            self.next_seq += 1;
            TaskHeader::set_seq(&mut t.frame, t.seq);
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

#[derive(Debug)]
/// Everything behind the pool's lock.
pub(super) struct Inner {
    pub(super) cfg: PoolBuilder,
    /// Per worker slot: the task it runs, and the tasks it must not start (shared memory).
    control: Arc<Control>,
    /// `None` only briefly, while a dead worker is being replaced, or after a failed replacement.
    pub(super) workers: Vec<Option<Worker>>,
    pending: VecDeque<Task>,
    /// Outstanding tasks and finished results.
    pub(super) results: ResultStore,
    next_id: u64,
    pub(super) state: State,
    startup_failures: u32,
    broken: Option<ExitStatus>,
    worker_seq: u32,
}

impl Inner {
    /// Starts the workers of a new pool.
    pub(super) fn start(cfg: PoolBuilder) -> io::Result<Inner> {
        let control = Arc::new(Control::new(cfg.processes)?);
        let mut inner = Inner {
            control,
            cfg,
            workers: Vec::new(),
            pending: VecDeque::new(),
            results: ResultStore::default(),
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
        Ok(inner)
    }

    fn spawn_worker(&mut self, slot: usize) -> io::Result<Worker> {
        self.worker_seq += 1;
        let (conn, child_end) = Pipe::duplex()?;
        let max = self.cfg.max_tasks;
        let control = Arc::clone(&self.control);
        control.reset(slot);
        let builder = Builder::new().name(format!("PoolWorker-{}", self.worker_seq));
        let proc = match self.cfg.start_method {
            StartMethod::ForkServer => {
                // A fork-server worker holds only what it is given: no other worker's socket.
                let init = self.cfg.initializer.as_ref().map(|i| i.encode()).transpose()?;
                let args = worker::WorkerArgs { conn: child_end, control, slot, init, max_tasks: max };
                builder.start_method(StartMethod::ForkServer).spawn_fn(worker::served_worker, args)?
            }
            _ => {
                // The new worker must not keep the other workers' sockets open (their
                // end-of-stream tells those workers to stop).
                let inherited: Vec<RawFd> =
                    self.workers.iter().flatten().map(|w| w.conn.as_raw_fd()).collect();
                let init = self.cfg.initializer.clone();
                let conn_fd = conn.as_raw_fd();
                builder.start_method(StartMethod::Fork).spawn(move || {
                    for fd in inherited.iter().copied().chain([conn_fd]) {
                        // SAFETY: the worker never uses the parent's ends; it ends in `_exit`,
                        // so no destructor closes them again.
                        unsafe { mp_ipc::os::close_raw(fd) };
                    }
                    let init = init.as_ref().map(|i| move || i.run());
                    worker::worker_main(
                        child_end,
                        &control,
                        slot,
                        init.as_ref().map(|f| f as &dyn Fn()),
                        max,
                    );
                })?
            }
        };
        Ok(Worker {
            proc,
            conn,
            in_flight: VecDeque::new(),
            outbox: Vec::new(),
            head_started: Instant::now(),
            sent: 0,
            next_seq: 0,
            completed: 0,
            avg_task: None,
        })
    }

    pub(super) fn submit(&mut self, call: CallChunk, func: usize, args: Vec<u8>) -> Result<u64, TaskError> {
        if self.state != State::Running {
            return Err(TaskError::Closed);
        }
        if let Some(status) = self.broken {
            return Err(TaskError::InitializerFailed { status });
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = args;
        TaskHeader { id, call: call as usize, func, seq: 0 }.write(&mut frame);
        self.pending.push_back(Task { id, seq: 0, frame });
        self.results.start(id);
        self.dispatch(false);
        if !self.pending.is_empty() {
            // Workers are full: collect what they have finished, so that they get more.
            self.pump(Some(Instant::now()))?;
        }
        Ok(id)
    }

    /// Assigns pending tasks to workers with room and sends them: at once to a worker with few
    /// unanswered tasks, in batches otherwise, and everything when `all` (at each pump).
    ///
    /// Each task goes to the live worker with the fewest unanswered tasks among those with room;
    /// a worker whose current task has run over [`STALLED_AFTER`] has no room.
    fn dispatch(&mut self, all: bool) {
        let max_tasks = self.cfg.max_tasks;
        let now = Instant::now();
        while let Some(task) = self.pending.front() {
            let best = self
                .workers
                .iter()
                .enumerate()
                .filter_map(|(i, w)| {
                    w.as_ref().filter(|w| w.has_room_for(task, max_tasks, now)).map(|w| (i, w))
                })
                .min_by_key(|(_, w)| w.assigned())
                .map(|(i, _)| i);
            let Some(slot) = best else { break };
            let task = self.pending.pop_front().expect("a pending task");
            if let Some(w) = self.workers[slot].as_mut() {
                w.outbox.push(task);
            }
        }
        let mut dead = Vec::new();
        for (slot, w) in self.workers.iter_mut().enumerate() {
            let Some(w) = w else { continue };
            if (all || w.in_flight.len() < SEND_AHEAD || w.outbox.len() >= BATCH) && w.flush().is_err() {
                dead.push(slot);
            }
        }
        for slot in dead {
            self.worker_gone(slot, None);
        }
    }

    /// Takes back from `slot` every task sent to it from `from_seq` on (`None`: from the first
    /// it has not started) that its worker has not started, so that it never will. Returns
    /// them in the order they were sent; none when the task at `from_seq` has started.
    fn revoke(&mut self, slot: usize, from_seq: Option<u64>) -> Vec<Task> {
        let Some(w) = self.workers[slot].as_mut() else { return Vec::new() };
        let Some(first) = self.control.revoke(slot, from_seq, w.next_seq) else { return Vec::new() };
        let keep = w.in_flight.iter().position(|t| t.seq >= first).unwrap_or(w.in_flight.len());
        let taken: Vec<Task> = w.in_flight.drain(keep..).collect();
        w.sent -= taken.len();
        taken
    }

    /// Work conservation: while a worker is idle and nothing is pending, the tasks queued behind
    /// a stalled worker's current task are taken back and dispatched again.
    fn rebalance(&mut self) {
        let now = Instant::now();
        let idle = self.workers.iter().flatten().any(|w| w.assigned() == 0);
        if !idle || !self.pending.is_empty() {
            return;
        }
        let victims: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].as_ref().is_some_and(|w| w.in_flight.len() >= 2 && w.stalled(now)))
            .collect();
        for slot in victims {
            let taken = self.revoke(slot, None);
            if let Some(w) = self.workers[slot].as_mut() {
                // Not sent yet: simply not this worker's any more.
                for t in w.outbox.drain(..).rev() {
                    self.pending.push_front(t);
                }
            }
            for t in taken.into_iter().rev() {
                self.pending.push_front(t);
            }
        }
        self.dispatch(true);
    }

    /// When [`rebalance`](Self::rebalance) will next have something to do, if ever.
    fn next_rebalance(&self) -> Option<Instant> {
        let idle = self.workers.iter().flatten().any(|w| w.assigned() == 0);
        if !idle {
            return None;
        }
        self.workers
            .iter()
            .flatten()
            .filter(|w| w.in_flight.len() >= 2)
            .map(|w| w.head_started + STALLED_AFTER)
            .min()
    }

    /// One round: send what can be sent, wait (until `deadline`) for any worker to answer,
    /// die or overrun its task timeout, and handle all of that.
    pub(super) fn pump(&mut self, deadline: Option<Instant>) -> Result<(), TaskError> {
        self.prepare()?;
        let timeout = self.cfg.task_timeout;
        let mut wake = deadline;
        if let Some(d) = self.next_rebalance() {
            wake = Some(wake.map_or(d, |x| x.min(d)));
        }
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
        self.prepare()?;
        self.rebalance();
        Ok(())
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

    /// Takes every result waiting from the worker in `slot` (one message per finished task),
    /// then updates its average task time once for all of them.
    fn read_results(&mut self, slot: usize) {
        let mut n = 0u32;
        loop {
            let Some(w) = self.workers[slot].as_mut() else { return };
            match w.conn.try_recv_bytes() {
                Ok(message) => {
                    let message = Arc::new(message);
                    for (id, range) in wire::results(&message) {
                        n += 1;
                        if let Some(pos) = w.in_flight.iter().position(|t| t.id == id) {
                            w.in_flight.remove(pos);
                        }
                        w.completed += 1;
                        self.results.finish(id, Ok(Body { message: Arc::clone(&message), range }));
                    }
                }
                Err(RecvError::Empty) => break,
                Err(_) => {
                    self.worker_gone(slot, None);
                    return;
                }
            }
        }
        if let (Some(w), true) = (self.workers[slot].as_mut(), n > 0) {
            let now = Instant::now();
            let per = now.saturating_duration_since(w.head_started) / n;
            w.avg_task = Some(w.avg_task.map_or(per, |a| (a * 3 + per) / 4));
            w.head_started = now;
            self.startup_failures = 0;
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
        let running = self.control.running(slot);
        if let Some(pos) = running.and_then(|id| w.in_flight.iter().position(|t| t.id == id)) {
            let err = match timed_out {
                Some(after) => TaskError::Timeout { pid, after },
                None => TaskError::WorkerDied { pid, status },
            };
            let id = w.in_flight.remove(pos).map_or(0, |t| t.id);
            self.results.finish(id, Err(err));
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
                    self.results.finish(id, Err(TaskError::InitializerFailed { status }));
                }
            }
        }
    }

    /// Cancels task `id` if no worker has started it: it never runs and finishes with
    /// [`TaskError::Cancelled`]. Returns whether it is cancelled.
    pub(super) fn cancel(&mut self, id: u64) -> bool {
        if self.results.is_finished(id) {
            return matches!(self.results.peek(id), Some(Err(TaskError::Cancelled)));
        }
        if let Some(pos) = self.pending.iter().position(|t| t.id == id) {
            self.pending.remove(pos);
            self.results.finish(id, Err(TaskError::Cancelled));
            return true;
        }
        for slot in 0..self.workers.len() {
            let Some(w) = self.workers[slot].as_mut() else { continue };
            if let Some(pos) = w.outbox.iter().position(|t| t.id == id) {
                w.outbox.remove(pos);
                self.results.finish(id, Err(TaskError::Cancelled));
                return true;
            }
            let Some(seq) = w.in_flight.iter().find(|t| t.id == id).map(|t| t.seq) else { continue };
            // Sent: take it back (with the tasks sent after it) unless the worker started it.
            let taken = self.revoke(slot, Some(seq));
            let cancelled = taken.iter().any(|t| t.id == id);
            for t in taken.into_iter().rev() {
                if t.id != id {
                    self.pending.push_front(t);
                }
            }
            if cancelled {
                self.results.finish(id, Err(TaskError::Cancelled));
                self.dispatch(true);
            }
            return cancelled;
        }
        false
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

    pub(super) fn terminate(&mut self) {
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
        let ids = self.results.outstanding();
        self.pending.clear();
        for id in ids {
            self.results.finish(id, Err(TaskError::Terminated));
        }
    }
}
