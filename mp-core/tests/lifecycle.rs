//! Python's lifecycle: `active_children`, reaping of dropped handles, the pidfd sentinel, the
//! exit hook, and the failing child's error line.
//!
//! Tests that count children run inside a child process of their own, so that the children of
//! tests running in parallel on other threads do not disturb the counts. Those children report
//! through exit codes and `Err` strings only (a forked child must not take a lock, like the
//! test harness's captured-output buffer, that a sibling thread may hold).

use mp_core::{Builder, Pid, Process, active_children, join_children_at_exit, spawn};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

fn join_within(p: &Process, limit: Duration) -> mp_core::ExitStatus {
    p.join_timeout(limit).expect("join").unwrap_or_else(|| {
        let _ = p.kill();
        panic!("child {} did not finish within {limit:?}", p.pid())
    })
}

/// The children of this process, as `(pid, state letter)` from `/proc/<pid>/stat`.
fn my_children() -> Vec<(i32, char)> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let mut rest = stat.rsplit(')').next()?.split_whitespace();
            let state = rest.next()?.chars().next()?;
            (rest.next()? == me).then_some((pid, state))
        })
        .collect()
}

/// Whether every child of this process has ended (is a zombie).
fn all_ended() -> bool {
    my_children().iter().all(|(_, state)| *state == 'Z')
}

fn zombies() -> usize {
    my_children().iter().filter(|(_, s)| *s == 'Z').count()
}

/// Polls `cond` every 5 ms until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `body` in a child process and asserts that it succeeded.
fn in_child(body: impl FnOnce() -> Result<(), String>) {
    let p = spawn(body).unwrap();
    assert!(join_within(&p, Duration::from_secs(120)).success(), "see the child's Error line above");
}

#[test]
fn dropped_handles_leave_no_zombie_after_the_next_spawn() {
    in_child(|| {
        for _ in 0..5 {
            let p = spawn(|| std::thread::sleep(Duration::from_millis(300))).map_err(|e| e.to_string())?;
            drop(p); // still running: it becomes an orphan in the registry
        }
        if !eventually(LONG, all_ended) || zombies() == 0 {
            return Err(format!("expected ended orphans, children: {:?}", my_children()));
        }
        // The next spawn reaps the ended orphans before it forks.
        let q = spawn(|| ()).map_err(|e| e.to_string())?;
        q.join().map_err(|e| e.to_string())?;
        match zombies() {
            0 => Ok(()),
            n => Err(format!("{n} zombies left after the next spawn: {:?}", my_children())),
        }
    });
}

#[test]
fn dropped_handles_leave_no_zombie_after_active_children() {
    in_child(|| {
        for _ in 0..5 {
            drop(spawn(|| std::thread::sleep(Duration::from_millis(300))).map_err(|e| e.to_string())?);
        }
        if !eventually(LONG, all_ended) || zombies() == 0 {
            return Err(format!("expected ended orphans, children: {:?}", my_children()));
        }
        let live = active_children();
        if !live.is_empty() {
            return Err(format!("ended children listed as live: {live:?}"));
        }
        match my_children().len() {
            0 => Ok(()),
            n => Err(format!("{n} children left after active_children: {:?}", my_children())),
        }
    });
}

#[test]
fn active_children_lists_exactly_the_live_ones() {
    in_child(|| {
        let e = |e: std::io::Error| e.to_string();
        let sleepers: Vec<Process> =
            (0..3).map(|_| spawn(|| std::thread::sleep(LONG))).collect::<Result<_, _>>().map_err(e)?;
        let quick: Vec<Process> = (0..2).map(|_| spawn(|| ())).collect::<Result<_, _>>().map_err(e)?;
        let dropped_sleeper = spawn(|| std::thread::sleep(LONG)).map_err(e)?.pid();
        let dropped_quick = spawn(|| std::process::exit(3)).map_err(e)?.pid();
        // Wait until the quick ones have ended (without reaping them).
        for q in &quick {
            mp_ipc::wait_readable(&[q], Some(LONG)).map_err(e)?;
        }
        // The dropped quick one may have been reaped by its drop already; the rest are zombies.
        let running: BTreeSet<Pid> = sleepers.iter().map(Process::pid).chain([dropped_sleeper]).collect();
        let others_ended = || {
            my_children().iter().all(|(pid, state)| *state == 'Z' || running.contains(&Pid::from_raw(*pid)))
        };
        if !eventually(LONG, others_ended) {
            return Err(format!("quick children did not end: {:?}", my_children()));
        }
        let pids = |v: Vec<mp_core::ProcessInfo>| v.into_iter().map(|c| c.pid).collect::<BTreeSet<Pid>>();
        let mut want: BTreeSet<Pid> = sleepers.iter().map(Process::pid).collect();
        want.insert(dropped_sleeper);
        let got = pids(active_children());
        if got != want {
            return Err(format!("active_children {got:?}, live {want:?}"));
        }
        // Like Python's, active_children reaped the ended ones: their handles report the status.
        for q in &quick {
            if q.exit_status().is_none_or(|s| !s.success()) {
                return Err(format!("{} not reaped by active_children: {:?}", q.pid(), q.exit_status()));
            }
            if q.join().map_err(e)?.code() != Some(0) {
                return Err("join after active_children".into());
            }
        }
        if zombies() != 0 {
            return Err(format!("zombies left: {:?}", my_children()));
        }
        // The names come along.
        if !active_children().iter().all(|c| c.name.starts_with("Process-")) {
            return Err("names".into());
        }
        // A killed child leaves the list once it has ended.
        sleepers[0].kill().map_err(e)?;
        mp_ipc::wait_readable(&[&sleepers[0]], Some(LONG)).map_err(e)?;
        want.remove(&sleepers[0].pid());
        let got = pids(active_children());
        if got != want {
            return Err(format!("after a kill: active_children {got:?}, live {want:?}"));
        }
        if sleepers[0].exit_status().and_then(|s| s.signal()) != Some(9) {
            return Err("the killed child's status".into());
        }
        let _ = dropped_quick;
        for s in &sleepers[1..] {
            s.kill().map_err(e)?;
        }
        // SAFETY: plain kill of a child that is alive or a zombie (not reaped: it is listed).
        unsafe { libc::kill(dropped_sleeper.as_raw(), libc::SIGKILL) };
        for s in &sleepers {
            s.join().map_err(e)?;
        }
        if !eventually(LONG, || active_children().is_empty() && my_children().is_empty()) {
            return Err(format!("children left at the end: {:?}", my_children()));
        }
        Ok(())
    });
}

