//! What travels between the pool and its workers, and the code that runs in a worker.
//!
//! Parent → worker, one frame per task: `id: u64 | call: u64 | func: u64 | seq: u64 | args` where
//! `call` is the address of a monomorphised [`call_chunk`] (or [`call_star`]) and `func` the
//! user's `fn` pointer (workers are forks of the parent, so both addresses are valid there;
//! `starmap` leaves it 0, its function's type names the code), `seq` the task's place in the
//! order it was sent to this worker (see `control.rs`), and `args` a postcard `Vec<A>`.
//!
//! Worker → parent, one frame per finished task, sent the moment the task ends (a result never
//! waits for the next task): `id: u64 | len: u32 | bytes`,
//! where `bytes` is a form byte and then either a postcard `Vec<R>` ([`ALL_OK`]: every call
//! returned, the common case, decoded straight into the caller's vector) or a postcard
//! `Vec<Outcome<R>>` ([`OUTCOMES`]), one result or outcome per argument.

use super::TaskError;
use mp_ipc::encode_into;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

pub(crate) const TASK_HEADER: usize = 32;
const RESULT_HEADER: usize = 12;

/// The result of one item, as a worker reports it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome<R> {
    /// The function returned.
    Ok(R),
    /// The function panicked: the message, with its location.
    Panicked(String),
    /// The arguments could not be decoded, or the result encoded.
    Failed(String),
}

impl<R> Outcome<R> {
    /// The caller's view of one item: its value, or why there is none. The one place a
    /// worker's report becomes a [`TaskError`].
    pub(crate) fn into_result(self) -> Result<R, TaskError> {
        match self {
            Outcome::Ok(r) => Ok(r),
            Outcome::Panicked(m) => Err(TaskError::Panicked(m)),
            Outcome::Failed(m) => Err(TaskError::Codec(m)),
        }
    }
}

/// The worker-side entry for one task: decode the arguments, run `func` on each, encode the
/// outcomes into `out`.
pub(crate) type CallChunk = fn(func: usize, args: &[u8], out: &mut Vec<u8>);

/// Calls a `fn(A) -> R` given as an address on every argument of a chunk.
pub(crate) fn call_chunk<A: DeserializeOwned, R: Serialize>(func: usize, args: &[u8], out: &mut Vec<u8>) {
    // SAFETY: `func` is the address of a `fn(A) -> R`, written by `Pool::submit` for exactly this
    // instantiation of `call_chunk`, in a process forked from the one that took the address.
    let f: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    run_chunk(args, out, f);
}

/// Calls the zero-sized function type `F` on every argument tuple of a chunk (`starmap`); the
/// `func` word is unused, as the type alone names the code.
pub(crate) fn call_star<F, T>(_func: usize, args: &[u8], out: &mut Vec<u8>)
where
    F: super::StarFn<T>,
    F::Output: Serialize,
    T: DeserializeOwned,
{
    const { assert!(std::mem::size_of::<F>() == 0, "starmap takes a function or a closure that captures nothing") };
    // SAFETY: `F` is zero-sized (asserted above): a function item or a closure that captures
    // nothing, whose value holds no bytes and no invariant, so any value of it is the one
    // the caller passed.
    let f: F = unsafe { std::mem::zeroed() };
    run_chunk(args, out, |t: T| f.call_with(t));
}

fn run_chunk<A: DeserializeOwned, R: Serialize>(args: &[u8], out: &mut Vec<u8>, f: impl Fn(A) -> R) {
    let items: Vec<A> = match postcard::from_bytes(args) {
        Ok(v) => v,
        Err(e) => {
            push_outcome::<R>(
                out,
                &Outcome::Failed(format!("could not decode the task's arguments: {e}")),
                1,
            );
            return;
        }
    };
    // Results are kept as plain values while every call returns; the first panic turns them
    // into outcomes.
    let mut results: Vec<R> = Vec::with_capacity(items.len());
    let mut outcomes: Option<Vec<Outcome<R>>> = None;
    for a in items {
        match (panic::catch_unwind(AssertUnwindSafe(|| f(a))), &mut outcomes) {
            (Ok(r), None) => results.push(r),
            (Ok(r), Some(o)) => o.push(Outcome::Ok(r)),
            (Err(payload), o) => {
                let o = o.get_or_insert_with(|| results.drain(..).map(Outcome::Ok).collect());
                o.push(Outcome::Panicked(take_panic_message(payload)));
            }
        }
    }
    // Room up front: one growth of a large buffer costs a copy of all of it.
    out.reserve(results.len() * (std::mem::size_of::<R>().min(32) + 1) + 16);
    let mark = out.len();
    if outcomes.is_none() {
        out.push(ALL_OK);
        if encode_into(&results, out).is_ok() {
            return;
        }
        // Some result cannot be encoded: say which, item by item.
        out.truncate(mark);
    }
    let outcomes = outcomes.unwrap_or_else(|| results.into_iter().map(Outcome::Ok).collect());
    out.push(OUTCOMES);
    push_len(out, outcomes.len());
    for outcome in &outcomes {
        let mark = out.len();
        if encode_into(outcome, out).is_err() {
            out.truncate(mark);
            let failed: Outcome<R> = Outcome::Failed("could not encode the task's result".into());
            let _ = encode_into(&failed, out);
        }
    }
}

