//! Rows for issue 14's toolbox: `JoinableQueue`, `Bytes` through a pipe, the `Queue` beside
//! crossbeam-channel between two threads, and the semaphore ping-pong on a busy machine.

use crate::{ROUNDS, fork_child, wait_child};
use mp_core::mp_ipc;
use mp_tests::bench::{Better, Row, median, median_pair};
use std::time::Instant;

/// Items per second through a `JoinableQueue`: the parent puts and then `join`s, a child gets
/// and calls `task_done` for each.
pub fn joinable_put_task_done(scale: f64) -> Row {
    let n = ((200_000.0 * scale) as usize).max(1000);
    let ours = median(ROUNDS, || {
        let q: mp_ipc::JoinableQueue<u64> = mp_ipc::JoinableQueue::new(1000).unwrap();
        let child = fork_child(|| {
            for _ in 0..n {
                q.get().unwrap();
                q.task_done().unwrap();
            }
        });
        let t = Instant::now();
        for i in 0..n as u64 {
            q.put(&i).unwrap();
        }
        q.join().unwrap();
        let rate = n as f64 / t.elapsed().as_secs_f64();
        wait_child(child);
        rate
    });
    Row {
        key: "joinable_put_task_done_per_s",
        what: "JoinableQueue put + get + task_done, then join (1 producer 1 consumer)",
        unit: "items/s",
        better: Better::Higher,
        ours,
        raw: None,
        target: ">= 10x Python",
    }
}

/// MB/s of 1 MiB `Bytes` values sent with `Connection::send` (typed, postcard) over a duplex
/// pipe, beside raw `write`/`read` of the same bytes on a socketpair.
pub fn bytes_through_pipe(scale: f64) -> Row {
    let size = 1 << 20;
    let n = ((2000.0 * scale) as usize).max(20);
    let msg = mp_ipc::Bytes::from(vec![3u8; size]);
    let ours = || {
        let (mut rx, tx) = mp_ipc::Pipe::duplex().unwrap();
        let child = fork_child(move || {
            for _ in 0..n {
                assert_eq!(rx.recv::<mp_ipc::Bytes>().unwrap().len(), size);
            }
        });
        let t = Instant::now();
        for _ in 0..n {
            tx.send(&msg).unwrap();
        }
        wait_child(child);
        (n * size) as f64 / t.elapsed().as_secs_f64() / 1e6
    };
    let raw = || {
        let mut fd = [0; 2];
        // SAFETY: `fd` has room for two descriptors.
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fd.as_mut_ptr()) };
        let child = fork_child(|| {
            // SAFETY: closing the child's copy of the sending end.
            unsafe { libc::close(fd[1]) };
            let mut b = vec![0u8; size];
            for _ in 0..n {
                crate::rd(fd[0], &mut b);
            }
        });
        let t = Instant::now();
        for _ in 0..n {
            crate::wr(fd[1], &msg);
        }
        wait_child(child);
        let mbps = (n * size) as f64 / t.elapsed().as_secs_f64() / 1e6;
        // SAFETY: closing our two descriptors once.
        unsafe {
            libc::close(fd[0]);
            libc::close(fd[1]);
        }
        mbps
    };
    let (ours, raw) = median_pair(ROUNDS, ours, raw);
    Row {
        key: "bytes_pipe_1MiB_MBps",
        what: "1 MiB Bytes sent typed through a duplex Pipe (raw: write/read on a socketpair)",
        unit: "MB/s",
        better: Better::Higher,
        ours,
        raw: Some(raw),
        target: ">= 0.9x raw",
    }
}

/// The `Queue` between two processes beside crossbeam-channel between two threads of one
/// process (bounded at 1000, 64-byte `Vec<u8>` items, as the Queue row).
pub fn queue_vs_crossbeam(scale: f64) -> Row {
    let n = ((500_000.0 * scale) as usize).max(1000);
    let item = vec![5u8; 64];
    let ours = || crate::queue_1p1c_rate(n, &item);
    let threads = || {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1000);
        let consumer = std::thread::spawn(move || {
            for _ in 0..n {
                rx.recv().unwrap();
            }
        });
        let t = Instant::now();
        for _ in 0..n {
            tx.send(item.clone()).unwrap();
        }
        consumer.join().unwrap();
        n as f64 / t.elapsed().as_secs_f64()
    };
    let (ours, cb) = median_pair(ROUNDS, ours, threads);
    Row {
        key: "queue_vs_crossbeam_per_s",
        what: "Queue 1p1c between processes (raw column: crossbeam-channel between two threads)",
        unit: "items/s",
        better: Better::Higher,
        ours,
        raw: Some(cb),
        target: ">= 0.8x crossbeam",
    }
}

/// Semaphore ping-pong while a third process spins on a CPU (the machine has 2): ours beside
/// `sem_t`.
pub fn sem_pingpong_busy(scale: f64) -> Row {
    let n = ((50_000.0 * scale) as usize).max(1000);
    let (ours, raw) = crate::sem_pingpong_pair(n, true);
    Row {
        key: "sem_rtt_busy_us",
        what: "Semaphore ping-pong with a third, CPU-bound process running",
        unit: "us",
        better: Better::Lower,
        ours,
        raw: Some(raw),
        target: "<= 1.2x raw",
    }
}
