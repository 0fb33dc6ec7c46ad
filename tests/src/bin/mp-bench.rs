//! `ci/bench`: each workload of this project beside the raw syscalls it wraps and Python's
//! `multiprocessing`, all timed in this one run. Usage: `mp-bench [scale] [python-script]`.

use mp_core::mp_ipc;
use mp_tests::bench::{Better, Row, median, median_pair, print_table, python_figures, us_per};
use std::time::Instant;

const ROUNDS: usize = 5;

fn spawn_join(scale: f64) -> Row {
    let n = ((400.0 * scale) as usize).max(10);
    let (ours, raw) = median_pair(
        ROUNDS,
        || {
            us_per(n, || {
                let p = mp_core::spawn(|| ()).expect("spawn");
                assert!(p.join().expect("join").success());
            })
        },
        || {
            us_per(n, || {
                // SAFETY: the child calls only _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // SAFETY: _exit is async-signal-safe.
                    unsafe { libc::_exit(0) };
                }
                let mut st = 0;
                // SAFETY: `st` is writable; `pid` is our child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
            })
        },
    );
    Row {
        key: "spawn_join_us",
        what: "process start + join (empty target)",
        unit: "us/process",
        better: Better::Lower,
        ours,
        raw: Some(raw),
        target: "<= 1.25x raw",
    }
}

/// Runs `f` in a forked child (raw fork, so that the baseline and ours share the mechanism).
fn fork_child(f: impl FnOnce()) -> i32 {
    // SAFETY: the benchmark is single-threaded; the child ends in _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        f();
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(0) };
    }
    pid
}

fn wait_child(pid: i32) {
    let mut st = 0;
    // SAFETY: `st` is writable; `pid` is our child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
}

fn rd(fd: i32, b: &mut [u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: the range is inside `b`.
        let r = unsafe { libc::read(fd, b[off..].as_mut_ptr().cast(), b.len() - off) };
        assert!(r > 0, "raw read failed");
        off += r as usize;
    }
}

fn wr(fd: i32, b: &[u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: the range is inside `b`.
        let r = unsafe { libc::write(fd, b[off..].as_ptr().cast(), b.len() - off) };
        assert!(r > 0, "raw write failed");
        off += r as usize;
    }
}

fn pipe_rtt(scale: f64) -> Row {
    let n = ((50_000.0 * scale) as usize).max(100);
    let ours = || {
        let (mut a, mut b) = mp_ipc::Pipe::duplex().unwrap();
        let child = fork_child(move || {
            for _ in 0..n {
                let m = b.recv_bytes().unwrap();
                b.send_bytes(&m).unwrap();
            }
        });
        let msg = [7u8; 64];
        let us = us_per(n, || {
            a.send_bytes(&msg).unwrap();
            a.recv_bytes().unwrap();
        });
        wait_child(child);
        us
    };
    let raw = || {
        let mut sv = [0; 2];
        // SAFETY: `sv` has room for two descriptors.
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) };
        let child = fork_child(|| {
            let mut b = [0u8; 64];
            for _ in 0..n {
                rd(sv[1], &mut b);
                wr(sv[1], &b);
            }
        });
        let mut b = [7u8; 64];
        let us = us_per(n, || {
            wr(sv[0], &b);
            rd(sv[0], &mut b);
        });
        wait_child(child);
        // SAFETY: closing our two descriptors once.
        unsafe { libc::close(sv[0]) };
        // SAFETY: as above.
        unsafe { libc::close(sv[1]) };
        us
    };
    let (ours, raw) = median_pair(ROUNDS, ours, raw);
    Row {
        key: "pipe_rtt_64B_us",
        what: "Pipe round trip, 64 B",
        unit: "us",
        better: Better::Lower,
        ours,
        raw: Some(raw),
        target: "<= 1.25x raw",
    }
}

