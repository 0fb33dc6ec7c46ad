//! `RLock` across real processes and threads.

mod common;
use common::{LONG, join_ok, serial};
use mp_ipc::RLock;
use std::time::{Duration, Instant};

/// Whether another process can take the lock within a short wait (it never keeps it).
fn another_process_can_take(lock: &RLock) -> bool {
    let child = mp_core::spawn(|| {
        if lock.try_lock().is_some() {
            return Ok(());
        }
        match lock.lock_timeout(Duration::from_millis(20)) {
            Some(_) => Ok(()),
            None => Err("refused".to_string()),
        }
    })
    .unwrap();
    join_ok(&child, LONG).success()
}

#[test]
fn entered_three_times_by_its_owner_and_refused_to_another_process_until_fully_released() {
    let _s = serial();
    let lock = RLock::new().unwrap();
    let one = lock.lock().unwrap();
    let two = lock.try_lock().expect("the owner enters again at once").unwrap();
    let three = lock.lock_timeout(Duration::ZERO).expect("and again").unwrap();
    assert_eq!(lock.depth_held(&three), 3);
    assert!(!another_process_can_take(&lock));
    drop(three);
    assert_eq!(lock.depth_held(&two), 2);
    assert!(!another_process_can_take(&lock));
    drop(two);
    assert!(!another_process_can_take(&lock));
    drop(one);
    assert!(another_process_can_take(&lock));
    // The child's levels were all given back when its guards dropped.
    let g = lock.lock_deadline(Instant::now()).expect("free").unwrap();
    assert_eq!(lock.depth_held(&g), 1);
}

#[test]
fn another_thread_of_the_owner_process_is_refused_too() {
    let lock = RLock::new().unwrap();
    let _g = lock.lock().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| assert!(lock.lock_timeout(Duration::from_millis(20)).is_none()));
    });
}

#[test]
fn a_holder_that_dies_entered_twice_is_reported_never_a_hang() {
    let _s = serial();
    let lock = RLock::new().unwrap();
    let holder = mp_core::spawn(|| {
        let a = lock.lock().unwrap();
        let b = lock.lock().unwrap();
        std::mem::forget((a, b));
        std::process::exit(0)
    })
    .unwrap();
    assert!(join_ok(&holder, LONG).success());
    let r = lock.lock_timeout(Duration::from_secs(10)).expect("never hangs");
    let g = r.expect_err("owner died is reported").into_inner();
    assert_eq!(lock.depth_held(&g), 1, "the dead holder's levels are gone");
    drop(g);
    assert!(another_process_can_take(&lock));
    assert!(lock.lock().is_ok());
}
