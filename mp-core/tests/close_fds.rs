//! `Builder::close_fds`: a forked child holds only stdio and the descriptors it was told to keep.
//!
//! Each child lists `/proc/self/fd` and sends the list back through a kept pipe.

use mp_core::{Builder, Process};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

fn join_within(p: &Process) -> mp_core::ExitStatus {
    p.join_timeout(LONG).expect("join").unwrap_or_else(|| {
        let _ = p.kill();
        panic!("child {} did not finish within {LONG:?}", p.pid())
    })
}

/// A pipe; `cloexec: false` makes an inheritable one, like a descriptor some other library made.
fn pipe(cloexec: bool) -> (File, File) {
    let mut fds = [0; 2];
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: `fds` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) }, 0);
    // SAFETY: pipe2 succeeded; each descriptor is owned once.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// The descriptors open in this process, without the one that lists them.
fn open_fds() -> Result<BTreeSet<RawFd>, String> {
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| e.to_string())?;
    let mut fds = BTreeSet::new();
    for entry in dir {
        let entry = entry.map_err(|e| e.to_string())?;
        let fd: RawFd = entry.file_name().to_string_lossy().parse().map_err(|_| "bad name")?;
        // The directory being listed shows up as a descriptor of its own.
        match std::fs::read_link(entry.path()) {
            Ok(target) if target.ends_with("fd") && target.starts_with("/proc") => {}
            Err(_) => {} // the listing's descriptor, closed by now
            Ok(_) => {
                fds.insert(fd);
            }
        }
    }
    Ok(fds)
}

/// Runs `builder` with a child that reports its open descriptors through `report` (which the
/// caller kept) and returns them.
fn fds_of_child(builder: Builder, report: File, mut rd: File) -> BTreeSet<RawFd> {
    let p = builder
        .spawn(move || {
            let mut report = report;
            let fds = open_fds()?;
            let line: Vec<String> = fds.iter().map(|fd| fd.to_string()).collect();
            writeln!(report, "{}", line.join(" ")).map_err(|e| e.to_string())
        })
        .unwrap();
    let mut text = String::new();
    // The report pipe's other writers may be children of other tests: read one line only.
    let mut byte = [0u8; 1];
    while rd.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        text.push(byte[0] as char);
    }
    assert!(join_within(&p).success());
    text.split_whitespace().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn a_close_fds_child_holds_only_stdio_and_the_kept_descriptors() {
    let (rd, report) = pipe(true);
    // Descriptors the child must not see: inheritable and close-on-exec ones, some above the
    // kept ones and some between them.
    let (a_rd, a_wr) = pipe(false);
    let (kept_rd, kept_wr) = pipe(true);
    let (b_rd, b_wr) = pipe(false);
    let report_fd = report.as_raw_fd();
    let want: BTreeSet<RawFd> = [0, 1, 2, report_fd, kept_rd.as_raw_fd(), kept_wr.as_raw_fd()].into();
    let builder =
        Builder::new().close_fds(true).keep_fd(&report).keep_fd(&kept_rd).keep_fd(&kept_wr).keep_fd(&kept_rd);
    let got = fds_of_child(builder, report, rd);
    assert_eq!(got, want, "the child's descriptors");
    drop((a_rd, a_wr, b_rd, b_wr, kept_rd, kept_wr));
}

#[test]
fn without_close_fds_the_child_inherits_everything() {
    let (rd, report) = pipe(true);
    let (extra_rd, extra_wr) = pipe(false);
    let got = fds_of_child(Builder::new(), report, rd);
    assert!(got.contains(&extra_rd.as_raw_fd()) && got.contains(&extra_wr.as_raw_fd()), "{got:?}");
}

#[test]
fn a_close_fds_child_does_not_hold_another_pipe_open() {
    // The failure, fixed: a child started while a pipe is open no longer keeps its
    // reader from seeing the end of the stream.
    let (mut rd, wr) = pipe(true);
    let bystander = Builder::new().close_fds(true).spawn(|| std::thread::sleep(LONG)).unwrap();
    drop(wr);
    let mut rest = Vec::new();
    // Without close_fds this would block until the bystander ends (30 s).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(rd.read_to_end(&mut rest).map(|_| rest.len()).ok()));
    let got = rx.recv_timeout(Duration::from_secs(10));
    bystander.kill().unwrap();
    join_within(&bystander);
    // Another test's plain-fork child may hold the write end briefly; 10 s is far more than that.
    assert_eq!(got, Ok(Some(0)), "end of stream while the close_fds child runs");
}

#[test]
fn a_daemon_with_close_fds_still_watches_its_parent() {
    let (rd, report) = pipe(true);
    let builder = Builder::new().close_fds(true).daemon(true).keep_fd(&report);
    let report_fd = report.as_raw_fd();
    let got = fds_of_child(builder, report, rd);
    // stdio, the report pipe, and the watcher's pidfd of the parent (opened after the close).
    assert!(got.is_superset(&[0, 1, 2, report_fd].into()), "{got:?}");
    assert_eq!(got.len(), 5, "{got:?}");
}

#[test]
fn keep_fd_accepts_owned_and_borrowed_descriptors() {
    let (rd, wr) = pipe(true);
    let owned: OwnedFd = wr.into();
    let p = Builder::new()
        .close_fds(true)
        .keep_fd(&owned)
        .keep_fd(owned.as_fd())
        .spawn(move || {
            let mut f = File::from(owned);
            f.write_all(b"k").map_err(|e| e.to_string())
        })
        .unwrap();
    let mut b = [0u8; 1];
    (&rd).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"k");
    assert!(join_within(&p).success());
}

#[test]
fn a_grandchild_of_a_close_fds_child_still_gets_dev_null_as_stdin() {
    let p = Builder::new()
        .close_fds(true)
        .spawn(|| {
            // Reuse the low numbers that close_fds freed (mp-core's /dev/null among them).
            let files: Vec<File> = (0..16)
                .map(|_| File::open("/proc/self/stat"))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let grandchild = mp_core::spawn(|| {
                let stdin = std::fs::read_link("/proc/self/fd/0").map_err(|e| e.to_string())?;
                if stdin == std::path::Path::new("/dev/null") {
                    Ok(())
                } else {
                    Err(stdin.display().to_string())
                }
            })
            .map_err(|e| e.to_string())?;
            let status = grandchild.join().map_err(|e| e.to_string())?;
            drop(files);
            if status.success() { Ok(()) } else { Err(format!("grandchild: {status}")) }
        })
        .unwrap();
    assert!(join_within(&p).success());
}
