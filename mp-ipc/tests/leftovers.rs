//! Nothing left behind: no descriptor, no /dev/shm or /dev/mqueue entry, once handles drop.

mod common;
use common::{LONG, count_fds, join_ok, leftovers, serial};
use mp_ipc::{
    Array, Barrier, BoundedSemaphore, Event, Lock, MessageQueue, Pipe, Queue, Semaphore, SharedMemory, Value,
    signal::Signals,
};

#[test]
fn every_type_releases_its_descriptors_and_names() {
    let _s = serial();
    let tag = format!("mp-test-left-{}", std::process::id());
    // In a child: this test binary's other threads cannot open or close descriptors there.
    let tag2 = tag.clone();
    let child = mp_core::spawn(move || {
        let before = count_fds();
        for i in 0..50 {
            let (a, b) = Pipe::duplex().map_err(|e| e.to_string())?;
            let (r, w) = Pipe::simplex().map_err(|e| e.to_string())?;
            w.send(&i).map_err(|e| e.to_string())?;
            drop((a, b, r, w));
            let q: Queue<u32> = Queue::new(4).map_err(|e| e.to_string())?;
            q.put(&1).map_err(|e| e.to_string())?;
            drop(q);
            drop((Lock::new(), Semaphore::new(1), BoundedSemaphore::new(1), Event::new(), Barrier::new(2)));
            drop((Value::new(1u8), Array::new(&[1u16, 2])));
            drop(SharedMemory::create(&format!("/{tag2}-{i}"), 100).map_err(|e| e.to_string())?);
            drop(MessageQueue::create(&format!("/{tag2}-{i}"), 2, 16).map_err(|e| e.to_string())?);
            drop(Signals::block(&[10]).map_err(|e| e.to_string())?);
        }
        let after = count_fds();
        if before != after {
            return Err(format!("descriptors: {before} before, {after} after"));
        }
        Ok(())
    })
    .unwrap();
    assert!(join_ok(&child, LONG).success());
    assert!(leftovers("/dev/shm", &tag).is_empty());
    assert!(leftovers("/dev/mqueue", &tag).is_empty());
}
