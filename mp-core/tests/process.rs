//! The `Process` contract, across real forked children.
//!
//! Children in these tests report through exit codes only: the test harness runs tests on
//! several threads, and a forked child must not take locks (like the captured-output buffer of
//! another test) that a sibling thread may hold.

mod common;
use common::{alive, count_children, count_fds, is_helper, join_within, kill_and_time_daemon, run_helper};
use mp_core::{Builder, Process, Run, current_process, parent_process, spawn};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn exit_codes_for_ok_err_panic_and_signal() {
    let ok = spawn(|| ()).unwrap();
    let err = spawn(|| -> Result<(), String> { Err("boom".into()) }).unwrap();
    let nested = spawn(|| -> Result<Result<(), &'static str>, String> { Ok(Err("inner")) }).unwrap();
    let panics = spawn(|| panic!("child panic")).unwrap();
    let killed = spawn(|| std::thread::sleep(LONG)).unwrap();
    killed.kill().unwrap();

    let s = join_within(&ok, LONG);
    assert!(s.success());
    assert_eq!((s.code(), s.signal(), s.exitcode()), (Some(0), None, 0));
    assert_eq!(join_within(&err, LONG).code(), Some(1));
    assert_eq!(join_within(&nested, LONG).code(), Some(1));
    assert_eq!(join_within(&panics, LONG).code(), Some(1));
    let s = join_within(&killed, LONG);
    assert_eq!((s.code(), s.signal(), s.exitcode()), (None, Some(9), -9));
    assert_eq!(s.to_string(), "killed by signal 9 (SIGKILL)");
    assert!(!s.success());
}

#[test]
fn exit_code_from_std_process_exit() {
    let p = spawn(|| std::process::exit(7)).unwrap();
    assert_eq!(join_within(&p, LONG).code(), Some(7));
}

struct Custom {
    code: i32,
}

impl Run for Custom {
    type Output = Result<(), i32>;
    fn run(self) -> Result<(), i32> {
        if self.code == 0 { Ok(()) } else { Err(self.code) }
    }
}

#[test]
fn custom_process_type() {
    let good = spawn(Custom { code: 0 }).unwrap();
    let bad = Builder::new().name("custom").spawn(Custom { code: 5 }).unwrap();
    assert_eq!(bad.name(), "custom");
    assert!(join_within(&good, LONG).success());
    assert_eq!(join_within(&bad, LONG).code(), Some(1));
}

#[test]
fn names_default_and_custom() {
    let a = spawn(|| ()).unwrap();
    let b = Builder::new().name("named").spawn(|| ()).unwrap();
    let c = spawn(|| ()).unwrap();
    // Tests run in parallel in one process, so only the shape and the order are certain.
    let num = |p: &Process| p.name().strip_prefix("Process-").unwrap().parse::<u32>().unwrap();
    assert!(num(&a) < num(&c), "{} then {}", a.name(), c.name());
    assert_eq!(b.name(), "named");
    for p in [a, b, c] {
        assert!(join_within(&p, LONG).success());
    }
}

#[test]
fn child_knows_its_name_parent_and_grandchild_names() {
    let me = current_process();
    assert_eq!(me.name, "MainProcess");
    assert_eq!(parent_process(), None);
    let p = Builder::new()
        .name("outer")
        .spawn(move || {
            let mine = current_process();
            if mine.name != "outer" || mine.pid.as_raw() as u32 != std::process::id() {
                return Err("wrong identity");
            }
            if parent_process() != Some(me) {
                return Err("wrong parent");
            }
            // Python numbers a grandchild after its parent's own number.
            let inner = spawn(|| {
                let name = current_process().name;
                if !(name.starts_with("Process-") && name.ends_with(":1")) {
                    std::process::exit(3);
                }
                if parent_process().map(|p| p.name).as_deref() != Some("outer") {
                    std::process::exit(4);
                }
            })
            .map_err(|_| "spawn failed")?;
            // `outer` has a custom name, but its identity number still leads: `Process-N:1`.
            if !inner.name().ends_with(":1") {
                return Err("bad default name");
            }
            match inner.join().map_err(|_| "join failed")?.code() {
                Some(0) => Ok(()),
                _ => Err("inner failed"),
            }
        })
        .unwrap();
    assert!(join_within(&p, LONG).success());
}

#[test]
fn join_timeout_on_sleeping_child_then_status_after_terminate() {
    let p = spawn(|| std::thread::sleep(LONG)).unwrap();
    let t = Instant::now();
    assert_eq!(p.join_timeout(Duration::from_millis(50)).unwrap(), None);
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(p.is_alive());
    assert_eq!(p.exit_status(), None);
    p.terminate().unwrap();
    let s = join_within(&p, LONG);
    assert_eq!(s.signal(), Some(15));
    assert_eq!(s.exitcode(), -15);
    assert!(!p.is_alive());
    assert_eq!(p.exit_status(), Some(s));
}

#[test]
fn join_timeout_returns_as_soon_as_the_child_exits() {
    let p = spawn(|| std::thread::sleep(Duration::from_millis(100))).unwrap();
    let t = Instant::now();
    let s = p.join_timeout(LONG).unwrap().expect("finished");
    assert!(s.success());
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
}

#[test]
fn joining_twice_and_signalling_an_exited_child() {
    let p = spawn(|| ()).unwrap();
    let first = join_within(&p, LONG);
    assert_eq!(p.join().unwrap(), first);
    assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), Some(first));
    // The pid may be reused by now: these must not signal anything.
    p.terminate().unwrap();
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), first);
}

