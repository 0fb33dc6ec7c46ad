//! Fork-server children: the handle behaves as for a forked child, arguments carry their
//! descriptors and nothing else reaches the child, daemons die with their requester.

mod common;

use common::{alive, is_helper, join_within, kill_and_time_daemon, run_helper};

use mp_core::forkserver;
use mp_core::{Builder, StartMethod, spawn};
use mp_ipc::handoff::Fd;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

fn sleep_long(_: ()) {
    std::thread::sleep(LONG);
}

fn exit_with(code: i32) {
    std::process::exit(code)
}

fn fail(msg: String) -> Result<(), String> {
    Err(msg)
}

fn panic_with(msg: String) {
    panic!("{msg}")
}

#[test]
fn exit_codes_errors_panics_and_signals_are_reported() {
    let ok = forkserver::spawn(|(): ()| (), ()).unwrap();
    assert!(join_within(&ok, LONG).success());
    assert_eq!(ok.exit_status().map(|s| s.code()), Some(Some(0)));
    let code = forkserver::spawn(exit_with, 7).unwrap();
    assert_eq!(join_within(&code, LONG).code(), Some(7));
    let err = forkserver::spawn(fail, "no".into()).unwrap();
    assert_eq!(join_within(&err, LONG).code(), Some(1));
    let killed = forkserver::spawn(sleep_long, ()).unwrap();
    assert!(killed.is_alive());
    assert_eq!(killed.join_timeout(Duration::from_millis(20)).unwrap(), None);
    killed.kill().unwrap();
    assert_eq!(join_within(&killed, LONG).signal(), Some(9));
    assert!(!killed.is_alive());
    killed.kill().unwrap(); // collected: a no-op
    let termed = forkserver::spawn(sleep_long, ()).unwrap();
    termed.terminate().unwrap();
    assert_eq!(join_within(&termed, LONG).exitcode(), -15);
}

#[test]
fn the_error_line_names_the_child() {
    if is_helper("the_error_line_names_the_child") {
        forkserver::start().unwrap();
        let p = Builder::new().name("served-one").spawn_fn(fail, "a described failure".into()).unwrap();
        assert_eq!(p.join().unwrap().code(), Some(1));
        let p = forkserver::spawn(fail, "unnamed".into()).unwrap();
        assert_eq!(p.join().unwrap().code(), Some(1));
        let p = forkserver::spawn(panic_with, "the child panicked here".into()).unwrap();
        assert_eq!(p.join().unwrap().code(), Some(1));
        return;
    }
    let out = run_helper("the_error_line_names_the_child");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("served-one: Error: \"a described failure\""), "{stderr}");
    assert!(stderr.contains("Process-2: Error: \"unnamed\""), "{stderr}");
    assert!(stderr.contains("the child panicked here"), "{stderr}");
}

#[test]
fn the_server_survives_a_child_killed_and_serves_threads_at_once() {
    let victim = forkserver::spawn(sleep_long, ()).unwrap();
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child's.
    assert_eq!(unsafe { libc::kill(victim.pid().as_raw(), libc::SIGKILL) }, 0);
    assert_eq!(join_within(&victim, LONG).signal(), Some(9));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| forkserver::spawn(exit_with, (t * 25 + i) % 100).unwrap())
                    .collect::<Vec<_>>()
                    .iter()
                    .enumerate()
                    .all(|(i, p)| join_within(p, LONG).code() == Some((t * 25 + i as i32) % 100))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap(), "a child reported another child's exit code");
    }
}

#[test]
fn the_child_knows_its_name_and_its_requester() {
    fn check(parent_pid: i32) -> Result<(), String> {
        let me = mp_core::current_process();
        let parent = mp_core::parent_process().ok_or("no parent")?;
        if me.name != "named" || parent.pid.as_raw() != parent_pid || parent.name != "MainProcess" {
            return Err(format!("{me:?} {parent:?}"));
        }
        Ok(())
    }
    let p = Builder::new().name("named").spawn_fn(check, std::process::id() as i32).unwrap();
    assert_eq!(p.name(), "named");
    assert!(join_within(&p, LONG).success());
}