/// Writes a whole result body of `n` copies of one outcome (used for failures).
fn push_outcome<R: Serialize>(out: &mut Vec<u8>, o: &Outcome<R>, n: usize) {
    out.push(OUTCOMES);
    push_len(out, n);
    for _ in 0..n {
        let _ = encode_into(o, out);
    }
}

/// Result body form: a postcard `Vec<R>`, every call having returned.
pub(crate) const ALL_OK: u8 = 0;
/// Result body form: a postcard `Vec<Outcome<R>>`.
pub(crate) const OUTCOMES: u8 = 1;

/// Whether a result body says every call returned (without decoding the results).
pub(crate) fn all_ok(body: &[u8]) -> bool {
    match body.split_first() {
        Some((&ALL_OK, _)) => true,
        // Outcomes: each is variant 0 (`Ok`, one byte) and then the value; only a single one
        // is told apart cheaply, which is all `AsyncResult::successful` asks.
        Some((&OUTCOMES, rest)) => rest.get(..2) == Some(&[1, 0]),
        _ => false,
    }
}

/// Decodes a result body: every result appended to `out` (returning how many) when all calls
/// returned, otherwise the outcomes.
pub(crate) fn decode_results<R: DeserializeOwned>(
    body: &[u8],
    out: &mut Vec<R>,
) -> Result<Result<usize, Vec<Outcome<R>>>, postcard::Error> {
    match body.split_first() {
        Some((&ALL_OK, rest)) => {
            let mut de = postcard::Deserializer::from_bytes(rest);
            let n = serde::de::DeserializeSeed::deserialize(AppendTo(out), &mut de)?;
            Ok(Ok(n))
        }
        Some((&OUTCOMES, rest)) => postcard::from_bytes(rest).map(Err),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}

/// Decodes a sequence straight onto the end of a `Vec` (no intermediate one).
struct AppendTo<'a, R>(&'a mut Vec<R>);

impl<'de, R: Deserialize<'de>> serde::de::DeserializeSeed<'de> for AppendTo<'_, R> {
    type Value = usize;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, R: Deserialize<'de>> serde::de::Visitor<'de> for AppendTo<'_, R> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of results")
    }

    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<usize, S::Error> {
        // The length comes from our own worker, but is still only a hint: bounded.
        self.0.reserve(seq.size_hint().unwrap_or(0).min(1 << 16));
        let mut n = 0;
        while let Some(r) = seq.next_element()? {
            self.0.push(r);
            n += 1;
        }
        Ok(n)
    }
}

/// postcard's sequence length: a LEB128 varint.
fn push_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

thread_local! {
    /// The last panic's message and location, captured by the worker's panic hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn take_panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| payload_text(&*payload))
}

/// Makes panics inside tasks reported to the pool (as [`Outcome::Panicked`], with where),
/// not printed by the worker.
pub(crate) fn capture_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = format!(
            "{} (at {})",
            payload_text(info.payload()),
            info.location().map_or_else(String::new, |l| l.to_string())
        );
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
    }));
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

/// The fixed words at the start of a task frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskHeader {
    /// The pool's id of the task.
    pub id: u64,
    /// Address of the `CallChunk` that decodes and runs it.
    pub call: usize,
    /// Address of the user's function.
    pub func: usize,
    /// Place in the order the task was sent to its worker.
    pub seq: u64,
}

