//! Times `spawn` + `join` of trivial children, for comparing builds of the process API.
//!
//! Run: `cargo run --release -p mp-core --example spawn_join_timing [count] [plain|close_fds|daemon]`
//! (default 1,000 plain children). Speed is reported, never asserted; `ci/bench` has the
//! comparison with Python and the raw system calls.

use mp_core::Builder;
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let kind = args.next().unwrap_or_else(|| "plain".into());
    let builder = match kind.as_str() {
        "plain" => Builder::new(),
        "close_fds" => Builder::new().close_fds(true),
        "daemon" => Builder::new().daemon(true),
        other => {
            eprintln!("unknown kind {other:?}: plain, close_fds or daemon");
            std::process::exit(2);
        }
    };
    // Warm up: the first spawn opens /dev/null and faults in the code.
    builder.clone().spawn(|| ())?.join()?;
    let start = Instant::now();
    for _ in 0..count {
        let p = builder.clone().spawn(|| ())?;
        assert!(p.join()?.success());
    }
    let took = start.elapsed();
    println!("{count} {kind} spawn+join: {took:?} ({:?} each)", took / count);
    Ok(())
}
