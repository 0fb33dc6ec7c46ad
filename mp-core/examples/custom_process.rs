//! The seed's "custom process class": a type with its own fields and a `run` method.
//!
//! Run: `cargo run -p mp-core --example custom_process`

use mp_core::{Builder, Run, current_process};
use std::time::Duration;

/// Python: `class ClockProcess(Process)` with `__init__(self, value)` and `run(self)`.
struct ClockProcess {
    value: u64,
}

impl Run for ClockProcess {
    type Output = Result<(), String>;

    fn run(self) -> Self::Output {
        if self.value == 0 {
            return Err("an interval of 0 would print forever".into());
        }
        for i in 0..3 {
            std::thread::sleep(Duration::from_millis(self.value * 100));
            println!("{} tick {i}, every {} ms", current_process().name, self.value * 100);
        }
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let clock = Builder::new().name("clock").spawn(ClockProcess { value: 2 })?;
    let broken = mp_core::spawn(ClockProcess { value: 0 })?;
    println!("clock: {}", clock.join()?);
    println!("broken clock: {} (python exitcode {})", broken.join()?, broken.join()?.exitcode());
    Ok(())
}
