//! The pool across real worker processes: every API row, and failure per task.

mod common;
use common::{count_children, count_fds, within};
use mp_core::{MapError, Pool, TaskError};
use serde::{Serialize, Serializer};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Pool tests fork workers that inherit every descriptor open in this process; run them one at a
/// time so that one test's workers do not hold another test's sockets open.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const LIMIT: Duration = Duration::from_secs(60);

fn square(x: u64) -> u64 {
    x * x
}

fn add((a, b): (u32, u32)) -> u32 {
    a + b
}

/// Kills its own worker with SIGKILL on `x == 7`.
fn die_on_seven(x: u64) -> u64 {
    if x == 7 {
        // SAFETY: raising a signal in the current process.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    x * 2
}

fn panic_on_three(x: u64) -> u64 {
    assert_ne!(x, 3, "three is not allowed");
    x + 1
}

fn pid_of_worker(_: ()) -> u32 {
    std::process::id()
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn apply_map_starmap_and_results_in_order() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(3).unwrap();
        assert_eq!(pool.processes(), 3);
        assert_eq!(pool.worker_pids().len(), 3);
        assert_eq!(pool.apply(square, 9).unwrap(), 81);
        assert_eq!(pool.apply(add, (2, 3)).unwrap(), 5);
        let v = pool.map(square, 0..1000u64).unwrap();
        assert_eq!(v, (0..1000u64).map(|x| x * x).collect::<Vec<_>>());
        for cs in [Some(1), Some(7), Some(5000), None] {
            assert_eq!(pool.map_chunked(square, 0..100u64, cs).unwrap().len(), 100);
        }
        assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
        assert_eq!(
            pool.starmap(|a: String, n: usize| a.repeat(n), vec![("ab".into(), 2), ("c".into(), 3)]).unwrap(),
            ["abab", "ccc"]
        );
        // A struct stands in for Python's kwds.
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Opts {
            base: u64,
            exp: u32,
        }
        assert_eq!(pool.apply(|o: Opts| o.base.pow(o.exp), Opts { base: 2, exp: 10 }).unwrap(), 1024);
    });
}

#[test]
fn apply_async_handle_get_ready_successful_wait() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let slow = pool.apply_async(sleep_ms, 300).unwrap();
        assert!(!slow.is_ready());
        assert_eq!(slow.successful(), None);
        // Time runs out: the handle comes back, to wait again.
        let slow = slow.get_timeout(Duration::from_millis(10)).unwrap_err();
        assert!(!slow.wait_timeout(Duration::from_millis(10)).unwrap());
        slow.wait().unwrap();
        assert!(slow.is_ready());
        assert_eq!(slow.successful(), Some(true));
        assert_eq!(slow.get_timeout(Duration::from_secs(10)).unwrap().unwrap(), 300);

        let bad = pool.apply_async(panic_on_three, 3).unwrap();
        bad.wait().unwrap();
        assert_eq!(bad.successful(), Some(false));
        match bad.get() {
            Err(TaskError::Panicked(m)) => assert!(m.contains("three is not allowed"), "{m}"),
            other => panic!("{other:?}"),
        }
        let many: Vec<_> = (0..500u64).map(|i| pool.apply_async(square, i).unwrap()).collect();
        for (i, r) in many.into_iter().enumerate().rev() {
            assert_eq!(r.get().unwrap(), (i * i) as u64);
        }
        // Dropped handles are fine.
        drop(pool.apply_async(square, 1).unwrap());
        assert_eq!(pool.apply(square, 4).unwrap(), 16);
    });
}

#[test]
fn a_panicking_task_fails_alone_and_the_worker_survives() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let before: HashSet<_> = pool.worker_pids().into_iter().collect();
        let err = pool.map_chunked(panic_on_three, 0..10u64, Some(1)).unwrap_err();
        assert_eq!(err.index, 3);
        assert!(matches!(&err.error, TaskError::Panicked(m) if m.contains("three")), "{err}");
        let items: Vec<_> = pool.imap(panic_on_three, 0..6u64).unwrap().collect();
        assert_eq!(items.len(), 6);
        for (i, r) in items.iter().enumerate() {
            assert_eq!(r.is_err(), i == 3, "item {i}: {r:?}");
        }
        let after: HashSet<_> = pool.worker_pids().into_iter().collect();
        assert_eq!(before, after, "no worker was replaced");
    });
}

