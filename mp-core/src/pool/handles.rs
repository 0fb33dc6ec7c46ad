//! What the caller holds while a task runs: [`AsyncResult`] and [`AsCompleted`], and the
//! pool's waits over several handles.

use super::results::Body;
use super::scheduling::Inner;
use super::wire::{self, Outcome};
use super::{Pool, TaskError};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// Decodes a finished task's result body into one outcome per item.
pub(super) fn decode_outcomes<R: DeserializeOwned>(body: Body) -> Result<Vec<Outcome<R>>, TaskError> {
    let mut values = Vec::new();
    match wire::decode_results(body.bytes(), &mut values) {
        Ok(Ok(_)) => Ok(values.into_iter().map(Outcome::Ok).collect()),
        Ok(Err(outcomes)) => Ok(outcomes),
        Err(e) => Err(TaskError::Codec(e.to_string())),
    }
}

/// The result of a one-item task.
fn single<R: DeserializeOwned>(result: Result<Body, TaskError>) -> Result<R, TaskError> {
    match decode_outcomes(result?)?.into_iter().next() {
        Some(o) => o.into_result(),
        None => Err(TaskError::Codec("the worker returned no result".into())),
    }
}

pub(super) fn finished(inner: &Inner, id: u64) -> bool {
    inner.results.is_finished(id)
}

/// The pending result of [`Pool::apply_async`] (Python's `AsyncResult`, or a
/// `concurrent.futures.Future`).
///
/// [`get`](Self::get) takes the handle by value, so a result is taken once and a second take
/// does not compile. Dropping the handle without taking the result tells the pool to discard
/// the result when it comes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let pool = mp_core::Pool::new(2)?;
/// let r = pool.apply_async(|x: u64| x * 2, 21)?;
/// assert!(r.wait_timeout(Duration::from_secs(10))?);
/// assert!(r.is_ready());
/// assert_eq!(r.successful(), Some(true));
/// assert_eq!(r.get()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AsyncResult<'p, R> {
    pool: &'p Pool,
    id: u64,
    _r: PhantomData<fn() -> R>,
}

impl<'p, R: DeserializeOwned> AsyncResult<'p, R> {
    pub(super) fn new(pool: &'p Pool, id: u64) -> Self {
        AsyncResult { pool, id, _r: PhantomData }
    }

    /// The task's id, consuming the handle without abandoning the task.
    fn into_id(self) -> u64 {
        let id = self.id;
        // The handle holds only a reference and an id: forgetting it leaks nothing, and skips
        // the `Drop` that would abandon the result about to be taken.
        std::mem::forget(self);
        id
    }

    /// Waits for the result and takes it.
    ///
    /// # Errors
    ///
    /// Why the task failed ([`TaskError`]), including [`TaskError::Cancelled`] after a
    /// successful [`cancel`](Self::cancel).
    pub fn get(self) -> Result<R, TaskError> {
        self.wait()?;
        let pool = self.pool;
        let id = self.into_id();
        single(pool.take_result(id))
    }

