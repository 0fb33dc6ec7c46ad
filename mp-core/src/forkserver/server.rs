//! The fork server's process: its loop, and the setup of each child it forks.
//!
//! The server is single-threaded for its whole life, so each `fork` it makes is safe. Its loop
//! only waits (`poll`) on the control socket and on the pidfds of its children, receives
//! requests, forks, reaps, and reports; it never prints and takes no lock.

use super::protocol::{Call, MAX_REQUEST, Reply, Request};
use crate::process::{ProcessInfo, enter_child, run_and_exit};
use crate::{Outcome, Pid};
use mp_ipc::handoff;
use mp_ipc::os as sys;
use mp_ipc::signal::Signals;
use mp_ipc::signal::consts::{SIGINT, SIGKILL};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// A child of the server, until it is reaped.
struct Running {
    pid: i32,
    pidfd: OwnedFd,
    reply: OwnedFd,
}

/// The server's body, in the process forked by `start`: serves until every client end of
/// `control` is closed and every child has been reaped, then exits.
pub(super) fn serve(control: OwnedFd) -> ! {
    // A Ctrl-C in the terminal (SIGINT) reaches every process of the foreground group: the server must outlive it
    // to report its children's ends. Blocked (not ignored), so that each child gets the
    // program's own mask back before it runs.
    let quiet = Signals::block(&[SIGINT]).ok();
    let mut children: Vec<Running> = Vec::new();
    let mut open = true;
    let mut buf = Vec::with_capacity(MAX_REQUEST);
    loop {
        if !open && children.is_empty() {
            sys::exit_now(0);
        }
        let mut watched: Vec<BorrowedFd<'_>> = Vec::with_capacity(children.len() + 1);
        if open {
            watched.push(control.as_fd());
        }
        watched.extend(children.iter().map(|c| c.pidfd.as_fd()));
        let ready = match sys::poll_readable(&watched, None) {
            Ok(ready) => ready,
            Err(_) => sys::exit_now(1),
        };
        let (request_ready, ended) = if open { (ready[0], &ready[1..]) } else { (false, &ready[..]) };
        let ended: Vec<usize> = ended.iter().enumerate().filter(|&(_, &r)| r).map(|(i, _)| i).collect();
        drop(watched);
        for &i in ended.iter().rev() {
            reap(&mut children, i);
        }
        if request_ready {
            match handoff::recv_with_fds(&control, &mut buf, handoff::MAX_FDS, false) {
                Ok(None) => open = false,
                Ok(Some(fds)) => {
                    if let Some(child) = start_child(&buf, fds, &quiet) {
                        children.push(child);
                    }
                }
                // A malformed message (its descriptors are closed already), or a spurious wake.
                Err(_) => {}
            }
        }
    }
}

/// Reaps `children[i]` if it has ended, and reports its status to the requester.
fn reap(children: &mut Vec<Running>, i: usize) {
    match sys::waitpid(children[i].pid, true) {
        Ok(None) => {}
        Ok(Some(status)) => {
            let c = children.swap_remove(i);
            // The requester may be gone: then nobody wants the status.
            let _ = reply(c.reply.as_fd(), &Reply::Exited { status }, &[]);
        }
        Err(_) => {
            // Not a child any more (cannot happen: only this loop reaps): stop watching it.
            children.swap_remove(i);
        }
    }
}

fn reply(sock: BorrowedFd<'_>, msg: &Reply, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let bytes = postcard::to_stdvec(msg).map_err(io::Error::other)?;
    handoff::send_with_fds(&sock, &bytes, fds)
}

/// Handles one request: forks the child and answers `Started` (with the child's pidfd) or
/// `Failed`. Returns the child to watch.
fn start_child(bytes: &[u8], fds: Vec<OwnedFd>, quiet: &Option<Signals>) -> Option<Running> {
    let mut fds = fds.into_iter();
    // Without a reply socket there is nobody to answer: dropping the descriptors ends it.
    let reply_sock = fds.next()?;
    let fail = |errno: i32| {
        let _ = reply(reply_sock.as_fd(), &Reply::Failed { errno }, &[]);
        None
    };
    let Ok(req) = postcard::from_bytes::<Request>(bytes) else { return fail(EINVAL) };
    let requester = if req.daemon {
        match fds.next() {
            Some(fd) => Some(fd),
            None => return fail(EINVAL),
        }
    } else {
        None
    };
    let args: Vec<OwnedFd> = fds.collect();
    // SAFETY: the server is single-threaded; the child branch only sets itself up and ends in
    // `_exit` (`child_main`).
    match unsafe { sys::fork() } {
        Ok(sys::Forked::Child) => {
            // SAFETY: this process is the child; its copy of the server's signal block is
            // dropped once (closing its signalfd, restoring the mask), the server's stays.
            let quiet = unsafe { std::ptr::read(quiet) };
            drop(quiet);
            child_main(req, requester, args)
        }
        Ok(sys::Forked::Parent(pid)) => {
            // Opened before this loop can reap the child, so it names this child only.
            let pidfd = match sys::pidfd_open(pid) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = sys::kill(pid, SIGKILL);
                    let _ = sys::waitpid(pid, false);
                    return fail(e.raw_os_error().unwrap_or(EINVAL));
                }
            };
            if reply(reply_sock.as_fd(), &Reply::Started { pid }, &[pidfd.as_fd()]).is_err() {
                // The requester is gone before it got a handle: nobody could join the child.
                let _ = sys::kill(pid, SIGKILL);
            }
            Some(Running { pid, pidfd, reply: reply_sock })
        }
        Err(e) => fail(e.raw_os_error().unwrap_or(EINVAL)),
    }
}

/// The new child, in the process the server just forked: keeps only standard input, output and
/// error and the descriptors it received, ties a daemon to its requester, and runs the call.
fn child_main(req: Request, requester: Option<OwnedFd>, args: Vec<OwnedFd>) -> ! {
    let mut keep: Vec<RawFd> = args.iter().map(AsRawFd::as_raw_fd).collect();
    keep.extend(requester.as_ref().map(AsRawFd::as_raw_fd));
    keep.sort_unstable();
    // SAFETY: this child ends in `_exit` (`run_and_exit`, or `exit_now` below), so the server's
    // handles it closes here (the control socket, other children's pidfds and reply sockets,
    // all on the stack of `serve`, which never resumes) are never closed again.
    if unsafe { sys::close_fds_except(&keep) }.is_err() {
        sys::exit_now(1);
    }
    // A daemon dies with its requester: the watcher thread kills it once the requester's pidfd
    // becomes readable, which it already is if the requester died before this point.
    if let Some(pidfd) = requester
        && sys::kill_self_when_readable(pidfd).is_err()
    {
        sys::exit_now(1);
    }
    let parent = ProcessInfo { name: req.parent_name, pid: Pid::from_raw(req.parent_pid) };
    enter_child(req.numbers, req.name, Some(parent));
    // SAFETY: `call` is the address of a `Call` trampoline in the requester, which runs this same
    // program; the server and this child are forks of it made before any code could move.
    let call = unsafe { std::mem::transmute::<usize, Call>(req.call) };
    let (func, bytes) = (req.func, req.args);
    run_and_exit(move || ExitCode(call(func, &bytes, args)))
}

/// An exit code computed by a trampoline (which already printed any error).
struct ExitCode(i32);

impl Outcome for ExitCode {
    fn into_exit_code(self) -> i32 {
        self.0
    }
}

/// `EINVAL`: the errno reported for a malformed request.
const EINVAL: i32 = 22;
