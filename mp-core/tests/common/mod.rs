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

/// Whether process `pid` exists and has not ended (a zombie counts as ended).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// SIGKILLs `parent` and waits up to 1 s for its daemon `daemon` to be gone (panicking with
/// `what` and the round otherwise); returns how long the daemon took.
pub fn kill_and_time_daemon(
    parent: &mp_core::Process,
    daemon: i32,
    round: u32,
    what: &str,
) -> std::time::Duration {
    use std::time::{Duration, Instant};
    let killed = Instant::now();
    parent.kill().unwrap();
    let deadline = killed + Duration::from_secs(1);
    while alive(daemon) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!alive(daemon), "round {round}: daemon {daemon} outlived its {what} by 1 s");
    let took = killed.elapsed();
    assert_eq!(join_within(parent, Duration::from_secs(30)).signal(), Some(9));
    took
}

/// Runs `f` on a helper thread and fails if it takes longer than `limit` (a hang fails the test).
pub fn within<T: Send + 'static>(limit: std::time::Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
        Err(_) => panic!("the test body panicked (see above)"),
    }
}
