//! [`MapResult`]: the handle of a `map_async`, and putting a `map`'s chunks back together.

use super::handles::finished;
use super::results::Body;
use super::scheduling::Inner;
use super::{MapError, Pool, TaskError, wire};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Puts the chunks of a `map` back together, in input order, keeping the first failure.
pub(super) struct Gather<R> {
    out: Vec<R>,
    first_err: Option<MapError>,
}

impl<R: DeserializeOwned> Gather<R> {
    pub(super) fn new(items: usize) -> Self {
        Gather { out: Vec::with_capacity(items), first_err: None }
    }

    /// Adds the next chunk (items `start..start + len`), or why it has no results.
    pub(super) fn absorb(&mut self, result: Result<Body, TaskError>, start: usize, len: usize) {
        let body = match result {
            Ok(body) => body,
            Err(error) => {
                self.first_err.get_or_insert(MapError { index: start, error });
                return;
            }
        };
        let returned = match wire::decode_results(body.bytes(), &mut self.out) {
            Ok(Ok(n)) => n,
            Ok(Err(outcomes)) => {
                let n = outcomes.len();
                for (k, o) in outcomes.into_iter().enumerate() {
                    match o.into_result() {
                        Ok(r) if self.first_err.is_none() => self.out.push(r),
                        Ok(_) => {}
                        Err(error) => {
                            self.first_err.get_or_insert(MapError { index: start + k, error });
                        }
                    }
                }
                n
            }
            Err(e) => {
                self.first_err
                    .get_or_insert(MapError { index: start, error: TaskError::Codec(e.to_string()) });
                len
            }
        };
        if returned < len && self.first_err.is_none() {
            self.first_err = Some(MapError {
                index: start + returned,
                error: TaskError::Codec("a worker returned fewer results than items".into()),
            });
        }
    }

    pub(super) fn finish(self) -> Result<Vec<R>, MapError> {
        match self.first_err {
            Some(e) => Err(e),
            None => Ok(self.out),
        }
    }
}

/// The pending result of [`Pool::map_async`] or [`Pool::starmap_async`] (Python's
/// `MapResult`): the results of all items, in input order, once every chunk has finished.
///
/// # Examples
///
/// ```
/// let pool = mp_core::Pool::new(2)?;
/// let squares = pool.map_async(|x: u64| x * x, 0..5u64)?;
/// squares.wait()?;
/// assert!(squares.is_ready());
/// assert_eq!(squares.get()?, [0, 1, 4, 9, 16]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MapResult<'p, R> {
    pool: &'p Pool,
    /// `(task id, index of its first item, items in it)`, in input order.
    chunks: Vec<(u64, usize, usize)>,
    _r: PhantomData<fn() -> R>,
}

impl<'p, R: DeserializeOwned> MapResult<'p, R> {
    pub(super) fn new(pool: &'p Pool, chunks: Vec<(u64, usize, usize)>) -> Self {
        MapResult { pool, chunks, _r: PhantomData }
    }

    fn all_finished(&self, inner: &Inner) -> bool {
        self.chunks.iter().all(|c| finished(inner, c.0))
    }

    /// Waits for every item and takes the results, in input order.
    ///
    /// # Errors
    ///
    /// The first failing item, with its index ([`MapError`]).
    pub fn get(mut self) -> Result<Vec<R>, MapError> {
        let chunks = std::mem::take(&mut self.chunks);
        self.pool.collect(chunks)
    }

    /// Waits until every item has finished.
    ///
    /// # Errors
    ///
    /// A pool I/O error while waiting.
    pub fn wait(&self) -> Result<(), TaskError> {
        self.pool.wait_until(None, |inner| self.all_finished(inner)).map(drop)
    }

    /// Waits at most `timeout`; returns whether every item has finished.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TaskError> {
        self.pool.wait_until(Instant::now().checked_add(timeout), |inner| self.all_finished(inner))
    }

    /// Whether every item has finished; collects finished results first, without waiting.
    #[doc(alias = "ready")]
    pub fn is_ready(&self) -> bool {
        self.pool.wait_until(Some(Instant::now()), |inner| self.all_finished(inner)).unwrap_or(false)
    }

    /// Hands all results to `on_done`, or the first failure to `on_error`, once every item has
    /// finished; run as [`AsyncResult::callback`](super::AsyncResult::callback) says (in the caller's thread, when it next
    /// waits on the pool).
    pub fn callback(
        mut self,
        on_done: impl FnOnce(Vec<R>) + Send + 'static,
        on_error: impl FnOnce(MapError) + Send + 'static,
    ) where
        R: 'static,
    {
        let chunks = std::mem::take(&mut self.chunks);
        if chunks.is_empty() {
            // Nothing to wait for: run at the next wait like any other callback.
            self.pool.lock().results.defer(Box::new(move || on_done(Vec::new())));
            return;
        }
        let joined = Arc::new(Mutex::new(Joined {
            parts: chunks.iter().map(|&(_, start, len)| (start, len, None)).collect(),
            missing: chunks.len(),
            on_done: Some(Box::new(on_done)),
            on_error: Some(Box::new(on_error)),
        }));
        let mut inner = self.pool.lock();
        for (k, &(id, _, _)) in chunks.iter().enumerate() {
            let joined = Arc::clone(&joined);
            inner.results.set_callback(
                id,
                Box::new(move |result| joined.lock().unwrap_or_else(|e| e.into_inner()).arrive(k, result)),
            );
        }
    }
}

/// A chunk's finished result, if it has finished.
type Arrived = Option<Result<Body, TaskError>>;

/// The chunks of a [`MapResult`] with callbacks, as they finish.
struct Joined<R> {
    /// Per chunk: its first item's index, its length, and its result once finished.
    parts: Vec<(usize, usize, Arrived)>,
    missing: usize,
    on_done: Option<Box<dyn FnOnce(Vec<R>) + Send>>,
    on_error: Option<Box<dyn FnOnce(MapError) + Send>>,
}

impl<R: DeserializeOwned> Joined<R> {
    /// Chunk `k` finished; the last one puts the results together and runs a callback.
    fn arrive(&mut self, k: usize, result: Result<Body, TaskError>) {
        self.parts[k].2 = Some(result);
        self.missing -= 1;
        if self.missing > 0 {
            return;
        }
        let mut gather = Gather::<R>::new(self.parts.iter().map(|p| p.1).sum());
        for (start, len, result) in &mut self.parts {
            if let Some(r) = result.take() {
                gather.absorb(r, *start, *len);
            }
        }
        match (gather.finish(), self.on_done.take(), self.on_error.take()) {
            (Ok(v), Some(on_done), _) => on_done(v),
            (Err(e), _, Some(on_error)) => on_error(e),
            _ => {}
        }
    }
}

impl<R> Drop for MapResult<'_, R> {
    fn drop(&mut self) {
        for &(id, _, _) in &self.chunks {
            self.pool.abandon(id);
        }
    }
}