fn pipe_bw(scale: f64) -> Row {
    let size = 1 << 20;
    let n = ((2000.0 * scale) as usize).max(20);
    let msg = vec![1u8; size];
    let ours = || {
        let (mut rx, tx) = mp_ipc::Pipe::simplex().unwrap();
        let _ = tx.set_capacity(size);
        let child = fork_child(move || {
            for _ in 0..n {
                assert_eq!(rx.recv_bytes().unwrap().len(), size);
            }
        });
        let t = Instant::now();
        for _ in 0..n {
            tx.send_bytes(&msg).unwrap();
        }
        wait_child(child);
        (n * size) as f64 / t.elapsed().as_secs_f64() / 1e6
    };
    let raw = || {
        let mut fd = [0; 2];
        // SAFETY: `fd` has room for two descriptors.
        unsafe { libc::pipe(fd.as_mut_ptr()) };
        // SAFETY: fcntl with an integer argument.
        unsafe { libc::fcntl(fd[1], libc::F_SETPIPE_SZ, size as libc::c_int) };
        let child = fork_child(|| {
            // SAFETY: closing the child's copy of the write end.
            unsafe { libc::close(fd[1]) };
            let mut b = vec![0u8; size];
            for _ in 0..n {
                rd(fd[0], &mut b);
            }
        });
        let t = Instant::now();
        for _ in 0..n {
            wr(fd[1], &msg);
        }
        wait_child(child);
        let mbps = (n * size) as f64 / t.elapsed().as_secs_f64() / 1e6;
        // SAFETY: closing our two descriptors once.
        unsafe { libc::close(fd[0]) };
        // SAFETY: as above.
        unsafe { libc::close(fd[1]) };
        mbps
    };
    let (ours, raw) = median_pair(ROUNDS, ours, raw);
    Row {
        key: "pipe_bw_1MiB_MBps",
        what: "Pipe bandwidth, 1 MiB messages",
        unit: "MB/s",
        better: Better::Higher,
        ours,
        raw: Some(raw),
        target: ">= 0.8x raw",
    }
}

fn queue_1p1c(scale: f64) -> Row {
    let n = ((500_000.0 * scale) as usize).max(1000);
    let item = vec![5u8; 64];
    let ours = || queue_1p1c_rate(n, &item);
    let raw = || {
        let name = c"/mp_bench_mq";
        // SAFETY: all-zero mq_attr is valid; fields set below.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 10;
        attr.mq_msgsize = 64;
        // SAFETY: NUL-terminated name.
        unsafe { libc::mq_unlink(name.as_ptr()) };
        // SAFETY: NUL-terminated name; mode and attr as O_CREAT requires.
        let q = unsafe { libc::mq_open(name.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600, &attr) };
        assert!(q >= 0, "mq_open failed: {}", std::io::Error::last_os_error());
        let child = fork_child(|| {
            let mut b = [0u8; 64];
            for _ in 0..n {
                // SAFETY: `b` has room for one message.
                unsafe { libc::mq_receive(q, b.as_mut_ptr().cast(), 64, std::ptr::null_mut()) };
            }
        });
        let b = [5u8; 64];
        let t = Instant::now();
        for _ in 0..n {
            // SAFETY: `b` is one 64-byte message.
            unsafe { libc::mq_send(q, b.as_ptr().cast(), 64, 0) };
        }
        wait_child(child);
        let rate = n as f64 / t.elapsed().as_secs_f64();
        // SAFETY: closing and removing the queue we made.
        unsafe {
            libc::mq_close(q);
            libc::mq_unlink(name.as_ptr());
        }
        rate
    };
    let (ours, raw) = median_pair(ROUNDS, ours, raw);
    Row {
        key: "queue_1p1c_msgs_per_s",
        what: "Queue, 1 producer 1 consumer, 64 B items",
        unit: "items/s",
        better: Better::Higher,
        ours,
        raw: Some(raw),
        target: ">= 4x raw mq, >= 30x Python",
    }
}

/// Items per second through a `Queue` bounded at 1000, from this process to a forked child.
fn queue_1p1c_rate(n: usize, item: &Vec<u8>) -> f64 {
    let q: mp_ipc::Queue<Vec<u8>> = mp_ipc::Queue::new(1000).unwrap();
    let child = fork_child(|| {
        for _ in 0..n {
            q.get().unwrap();
        }
    });
    let t = Instant::now();
    for _ in 0..n {
        q.put(item).unwrap();
    }
    wait_child(child);
    n as f64 / t.elapsed().as_secs_f64()
}

fn queue_4p4c(scale: f64) -> Row {
    let per = ((100_000.0 * scale) as usize).max(1000);
    let item = vec![5u8; 64];
    let ours = median(ROUNDS, || {
        let q: mp_ipc::Queue<Vec<u8>> = mp_ipc::Queue::new(1000).unwrap();
        let t = Instant::now();
        let consumers: Vec<i32> = (0..4)
            .map(|_| {
                fork_child(|| {
                    for _ in 0..per {
                        q.get().unwrap();
                    }
                })
            })
            .collect();
        let producers: Vec<i32> = (0..4)
            .map(|_| {
                fork_child(|| {
                    for _ in 0..per {
                        q.put(&item).unwrap();
                    }
                })
            })
            .collect();
        for pid in producers.into_iter().chain(consumers) {
            wait_child(pid);
        }
        (4 * per) as f64 / t.elapsed().as_secs_f64()
    });
    Row {
        key: "queue_4p4c_msgs_per_s",
        what: "Queue, 4 producers 4 consumers, 64 B items",
        unit: "items/s",
        better: Better::Higher,
        ours,
        raw: None,
        target: "reported",
    }
}

