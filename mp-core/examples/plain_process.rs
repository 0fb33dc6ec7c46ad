//! The seed's first `multiprocessing` example: a function run in a child process with
//! arguments, its name and pid, and `join` with and without a timeout.
//!
//! Run: `cargo run -p mp-core --example plain_process`

use mp_core::{Builder, current_process, spawn};
use std::time::Duration;

fn worker(sec: u64, name: &str) {
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(sec * 100));
        println!("I'm {name}, working in {} (pid {})", current_process().name, current_process().pid);
    }
}

fn main() -> std::io::Result<()> {
    // Python: Process(target=worker, args=(2,), kwargs={'name': 'Levi'})
    let p = spawn(|| worker(2, "Levi"))?;
    let q = Builder::new().name("Fast").spawn(|| worker(1, "Baron"))?;
    println!("started {} (pid {}) and {} (pid {})", p.name(), p.pid(), q.name(), q.pid());
    let alive = p.is_alive();
    println!("{} alive: {alive}", p.name());

    // join with a timeout: returns None while the child still runs.
    match q.join_timeout(Duration::from_millis(50))? {
        None => println!("{} still running after 50 ms", q.name()),
        Some(status) => println!("{} already ended: {status}", q.name()),
    }
    let status = q.join()?;
    println!("{} ended: {status}", q.name());
    let status = p.join()?;
    println!("{} ended: {status} (alive: {})", p.name(), p.is_alive());
    Ok(())
}