#[test]
fn a_worker_killed_during_map_fails_only_its_task() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let err: MapError = pool.map_chunked(die_on_seven, 0..50u64, Some(1)).unwrap_err();
        assert_eq!(err.index, 7);
        match err.error {
            TaskError::WorkerDied { status, .. } => assert_eq!(status.signal(), Some(9)),
            other => panic!("{other:?}"),
        }
        // The pool goes on, with a replacement worker.
        assert_eq!(pool.worker_pids().len(), 2);
        assert_eq!(pool.map(square, 0..100u64).unwrap().len(), 100);
    });
}

#[test]
fn a_worker_killed_during_imap_and_apply_async_fails_only_its_task() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let results: Vec<_> = pool.imap(die_on_seven, 0..30u64).unwrap().collect();
        for (i, r) in results.iter().enumerate() {
            match (i, r) {
                (7, Err(TaskError::WorkerDied { status, .. })) => assert_eq!(status.signal(), Some(9)),
                (7, other) => panic!("item 7: {other:?}"),
                (_, Ok(v)) => assert_eq!(*v, 2 * i as u64),
                (_, Err(e)) => panic!("item {i}: {e}"),
            }
        }
        let mut unordered: Vec<_> = pool.imap_unordered(die_on_seven, 0..30u64).unwrap().collect();
        assert_eq!(unordered.iter().filter(|r| r.is_err()).count(), 1);
        unordered.retain(|r| r.is_ok());
        let mut got: Vec<u64> = unordered.into_iter().map(Result::unwrap).collect();
        got.sort();
        assert_eq!(got, (0..30u64).filter(|&x| x != 7).map(|x| 2 * x).collect::<Vec<_>>());

        let handles: Vec<_> = (0..30u64).map(|i| pool.apply_async(die_on_seven, i).unwrap()).collect();
        for (i, h) in handles.into_iter().enumerate() {
            let r = h.get();
            if i == 7 {
                let e = r.unwrap_err();
                assert!(e.to_string().contains("SIGKILL"), "{e}");
            } else {
                assert_eq!(r.unwrap(), 2 * i as u64);
            }
        }
        assert_eq!(pool.apply(square, 3).unwrap(), 9);
    });
}

#[test]
fn a_worker_killed_from_outside_is_replaced() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let handles: Vec<_> = (0..4).map(|_| pool.apply_async(sleep_ms, 500).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(100));
        let victim = pool.worker_pids()[0];
        // SAFETY: signalling a worker process of this pool.
        unsafe { libc::kill(victim.as_raw(), libc::SIGKILL) };
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.get()).collect();
        let failed: Vec<_> = outcomes.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(failed.len(), 1, "{outcomes:?}");
        match failed[0] {
            TaskError::WorkerDied { pid, status } => {
                assert_eq!(*pid, victim);
                assert_eq!(status.signal(), Some(9));
            }
            other => panic!("{other:?}"),
        }
        assert!(!pool.worker_pids().contains(&victim));
        assert_eq!(pool.apply(square, 5).unwrap(), 25);
    });
}

#[test]
fn task_timeout_kills_the_worker_and_fails_the_task() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::builder().processes(1).task_timeout(Duration::from_millis(200)).build().unwrap();
        let t = Instant::now();
        match pool.apply(sleep_ms, 30_000) {
            Err(TaskError::Timeout { after, .. }) => assert_eq!(after, Duration::from_millis(200)),
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(20));
        assert_eq!(pool.apply(sleep_ms, 1).unwrap(), 1);
    });
}

#[test]
fn maxtasksperchild_replaces_workers() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::builder().processes(2).maxtasksperchild(2).build().unwrap();
        let pids: HashSet<u32> = (0..12).map(|_| pool.apply(pid_of_worker, ()).unwrap()).collect();
        assert!(pids.len() >= 6, "only {} distinct workers", pids.len());
    });
}

static mut INIT_VALUE: u32 = 0;

fn init_worker() {
    // SAFETY: runs once per worker before any task, in a single-threaded process.
    unsafe { INIT_VALUE = 42 };
}

fn read_init(_: ()) -> u32 {
    // SAFETY: only written by the initializer, before any task.
    unsafe { INIT_VALUE }
}

