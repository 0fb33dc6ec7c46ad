//! Locks, semaphores and events across real processes.

mod common;
use common::{LONG, join_ok, serial};
use mp_ipc::{BoundedSemaphore, Event, Lock, Semaphore, Value};
use std::time::{Duration, Instant};

#[test]
fn lock_excludes_other_processes_and_times_out() {
    let _s = serial();
    let lock = Lock::new().unwrap();
    let counter = Value::new(0u64).unwrap();
    let kids: Vec<_> = (0..4)
        .map(|_| {
            mp_core::spawn(|| {
                for _ in 0..2000 {
                    let _g = lock.lock().unwrap();
                    // A non-atomic read-modify-write, safe only under the lock.
                    let v = counter.get();
                    counter.set(v + 1);
                }
            })
            .unwrap()
        })
        .collect();
    for k in &kids {
        assert!(join_ok(k, LONG).success());
    }
    assert_eq!(counter.get(), 8000);

    let g = lock.lock().unwrap();
    let waiter = mp_core::spawn(|| {
        let t = Instant::now();
        if lock.try_lock().is_some() {
            return Err("try_lock took a held lock".to_string());
        }
        if lock.lock_timeout(Duration::from_millis(50)).is_some() {
            return Err("lock_timeout took a held lock".to_string());
        }
        if t.elapsed() < Duration::from_millis(50) {
            return Err("timed out early".to_string());
        }
        Ok(())
    })
    .unwrap();
    assert!(join_ok(&waiter, LONG).success());
    drop(g);
    assert!(lock.lock_timeout(Duration::ZERO).is_some());
}

#[test]
fn lock_whose_holder_dies_reports_owner_died_then_recovers() {
    let _s = serial();
    let lock = Lock::new().unwrap();
    let holder = mp_core::spawn(|| {
        let _g = lock.lock().unwrap();
        std::thread::sleep(LONG);
    })
    .unwrap();
    // Wait until the child holds it.
    let deadline = Instant::now() + LONG;
    while let Some(Ok(g)) = lock.try_lock() {
        drop(g);
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    holder.kill().unwrap();
    join_ok(&holder, LONG);
    let r = lock.lock_timeout(Duration::from_secs(10)).expect("never hangs");
    let guard = r.expect_err("owner died is reported").into_inner();
    drop(guard);
    assert!(lock.lock().is_ok());
}

#[test]
fn semaphore_counts_across_processes() {
    let _s = serial();
    let sem = Semaphore::new(0).unwrap();
    assert!(!sem.try_acquire());
    let t = Instant::now();
    assert!(!sem.acquire_timeout(Duration::from_millis(50)));
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(!sem.acquire_timeout(Duration::ZERO));
    let kids: Vec<_> =
        (0..3).map(|_| mp_core::spawn(|| sem.release().map_err(|e| e.to_string())).unwrap()).collect();
    for _ in 0..3 {
        assert!(sem.acquire_timeout(LONG));
    }
    for k in &kids {
        assert!(join_ok(k, LONG).success());
    }
    assert_eq!(sem.value(), 0);
    sem.release().unwrap();
    assert!(sem.acquire_deadline(Instant::now()));
}

#[test]
fn a_waiter_blocked_in_acquire_is_woken() {
    let _s = serial();
    let sem = Semaphore::new(0).unwrap();
    let waiter = mp_core::spawn(|| sem.acquire()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(waiter.is_alive());
    sem.release().unwrap();
    assert!(join_ok(&waiter, LONG).success());
}

#[test]
fn bounded_semaphore_refuses_extra_release() {
    let _s = serial();
    let sem = BoundedSemaphore::new(1).unwrap();
    let e = sem.release().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("initial value 1"), "{e}");
    sem.acquire();
    assert!(!sem.try_acquire());
    assert!(!sem.acquire_timeout(Duration::from_millis(10)));
    let child = mp_core::spawn(|| sem.release().map_err(|e| e.to_string())).unwrap();
    assert!(join_ok(&child, LONG).success());
    assert_eq!(sem.value(), 1);
}

#[test]
fn event_set_clear_wait() {
    let _s = serial();
    let ev = Event::new().unwrap();
    assert!(!ev.is_set());
    assert!(!ev.wait_timeout(Duration::from_millis(20)));
    let waiters: Vec<_> = (0..3).map(|_| mp_core::spawn(|| ev.wait()).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(50));
    ev.set();
    for w in &waiters {
        assert!(join_ok(w, LONG).success());
    }
    assert!(ev.wait_deadline(Instant::now()));
    ev.clear();
    assert!(!ev.wait_timeout(Duration::ZERO));
}
