//! `Condition` across real processes.

mod common;
use common::{LONG, join_ok, serial, shared_counters};
use mp_ipc::{Condition, ConditionError, Lock};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[test]
fn wait_for_a_predicate_across_four_processes() {
    let _s = serial();
    let cond = Condition::new().unwrap();
    // [arrived, go, passed], changed only under the condition's lock.
    let c = shared_counters(3);
    let kids: Vec<_> = (0..4)
        .map(|_| {
            mp_core::spawn(|| {
                let mut g = cond.lock().unwrap();
                // Entered twice: the wait must give up both levels, or nobody else gets in.
                let inner = cond.lock().unwrap();
                c[0].fetch_add(1, Ordering::SeqCst);
                cond.notify_all();
                cond.wait_for_timeout(&mut g, || c[1].load(Ordering::SeqCst) == 1, LONG)
                    .map_err(|e| e.to_string())?;
                c[2].fetch_add(1, Ordering::SeqCst);
                drop(inner);
                Ok::<(), String>(())
            })
            .unwrap()
        })
        .collect();
    let mut g = cond.lock().unwrap();
    cond.wait_for_timeout(&mut g, || c[0].load(Ordering::SeqCst) == 4, LONG).expect("all four arrived");
    assert_eq!(c[2].load(Ordering::SeqCst), 0, "nobody passed before go");
    c[1].store(1, Ordering::SeqCst);
    cond.notify_all();
    drop(g);
    for k in &kids {
        assert!(join_ok(k, LONG).success());
    }
    assert_eq!(c[2].load(Ordering::SeqCst), 4);
}

#[test]
fn notify_one_wakes_a_waiter_in_another_process_over_a_plain_lock() {
    let _s = serial();
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let c = shared_counters(2); // [waiting, items]
    let consumer = mp_core::spawn(|| {
        let mut g = cond.lock().unwrap();
        c[0].store(1, Ordering::SeqCst);
        while c[1].load(Ordering::SeqCst) == 0 {
            cond.wait_timeout(&mut g, LONG).map_err(|e| e.to_string())?;
        }
        c[1].fetch_sub(1, Ordering::SeqCst);
        Ok::<(), String>(())
    })
    .unwrap();
    let deadline = Instant::now() + LONG;
    loop {
        let g = cond.lock().unwrap();
        if c[0].load(Ordering::SeqCst) == 1 {
            c[1].fetch_add(1, Ordering::SeqCst);
            cond.notify(1);
            drop(g);
            break;
        }
        drop(g);
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(join_ok(&consumer, LONG).success());
    assert_eq!(c[1].load(Ordering::SeqCst), 0);
}

#[test]
fn a_timed_wait_times_out_holding_the_lock_again() {
    let cond = Condition::new().unwrap();
    let mut g = cond.lock().unwrap();
    let t = Instant::now();
    assert!(cond.wait_timeout(&mut g, Duration::from_millis(50)).unwrap_err().is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(cond.wait_for_deadline(&mut g, || false, Instant::now()).unwrap_err().is_timeout());
    cond.wait_for_timeout(&mut g, || true, Duration::ZERO).unwrap();
    // Still held: another thread cannot take it.
    std::thread::scope(|s| {
        s.spawn(|| assert!(cond.try_lock().is_none()));
    });
    drop(g);
    assert!(cond.try_lock().is_some());
}

#[test]
fn a_waiter_taking_the_lock_back_from_a_dead_holder_is_told() {
    let _s = serial();
    let cond = Condition::new().unwrap();
    let mut g = cond.lock().unwrap();
    let killer = mp_core::spawn(|| {
        let g = cond.lock().unwrap();
        cond.notify_all();
        std::mem::forget(g);
        std::process::exit(0)
    })
    .unwrap();
    let r = cond.wait_timeout(&mut g, LONG);
    assert!(matches!(r, Err(ConditionError::OwnerDied)), "{r:?}");
    assert!(join_ok(&killer, LONG).success());
    drop(g);
    assert!(cond.lock().is_ok());
}

#[test]
fn no_wake_up_is_lost_over_thousands_of_hand_offs_between_four_processes() {
    let _s = serial();
    const TURNS: u32 = 2000;
    let cond = Condition::new().unwrap();
    let turn = shared_counters(1);
    let kids: Vec<_> = (0..4u32)
        .map(|k| {
            let (cond, turn) = (&cond, turn);
            mp_core::spawn(move || {
                let mut g = cond.lock().unwrap();
                loop {
                    let mine = || {
                        let t = turn[0].load(Ordering::SeqCst);
                        t % 4 == k || t >= TURNS
                    };
                    cond.wait_for_timeout(&mut g, mine, LONG)
                        .map_err(|e| format!("turn {}: {e}", turn[0].load(Ordering::SeqCst)))?;
                    let t = turn[0].load(Ordering::SeqCst);
                    if t >= TURNS {
                        return Ok::<(), String>(());
                    }
                    // The last turn wakes everyone to leave; the others wake the next in line.
                    turn[0].store(t + 1, Ordering::SeqCst);
                    cond.notify_all();
                }
            })
            .unwrap()
        })
        .collect();
    for k in &kids {
        assert!(join_ok(k, LONG).success());
    }
    assert_eq!(turn[0].load(Ordering::SeqCst), TURNS);
}
