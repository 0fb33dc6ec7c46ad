//! `ci/bench`: each workload of this project beside the raw syscalls it wraps and Python's
//! `multiprocessing`, all timed in this one run. Usage: `mp-bench [scale] [python-script]`.

use mp_tests::bench::{Better, Row, median_pair, print_table, python_figures, us_per};

const ROUNDS: usize = 5;

fn spawn_join(scale: f64) -> Row {
    let n = ((400.0 * scale) as usize).max(10);
    let (ours, raw) = median_pair(
        ROUNDS,
        || {
            us_per(n, || {
                let p = mp_core::spawn(|| ()).expect("spawn");
                assert!(p.join().expect("join").success());
            })
        },
        || {
            us_per(n, || {
                // SAFETY: the child calls only _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // SAFETY: _exit is async-signal-safe.
                    unsafe { libc::_exit(0) };
                }
                let mut st = 0;
                // SAFETY: `st` is writable; `pid` is our child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
            })
        },
    );
    Row {
        key: "spawn_join_us",
        what: "process start + join (empty target)",
        unit: "us/process",
        better: Better::Lower,
        ours,
        raw: Some(raw),
        target: "<= 1.25x raw",
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scale: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let script = args.next().unwrap_or_else(|| "ci/bench.py".to_string());
    let rows = vec![spawn_join(scale)];
    let python = python_figures(&script, scale);
    print_table(&rows, &python);
}
