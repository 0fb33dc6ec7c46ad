//! Helpers shared by the behaviour tests.
#![allow(dead_code)]

/// Open descriptors of this process.
pub fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Children of this process, zombies included.
pub fn count_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.rsplit(')').next().unwrap_or("").split_whitespace().nth(1) == Some(me.as_str()))
        .count()
}

/// Waits for `p` at most `limit`; kills it and panics when it did not finish.
pub fn join_within(p: &mp_core::Process, limit: std::time::Duration) -> mp_core::ExitStatus {
    p.join_timeout(limit).expect("join").unwrap_or_else(|| {
        let _ = p.kill();
        panic!("child {} did not finish within {limit:?}", p.pid())
    })
}

/// Runs one test of this binary in a fresh process with real stdout/stderr, and returns them.
pub fn run_helper(test: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("MP_CORE_HELPER", test)
        .output()
        .expect("run helper")
}

/// Whether this process is the helper run of `test` (see [`run_helper`]).
pub fn is_helper(test: &str) -> bool {
    std::env::var("MP_CORE_HELPER").as_deref() == Ok(test)
}