    /// Waits at most `timeout` and takes the result; hands the handle back (`Err(self)`) if the
    /// task is still running then, to wait again.
    ///
    /// # Errors
    ///
    /// The inner `Result` as [`get`](Self::get).
    pub fn get_timeout(self, timeout: Duration) -> Result<Result<R, TaskError>, Self> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.get_deadline(deadline),
            None => Ok(self.get()),
        }
    }

    /// Waits until `deadline` and takes the result; hands the handle back (`Err(self)`) if the
    /// task is still running then.
    ///
    /// # Errors
    ///
    /// The inner `Result` as [`get`](Self::get).
    pub fn get_deadline(self, deadline: Instant) -> Result<Result<R, TaskError>, Self> {
        match self.wait_deadline(deadline) {
            Ok(true) => Ok(self.get()),
            Ok(false) => Err(self),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Waits until the task has finished (successfully or not).
    ///
    /// # Errors
    ///
    /// A pool I/O error while waiting.
    pub fn wait(&self) -> Result<(), TaskError> {
        self.pool.wait_until(None, |inner| finished(inner, self.id)).map(drop)
    }

    /// Waits at most `timeout`; returns whether the task has finished.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TaskError> {
        self.pool.wait_until(Instant::now().checked_add(timeout), |inner| finished(inner, self.id))
    }

    /// Waits until `deadline`; returns whether the task has finished.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_deadline(&self, deadline: Instant) -> Result<bool, TaskError> {
        self.pool.wait_until(Some(deadline), |inner| finished(inner, self.id))
    }

    /// Whether the task has finished (Python's `ready()`/`done()`); collects finished results
    /// first, without waiting.
    #[doc(alias = "ready")]
    #[doc(alias = "done")]
    pub fn is_ready(&self) -> bool {
        self.pool.wait_until(Some(Instant::now()), |inner| finished(inner, self.id)).unwrap_or(false)
    }

    /// `Some(true)` if the task finished with a result, `Some(false)` if it failed, `None` while
    /// it runs (Python's `successful()`, which raises in that case).
    pub fn successful(&self) -> Option<bool> {
        if !self.is_ready() {
            return None;
        }
        let inner = self.pool.lock();
        match inner.results.peek(self.id)? {
            Ok(body) => Some(wire::all_ok(body.bytes())),
            Err(_) => Some(false),
        }
    }

    /// Cancels the task if no worker has started it (Python's `Future.cancel()`): it then never
    /// runs, and [`get`](Self::get) returns [`TaskError::Cancelled`]. Returns whether the task
    /// is cancelled; `false` once it runs or has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// fn sleep_ms(ms: u64) { std::thread::sleep(Duration::from_millis(ms)) }
    ///
    /// let pool = mp_core::Pool::new(1)?;
    /// let running = pool.apply_async(sleep_ms, 200)?;
    /// let queued = pool.apply_async(sleep_ms, 0)?;
    /// assert!(queued.cancel());
    /// assert!(queued.get().unwrap_err().is_cancelled());
    /// running.get()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&self) -> bool {
        self.pool.lock().cancel(self.id)
    }

    /// Hands the result to `on_done`, or why there is none to `on_error` (Python's
    /// `callback`/`error_callback`), instead of to [`get`](Self::get).
    ///
    /// There is no thread inside the pool: the callback runs in whichever thread next waits on
    /// the pool once the task has finished (a `get`, `wait`, `map`, `join`, an `imap`'s `next`
    /// …), without the pool's lock held, so it may use the pool. It runs exactly once, unless
    /// nobody waits on the pool again. A panic in it reaches that waiting caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let pool = mp_core::Pool::new(2)?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// pool.apply_async(|x: u64| x * x, 7)?.callback(move |v| log.lock().unwrap().push(v), |e| panic!("{e}"));
    /// pool.close();
    /// pool.join()?; // waits on the pool: the callback runs here
    /// assert_eq!(*seen.lock().unwrap(), [49]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn callback(
        self,
        on_done: impl FnOnce(R) + Send + 'static,
        on_error: impl FnOnce(TaskError) + Send + 'static,
    ) where
        R: 'static,
    {
        let pool = self.pool;
        let id = self.into_id();
        pool.lock().results.set_callback(
            id,
            Box::new(move |result| match single::<R>(result) {
                Ok(r) => on_done(r),
                Err(e) => on_error(e),
            }),
        );
    }
}

impl<R> Drop for AsyncResult<'_, R> {
    fn drop(&mut self) {
        self.pool.abandon(self.id);
    }
}