fn failing_init() {
    panic!("initializer cannot connect");
}

#[test]
fn initializer_runs_in_each_worker_and_a_failing_one_does_not_hang() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::builder().processes(2).initializer(init_worker).build().unwrap();
        assert_eq!(pool.map(read_init, vec![(); 8]).unwrap(), vec![42; 8]);

        let broken = Pool::builder().processes(1).initializer(failing_init).build().unwrap();
        let r = broken.apply(square, 2);
        assert!(r.is_err(), "{r:?}");
        let mut last = r;
        for _ in 0..5 {
            last = broken.apply(square, 2);
        }
        assert!(matches!(last, Err(TaskError::InitializerFailed { .. })), "{last:?}");
    });
}

struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to be encoded"))
    }
}

impl<'de> serde::Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

#[test]
fn codec_failures_are_clear_errors() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(1).unwrap();
        match pool.apply(|_: u8| Unencodable, 0) {
            Err(TaskError::Codec(m)) => assert!(m.contains("encode"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        match pool.apply_async(|_: Unencodable| 1u8, Unencodable) {
            Err(TaskError::Codec(m)) => assert!(m.contains("Serializ"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert_eq!(pool.apply(square, 2).unwrap(), 4);
    });
}

#[test]
fn close_join_and_terminate() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        assert_eq!(pool.join().unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        let handles: Vec<_> = (0..6).map(|_| pool.apply_async(sleep_ms, 50).unwrap()).collect();
        pool.close();
        assert!(matches!(pool.apply_async(square, 1), Err(TaskError::Closed)));
        assert!(matches!(pool.map(square, 0..3u64), Err(MapError { error: TaskError::Closed, .. })));
        pool.join().unwrap();
        for h in handles {
            assert_eq!(h.get().unwrap(), 50);
        }

        let pool = Pool::new(2).unwrap();
        let long = pool.apply_async(sleep_ms, 30_000).unwrap();
        let t = Instant::now();
        pool.terminate();
        assert!(matches!(long.get(), Err(TaskError::Terminated)));
        assert!(t.elapsed() < Duration::from_secs(20));
        assert!(matches!(pool.apply(square, 1), Err(TaskError::Closed)));
    });
}

#[test]
fn terminate_and_drop_leave_no_zombie_and_no_fd() {
    let _s = serial();
    // In a child, so that the counts see only this pool's processes and descriptors.
    let child = mp_core::spawn(|| {
        // The fork server's control socket stays open for the life of the process: open it
        // before counting.
        mp_core::forkserver::start().map_err(|e| e.to_string())?;
        let fds = count_fds();
        for round in 0..20 {
            let pool = Pool::new(2).map_err(|e| e.to_string())?;
            pool.apply(square, 3).map_err(|e| e.to_string())?;
            if round % 2 == 0 {
                pool.terminate();
            } else {
                drop(pool);
            }
            let kids = count_children();
            if kids != 0 {
                return Err(format!("{kids} children left after round {round}"));
            }
        }
        let pool = Pool::new(2).map_err(|e| e.to_string())?;
        pool.close();
        pool.join().map_err(|e| e.to_string())?;
        drop(pool);
        if count_fds() != fds || count_children() != 0 {
            return Err(format!("fds {} -> {}, children {}", fds, count_fds(), count_children()));
        }
        Ok(())
    })
    .unwrap();
    let s = child.join_timeout(LIMIT).unwrap().expect("finished");
    assert!(s.success(), "{s}");
}

#[test]
fn a_short_tasks_result_is_there_while_a_long_task_runs_on_the_same_worker() {
    let _s = serial();
    within(LIMIT, || {
        // One worker: both tasks reach it, most likely in the same read.
        let pool = Pool::new(1).unwrap();
        pool.apply(square, 1).unwrap();
        let t = Instant::now();
        let short = pool.apply_async(sleep_ms, 0).unwrap();
        let long = pool.apply_async(sleep_ms, 2000).unwrap();
        assert_eq!(short.get().unwrap(), 0);
        let waited = t.elapsed();
        assert!(waited < Duration::from_millis(1000), "the 0 ms result took {waited:?}");
        assert!(!long.is_ready(), "the long task is still running");
    });
}

#[test]
fn short_tasks_queued_behind_a_long_one_run_on_the_idle_worker() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        pool.map(square, 0..4u64).unwrap();
        let t = Instant::now();
        let long = pool.apply_async(sleep_ms, 1500).unwrap();
        let short: Vec<_> = (0..3).map(|_| pool.apply_async(sleep_ms, 10).unwrap()).collect();
        for h in short {
            assert_eq!(h.get().unwrap(), 10);
        }
        // Run one after another on the idle worker they take 30 ms; behind the long task, 1.5 s.
        let waited = t.elapsed();
        assert!(waited < Duration::from_millis(800), "the short tasks took {waited:?}");
        assert_eq!(long.get().unwrap(), 1500);
    });
}

