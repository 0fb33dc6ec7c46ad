//! Which task each worker runs, and which of the tasks sent to it it must not start: shared
//! memory between the pool and its workers.

use mp_ipc::{Array, ArrayGuard, OwnerDied};
use std::io;

/// Shared memory between the pool and its workers that says, per worker slot, which task the
/// worker runs and which of the tasks sent to it it must not start.
///
/// A worker starts the tasks sent to it in the order they were sent, numbered by `seq`. Before
/// it starts one it *claims* it, under the array's process-shared lock: it records the task as
/// running unless its `seq` lies in the slot's revoked range, in which case it skips the task.
/// The pool, under the same lock, *revokes* tasks that the worker has not started: every `seq`
/// from a given one up to the last sent. So a task is either started or revoked, never both,
/// and a revoked task never runs. The pool revokes to give queued tasks to an idle worker and to
/// cancel a task.
///
/// Words per slot: the running task's id + 1 (0: none yet), the `seq` + 1 of the last task
/// started (so every `seq` at or above it has not been started), and the revoked range
/// `[from, to)`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Control(Array<u64>);

const WORDS: usize = 4;
const RUNNING: usize = 0;
const STARTED: usize = 1;
const REVOKED_FROM: usize = 2;
const REVOKED_TO: usize = 3;

impl Control {
    pub(crate) fn new(slots: usize) -> io::Result<Control> {
        Ok(Control(Array::from_elem(0u64, slots * WORDS)?))
    }

    fn words(&self) -> ArrayGuard<'_, u64> {
        // A worker that died holding the lock left the words consistent: each is one store.
        self.0.lock().unwrap_or_else(OwnerDied::into_inner)
    }

    /// A fresh worker in `slot`: nothing running, nothing started or revoked.
    pub(crate) fn reset(&self, slot: usize) {
        self.words()[slot * WORDS..slot * WORDS + WORDS].fill(0);
    }

    /// The worker's side: whether it may start task `id` sent as `seq` (then it is recorded as
    /// running), or must skip it (revoked).
    pub(crate) fn claim(&self, slot: usize, seq: u64, id: u64) -> bool {
        let mut w = self.words();
        let b = slot * WORDS;
        if (w[b + REVOKED_FROM]..w[b + REVOKED_TO]).contains(&seq) {
            return false;
        }
        w[b + RUNNING] = id + 1;
        w[b + STARTED] = seq + 1;
        true
    }

    /// The id of the task the worker in `slot` last started.
    pub(crate) fn running(&self, slot: usize) -> Option<u64> {
        self.words()[slot * WORDS + RUNNING].checked_sub(1)
    }

    /// The pool's side: revokes every task of `slot` with `seq` in `[from, to)` (`to`: one past
    /// the last sent), provided the worker has started none of them, that is, `from` is at or
    /// above the first `seq` it has not started (`None` means from that one).
    ///
    /// Returns the first revoked `seq`: every task sent with a `seq` from it on will be
    /// skipped. It can be below `from` when an earlier revocation is still being skipped
    /// (the ranges are merged; the tasks between were not started either). `None` when
    /// nothing was revoked: the task at `from` has started, or nothing is left to revoke.
    pub(crate) fn revoke(&self, slot: usize, from: Option<u64>, to: u64) -> Option<u64> {
        let mut w = self.words();
        let b = slot * WORDS;
        let started = w[b + STARTED];
        let from = from.unwrap_or(started);
        if from < started {
            return None;
        }
        if from >= to {
            return None;
        }
        let (old_from, old_to) = (w[b + REVOKED_FROM], w[b + REVOKED_TO]);
        // The worker has not passed the earlier range while it has started nothing beyond it.
        let first = if old_from < old_to && started <= old_to { old_from.min(from) } else { from };
        w[b + REVOKED_FROM] = first;
        w[b + REVOKED_TO] = to;
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_either_claimed_or_revoked_never_both() {
        let c = Control::new(2).unwrap();
        // Tasks seq 0..4 sent to slot 1; the worker starts seq 0.
        assert!(c.claim(1, 0, 100));
        assert_eq!(c.running(1), Some(100));
        assert_eq!(c.running(0), None, "slots are separate");
        // Seq 0 has started: it cannot be revoked; from the first not started on, it can.
        assert_eq!(c.revoke(1, None, 4), Some(1));
        assert!(!c.claim(1, 1, 101) && !c.claim(1, 3, 103), "revoked tasks are skipped");
        assert_eq!(c.running(1), Some(100));
        // Tasks sent later (seq 4, 5) run.
        assert!(c.claim(1, 4, 104));
        assert_eq!(c.revoke(1, Some(4), 6), None, "seq 4 has started");
        assert_eq!(c.revoke(1, Some(5), 6), Some(5));
        assert!(!c.claim(1, 5, 105));
        c.reset(1);
        assert_eq!(c.running(1), None);
        assert!(c.claim(1, 0, 7), "a fresh worker starts from nothing revoked");
    }

    #[test]
    fn a_revocation_while_an_earlier_one_is_being_skipped_covers_both() {
        let c = Control::new(1).unwrap();
        assert!(c.claim(0, 0, 1));
        assert_eq!(c.revoke(0, Some(2), 4), Some(2));
        // The worker has not reached seq 2 yet; tasks 4..6 are sent and then revoked too.
        assert_eq!(c.revoke(0, Some(5), 6), Some(2), "merged with the range not yet passed");
        assert!(c.claim(0, 1, 11));
        for seq in 2..6 {
            assert!(!c.claim(0, seq, 20 + seq));
        }
        assert!(c.claim(0, 6, 26));
    }
}
