//! A program with busy threads starts 1,000 fork-server children that take the locks those
//! threads hold: none hangs.
//!
//! Four threads lock `std::sync::Mutex`es and the `stdout` lock in a tight loop. Each child
//! allocates, prints a line (the `stdout` lock) and locks a fresh mutex. With the fork server the
//! children are forks of the server, a copy of this program made by `start()` before any thread
//! existed, so no lock can be held in them. The same with `fork` (`mp_core::spawn`) is unsafe and
//! is not run: a child forked while a busy thread holds one of its mutexes, or the allocator's or
//! stdout's lock at a moment `spawn` does not cover, would wait for it for ever.
//!
//! `harness = false`: `main` must call `forkserver::start()` before any thread starts, which the
//! test harness (a thread per test) does not allow. The program re-runs itself with its standard
//! output on a pipe, so the children's lines are counted rather than printed.

use mp_core::forkserver;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHILDREN: usize = 1000;
/// Children running at once.
const WINDOW: usize = 64;
const DEADLINE: Duration = Duration::from_secs(60);

fn child(n: usize) -> Result<(), String> {
    let v: Vec<usize> = (0..1000).map(|i| i * n).collect();
    let m = Mutex::new(v.len());
    let len = *m.lock().map_err(|e| e.to_string())?;
    println!("child {n} {len}");
    Ok(())
}

fn stress() -> Result<(), String> {
    forkserver::start().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(0u64));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let (stop, shared) = (Arc::clone(&stop), Arc::clone(&shared));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let out = std::io::stdout().lock();
                    *shared.lock().unwrap() += 1;
                    let _local = Mutex::new(Vec::<u8>::with_capacity(64));
                    drop(out);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut running = std::collections::VecDeque::new();
    for n in 0..CHILDREN {
        if running.len() == WINDOW {
            let p: mp_core::Process = running.pop_front().unwrap();
            check(&p, started)?;
        }
        running.push_back(forkserver::spawn(child, n).map_err(|e| e.to_string())?);
    }
    for p in running {
        check(&p, started)?;
    }
    stop.store(true, Ordering::Relaxed);
    for t in busy {
        t.join().map_err(|_| "a busy thread panicked")?;
    }
    eprintln!("{CHILDREN} fork-server children beside 4 busy threads: {:?}", started.elapsed());
    Ok(())
}

fn check(p: &mp_core::Process, started: Instant) -> Result<(), String> {
    let left = DEADLINE.saturating_sub(started.elapsed());
    match p.join_timeout(left).map_err(|e| e.to_string())? {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("child {} ended with {s}", p.pid())),
        None => {
            let _ = p.kill();
            Err(format!("child {} hung: not finished within {DEADLINE:?}", p.pid()))
        }
    }
}

fn main() {
    if std::env::var_os("MP_FORKSERVER_STRESS").is_some() {
        if let Err(e) = stress() {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let started = Instant::now();
    let mut inner = std::process::Command::new(std::env::current_exe().unwrap())
        .env("MP_FORKSERVER_STRESS", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the stress program");
    let mut out = inner.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        out.read_to_string(&mut text).map(|_| text)
    });
    // The deadline: a hang fails the test instead of stalling it.
    loop {
        if let Some(status) = inner.try_wait().unwrap() {
            assert!(status.success(), "the stress program failed: {status}");
            break;
        }
        if started.elapsed() > DEADLINE + Duration::from_secs(10) {
            let _ = inner.kill();
            panic!("the stress program hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = reader.join().unwrap().unwrap();
    let lines = text.lines().filter(|l| l.starts_with("child ")).count();
    assert_eq!(lines, CHILDREN, "every child printed its line once");
    let _ = std::io::stderr().flush();
    println!("forkserver_threads: ok ({CHILDREN} children in {:?})", started.elapsed());
}