#[test]
fn imap_yields_its_first_result_before_a_later_long_task_ends() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let t = Instant::now();
        let mut it = pool.imap(sleep_ms, vec![10, 2000, 10, 10]).unwrap();
        assert_eq!(it.next().unwrap().unwrap(), 10);
        let waited = t.elapsed();
        assert!(waited < Duration::from_millis(1000), "the first result took {waited:?}");
        assert_eq!(it.map(Result::unwrap).collect::<Vec<_>>(), [2000, 10, 10]);
    });
}

#[test]
fn many_tasks_behind_a_long_one_spread_over_the_idle_workers() {
    let _s = serial();
    within(LIMIT, || {
        // One 1 s task and 100 tasks of 2 ms on 2 workers: ideally about 1 s in all.
        let pool = Pool::new(2).unwrap();
        let t = Instant::now();
        let long = pool.apply_async(sleep_ms, 1000).unwrap();
        let short: Vec<_> = (0..100).map(|_| pool.apply_async(sleep_ms, 2).unwrap()).collect();
        for h in short {
            assert_eq!(h.get().unwrap(), 2);
        }
        let waited = t.elapsed();
        assert!(waited < Duration::from_millis(900), "the short tasks took {waited:?}");
        assert_eq!(long.get().unwrap(), 1000);
    });
}

/// Incremented by every run of `count_run`: shared with the workers, which are forks of this
/// process (`StartMethod::Fork`).
static RUNS: std::sync::OnceLock<mp_core::mp_ipc::Array<u64>> = std::sync::OnceLock::new();

fn count_run(x: u64) -> u64 {
    if let Some(runs) = RUNS.get() {
        runs.lock().unwrap()[0] += 1;
    }
    x
}

#[test]
fn a_cancelled_queued_task_never_runs() {
    let _s = serial();
    let runs = RUNS.get_or_init(|| mp_core::mp_ipc::Array::new(&[0]).unwrap());
    runs.set(0, 0);
    within(LIMIT, || {
        // Forked workers: they share `RUNS`, set by this process after the fork server started.
        let pool = Pool::builder().processes(1).start_method(mp_core::StartMethod::Fork).build().unwrap();
        let long = pool.apply_async(sleep_ms, 500).unwrap();
        // Sent to the busy worker behind the long task, or still in the pool: either way not
        // started, so cancellable.
        let queued: Vec<_> = (0..4u64).map(|i| pool.apply_async(count_run, i).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!long.cancel(), "a running task cannot be cancelled");
        let mut kept = Vec::new();
        for (i, h) in queued.into_iter().enumerate() {
            if i % 2 == 0 {
                assert!(h.cancel(), "task {i} had not started");
                assert!(h.cancel(), "cancelling twice says it is cancelled");
                assert!(h.get().unwrap_err().is_cancelled());
            } else {
                kept.push((i as u64, h));
            }
        }
        assert_eq!(long.get().unwrap(), 500);
        for (i, h) in kept {
            assert_eq!(h.get().unwrap(), i);
        }
        assert_eq!(pool.apply(count_run, 9).unwrap(), 9);
        pool.close();
        pool.join().unwrap();
    });
    assert_eq!(runs.get(0), Some(3), "the two kept tasks and the last one ran; the cancelled ones never");
}

#[test]
fn as_completed_yields_in_completion_order() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(3).unwrap();
        let hs: Vec<_> =
            [900u64, 100, 450].iter().map(|&ms| pool.apply_async(sleep_ms, ms).unwrap()).collect();
        let got: Vec<(usize, u64)> = pool.as_completed(hs).map(|(i, r)| (i, r.unwrap())).collect();
        assert_eq!(got, [(1, 100), (2, 450), (0, 900)]);
    });
}