#[test]
fn is_alive_zero_and_unbounded_timeouts() {
    let p = spawn(|| std::thread::sleep(LONG)).unwrap();
    assert!(p.is_alive());
    assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), None);
    p.kill().unwrap();
    // A timeout too large for a deadline means "no deadline".
    let s = p.join_timeout(Duration::MAX).unwrap().expect("killed child is collected");
    assert_eq!(s.signal(), Some(9));
    assert!(!p.is_alive());
}

#[test]
fn invalid_signal_is_an_error_not_a_panic() {
    let p = spawn(|| std::thread::sleep(LONG)).unwrap();
    let e = p.signal(12345).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    p.kill().unwrap();
    join_within(&p, LONG);
}

#[test]
fn stdin_is_dev_null_in_the_child() {
    let p = spawn(|| {
        use std::io::Read;
        let mut buf = Vec::new();
        // /dev/null reads as immediately empty.
        let n = std::io::stdin().read_to_end(&mut buf).map_err(|e| e.to_string())?;
        let target = std::fs::read_link("/proc/self/fd/0").map_err(|e| e.to_string())?;
        if n == 0 && target == std::path::Path::new("/dev/null") {
            Ok(())
        } else {
            Err(format!("read {n} bytes from {}", target.display()))
        }
    })
    .unwrap();
    assert!(join_within(&p, LONG).success());
}

#[test]
fn text_printed_before_spawn_appears_once() {
    if is_helper("text_printed_before_spawn_appears_once") {
        print!("before-spawn;");
        let p = spawn(|| print!("in-child;")).unwrap();
        p.join().unwrap();
        println!("after-join");
        return;
    }
    let out = run_helper("text_printed_before_spawn_appears_once");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("before-spawn;").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("in-child;").count(), 1, "{stdout}");
    assert!(stdout.contains("before-spawn;in-child;after-join"), "{stdout}");
}

#[test]
fn panic_message_and_err_reach_stderr() {
    if is_helper("panic_message_and_err_reach_stderr") {
        let p = spawn(|| panic!("the child panicked here")).unwrap();
        assert_eq!(p.join().unwrap().code(), Some(1));
        let p = spawn(|| -> Result<(), String> { Err("a described failure".into()) }).unwrap();
        assert_eq!(p.join().unwrap().code(), Some(1));
        return;
    }
    let out = run_helper("panic_message_and_err_reach_stderr");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the child panicked here"), "{stderr}");
    assert!(stderr.contains("Error: \"a described failure\""), "{stderr}");
}

#[test]
fn daemon_child_dies_with_its_parent_even_by_sigkill() {
    // Each round: a middle process spawns three daemon children, reports their pids on a pipe,
    // then waits to be killed. After SIGKILL of the middle one, no daemon may be alive 1 s later
    // (a zombie waiting for init to reap it counts as gone).
    let mut slowest = Duration::ZERO;
    for round in 0..10 {
        let (rd, wr) = pipe();
        // `wr` moves into the child's target, so the parent's copy is closed once it starts.
        let middle = spawn(move || {
            for _ in 0..3 {
                let daemon = Builder::new().daemon(true).spawn(|| std::thread::sleep(LONG)).unwrap();
                write_all(&wr, &daemon.pid().as_raw().to_le_bytes());
            }
            std::thread::sleep(LONG);
        })
        .unwrap();
        let mut pids = Vec::new();
        for _ in 0..3 {
            let mut buf = [0u8; 4];
            read_exact(&rd, &mut buf);
            pids.push(i32::from_le_bytes(buf));
        }
        assert!(pids.iter().all(|&p| alive(p)), "daemons run while their parent lives");
        let killed = Instant::now();
        middle.kill().unwrap();
        let deadline = killed + Duration::from_secs(1);
        while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        assert!(left.is_empty(), "round {round}: daemons {left:?} outlived their parent by 1 s");
        slowest = slowest.max(killed.elapsed());
        assert_eq!(join_within(&middle, LONG).signal(), Some(9));
    }
    eprintln!("30 daemons of 10 SIGKILLed parents: all gone, the slowest after {slowest:?}");
}

