//! `Barrier` across real processes: arrival indices, abort, reset, timeouts.

mod common;
use common::{LONG, join_ok, serial, shared_counters};
use mp_ipc::{Barrier, BarrierError};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[test]
fn each_round_hands_out_every_arrival_index_once() {
    let _s = serial();
    const ROUNDS: usize = 50;
    let b = Barrier::new(4).unwrap();
    // seen[round * 4 + index] counts the processes that got `index` in `round`.
    let seen = shared_counters(ROUNDS * 4);
    let kids: Vec<_> = (0..3)
        .map(|_| {
            mp_core::spawn(|| {
                for round in 0..ROUNDS {
                    let i = b.wait_timeout(LONG).map_err(|e| e.to_string())?;
                    seen[round * 4 + i as usize].fetch_add(1, Ordering::SeqCst);
                }
                Ok::<(), String>(())
            })
            .unwrap()
        })
        .collect();
    for round in 0..ROUNDS {
        let i = b.wait_timeout(LONG).unwrap();
        seen[round * 4 + i as usize].fetch_add(1, Ordering::SeqCst);
    }
    for k in &kids {
        assert!(join_ok(k, LONG).success());
    }
    assert!(seen.iter().all(|c| c.load(Ordering::SeqCst) == 1), "every index once per round");
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.broken());
}

/// Waits until `n` processes wait at `b`.
fn until_waiting(b: &Barrier, n: u32) {
    let deadline = Instant::now() + LONG;
    while b.n_waiting() < n {
        assert!(Instant::now() < deadline, "only {} waiting", b.n_waiting());
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn abort_wakes_the_waiters_with_a_broken_barrier_error() {
    let _s = serial();
    let b = Barrier::new(4).unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            mp_core::spawn(|| match b.wait_timeout(LONG) {
                Err(BarrierError::Broken) => Ok(()),
                other => Err(format!("{other:?}")),
            })
            .unwrap()
        })
        .collect();
    until_waiting(&b, 3);
    let t = Instant::now();
    b.abort();
    assert!(b.broken());
    assert_eq!(b.n_waiting(), 0);
    for w in &waiters {
        assert!(join_ok(w, LONG).success());
    }
    assert!(t.elapsed() < Duration::from_secs(10));
    // Later waits are refused at once until reset.
    assert!(matches!(b.wait(), Err(BarrierError::Broken)));
    b.abort(); // twice: no change
    b.reset();
    assert!(!b.broken());
    let child = mp_core::spawn(|| b.wait_timeout(LONG).map(drop).map_err(|e| e.to_string())).unwrap();
    let helpers: Vec<_> = (0..2)
        .map(|_| mp_core::spawn(|| b.wait_timeout(LONG).map(drop).map_err(|e| e.to_string())).unwrap())
        .collect();
    assert!(b.wait_timeout(LONG).unwrap() < 4, "usable again after reset");
    for p in helpers.iter().chain([&child]) {
        assert!(join_ok(p, LONG).success());
    }
}

#[test]
fn a_timeout_breaks_the_barrier_for_the_other_waiters() {
    let _s = serial();
    let b = Barrier::new(3).unwrap();
    let other = mp_core::spawn(|| match b.wait_timeout(LONG) {
        Err(e) if e.is_broken() && !e.is_timeout() => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .unwrap();
    until_waiting(&b, 1);
    let t = Instant::now();
    let e = b.wait_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(e.is_timeout() && e.is_broken(), "{e:?}");
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(join_ok(&other, LONG).success());
    assert!(b.broken());
    assert!(b.wait_deadline(Instant::now()).unwrap_err().is_broken());
    assert!(Barrier::new(0).is_err());
}

#[test]
fn reset_sends_the_waiters_away_broken_and_leaves_it_usable() {
    let _s = serial();
    let b = Barrier::new(2).unwrap();
    let waiter = mp_core::spawn(|| match b.wait_timeout(LONG) {
        Err(BarrierError::Broken) => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .unwrap();
    until_waiting(&b, 1);
    b.reset();
    assert!(join_ok(&waiter, LONG).success());
    assert!(!b.broken(), "reset leaves it unbroken");
    assert_eq!(b.n_waiting(), 0);
    let child = mp_core::spawn(|| b.wait_timeout(LONG).map(drop).map_err(|e| e.to_string())).unwrap();
    assert!(b.wait_timeout(LONG).is_ok());
    assert!(join_ok(&child, LONG).success());
}

#[test]
fn one_party_passes_at_once_with_index_zero() {
    let b = Barrier::new(1).unwrap();
    assert_eq!(b.wait().unwrap(), 0);
    assert_eq!(b.wait_timeout(Duration::ZERO).unwrap(), 0);
}
