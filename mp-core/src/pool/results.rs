//! Finished tasks waiting to be taken: the one place that records a task's end and hands its
//! result out.

use super::TaskError;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One task's results inside a message received from a worker, shared without copying.
#[derive(Debug)]
pub(super) struct Body {
    pub(super) message: Arc<Vec<u8>>,
    pub(super) range: std::ops::Range<usize>,
}

impl Body {
    pub(super) fn bytes(&self) -> &[u8] {
        &self.message[self.range.clone()]
    }
}

/// A finished task, waiting to be taken.
#[derive(Debug)]
struct Done {
    /// Its place in the order tasks finished.
    order: u64,
    result: Result<Body, TaskError>,
}

/// What to do with a task's result instead of keeping it to be taken.
pub(super) type Callback = Box<dyn FnOnce(Result<Body, TaskError>) + Send>;

/// Which tasks are outstanding, and the results of finished ones until they are taken (or
/// handed to their callbacks).
#[derive(Default)]
pub(super) struct ResultStore {
    /// Callbacks of tasks not finished yet.
    callbacks: HashMap<u64, Callback>,
    /// Callbacks ready to run, with their results: run by the next caller that waits.
    due: Vec<Box<dyn FnOnce() + Send>>,
    /// Submitted and not finished.
    outstanding: HashSet<u64>,
    /// Finished tasks: the encoded result body, or why there is none.
    done: HashMap<u64, Done>,
    /// Not finished, and nobody will ask for these any more: dropped when they finish.
    abandoned: HashSet<u64>,
    /// How many tasks have finished: the `order` of the next one.
    finished: u64,
}

impl ResultStore {
    /// Task `id` was submitted.
    pub(super) fn start(&mut self, id: u64) {
        self.outstanding.insert(id);
    }

    /// Task `id` ended: keeps its result (or makes its callback due) unless it was abandoned.
    pub(super) fn finish(&mut self, id: u64, result: Result<Body, TaskError>) {
        self.outstanding.remove(&id);
        if let Some(callback) = self.callbacks.remove(&id) {
            self.due.push(Box::new(move || callback(result)));
        } else if !self.abandoned.remove(&id) {
            self.done.insert(id, Done { order: self.finished, result });
            self.finished += 1;
        }
    }

    pub(super) fn is_finished(&self, id: u64) -> bool {
        !self.outstanding.contains(&id)
    }

    /// Whether no task is outstanding.
    pub(super) fn all_finished(&self) -> bool {
        self.outstanding.is_empty()
    }

    pub(super) fn outstanding(&self) -> Vec<u64> {
        self.outstanding.iter().copied().collect()
    }

    /// The finished result of `id`, without taking it.
    pub(super) fn peek(&self, id: u64) -> Option<&Result<Body, TaskError>> {
        self.done.get(&id).map(|d| &d.result)
    }

    /// When `id` finished, relative to the others (smaller: earlier), if it has.
    pub(super) fn order(&self, id: u64) -> Option<u64> {
        self.done.get(&id).map(|d| d.order)
    }

    /// Takes the result of a finished task.
    pub(super) fn take(&mut self, id: u64) -> Option<Result<Body, TaskError>> {
        self.done.remove(&id).map(|d| d.result)
    }

    /// Nobody will take `id`'s result: drops it now, or when the task finishes.
    pub(super) fn abandon(&mut self, id: u64) {
        if self.done.remove(&id).is_none() && self.outstanding.contains(&id) {
            self.abandoned.insert(id);
        }
    }

    /// Hands task `id`'s result to `callback` instead of keeping it: due now if the task has
    /// finished, otherwise when it does.
    pub(super) fn set_callback(&mut self, id: u64, callback: Callback) {
        if let Some(result) = self.take(id) {
            self.due.push(Box::new(move || callback(result)));
        } else if self.outstanding.contains(&id) {
            self.callbacks.insert(id, callback);
        }
    }

    /// Runs `f` with the due callbacks.
    pub(super) fn defer(&mut self, f: Box<dyn FnOnce() + Send>) {
        self.due.push(f);
    }

    /// The callbacks due, to run without the pool's lock.
    pub(super) fn take_due(&mut self) -> Vec<Box<dyn FnOnce() + Send>> {
        std::mem::take(&mut self.due)
    }
}

impl std::fmt::Debug for ResultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultStore")
            .field("outstanding", &self.outstanding.len())
            .field("done", &self.done.len())
            .field("callbacks", &self.callbacks.len())
            .field("due", &self.due.len())
            .finish_non_exhaustive()
    }
}
