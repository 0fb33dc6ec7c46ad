//! Queue items larger than the ring: they travel through the overflow file, in order, exactly
//! once, also when a consumer is killed in the middle of one.

use mp_ipc::{Bytes, Pipe, Queue, RecvError};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

/// An item of `len` bytes that says which one it is: its number in the first 8 bytes, then a
/// fill byte derived from it.
fn item(n: u64, len: usize) -> Bytes {
    let mut v = vec![(n as u8).wrapping_mul(31).wrapping_add(7); len];
    v[..8].copy_from_slice(&n.to_le_bytes());
    Bytes::from(v)
}

fn check(b: &Bytes, len: usize) -> u64 {
    assert_eq!(b.len(), len, "a large item arrived with the wrong length");
    let n = u64::from_le_bytes(b[..8].try_into().unwrap());
    let fill = (n as u8).wrapping_mul(31).wrapping_add(7);
    assert!(b[8..].iter().all(|&x| x == fill), "item {n} arrived damaged");
    n
}

#[test]
fn a_16_mib_item_arrives_intact_between_processes() {
    let q: Queue<Bytes> = Queue::new(0).unwrap();
    assert!(q.capacity_bytes() < 16 * MIB);
    let producer = mp_core::spawn(|| q.put(&item(1, 16 * MIB)).map_err(|e| e.to_string())).unwrap();
    q.close();
    let got = q.get_timeout(LONG).unwrap();
    assert_eq!(check(&got, 16 * MIB), 1);
    assert!(producer.join().unwrap().success());
    assert!(q.get_timeout(LONG).unwrap_err().is_disconnected());
}

#[test]
fn large_and_small_items_keep_their_order_and_maxsize_counts_items() {
    let q: Queue<Bytes> = Queue::with_capacity(3, 64 << 10).unwrap();
    let sizes = [10, 3 * MIB, 20, 5 * MIB, 2 * MIB, 30];
    let producer = mp_core::spawn(|| {
        for (i, &len) in sizes.iter().enumerate() {
            q.put(&item(i as u64, len.max(8))).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })
    .unwrap();
    q.close();
    // Three items fit (maxsize 3), large ones counted as one each.
    let deadline = Instant::now() + LONG;
    while q.qsize() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(q.qsize(), 3);
    assert!(q.full());
    for (i, &len) in sizes.iter().enumerate() {
        let got = q.get_timeout(LONG).unwrap();
        assert_eq!(check(&got, len.max(8)), i as u64);
    }
    assert!(producer.join().unwrap().success());
}

#[test]
fn a_second_large_item_waits_for_the_first_to_be_taken() {
    let q: Queue<Bytes> = Queue::new(0).unwrap();
    q.put(&item(0, 2 * MIB)).unwrap();
    // The overflow file holds the first: a second large item cannot go in now.
    assert!(q.try_put(&item(1, 2 * MIB)).unwrap_err().is_full());
    assert!(q.put_timeout(&item(1, 2 * MIB), Duration::from_millis(20)).unwrap_err().is_full());
    // Small items still pass.
    let small: Queue<u8> = Queue::new(0).unwrap();
    small.put(&1).unwrap();
    assert_eq!(check(&q.try_get().unwrap(), 2 * MIB), 0);
    q.put(&item(1, 2 * MIB)).unwrap();
    assert_eq!(check(&q.get_timeout(LONG).unwrap(), 2 * MIB), 1);
    assert!(matches!(q.try_get(), Err(RecvError::Empty)));
}

#[test]
fn a_consumer_killed_in_the_middle_of_large_items_loses_and_duplicates_nothing() {
    const ITEMS: u64 = 8;
    const LEN: usize = 16 * MIB;
    let mut item_left_after_kill = 0;
    for round in 0..4u64 {
        let q: Queue<Bytes> = Queue::new(0).unwrap();
        let producer = mp_core::spawn(|| {
            for n in 0..ITEMS {
                q.put(&item(n, LEN)).map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })
        .unwrap();
        // Made after the producer started, so that only the consumer holds the write end.
        let (mut reports, report) = Pipe::simplex().unwrap();
        let consumer = mp_core::spawn(|| {
            q.close();
            loop {
                match q.get() {
                    // Reported only after `get` returned: the one item in its hands when it dies
                    // is the consumer's, not lost by the queue.
                    Ok(b) => report.send(&check(&b, LEN)).unwrap(),
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .unwrap();
        drop(report);
        q.close();
        std::thread::sleep(Duration::from_millis(40 + 35 * round));
        consumer.kill().unwrap();
        consumer.join().unwrap();
        let mut seen = Vec::new();
        while let Ok(n) = reports.recv::<u64>() {
            seen.push(n);
        }
        let taken_by_consumer = seen.len();
        if q.qsize() > 0 || producer.join_timeout(Duration::ZERO).unwrap().is_none() {
            item_left_after_kill += 1;
        }
        loop {
            match q.get_timeout(LONG) {
                Ok(b) => seen.push(check(&b, LEN)),
                Err(e) if e.is_disconnected() => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(producer.join().unwrap().success());
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "round {round}: an item arrived twice: {seen:?}");
        // Everything arrived, except at most the one the consumer held (or was decoding) when
        // it was killed: the one after the last it reported.
        let missing: Vec<u64> = (0..ITEMS).filter(|n| !sorted.contains(n)).collect();
        assert!(
            missing.is_empty() || missing == [taken_by_consumer as u64],
            "round {round}: lost {missing:?} (consumer reported {taken_by_consumer})"
        );
        assert_eq!(seen, sorted, "round {round}: out of order");
    }
    assert!(item_left_after_kill > 0, "no round killed the consumer while items were waiting");
}
