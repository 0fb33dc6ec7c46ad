//! The seed's process pool example: a pool of workers runs many short tasks with `apply_async`,
//! then `close` and `join`; and `map` collects a list of results.
//!
//! Run: `cargo run -p mp-core --example pool`

use mp_core::{Pool, current_process};
use std::time::Duration;

/// Python: `def worker(msg): sleep(1); print(ctime(), '--', msg)` — a task returns its line
/// instead of printing, so the parent shows the lines in order.
fn worker(msg: String) -> String {
    std::thread::sleep(Duration::from_millis(200));
    format!("{} handled {msg}", current_process().name)
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn square(x: u64) -> u64 {
    x * x
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(4)?;
    println!("pool of {} workers: {:?}", pool.processes(), pool.worker_pids());

    // Python: for i in range(10): pool.apply_async(func=worker, args=(msg,))
    let results: Vec<_> =
        (0..10).map(|i| pool.apply_async(worker, format!("hello {i}"))).collect::<Result<_, _>>()?;
    for r in results {
        println!("{}", r.get()?);
    }

    // Python: pool.map(fun, range(10))
    println!("squares: {:?}", pool.map(square, 0..10u64)?);

    // A task that panics fails alone; the pool goes on.
    let bad = pool.apply_async(|x: u32| if x == 0 { panic!("no zeros, please") } else { x }, 0)?;
    match bad.get() {
        Ok(v) => println!("unexpected: {v}"),
        Err(e) => println!("one task failed: {e}"),
    }

    // concurrent.futures: results in the order they finish, and cancelling a queued task.
    let handles: Vec<_> =
        [300u64, 100, 200].iter().map(|&ms| pool.apply_async(nap, ms)).collect::<Result<_, _>>()?;
    for (i, r) in pool.as_completed(handles) {
        println!("task {i} finished: slept {} ms", r?);
    }
    let busy: Vec<_> = (0..4).map(|_| pool.apply_async(nap, 300)).collect::<Result<_, _>>()?;
    let queued = pool.apply_async(nap, 1)?;
    println!("cancelled a queued task: {}", queued.cancel());
    pool.wait_all(&busy, None)?;

    // Python's callback=: runs in this thread when it next waits on the pool (here: join).
    pool.map_async(square, 0..5u64)?
        .callback(|v| println!("callback got {v:?}"), |e| println!("failed: {e}"));

    pool.close();
    pool.join()?;
    println!("pool closed and joined");
    Ok(())
}
