//! `JoinableQueue` and `SimpleQueue` across real processes.

mod common;
use common::{LONG, join_ok, serial, shared_counters};
use mp_ipc::{Event, JoinableQueue, SimpleQueue};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[test]
fn join_returns_exactly_when_every_item_put_was_task_done() {
    let _s = serial();
    const ITEMS: u32 = 200;
    let q: JoinableQueue<u32> = JoinableQueue::new(16).unwrap();
    let done = shared_counters(1);
    let last_may_finish = Event::new().unwrap();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            mp_core::spawn(|| {
                q.close();
                while let Ok(n) = q.get() {
                    if n == ITEMS - 1 {
                        // Hold the last item unfinished until the parent has seen `join` wait.
                        if !last_may_finish.wait_timeout(LONG) {
                            return Err("the parent never let the last item finish".to_string());
                        }
                    }
                    done[0].fetch_add(1, Ordering::SeqCst);
                    q.task_done().map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
            .unwrap()
        })
        .collect();
    for n in 0..ITEMS {
        q.put_timeout(&n, LONG).unwrap();
    }
    // Every item but one gets done; the one left keeps `join` waiting.
    let deadline = Instant::now() + LONG;
    while done[0].load(Ordering::SeqCst) < ITEMS - 1 {
        assert!(Instant::now() < deadline, "consumers stalled");
        std::thread::sleep(Duration::from_millis(1));
    }
    let t = Instant::now();
    assert!(q.join_timeout(Duration::from_millis(100)).unwrap_err().is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert_eq!(q.unfinished_tasks(), 1);
    last_may_finish.set();
    q.join_timeout(LONG).expect("join returns once the last item is done");
    assert_eq!(done[0].load(Ordering::SeqCst), ITEMS, "join returned before every task_done");
    assert_eq!(q.unfinished_tasks(), 0);
    q.close();
    for c in &consumers {
        assert!(join_ok(c, LONG).success());
    }
}

#[test]
fn one_task_done_too_many_is_an_error_and_changes_nothing() {
    let _s = serial();
    let q: JoinableQueue<String> = JoinableQueue::new(0).unwrap();
    assert!(q.task_done().is_err());
    q.join_deadline(Instant::now()).expect("nothing unfinished: join returns at once");
    q.put(&"a".into()).unwrap();
    q.put(&"b".into()).unwrap();
    let child = mp_core::spawn(|| {
        q.close();
        for _ in 0..2 {
            q.get_timeout(LONG).map_err(|e| e.to_string())?;
            q.task_done().map_err(|e| e.to_string())?;
        }
        match q.task_done() {
            Err(e) if e.to_string().contains("more times") => Ok(()),
            other => Err(format!("third task_done: {other:?}")),
        }
    })
    .unwrap();
    q.join_timeout(LONG).unwrap();
    assert!(join_ok(&child, LONG).success());
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err());
}

#[test]
fn a_failed_put_is_not_counted() {
    let _s = serial();
    let q: JoinableQueue<u8> = JoinableQueue::new(1).unwrap();
    q.put(&1).unwrap();
    assert!(q.try_put(&2).unwrap_err().is_full());
    assert!(q.put_timeout(&2, Duration::from_millis(10)).unwrap_err().is_timeout());
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.try_get().unwrap(), 1);
    q.task_done().unwrap();
    q.join_timeout(Duration::ZERO).unwrap();
}

#[test]
fn simple_queue_is_a_fifo_between_processes() {
    let _s = serial();
    let q: SimpleQueue<(u32, String)> = SimpleQueue::new().unwrap();
    assert!(q.empty());
    let q = &q;
    let producers: Vec<_> = (0..3u32)
        .map(|p| {
            mp_core::spawn(move || {
                for i in 0..1000u32 {
                    q.put(&(p * 1000 + i, format!("{p}:{i}"))).unwrap();
                }
            })
            .unwrap()
        })
        .collect();
    q.close();
    let mut next = [0u32; 3];
    let mut n = 0;
    loop {
        match q.get_timeout(LONG) {
            Ok((v, s)) => {
                let (p, i) = (v / 1000, v % 1000);
                assert_eq!(i, next[p as usize], "per-producer order kept");
                assert_eq!(s, format!("{p}:{i}"));
                next[p as usize] += 1;
                n += 1;
            }
            Err(e) if e.is_disconnected() => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(n, 3000);
    assert!(q.empty());
    assert!(q.try_get().unwrap_err().is_disconnected());
    for p in &producers {
        assert!(join_ok(p, LONG).success());
    }
}
