//! [`Imap`]: the lazy iterator of `imap` and `imap_unordered`.

use super::handles::{finished, first_finished};
use super::wire::{CallChunk, Outcome};
use super::{Pool, TaskError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;

/// Reads the next chunk of an `imap` input and submits it: `(task id, items in it)`, or `None`
/// at the end of the input.
type Feed<'p> = Box<dyn FnMut(&Pool) -> Option<Result<(u64, usize), TaskError>> + 'p>;

/// Results of [`Pool::imap`] and [`Pool::imap_unordered`], one `Result` per item.
///
/// It reads its input as results are taken, keeping at most
/// [`IMAP_IN_FLIGHT`](super::IMAP_IN_FLIGHT) chunks per worker submitted and not yet yielded.
pub struct Imap<'p, R> {
    pool: &'p Pool,
    feed: Option<Feed<'p>>,
    in_flight: usize,
    /// Chunks submitted and not yet taken: `(task id, items in it)`.
    chunks: VecDeque<(u64, usize)>,
    ready: VecDeque<Result<R, TaskError>>,
    ordered: bool,
}

impl<R> std::fmt::Debug for Imap<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imap")
            .field("chunks", &self.chunks)
            .field("input_done", &self.feed.is_none())
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

impl<'p, R: DeserializeOwned> Imap<'p, R> {
    pub(super) fn start<A: Serialize + 'p>(
        pool: &'p Pool,
        call: CallChunk,
        func: usize,
        mut items: impl Iterator<Item = A> + 'p,
        chunksize: usize,
        ordered: bool,
    ) -> Result<Self, TaskError> {
        let chunksize = chunksize.max(1);
        let feed: Feed<'p> = Box::new(move |pool: &Pool| {
            let chunk: Vec<A> = items.by_ref().take(chunksize).collect();
            if chunk.is_empty() {
                return None;
            }
            Some(pool.submit_chunk(call, func, &chunk).map(|id| (id, chunk.len())))
        });
        let mut imap = Imap {
            pool,
            feed: Some(feed),
            in_flight: pool.processes() * super::IMAP_IN_FLIGHT,
            chunks: VecDeque::new(),
            ready: VecDeque::new(),
            ordered,
        };
        if let Some(e) = imap.top_up() {
            return Err(e);
        }
        Ok(imap)
    }

    /// Submits chunks until the window is full or the input ends; a submission error ends the
    /// input and is returned.
    fn top_up(&mut self) -> Option<TaskError> {
        while self.chunks.len() < self.in_flight {
            let feed = self.feed.as_mut()?;
            match feed(self.pool) {
                Some(Ok(chunk)) => self.chunks.push_back(chunk),
                Some(Err(e)) => {
                    self.feed = None;
                    return Some(e);
                }
                None => self.feed = None,
            }
        }
        None
    }
}

impl<R: DeserializeOwned> Iterator for Imap<'_, R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.ready.pop_front() {
            return Some(r);
        }
        if let Some(e) = self.top_up() {
            return Some(Err(e));
        }
        if self.chunks.is_empty() {
            return None;
        }
        let ordered = self.ordered;
        let first = self.chunks.front().map(|c| c.0);
        let chunks = &self.chunks;
        let waited = self.pool.wait_until(None, |inner| {
            if ordered {
                first.is_some_and(|id| finished(inner, id))
            } else {
                chunks.iter().any(|&(id, _)| finished(inner, id))
            }
        });
        if let Err(e) = waited {
            for (id, _) in self.chunks.drain(..) {
                self.pool.abandon(id);
            }
            return Some(Err(e));
        }
        let pos = if ordered {
            0
        } else {
            first_finished(&self.pool.lock(), self.chunks.iter().map(|c| c.0)).unwrap_or(0)
        };
        let (id, len) = self.chunks.remove(pos)?;
        match self.pool.take::<R>(id) {
            Ok(outcomes) => self.ready.extend(outcomes.into_iter().map(Outcome::into_result)),
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
