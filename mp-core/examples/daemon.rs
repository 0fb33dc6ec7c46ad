//! A daemon child ends when its parent process ends, so it is usually not joined. Here it is
//! started from a short-lived thread (it is tied to the process, not to that thread), and the
//! parent exits while the daemon still loops; the daemon goes with it, within milliseconds.
//!
//! Run: `cargo run -p mp-core --example daemon`, then `pgrep -f examples/daemon` shows nothing.

use mp_core::Builder;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let spawner = std::thread::spawn(|| {
        Builder::new().name("heartbeat").daemon(true).spawn(|| {
            loop {
                println!("heartbeat from the daemon child");
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    });
    let p = spawner.join().expect("spawner thread")?;
    println!("parent: started daemon {} (pid {}); leaving in 700 ms", p.name(), p.pid());
    std::thread::sleep(Duration::from_millis(700));
    println!("parent: exiting; the daemon child ends with me");
    Ok(())
}
