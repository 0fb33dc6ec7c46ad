//! The queue across real processes: every blocking form, closing, dying peers, stress.

mod common;
use common::{LONG, join_ok, serial, shared_counters};
use mp_ipc::{Queue, RecvError, SendError};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[test]
fn fifo_order_sizes_and_python_names() {
    let _s = serial();
    let q: Queue<String> = Queue::new(3).unwrap();
    assert!(q.empty());
    assert_eq!(q.maxsize(), 3);
    for w in ["a", "b", "c"] {
        q.put(&w.to_string()).unwrap();
    }
    assert!(q.full());
    assert_eq!(q.qsize(), 3);
    assert!(matches!(q.try_put(&"d".to_string()), Err(SendError::Full)));
    let t = Instant::now();
    assert!(q.put_timeout(&"d".to_string(), Duration::from_millis(50)).unwrap_err().is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(q.put_timeout(&"d".to_string(), Duration::ZERO).unwrap_err().is_timeout());
    assert_eq!(q.get().unwrap(), "a");
    assert_eq!(q.try_get().unwrap(), "b");
    assert_eq!(q.get_timeout(Duration::ZERO).unwrap(), "c");
    assert!(q.try_get().unwrap_err().is_empty());
    let t = Instant::now();
    assert!(q.get_timeout(Duration::from_millis(50)).unwrap_err().is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(q.get_deadline(Instant::now()).unwrap_err().is_timeout());
    q.put_timeout(&"e".to_string(), Duration::MAX).unwrap();
    assert_eq!(q.get_timeout(Duration::MAX).unwrap(), "e");
}

#[test]
fn unbounded_queue_is_limited_only_by_bytes() {
    let _s = serial();
    let q: Queue<Vec<u8>> = Queue::with_capacity(0, 4096).unwrap();
    assert!(!q.full());
    let item = vec![1u8; 100]; // 1 length byte + 100 + 4 framing = 105 bytes each
    let mut n = 0;
    while q.try_put(&item).is_ok() {
        n += 1;
    }
    assert_eq!(n, q.capacity_bytes() / 105);
    assert!(!q.full(), "full() is about maxsize only");
    // An item larger than the ring goes through the overflow file, but its record still needs
    // room in the ring: none now, so a try fails with Full, and succeeds once an item is taken.
    let mut fillers = 0;
    while q.try_put(&Vec::new()).is_ok() {
        fillers += 1; // 5 bytes each: now under 5 bytes are free
    }
    let huge = vec![7u8; q.capacity_bytes()];
    let r = q.try_put(&huge);
    assert!(matches!(r, Err(SendError::Full)), "{r:?}");
    let _ = q.get().unwrap();
    q.try_put(&huge).unwrap();
    for _ in 1..n {
        assert_eq!(q.get().unwrap(), item);
    }
    for _ in 0..fillers {
        assert!(q.get().unwrap().is_empty());
    }
    assert_eq!(q.get().unwrap(), huge);
    while q.try_put(&item).is_ok() {}
    // Wrap-around keeps items intact.
    for i in 0..10_000u32 {
        let _ = q.get().unwrap();
        let v: Vec<u8> = (0..(i % 97) as u8).collect();
        q.put(&v).unwrap();
        let _ = i;
    }
}

#[test]
fn put_from_child_get_in_parent_and_disconnect_after_close() {
    let _s = serial();
    let q: Queue<(u32, String)> = Queue::new(10).unwrap();
    let producer = mp_core::spawn(|| {
        for i in 0..1000u32 {
            q.put(&(i, format!("item {i}"))).unwrap();
        }
    })
    .unwrap();
    q.close(); // the parent only consumes
    assert!(q.put(&(0, String::new())).unwrap_err().is_disconnected());
    for i in 0..1000u32 {
        assert_eq!(q.get_timeout(LONG).unwrap(), (i, format!("item {i}")));
    }
    assert!(q.get_timeout(LONG).unwrap_err().is_disconnected());
    assert!(q.try_get().unwrap_err().is_disconnected());
    assert!(join_ok(&producer, LONG).success());
}

#[test]
fn joining_a_producer_never_waits_on_unread_items() {
    let _s = serial();
    // Python's trap: a producer with queued, unread items cannot be joined. Here `put` has
    // already placed the item in shared memory when it returns.
    let q: Queue<Vec<u8>> = Queue::new(0).unwrap();
    let producer = mp_core::spawn(|| {
        for _ in 0..100 {
            q.put(&vec![7u8; 1000]).unwrap();
        }
    })
    .unwrap();
    assert!(join_ok(&producer, Duration::from_secs(20)).success());
    assert_eq!(q.qsize(), 100);
}

#[test]
fn a_blocked_get_wakes_when_the_last_producer_closes_or_dies() {
    let _s = serial();
    let q: Queue<u8> = Queue::new(0).unwrap();
    let consumer = mp_core::spawn(|| {
        q.close();
        match q.get() {
            Err(RecvError::Disconnected) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap();
    let producer = mp_core::spawn(|| std::thread::sleep(LONG)).unwrap();
    q.close();
    std::thread::sleep(Duration::from_millis(100));
    assert!(consumer.is_alive(), "the sleeping producer still holds the queue open");
    producer.kill().unwrap();
    join_ok(&producer, LONG);
    let t = Instant::now();
    assert!(join_ok(&consumer, Duration::from_secs(20)).success());
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_blocked_put_wakes_when_a_consumer_takes_an_item() {
    let _s = serial();
    let q: Queue<u32> = Queue::new(1).unwrap();
    q.put(&1).unwrap();
    let producer = mp_core::spawn(|| q.put_timeout(&2, LONG).map_err(|e| e.to_string())).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(q.get().unwrap(), 1);
    assert!(join_ok(&producer, LONG).success());
    assert_eq!(q.get_timeout(LONG).unwrap(), 2);
}

#[test]
fn decoding_the_wrong_type_is_an_error_and_consumes_the_item() {
    let _s = serial();
    let q: Queue<String> = Queue::new(0).unwrap();
    // The same shared memory seen through another type, as a process with a mismatched
    // type parameter would.
    q.put(&"\u{1F600}".to_string()).unwrap();
    q.put(&"ok".to_string()).unwrap();
    let as_u8: &Queue<u8> = unsafe_reinterpret(&q);
    assert!(matches!(as_u8.get(), Err(RecvError::Decode(_))));
    assert_eq!(q.get().unwrap(), "ok");
}

#[test]
fn byte_vectors_wrap_around_the_ring_and_keep_postcards_format() {
    let _s = serial();
    // A 4 KiB ring: items of up to 1.5 KiB wrap around its end again and again.
    let q: Queue<Vec<u8>> = Queue::with_capacity(0, 4096).unwrap();
    let as_bytes: &Queue<mp_ipc::Bytes> = unsafe_reinterpret(&q);
    for round in 0..300usize {
        let len = [0, 1, 127, 128, 129][round % 5] + (round * 37) % 1500;
        let item: Vec<u8> = (0..len).map(|i| (i * 7 + round) as u8).collect();
        q.put(&item).unwrap();
        as_bytes.put(&mp_ipc::Bytes(item.clone())).unwrap();
        assert_eq!(q.get().unwrap(), item, "round {round}");
        assert_eq!(as_bytes.get().unwrap().0, item, "round {round}");
    }
    // Larger than the ring: through the overflow file, same format.
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    q.put(&big).unwrap();
    assert_eq!(as_bytes.get().unwrap().0, big);
    // Other types with the same encoding read back as bytes; a vector followed by more does not.
    let as_string: &Queue<String> = unsafe_reinterpret(&q);
    as_string.put(&"你好，世界".to_string()).unwrap();
    assert_eq!(q.get().unwrap(), "你好，世界".as_bytes());
    let as_pair: &Queue<(Vec<u8>, u8)> = unsafe_reinterpret(&q);
    as_pair.put(&(vec![1, 2], 3)).unwrap();
    assert!(matches!(q.get(), Err(RecvError::Decode(_))));
    q.put(&vec![9; 3]).unwrap();
    let as_u16s: &Queue<Vec<u16>> = unsafe_reinterpret(&q);
    assert_eq!(as_u16s.get().unwrap(), [9, 9, 9], "a non-byte vector decodes through serde");
    assert!(q.empty());
}

fn unsafe_reinterpret<A, B>(q: &Queue<A>) -> &Queue<B> {
    // SAFETY: `Queue<T>` holds `T` only in `PhantomData<fn(T) -> T>`; the layout does not depend
    // on `T`.
    unsafe { &*(q as *const Queue<A>).cast::<Queue<B>>() }
}

/// Items of a stress run: `make(i)` is item `i`, `index` reads `i` back.
struct Items<T> {
    make: fn(u32) -> T,
    index: fn(&T) -> u32,
}

/// Plain numbers, through serde.
const NUMBERS: Items<u32> = Items { make: |i| i, index: |i| *i };
/// Byte vectors of 4 to 64 bytes, through the byte-block path (and around the ring's end).
const VECTORS: Items<Vec<u8>> = Items {
    make: |i| {
        let mut v = i.to_le_bytes().to_vec();
        v.resize(4 + (i % 61) as usize, i as u8);
        v
    },
    index: |v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]),
};

fn stress<T: serde::Serialize + serde::de::DeserializeOwned>(kill_one_consumer: bool, items: Items<T>) {
    const TOTAL: u32 = 1_000_000;
    const PRODUCERS: u32 = 4;
    let q: Queue<T> = Queue::new(1000).unwrap();
    let seen = shared_counters(TOTAL as usize);
    let received = shared_counters(1);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            mp_core::spawn(|| {
                q.close();
                loop {
                    match q.get() {
                        Ok(item) => {
                            seen[(items.index)(&item) as usize].fetch_add(1, Ordering::Relaxed);
                            received[0].fetch_add(1, Ordering::Relaxed);
                        }
                        Err(RecvError::Disconnected) => return Ok(()),
                        Err(e) => return Err(e.to_string()),
                    }
                }
            })
            .unwrap()
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = &q;
            mp_core::spawn(move || {
                for i in (p..TOTAL).step_by(PRODUCERS as usize) {
                    q.put(&(items.make)(i)).unwrap();
                }
            })
            .unwrap()
        })
        .collect();
    q.close();
    if kill_one_consumer {
        let deadline = Instant::now() + LONG;
        while received[0].load(Ordering::Relaxed) < TOTAL / 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        consumers[0].kill().unwrap();
    }
    for p in &producers {
        assert!(join_ok(p, Duration::from_secs(120)).success());
    }
    for (i, c) in consumers.iter().enumerate() {
        let s = join_ok(c, Duration::from_secs(120));
        if kill_one_consumer && i == 0 {
            assert_eq!(s.signal(), Some(9));
        } else {
            assert!(s.success(), "consumer {i}: {s}");
        }
    }
    let dup = seen.iter().filter(|c| c.load(Ordering::Relaxed) > 1).count();
    let lost = seen.iter().filter(|c| c.load(Ordering::Relaxed) == 0).count();
    assert_eq!(dup, 0, "items received twice");
    let allowed_lost = if kill_one_consumer { 1 } else { 0 };
    assert!(lost <= allowed_lost, "{lost} items lost");
    eprintln!("stress: {TOTAL} items, {lost} lost (in flight in a killed consumer), {dup} duplicated");
}

#[test]
fn stress_4_producers_4_consumers_exactly_once() {
    let _s = serial();
    stress(false, NUMBERS);
}

#[test]
fn stress_with_a_consumer_killed_midway() {
    let _s = serial();
    stress(true, NUMBERS);
}

#[test]
fn stress_byte_vectors_with_a_consumer_killed_midway() {
    let _s = serial();
    stress(true, VECTORS);
}

#[test]
fn a_process_killed_holding_the_lock_does_not_wedge_the_queue() {
    let _s = serial();
    // Kill producers and consumers at many random moments; the queue must keep working.
    let q: Queue<u64> = Queue::new(64).unwrap();
    let mut seed = 0x9e3779b97f4a7c15u64;
    for _round in 0..200 {
        let worker = mp_core::spawn(|| {
            let mut i = 0u64;
            loop {
                let _ = q.put(&i);
                let _ = q.try_get();
                i += 1;
            }
        })
        .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(200 + seed % 3000));
        worker.kill().unwrap();
        join_ok(&worker, LONG);
        // Still usable: put and get within a bounded time.
        while q.try_get().is_ok() {}
        q.put_timeout(&42, Duration::from_secs(10)).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 42);
    }
}