#[test]
fn active_children_lists_live_served_children_and_dropped_handles_leave_no_zombie() {
    let sleeper = forkserver::spawn(sleep_long, ()).unwrap();
    let quick = forkserver::spawn(|(): ()| (), ()).unwrap();
    join_within(&quick, LONG);
    let live = mp_core::active_children();
    assert!(live.iter().any(|c| c.pid == sleeper.pid()));
    assert!(!live.iter().any(|c| c.pid == quick.pid()));
    let pid = sleeper.pid();
    sleeper.kill().unwrap();
    drop(sleeper);
    // The server reaps it: it is never a zombie for long, and leaves the registry.
    let deadline = Instant::now() + LONG;
    while mp_core::active_children().iter().any(|c| c.pid == pid) {
        assert!(Instant::now() < deadline, "the dropped child stayed listed");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!alive(pid.as_raw()));
}

#[test]
fn a_closure_is_refused_by_the_fork_server_and_a_fn_runs_with_fork_too() {
    let err = Builder::new().start_method(StartMethod::ForkServer).spawn(|| ()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let forked = Builder::new().start_method(StartMethod::Fork).spawn_fn(exit_with, 3).unwrap();
    assert_eq!(join_within(&forked, LONG).code(), Some(3));
}

/// The descriptors open in this process, except the one used to list them.
fn open_fds() -> Vec<i32> {
    let dir = std::fs::read_dir("/proc/self/fd").unwrap();
    let mut fds: Vec<i32> = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    fds.sort_unstable();
    // The directory's own descriptor was listed too, and is closed now.
    fds.retain(|&fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok());
    fds
}

fn report_fds((wr, extra): (Fd, Fd)) -> Result<(), String> {
    let mut wr = std::fs::File::from(wr.into_inner());
    let listed = open_fds();
    let mine = [0, 1, 2, std::os::fd::AsRawFd::as_raw_fd(&wr), std::os::fd::AsRawFd::as_raw_fd(&extra)];
    let others: Vec<i32> = listed.iter().copied().filter(|fd| !mine.contains(fd)).collect();
    writeln!(wr, "{others:?}").map_err(|e| e.to_string())
}

#[test]
fn a_child_holds_only_stdio_and_the_descriptors_it_was_given() {
    // Descriptors this process holds that a forked child would inherit.
    let _noise: Vec<std::fs::File> = (0..5).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
    let (mut rd, wr) = std::io::pipe().unwrap();
    let extra = std::fs::File::open("/dev/null").unwrap();
    let p = forkserver::spawn(report_fds, (Fd::new(wr), Fd::new(extra))).unwrap();
    let mut got = String::new();
    rd.read_to_string(&mut got).unwrap();
    assert!(join_within(&p, LONG).success());
    assert_eq!(got.trim(), "[]", "descriptors the child holds besides stdio and its arguments");
}

fn daemon_requester(wr: Fd) -> Result<(), String> {
    let mut wr = std::fs::File::from(wr.into_inner());
    let d = Builder::new().daemon(true).spawn_fn(sleep_long, ()).map_err(|e| e.to_string())?;
    wr.write_all(&d.pid().as_raw().to_le_bytes()).map_err(|e| e.to_string())?;
    std::thread::sleep(LONG);
    Ok(())
}

#[test]
fn a_daemon_dies_within_a_second_of_its_requesters_sigkill() {
    let mut slowest = Duration::ZERO;
    for round in 0..10 {
        let (mut rd, wr) = std::io::pipe().unwrap();
        // Alternate: the requester is a forked child, or itself a fork-server child.
        let requester = if round % 2 == 0 {
            let wr = Fd::new(wr);
            spawn(move || daemon_requester(wr)).unwrap()
        } else {
            forkserver::spawn(daemon_requester, Fd::new(wr)).unwrap()
        };
        let mut buf = [0u8; 4];
        rd.read_exact(&mut buf).unwrap();
        let pid = i32::from_le_bytes(buf);
        assert!(alive(pid), "round {round}: the daemon is not running");
        slowest = slowest.max(kill_and_time_daemon(&requester, pid, round, "requester"));
    }
    eprintln!("10 fork-server daemons gone after their requester's SIGKILL, the slowest after {slowest:?}");
}

/// What the child of `use_handles` reports: the descriptors it held besides stdio and its
/// arguments, and whether each handle worked.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Report {
    other_fds: Vec<i32>,
    queue_sum: u64,
}