fn sem_pingpong(scale: f64) -> Row {
    let n = ((100_000.0 * scale) as usize).max(1000);
    let (ours, raw) = sem_pingpong_pair(n, false);
    Row {
        key: "sem_rtt_us",
        what: "Semaphore ping-pong between two processes",
        unit: "us",
        better: Better::Lower,
        ours,
        raw: Some(raw),
        target: "<= 1.2x raw",
    }
}

/// Medians of microseconds per semaphore round trip between two processes, ours and `sem_t`;
/// with `busy`, a third process spins on a CPU meanwhile.
fn sem_pingpong_pair(n: usize, busy: bool) -> (f64, f64) {
    let hog = || {
        busy.then(|| {
            fork_child(|| {
                let mut x = 1u64;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
    };
    let stop = |hog: Option<i32>| {
        if let Some(pid) = hog {
            // SAFETY: `pid` is our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_child(pid);
        }
    };
    let ours = || {
        let hog = hog();
        let a = mp_ipc::Semaphore::new(0).unwrap();
        let b = mp_ipc::Semaphore::new(0).unwrap();
        let child = fork_child(|| {
            for _ in 0..n {
                a.acquire();
                b.release().unwrap();
            }
        });
        let us = us_per(n, || {
            a.release().unwrap();
            b.acquire();
        });
        wait_child(child);
        stop(hog);
        us
    };
    let raw = || {
        let hog = hog();
        let sz = 2 * std::mem::size_of::<libc::sem_t>();
        // SAFETY: a fresh anonymous shared mapping.
        let m = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                sz,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as *mut libc::sem_t;
        // SAFETY: `m` has room for two sem_t.
        unsafe {
            libc::sem_init(m, 1, 0);
            libc::sem_init(m.add(1), 1, 0);
        }
        let child = fork_child(|| {
            for _ in 0..n {
                // SAFETY: initialised process-shared semaphores.
                unsafe {
                    libc::sem_wait(m);
                    libc::sem_post(m.add(1));
                }
            }
        });
        let us = us_per(n, || {
            // SAFETY: initialised process-shared semaphores.
            unsafe {
                libc::sem_post(m);
                libc::sem_wait(m.add(1));
            }
        });
        wait_child(child);
        stop(hog);
        // SAFETY: unmapping what we mapped.
        unsafe { libc::munmap(m.cast(), sz) };
        us
    };
    median_pair(ROUNDS, ours, raw)
}

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn pool_map(scale: f64) -> Row {
    let n = ((1_000_000.0 * scale) as u64).max(10_000);
    let pool = mp_core::Pool::new(2).unwrap();
    pool.map(square, 0..1000u64).unwrap();
    let ours = median(ROUNDS, || {
        let t = Instant::now();
        let r = pool.map(square, 0..n).unwrap();
        assert_eq!(r.len() as u64, n);
        n as f64 / t.elapsed().as_secs_f64()
    });
    Row {
        key: "pool_map_tasks_per_s",
        what: "Pool.map, 1,000,000 trivial tasks (x*x), 2 workers",
        unit: "tasks/s",
        better: Better::Higher,
        ours,
        raw: None,
        target: ">= 5x Python",
    }
}

fn pool_apply_async(scale: f64) -> Row {
    let n = ((100_000.0 * scale) as u64).max(1000);
    let pool = mp_core::Pool::new(2).unwrap();
    let ours = median(ROUNDS, || {
        let t = Instant::now();
        let rs: Vec<_> = (0..n).map(|i| pool.apply_async(square, i).unwrap()).collect();
        for (i, r) in rs.into_iter().enumerate() {
            assert_eq!(r.get().unwrap(), square(i as u64));
        }
        n as f64 / t.elapsed().as_secs_f64()
    });
    Row {
        key: "pool_apply_async_tasks_per_s",
        what: "Pool.apply_async + get, 100,000 trivial tasks, 2 workers",
        unit: "tasks/s",
        better: Better::Higher,
        ours,
        raw: None,
        target: ">= 10x Python",
    }
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

/// Tasks of 1 ms queued beside one of 500 ms on 2 workers: total time against the ideal
/// (the larger of the sum over the workers and the long task), and the p99 latency of the
/// short tasks from submission to result.
fn pool_mixed(scale: f64) -> Vec<Row> {
    const LONG_MS: u64 = 500;
    let shorts = ((200.0 * scale) as usize).max(20);
    let pool = mp_core::Pool::new(2).unwrap();
    pool.map(square, 0..1000u64).unwrap();
    let ideal_s = (LONG_MS as f64 / 1e3).max((LONG_MS as f64 + shorts as f64) / 1e3 / 2.0);
    let mut totals = Vec::new();
    let mut p99s = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let long = pool.apply_async(sleep_ms, LONG_MS).unwrap();
        let hs: Vec<_> = (0..shorts).map(|_| pool.apply_async(sleep_ms, 1).unwrap()).collect();
        let mut lat: Vec<f64> = pool
            .as_completed(hs)
            .map(|(_, r)| {
                assert_eq!(r.unwrap(), 1);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        assert_eq!(long.get().unwrap(), LONG_MS);
        totals.push(t.elapsed().as_secs_f64() / ideal_s);
        lat.sort_by(f64::total_cmp);
        p99s.push(lat[(lat.len() * 99 / 100).min(lat.len() - 1)]);
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    vec![
        Row {
            key: "pool_mixed_total_vs_ideal",
            what: "Pool, 1 task of 500 ms + 200 of 1 ms on 2 workers: total time / ideal (max(sum/2, 500 ms))",
            unit: "x",
            better: Better::Lower,
            ours: med(totals),
            raw: None,
            target: "reported",
        },
        Row {
            key: "pool_mixed_short_p99_ms",
            what: "Pool, 1 task of 500 ms + 200 of 1 ms on 2 workers: p99 latency of the 1 ms tasks",
            unit: "ms",
            better: Better::Lower,
            ours: med(p99s),
            raw: None,
            target: "reported",
        },
    ]
}

/// About a millisecond of arithmetic.
fn busy(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..BUSY_ITERS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

const BUSY_ITERS: u64 = 400_000;

fn pool_cpu(scale: f64) -> Row {
    let n = ((400.0 * scale) as u64).max(20);
    let pool = mp_core::Pool::new(2).unwrap();
    let one_ms = {
        let t = Instant::now();
        std::hint::black_box(busy(1));
        t.elapsed()
    };
    let (par, seq) = median_pair(
        ROUNDS,
        || {
            let t = Instant::now();
            std::hint::black_box(pool.map(busy, 0..n).unwrap());
            t.elapsed().as_secs_f64()
        },
        || {
            let t = Instant::now();
            std::hint::black_box((0..n).map(busy).collect::<Vec<_>>());
            t.elapsed().as_secs_f64()
        },
    );
    eprintln!("pool_cpu: one task takes about {one_ms:?}");
    Row {
        key: "pool_cpu_speedup",
        what: "Pool.map of ~1 ms CPU tasks on 2 workers: one process in turn / pool (speed-up)",
        unit: "x",
        better: Better::Higher,
        ours: seq / par,
        raw: None,
        target: ">= 1.9x",
    }
}

#[path = "mp-bench/chat.rs"]
mod chat;
#[path = "mp-bench/ipc.rs"]
mod ipc;
#[path = "mp-bench/manager.rs"]
mod manager;
#[path = "mp-bench/process.rs"]
mod process;

use chat::{chat_amplification, chat_fanout, chat_many};

thread_local! {
    static PY_EXTRA: std::cell::RefCell<Vec<(String, f64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn main() {
    // Before any thread: fork-server children are copies of the program as it is now.
    mp_core::forkserver::start().expect("fork server");
    let mut args = std::env::args().skip(1);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let script = args.next().unwrap_or_else(|| "ci/bench.py".to_string());
    let only: Option<String> = args.next();
    type Workload = fn(f64) -> Row;
    let all: [(&str, Workload); 14] = [
        ("spawn", spawn_join),
        ("pipe_rtt", pipe_rtt),
        ("pipe_bw", pipe_bw),
        ("queue", queue_1p1c),
        ("queue4", queue_4p4c),
        ("sem", sem_pingpong),
        ("pool_map", pool_map),
        ("pool_apply", pool_apply_async),
        ("pool_cpu", pool_cpu),
        ("manager", manager::manager_dict),
        ("joinable", ipc::joinable_put_task_done),
        ("bytes", ipc::bytes_through_pipe),
        ("crossbeam", ipc::queue_vs_crossbeam),
        ("sem_busy", ipc::sem_pingpong_busy),
    ];
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == name));
    let mut rows: Vec<Row> = all.iter().filter(|(name, _)| wanted(name)).map(|(_, f)| f(scale)).collect();
    type Group = fn(f64) -> Vec<Row>;
    let groups: [(&str, Group); 5] = [
        ("forkserver", process::forkserver_join),
        ("pool_mixed", pool_mixed),
        ("chat", chat_fanout),
        ("chat_amp", chat_amplification),
        ("chat_many", chat_many),
    ];
    for (name, f) in groups {
        if wanted(name) {
            rows.extend(f(scale));
        }
    }
    let mut python = if only.is_some() { Default::default() } else { python_figures(&script, scale) };
    PY_EXTRA.with(|p| python.extend(p.borrow().iter().cloned()));
    print_table(&rows, &python);
}