#[test]
fn daemon_from_a_short_lived_thread_outlives_the_thread_and_dies_with_the_process() {
    // Each round: a middle process spawns a daemon from a thread that then ends, waits 200 ms
    // more, and reports the daemon's pid. The daemon must be alive then (it is tied to the
    // process, not to the thread), and gone within 1 s of the middle process's SIGKILL.
    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        let (rd, wr) = pipe();
        let middle = spawn(move || {
            let spawner = std::thread::spawn(|| {
                Builder::new().daemon(true).spawn(|| std::thread::sleep(LONG)).map(|d| d.pid().as_raw())
            });
            let pid = spawner.join().map_err(|_| "spawner panicked")?.map_err(|_| "spawn failed")?;
            std::thread::sleep(Duration::from_millis(200));
            write_all(&wr, &pid.to_le_bytes());
            std::thread::sleep(LONG);
            Ok::<(), &str>(())
        })
        .unwrap();
        let mut buf = [0u8; 4];
        read_exact(&rd, &mut buf);
        let pid = i32::from_le_bytes(buf);
        assert!(alive(pid), "round {round}: the daemon died with the thread that spawned it");
        slowest = slowest.max(kill_and_time_daemon(&middle, pid, round, "parent"));
    }
    eprintln!(
        "20 daemons spawned from ended threads: gone after their parent's SIGKILL, the slowest after {slowest:?}"
    );
}

#[test]
fn a_daemon_whose_parent_is_already_gone_does_not_run() {
    // The middle process forks a daemon and dies at once; the daemon must never run its target
    // for long, whichever side of its setup the parent's death falls on.
    for _ in 0..20 {
        let (rd, wr) = pipe();
        let middle = spawn(move || {
            let d = Builder::new()
                .daemon(true)
                .spawn(move || {
                    std::thread::sleep(Duration::from_millis(1500));
                    write_all(&wr, b"x"); // only a daemon that outlived its parent writes
                })
                .map_err(|e| e.to_string())?;
            let _ = d.pid();
            std::process::exit(0);
            #[allow(unreachable_code)]
            Ok::<(), String>(())
        })
        .unwrap();
        assert!(join_within(&middle, LONG).success());
        // A surviving daemon writes after 1.5 s. Wait 3 s for a byte or the end of the stream
        // (a child that another test forks meanwhile may hold the write end for a while).
        if !mp_ipc::wait_readable(&[&rd], Some(Duration::from_secs(3))).unwrap().is_empty() {
            let mut got = [0u8; 1];
            let n = std::io::Read::read(&mut &rd, &mut got).unwrap();
            assert_eq!(n, 0, "a daemon outlived its parent");
        }
    }
}

#[test]
fn non_daemon_child_outlives_its_parent() {
    let (rd, wr) = pipe();
    // `wr` moves into the child's target, so the parent's copy is closed once it starts.
    let middle = spawn(move || {
        let child = spawn(|| std::thread::sleep(Duration::from_secs(3))).unwrap();
        write_all(&wr, &child.pid().as_raw().to_le_bytes());
        std::thread::sleep(LONG);
    })
    .unwrap();
    let mut buf = [0u8; 4];
    read_exact(&rd, &mut buf);
    let pid = i32::from_le_bytes(buf);
    middle.kill().unwrap();
    join_within(&middle, LONG);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "a non-daemon child keeps running");
    // SAFETY: plain kill of the pid we just saw alive (it is a zombie at worst).
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    use std::os::fd::FromRawFd;
    // SAFETY: pipe2 succeeded; each descriptor is owned once.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

fn write_all(mut f: &std::fs::File, b: &[u8]) {
    use std::io::Write;
    f.write_all(b).unwrap();
}

fn read_exact(mut f: &std::fs::File, b: &mut [u8]) {
    use std::io::Read;
    f.read_exact(b).unwrap();
}

#[test]
fn no_fd_or_zombie_left_after_1000_cycles() {
    // Run in a child so that parallel tests do not disturb the counts.
    let p = spawn(|| {
        let fds_before = count_fds();
        for _ in 0..1000 {
            let c = spawn(|| ()).map_err(|e| e.to_string())?;
            c.join().map_err(|e| e.to_string())?;
        }
        for _ in 0..100 {
            let c = spawn(|| std::thread::sleep(LONG)).map_err(|e| e.to_string())?;
            c.join_timeout(Duration::from_millis(1)).map_err(|e| e.to_string())?;
            c.kill().map_err(|e| e.to_string())?;
            c.join().map_err(|e| e.to_string())?;
        }
        let fds_after = count_fds();
        let children = count_children();
        if fds_before != fds_after {
            return Err(format!("fds {fds_before} -> {fds_after}"));
        }
        if children != 0 {
            return Err(format!("{children} children left"));
        }
        Ok(())
    })
    .unwrap();
    assert!(join_within(&p, Duration::from_secs(120)).success());
}

#[test]
fn drop_reaps_an_exited_child() {
    let p = spawn(|| {
        let c = spawn(|| ()).map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(200));
        drop(c); // exited by now: reaped here
        if count_children() != 0 {
            return Err("zombie left after drop".to_string());
        }
        Ok(())
    })
    .unwrap();
    assert!(join_within(&p, LONG).success());
}
