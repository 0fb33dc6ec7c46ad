//! The loop a worker process runs.

use super::config::InitCall;
use super::control::Control;
use super::wire::{self, CallChunk, TASK_HEADER, TaskHeader};
use mp_ipc::Connection;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a worker started by the fork server receives: its end of the pool's socket, the shared
/// control memory, its slot, the encoded initializer and the task quota.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WorkerArgs {
    pub(super) conn: Connection,
    pub(super) control: Arc<Control>,
    pub(super) slot: usize,
    pub(super) init: Option<InitCall>,
    pub(super) max_tasks: Option<usize>,
}

/// The body of a worker started by the fork server.
pub(super) fn served_worker(args: WorkerArgs) {
    let WorkerArgs { conn, control, slot, init, max_tasks } = args;
    let init = init.map(|call| {
        let once = std::cell::Cell::new(Some(call));
        move || {
            if let Some(call) = once.take() {
                call.run()
            }
        }
    });
    worker_main(conn, &control, slot, init.as_ref().map(|f| f as &dyn Fn()), max_tasks);
}

/// The body of a worker process: run tasks until the pool hangs up or the task quota is used.
///
/// Before each task the worker claims it in `control` (recording it as running, or skipping it
/// when the pool revoked it): if the worker dies, the pool knows which task it was running.
/// Each result is sent as soon as its task ends.
pub(crate) fn worker_main(
    mut conn: Connection,
    control: &Control,
    slot: usize,
    initializer: Option<&dyn Fn()>,
    max_tasks: Option<usize>,
) {
    wire::capture_panics();
    if let Some(init) = initializer {
        init();
    }
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut done = 0usize;
    while let Ok(frame) = conn.recv_bytes() {
        let Some(head) = TaskHeader::read(&frame) else { break };
        if !control.claim(slot, head.seq, head.id) {
            continue;
        }
        // SAFETY: `call` is the address of a `CallChunk` written by this pool's parent process,
        // of which this worker is a fork.
        let call: CallChunk = unsafe { std::mem::transmute::<usize, CallChunk>(head.call) };
        out.clear();
        let at = wire::begin_result(&mut out, head.id);
        call(head.func, &frame[TASK_HEADER..], &mut out);
        wire::end_result(&mut out, at);
        if conn.send_bytes(&out).is_err() {
            break;
        }
        done += 1;
        if max_tasks.is_some_and(|m| done >= m) {
            break;
        }
    }
}
