//! The pool across real worker processes: every API row, and failure per task.

mod common;
use common::{count_children, count_fds};
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

/// Runs `f` on a helper thread and fails if it takes longer than `limit` (a hang fails the test).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
        Err(_) => panic!("the test body panicked (see above)"),
    }
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
        assert!(!slow.ready());
        assert_eq!(slow.successful(), None);
        assert!(slow.get_timeout(Duration::from_millis(10)).unwrap_err().is_wait_timeout());
        assert!(!slow.wait_timeout(Duration::from_millis(10)).unwrap());
        slow.wait().unwrap();
        assert!(slow.ready());
        assert_eq!(slow.successful(), Some(true));
        assert_eq!(slow.get().unwrap(), 300);
        assert!(matches!(slow.get(), Err(TaskError::AlreadyTaken)));

        let bad = pool.apply_async(panic_on_three, 3).unwrap();
        bad.wait().unwrap();
        assert_eq!(bad.successful(), Some(false));
        match bad.get() {
            Err(TaskError::Panicked(m)) => assert!(m.contains("three is not allowed"), "{m}"),
            other => panic!("{other:?}"),
        }
        let many: Vec<_> = (0..500u64).map(|i| pool.apply_async(square, i).unwrap()).collect();
        for (i, r) in many.iter().enumerate().rev() {
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
        for (i, h) in handles.iter().enumerate() {
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
        let outcomes: Vec<_> = handles.iter().map(|h| h.get()).collect();
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
        for h in &handles {
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
