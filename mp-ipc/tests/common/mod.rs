//! Helpers shared by the behaviour tests.
#![allow(dead_code)]

use std::sync::atomic::AtomicU32;
use std::time::Duration;

pub const LONG: Duration = Duration::from_secs(60);

/// Joins `p` within `limit`, killing it and failing the test otherwise.
pub fn join_ok(p: &mp_core::Process, limit: Duration) -> mp_core::ExitStatus {
    p.join_timeout(limit).expect("join").unwrap_or_else(|| {
        let _ = p.kill();
        panic!("child {} did not finish within {limit:?}", p.pid())
    })
}

/// `n` zeroed atomic counters in anonymous shared memory, visible to children forked later.
/// Leaked on purpose: tests are short-lived.
pub fn shared_counters(n: usize) -> &'static [AtomicU32] {
    let len = n.max(1) * 4;
    // SAFETY: a fresh anonymous shared mapping; zeroed memory is valid for AtomicU32.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        std::slice::from_raw_parts(p as *const AtomicU32, n)
    }
}

/// Entries of `dir` whose name contains `needle`.
pub fn leftovers(dir: &str, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

pub fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Tests in one binary run on several threads; a child forked by one test inherits every
/// descriptor the others have open at that moment, which would keep their pipes from reporting
/// end-of-stream. Tests that fork take this lock for their whole run.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