impl Pool {
    /// Waits until one of `handles` has finished, or `timeout` (`None`: no limit) passes;
    /// returns the index of the handle that finished first, or `None` when time ran out (or
    /// `handles` is empty). Python's `concurrent.futures.wait(…, FIRST_COMPLETED)`.
    ///
    /// # Errors
    ///
    /// A pool I/O error while waiting.
    ///
    /// # Panics
    ///
    /// If a handle belongs to another pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// fn sleep_ms(ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms }
    ///
    /// let pool = mp_core::Pool::new(2)?;
    /// let hs = vec![pool.apply_async(sleep_ms, 2000)?, pool.apply_async(sleep_ms, 10)?];
    /// assert_eq!(pool.wait_any(&hs, Some(Duration::from_secs(1)))?, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_any<R: DeserializeOwned>(
        &self,
        handles: &[AsyncResult<'_, R>],
        timeout: Option<Duration>,
    ) -> Result<Option<usize>, TaskError> {
        self.check_own(handles);
        if handles.is_empty() {
            return Ok(None);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if !self.wait_until(deadline, |inner| handles.iter().any(|h| finished(inner, h.id)))? {
            return Ok(None);
        }
        let inner = self.lock();
        Ok(first_finished(&inner, handles.iter().map(|h| h.id)))
    }

    /// Waits until every one of `handles` has finished, or `timeout` (`None`: no limit)
    /// passes; returns whether all finished. Python's `concurrent.futures.wait(…,
    /// ALL_COMPLETED)`.
    ///
    /// # Errors
    ///
    /// A pool I/O error while waiting.
    ///
    /// # Panics
    ///
    /// If a handle belongs to another pool.
    pub fn wait_all<R: DeserializeOwned>(
        &self,
        handles: &[AsyncResult<'_, R>],
        timeout: Option<Duration>,
    ) -> Result<bool, TaskError> {
        self.check_own(handles);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self.wait_until(deadline, |inner| handles.iter().all(|h| finished(inner, h.id)))
    }

    /// Yields `(index, result)` for each of `handles` as its task finishes, in the order they
    /// finish (Python's `concurrent.futures.as_completed`).
    ///
    /// # Panics
    ///
    /// If a handle belongs to another pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// fn sleep_ms(ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms }
    ///
    /// let pool = mp_core::Pool::new(2)?;
    /// let hs = vec![pool.apply_async(sleep_ms, 600)?, pool.apply_async(sleep_ms, 10)?];
    /// let order: Vec<usize> = pool.as_completed(hs).map(|(i, _)| i).collect();
    /// assert_eq!(order, [1, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_completed<'p, R: DeserializeOwned>(
        &'p self,
        handles: impl IntoIterator<Item = AsyncResult<'p, R>>,
    ) -> AsCompleted<'p, R> {
        let handles: Vec<(usize, AsyncResult<'p, R>)> = handles.into_iter().enumerate().collect();
        self.check_own(handles.iter().map(|(_, h)| h));
        AsCompleted { pool: self, handles }
    }

    fn check_own<'a, 'p: 'a, R: 'a>(&self, handles: impl IntoIterator<Item = &'a AsyncResult<'p, R>>) {
        for h in handles {
            assert!(std::ptr::eq(h.pool, self), "a handle of another pool");
        }
    }
}

/// Of the finished tasks among `ids`, the position of the one that finished first.
pub(super) fn first_finished(inner: &Inner, ids: impl Iterator<Item = u64>) -> Option<usize> {
    ids.enumerate()
        .filter_map(|(k, id)| Some((k, inner.results.order(id)?)))
        .min_by_key(|&(_, order)| order)
        .map(|(k, _)| k)
}

/// Results of [`Pool::as_completed`]: `(index in the input, result)` in the order tasks finish.
#[derive(Debug)]
pub struct AsCompleted<'p, R> {
    pool: &'p Pool,
    handles: Vec<(usize, AsyncResult<'p, R>)>,
}

impl<R: DeserializeOwned> Iterator for AsCompleted<'_, R> {
    type Item = (usize, Result<R, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.handles.is_empty() {
            return None;
        }
        let handles = &self.handles;
        let waited = self.pool.wait_until(None, |inner| handles.iter().any(|(_, h)| finished(inner, h.id)));
        let pos = match waited {
            Ok(_) => first_finished(&self.pool.lock(), handles.iter().map(|(_, h)| h.id)).unwrap_or(0),
            Err(e) => {
                let (index, _) = self.handles.remove(0);
                return Some((index, Err(e)));
            }
        };
        let (index, handle) = self.handles.remove(pos);
        Some((index, handle.get()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.handles.len(), Some(self.handles.len()))
    }
}