#[test]
fn the_pidfd_sentinel_works_with_wait_readable() {
    let (idle, _idle_peer) = mp_ipc::Pipe::duplex().unwrap();
    let p = spawn(|| std::thread::sleep(Duration::from_millis(100))).unwrap();
    let t = Instant::now();
    // Nothing ready yet.
    assert!(mp_ipc::wait_readable(&[&idle, &p], Some(Duration::ZERO)).unwrap().is_empty());
    // The child's end wakes the wait; the idle pipe does not.
    assert_eq!(mp_ipc::wait_readable(&[&idle, &p], Some(LONG)).unwrap(), [1]);
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(p.try_join().unwrap().map(|s| s.success()), Some(true));
    // Still valid, and still readable, after the child was reaped.
    assert_eq!(mp_ipc::wait_readable(&[&p.sentinel().unwrap()], Some(Duration::ZERO)).unwrap(), [0]);
}

#[test]
fn a_handle_is_shared_between_a_joining_and_a_killing_thread() {
    let p = spawn(|| std::thread::sleep(LONG)).unwrap();
    std::thread::scope(|s| {
        let joiner = s.spawn(|| p.join().unwrap());
        std::thread::sleep(Duration::from_millis(50));
        // None of these waits for the joiner (the child sleeps 30 s).
        let t = Instant::now();
        assert!(p.is_alive());
        assert_eq!(p.try_join().unwrap(), None);
        assert_eq!(p.exit_status(), None);
        assert!(active_children().iter().any(|c| c.pid == p.pid()));
        assert!(t.elapsed() < Duration::from_secs(10), "a query waited for the joining thread");
        // The joiner holds the record: the signal goes through the pidfd.
        p.kill().unwrap();
        assert_eq!(joiner.join().unwrap().signal(), Some(9));
    });
    assert_eq!(p.exit_status().and_then(|s| s.signal()), Some(9));
}

/// Runs one test of this binary in a fresh process with real stdout/stderr.
fn helper(test: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([test, "--exact", "--nocapture", "--test-threads=1"]).env("MP_CORE_HELPER", test);
    c
}

fn is_helper(test: &str) -> bool {
    std::env::var("MP_CORE_HELPER").as_deref() == Ok(test)
}

#[test]
fn the_error_line_names_the_failing_process() {
    if is_helper("the_error_line_names_the_failing_process") {
        let p = spawn(|| -> Result<(), String> { Err("a described failure".into()) }).unwrap();
        assert_eq!(p.join().unwrap().code(), Some(1));
        println!("name={}", p.name());
        let q = Builder::new().name("loader").spawn(|| -> Result<(), i32> { Err(7) }).unwrap();
        assert_eq!(q.join().unwrap().code(), Some(1));
        return;
    }
    let out = helper("the_error_line_names_the_failing_process").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = stdout
        .lines()
        .find_map(|l| Some(l.split_once("name=")?.1))
        .unwrap_or_else(|| panic!("no name in {out:?}"));
    assert!(name.starts_with("Process-"), "{name}");
    assert!(stderr.contains(&format!("{name}: Error: \"a described failure\"\n")), "{stderr}");
    assert!(stderr.contains("loader: Error: 7\n"), "{stderr}");
}

#[test]
fn join_children_at_exit_joins_children_and_terminates_daemons() {
    if is_helper("join_children_at_exit_joins_children_and_terminates_daemons") {
        let marker = std::env::var("MP_CORE_MARKER").unwrap();
        join_children_at_exit().unwrap();
        join_children_at_exit().unwrap(); // a second call does nothing
        // Neither handle is kept: the exit hook finds them in the registry.
        drop(
            spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::write(&marker, "done").map_err(|e| e.to_string())
            })
            .unwrap(),
        );
        let daemon = Builder::new().daemon(true).spawn(|| std::thread::sleep(LONG)).unwrap();
        println!("daemon={}", daemon.pid());
        return; // the harness's `main` returns: `exit` runs the hook
    }
    let marker = std::env::temp_dir().join(format!("mp-core-exit-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let mut child = helper("join_children_at_exit_joins_children_and_terminates_daemons")
        .env("MP_CORE_MARKER", &marker)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "helper did not exit");
        std::thread::sleep(Duration::from_millis(5));
    };
    // The helper has exited: its non-daemon child had finished by then (joined at exit).
    let written = std::fs::read_to_string(&marker);
    let _ = std::fs::remove_file(&marker);
    assert!(status.success(), "{status}");
    assert_eq!(written.ok().as_deref(), Some("done"), "the non-daemon child was not joined at exit");
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let daemon: i32 =
        out.lines().find_map(|l| Some(l.split_once("daemon=")?.1)).expect("daemon pid").parse().unwrap();
    // Terminated and reaped by the hook before the helper ended.
    let stat = std::fs::read_to_string(format!("/proc/{daemon}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "daemon {daemon} survived: {stat}");
}