fn use_handles(
    (mut conn, jobs, lock): (mp_ipc::Connection, mp_ipc::Queue<u64>, mp_ipc::Lock),
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let listed = open_fds();
    // The descriptors the arguments brought: the socket, the queue's memory, producers pipe
    // (read end and this child's producer end) and overflow file, the lock's memory.
    let brought = listed.iter().filter(|&&fd| fd > 2).count();
    let other_fds: Vec<i32> = if brought == 6 {
        Vec::new()
    } else {
        listed.iter().copied().filter(|&fd| fd > 2 && fd != conn.as_raw_fd()).collect()
    };
    jobs.close(); // this child only consumes
    // The parent holds the lock until it has put every item: wait for it, then drain.
    let guard = lock.lock().map_err(|_| "the lock's owner died")?;
    drop(guard);
    let mut queue_sum = 0;
    while let Ok(n) = jobs.get() {
        queue_sum += n;
    }
    let report = Report { other_fds, queue_sum };
    conn.send(&report).map_err(|e| e.to_string())?;
    let echo: String = conn.recv().map_err(|e| e.to_string())?;
    conn.send(&format!("{echo}!")).map_err(|e| e.to_string())
}

#[test]
fn a_child_uses_a_connection_a_queue_and_a_lock_it_was_given_and_holds_nothing_else() {
    let _noise: Vec<std::fs::File> = (0..5).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
    let (mut conn, theirs) = mp_ipc::Pipe::duplex().unwrap();
    let jobs: mp_ipc::Queue<u64> = mp_ipc::Queue::new(0).unwrap();
    let lock = mp_ipc::Lock::new().unwrap();
    let guard = lock.lock().unwrap();
    // The handles travel as duplicates: this process keeps its own.
    let args = (theirs, encode_copy(&jobs), encode_copy(&lock));
    let p = forkserver::spawn(use_handles, args).unwrap();
    for n in 1..=10 {
        jobs.put(&n).unwrap();
    }
    jobs.close(); // the child holds the other producer end until its `close`
    drop(guard);
    let report: Report = conn.recv_timeout(LONG).unwrap();
    assert_eq!(report, Report { other_fds: Vec::new(), queue_sum: 55 });
    conn.send(&"hello".to_string()).unwrap();
    assert_eq!(conn.recv_timeout::<String>(LONG).unwrap(), "hello!");
    assert!(join_within(&p, LONG).success());
}

/// Another handle on the same object, as a child would receive it.
fn encode_copy<T: serde::Serialize + serde::de::DeserializeOwned>(handle: &T) -> T {
    let (bytes, fds) = mp_ipc::handoff::encode_with_fds(handle).unwrap();
    mp_ipc::handoff::decode_with_fds(&bytes, fds).unwrap()
}

#[test]
fn a_handle_serialized_outside_a_transfer_fails_with_a_clear_error() {
    let lock = mp_ipc::Lock::new().unwrap();
    assert!(postcard::to_stdvec(&lock).is_err());
    let (a, b) = mp_ipc::Pipe::duplex().unwrap();
    let err = a.send(&lock).unwrap_err().to_string();
    assert!(err.contains("can be sent only as a fork-server argument"), "{err}");
    let q: mp_ipc::Queue<mp_ipc::Connection> = mp_ipc::Queue::new(0).unwrap();
    let err = q.put(&b).unwrap_err().to_string();
    assert!(err.contains("can be sent only as a fork-server argument"), "{err}");
}

fn square(x: u64) -> u64 {
    x * x
}

fn scale_init((scale, counter): (u64, mp_ipc::Array<u64>)) {
    SCALE.store(scale, std::sync::atomic::Ordering::Relaxed);
    counter.lock().unwrap()[0] += 1;
}

static SCALE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn scaled(x: u64) -> u64 {
    x * SCALE.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn a_fork_server_pool_maps_and_applies_and_its_initializer_gets_handles() {
    let pool = mp_core::Pool::builder().processes(2).start_method(StartMethod::ForkServer).build().unwrap();
    assert_eq!(pool.map(square, 0..100u64).unwrap(), (0..100u64).map(square).collect::<Vec<_>>());
    let r = pool.apply_async(square, 12).unwrap();
    assert_eq!(r.get().unwrap(), 144);
    pool.close();
    pool.join().unwrap();

    let started = mp_ipc::Array::new(&[0u64]).unwrap();
    let pool = mp_core::Pool::builder()
        .processes(2)
        .start_method(StartMethod::ForkServer)
        .initializer_with(scale_init, (10, encode_copy(&started)))
        .build()
        .unwrap();
    assert_eq!(pool.apply(scaled, 4).unwrap(), 40);
    assert_eq!(pool.map(scaled, [1u64, 2, 3]).unwrap(), [10, 20, 30]);
    pool.close();
    pool.join().unwrap();
    assert_eq!(started.get(0), Some(2), "each worker ran the initializer once");
}