impl TaskHeader {
    /// Writes the header into the first [`TASK_HEADER`] bytes of `frame`.
    pub(crate) fn write(&self, frame: &mut [u8]) {
        let words = [self.id, self.call as u64, self.func as u64, self.seq];
        for (i, w) in words.iter().enumerate() {
            frame[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
    }

    /// Rewrites only the `seq` word (a task sent again to another worker gets a new place).
    pub(crate) fn set_seq(frame: &mut [u8], seq: u64) {
        frame[24..32].copy_from_slice(&seq.to_le_bytes());
    }

    /// Parses the header of a task frame.
    pub(crate) fn read(frame: &[u8]) -> Option<TaskHeader> {
        let word =
            |i: usize| frame.get(i * 8..i * 8 + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
        Some(TaskHeader { id: word(0)?, call: word(1)? as usize, func: word(2)? as usize, seq: word(3)? })
    }
}

/// Iterates over the result records of a message from a worker (one per message as workers
/// send them now; the format allows several): `(task id, range of its body in the message)`.
pub(crate) fn results(batch: &[u8]) -> impl Iterator<Item = (u64, std::ops::Range<usize>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let head = batch.get(at..at + RESULT_HEADER)?;
        let id = u64::from_le_bytes(head[..8].try_into().ok()?);
        let len = u32::from_le_bytes(head[8..12].try_into().ok()?) as usize;
        let start = at + RESULT_HEADER;
        batch.get(start..start + len)?;
        at = start + len;
        Some((id, start..start + len))
    })
}

/// Starts a result record for task `id` in `out`; returns where it starts, for
/// [`end_result`].
pub(crate) fn begin_result(out: &mut Vec<u8>, id: u64) -> usize {
    let at = out.len();
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    at
}

/// Ends the result record started at `at`: writes the length of its body.
pub(crate) fn end_result(out: &mut [u8], at: usize) {
    let len = (out.len() - at - RESULT_HEADER) as u32;
    out[at + 8..at + 12].copy_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<R: Serialize + DeserializeOwned>(items: &[u64], f: impl Fn(u64) -> R) -> Vec<u8> {
        let mut out = Vec::new();
        run_chunk(&postcard::to_allocvec(items).unwrap(), &mut out, f);
        out
    }

    #[test]
    fn all_returned_results_decode_straight_onto_the_callers_vector() {
        let body = run(&[1, 2, 3], |x| x * 10);
        assert_eq!(body[0], ALL_OK);
        assert!(all_ok(&body));
        let mut out = vec![7u64];
        assert_eq!(decode_results(&body, &mut out).unwrap().unwrap(), 3);
        assert_eq!(out, [7, 10, 20, 30]);
    }

    #[test]
    fn a_panic_in_the_middle_keeps_the_results_around_it() {
        let body = run(&[0, 1, 2, 3, 4], |x| if x == 2 { panic!("two") } else { x });
        assert_eq!(body[0], OUTCOMES);
        assert!(!all_ok(&body));
        let outcomes = decode_results::<u64>(&body, &mut Vec::new()).unwrap().unwrap_err();
        let shape: Vec<String> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Ok(v) => v.to_string(),
                Outcome::Panicked(m) => format!("panic {}", m.contains("two")),
                Outcome::Failed(m) => format!("failed {m}"),
            })
            .collect();
        assert_eq!(shape, ["0", "1", "panic true", "3", "4"]);
    }

    /// A value whose encoding fails for odd numbers.
    #[derive(Debug, Deserialize)]
    struct OnlyEven(u64);

    impl Serialize for OnlyEven {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 % 2 == 1 {
                return Err(serde::ser::Error::custom("odd"));
            }
            s.serialize_newtype_struct("OnlyEven", &self.0)
        }
    }

    #[test]
    fn a_result_that_cannot_be_encoded_fails_alone() {
        let body = run(&[2, 3, 4], OnlyEven);
        let outcomes = decode_results::<OnlyEven>(&body, &mut Vec::new()).unwrap().unwrap_err();
        assert!(matches!(
            &outcomes[..],
            [Outcome::Ok(OnlyEven(2)), Outcome::Failed(_), Outcome::Ok(OnlyEven(4))]
        ));
        assert!(decode_results::<u64>(&[9], &mut Vec::new()).is_err(), "an unknown form");
        assert!(decode_results::<u64>(&[], &mut Vec::new()).is_err());
    }
}