#[test]
fn wait_any_and_wait_all_honour_their_timeouts() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let hs = vec![pool.apply_async(sleep_ms, 1500).unwrap(), pool.apply_async(sleep_ms, 10).unwrap()];
        assert_eq!(pool.wait_any(&hs, Some(Duration::from_secs(1))).unwrap(), Some(1));
        let t = Instant::now();
        assert!(!pool.wait_all(&hs, Some(Duration::from_millis(50))).unwrap());
        assert!(t.elapsed() < Duration::from_millis(1000), "waited {:?}", t.elapsed());
        assert!(pool.wait_all(&hs, None).unwrap());
        assert!(hs.iter().all(|h| h.is_ready()));
        let long = vec![pool.apply_async(sleep_ms, 2000).unwrap()];
        assert_eq!(pool.wait_any(&long, Some(Duration::from_millis(50))).unwrap(), None);
        assert_eq!(pool.wait_any::<u64>(&[], None).unwrap(), None);
        assert_eq!(hs.into_iter().map(|h| h.get().unwrap()).collect::<Vec<_>>(), [1500, 10]);
    });
}

#[test]
fn lazy_imap_over_an_endless_iterator_reads_only_what_is_needed() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let first: Vec<u64> = pool.imap(square, 0..).unwrap().take(10).map(Result::unwrap).collect();
        assert_eq!(first, (0..10u64).map(|x| x * x).collect::<Vec<_>>());

        let read = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let counter = std::rc::Rc::clone(&read);
        let input = (0..).inspect(move |_| counter.set(counter.get() + 1));
        let mut it = pool.imap_chunked(square, input, 3).unwrap();
        assert_eq!(it.next().unwrap().unwrap(), 0);
        let bound = (2 * mp_core::pool::IMAP_IN_FLIGHT * 3 + 3) as u64;
        assert!(read.get() <= bound, "read {} items ahead (bound {bound})", read.get());
        let rest: Vec<u64> = it.by_ref().take(99).map(Result::unwrap).collect();
        assert_eq!(rest, (1..100u64).map(|x| x * x).collect::<Vec<_>>());
        drop(it);
        assert!(read.get() <= 100 + bound);

        let mut unordered: Vec<u64> =
            pool.imap_unordered_chunked(square, 0..50u64, 4).unwrap().map(Result::unwrap).collect();
        unordered.sort_unstable();
        assert_eq!(unordered, (0..50u64).map(|x| x * x).collect::<Vec<_>>());
        assert_eq!(pool.apply(square, 5).unwrap(), 25, "abandoned chunks leave the pool usable");
    });
}

static INIT_ARGS: std::sync::Mutex<Option<(String, u32)>> = std::sync::Mutex::new(None);

fn init_with_args(args: (String, u32)) {
    *INIT_ARGS.lock().unwrap() = Some(args);
}

fn read_init_args(_: ()) -> Option<(String, u32)> {
    INIT_ARGS.lock().unwrap().clone()
}

#[test]
fn an_initializer_gets_its_initargs_in_every_worker() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::builder()
            .processes(2)
            .initializer_with(init_with_args, ("db://here".to_string(), 7))
            .build()
            .unwrap();
        let seen = pool.map_chunked(read_init_args, vec![(); 8], Some(1)).unwrap();
        assert!(seen.iter().all(|s| s.as_ref() == Some(&("db://here".to_string(), 7))), "{seen:?}");
        assert_eq!(*INIT_ARGS.lock().unwrap(), None, "the initializer ran in the workers only");
    });
}

#[allow(clippy::too_many_arguments)]
fn sum12(
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: i8,
    f: i16,
    g: i32,
    h: i64,
    i: usize,
    j: bool,
    k: String,
    l: char,
) -> String {
    let n = a as i64 + b as i64 + c as i64 + d as i64 + e as i64 + f as i64 + g as i64 + h + i as i64;
    format!("{n}{}{k}{l}", if j { "+" } else { "-" })
}

fn one(x: u32) -> u32 {
    x + 1
}

