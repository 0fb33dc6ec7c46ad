//! The seed's daemon flag: a daemon child ends when its parent ends, so it is usually not
//! joined. Here the parent exits while its daemon child still loops; the child goes with it.
//!
//! Run: `cargo run -p mp-core --example daemon`, then `pgrep -f examples/daemon` shows nothing.

use mp_core::Builder;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let p = Builder::new().name("heartbeat").daemon(true).spawn(|| {
        loop {
            println!("heartbeat from the daemon child");
            std::thread::sleep(Duration::from_millis(200));
        }
    })?;
    println!("parent: started daemon {} (pid {}); leaving in 700 ms", p.name(), p.pid());
    std::thread::sleep(Duration::from_millis(700));
    println!("parent: exiting; the daemon child ends with me");
    Ok(())
}