#[test]
fn starmap_spreads_tuples_of_one_to_twelve_elements() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        assert_eq!(pool.starmap(one, vec![(1,), (2,)]).unwrap(), [2, 3]);
        assert_eq!(
            pool.starmap(|a: u32, b: u32, c: u32| a * b * c, (1..=3u32).map(|x| (x, x, x))).unwrap(),
            [1, 8, 27]
        );
        let rows = vec![(1u8, 2u16, 3u32, 4u64, -1i8, -2i16, 3i32, 4i64, 5usize, true, "x".to_string(), 'y')];
        assert_eq!(pool.starmap(sum12, rows).unwrap(), ["19+xy"]);
    });
}

#[test]
fn map_async_and_starmap_async_hand_back_all_results_in_order() {
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let squares = pool.map_async(square, 0..1000u64).unwrap();
        let sums = pool.starmap_async(|a: u32, b: u32| a + b, vec![(1, 2), (3, 4)]).unwrap();
        let slow = pool.map_async(sleep_ms, vec![300, 300]).unwrap();
        assert!(!slow.wait_timeout(Duration::from_millis(10)).unwrap());
        assert!(!slow.is_ready());
        assert_eq!(sums.get().unwrap(), [3, 7]);
        assert_eq!(squares.get().unwrap(), (0..1000u64).map(|x| x * x).collect::<Vec<_>>());
        slow.wait().unwrap();
        assert!(slow.is_ready());
        assert_eq!(slow.get().unwrap(), [300, 300]);
        let bad = pool.map_async(panic_on_three, 0..10u64).unwrap();
        let e = bad.get().unwrap_err();
        assert_eq!(e.index, 3);
        assert!(matches!(e.error, TaskError::Panicked(_)), "{e}");
        drop(pool.map_async(sleep_ms, vec![100; 4]).unwrap());
        assert_eq!(pool.apply(square, 2).unwrap(), 4, "a dropped MapResult leaves the pool usable");
    });
}

#[test]
fn callbacks_run_once_each_in_the_thread_that_waits() {
    use std::sync::{Arc, Mutex};
    let _s = serial();
    within(LIMIT, || {
        let pool = Pool::new(2).unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let me = std::thread::current().id();
        for i in 0..20u64 {
            let (ok, err) = (Arc::clone(&log), Arc::clone(&log));
            pool.apply_async(panic_on_three, i).unwrap().callback(
                move |v| {
                    assert_eq!(std::thread::current().id(), me, "callbacks run in the waiting thread");
                    ok.lock().unwrap().push(format!("ok {v}"));
                },
                move |e| err.lock().unwrap().push(format!("err {}", matches!(e, TaskError::Panicked(_)))),
            );
        }
        let (ok, err) = (Arc::clone(&log), Arc::clone(&log));
        pool.map_async(square, 0..100u64).unwrap().callback(
            move |v| ok.lock().unwrap().push(format!("map {}", v.iter().sum::<u64>())),
            move |e| err.lock().unwrap().push(format!("map failed {e}")),
        );
        let (ok, err) = (Arc::clone(&log), Arc::clone(&log));
        pool.map_async(panic_on_three, 0..10u64).unwrap().callback(
            move |_| ok.lock().unwrap().push("bad map ok".into()),
            move |e| err.lock().unwrap().push(format!("bad map failed at {}", e.index)),
        );
        let (ok, err) = (Arc::clone(&log), Arc::clone(&log));
        pool.map_async(square, Vec::<u64>::new()).unwrap().callback(
            move |v| ok.lock().unwrap().push(format!("empty map {}", v.len())),
            move |e| err.lock().unwrap().push(format!("empty map failed {e}")),
        );
        pool.close();
        pool.join().unwrap();
        let mut got = log.lock().unwrap().clone();
        got.sort();
        let mut want: Vec<String> = (0..20u64).filter(|&i| i != 3).map(|i| format!("ok {}", i + 1)).collect();
        want.push("err true".into());
        want.push(format!("map {}", (0..100u64).map(|x| x * x).sum::<u64>()));
        want.push("bad map failed at 3".into());
        want.push("empty map 0".into());
        want.sort();
        assert_eq!(got, want);
        // Waiting again runs nothing twice.
        pool.join().unwrap();
        assert_eq!(log.lock().unwrap().len(), want.len());
    });
}
