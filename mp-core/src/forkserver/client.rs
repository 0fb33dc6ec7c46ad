//! The requester's side: starting the server, sending a request, and reading its replies.

use super::protocol::{Call, MAX_REQUEST, Reply, Request};
use crate::process::{Child, Served, hold_output, next_child, registry, sweep};
use crate::{Outcome, Pid, Process, current_process};
use mp_ipc::handoff;
use mp_ipc::os as sys;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// This process's end of the control socket, once a server runs for it. Inherited by children
/// forked later (they share the server); a fork-server child starts with none (the server was
/// forked before it was set), so its first request starts a server of its own.
static CONTROL: OnceLock<OwnedFd> = OnceLock::new();
/// Serializes starting the server.
static STARTING: Mutex<()> = Mutex::new(());

/// The control socket, starting the server first if none runs for this process.
pub(super) fn control() -> io::Result<BorrowedFd<'static>> {
    if let Some(fd) = CONTROL.get() {
        return Ok(fd.as_fd());
    }
    let starting = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(fd) = CONTROL.get() {
        return Ok(fd.as_fd());
    }
    let (mine, theirs) = handoff::seqpacket_pair()?;
    // As `Builder::spawn` does (else every child of the server would print buffered output
    // again, and a lock held by another thread would stay locked in the server and its children).
    let (out_lock, err_lock) = hold_output();
    // Held across the fork like the output locks: the server empties its copy (the records of
    // this process's children are not its own).
    let children = registry();
    // SAFETY: the child branch only closes descriptors, sets up standard input and enters the
    // server loop, which ends in `_exit`; the limits of forking a multithreaded program are the
    // documented caveat of `start`.
    match unsafe { sys::fork() }? {
        sys::Forked::Child => {
            // Released here, in the only thread of the server: its children may start servers
            // of their own.
            let mut children = children;
            std::mem::forget(std::mem::take(&mut *children));
            drop((out_lock, err_lock, children, starting));
            // Forked once more, so that the server is not a child of this program: it never
            // shows among the program's children (`active_children`, `/proc`), and nobody
            // here has to reap it (its parent is then the init process or a subreaper).
            // SAFETY: this process is single-threaded; both branches end in `_exit`.
            match unsafe { sys::fork() } {
                Ok(sys::Forked::Child) => server_setup(mine, theirs),
                _ => sys::exit_now(0),
            }
        }
        sys::Forked::Parent(middle) => {
            drop((theirs, children));
            // The middle process exits as soon as it has forked the server.
            sys::waitpid(middle, false)?;
            Ok(CONTROL.get_or_init(|| mine).as_fd())
        }
    }
}

/// In the server process: keeps only standard output and error and its end of the control
/// socket, puts `/dev/null` on standard input, and serves.
fn server_setup(client_end: OwnedFd, server_end: OwnedFd) -> ! {
    // Forgotten, not dropped: the close below closes it (and everything else).
    std::mem::forget(client_end);
    let keep = [std::os::fd::AsRawFd::as_raw_fd(&server_end)];
    // SAFETY: the server ends in `_exit`; every handle of the program it was forked from is left
    // unused (none is dropped: `serve` never returns).
    if unsafe { sys::close_fds_except(&keep) }.is_err() {
        sys::exit_now(1);
    }
    crate::process::forget_dev_null();
    if let Ok(null) = sys::open_dev_null() {
        let _ = sys::dup2(null.as_fd(), 0);
    }
    crate::process::enter_child(Vec::new(), "ForkServer".into(), Some(current_process()));
    super::server::serve(server_end)
}

/// The trampoline for `fn(A) -> O`: see [`Call`].
fn call<A: DeserializeOwned, O: Outcome>(func: usize, args: &[u8], fds: Vec<OwnedFd>) -> i32 {
    // SAFETY: `func` is the address of an `fn(A) -> O` taken by `request` in a process running
    // this same program (see the module docs on why the address is valid here); `call::<A, O>`
    // is only ever sent with such an address.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> O>(func) };
    match handoff::decode_with_fds::<A>(args, fds) {
        Ok(a) => f(a).into_exit_code(),
        Err(e) => Err::<(), _>(format!("cannot decode the arguments: {e}")).into_exit_code(),
    }
}

/// Asks the server to start `f(args)` as a child named `name` and returns its handle.
pub(super) fn request<A, O>(name: Option<String>, daemon: bool, f: fn(A) -> O, args: A) -> io::Result<Process>
where
    A: Serialize + DeserializeOwned,
    O: Outcome,
{
    let control = control()?;
    let (bytes, arg_fds) = handoff::encode_with_fds(&args)?;
    // The caller's copies of the handles go now, as a moved closure's do after a fork.
    drop(args);
    let (numbers, name) = next_child(name);
    let me = current_process();
    let req = Request {
        call: call::<A, O> as Call as usize,
        func: f as usize,
        name: name.clone(),
        numbers,
        parent_name: me.name,
        parent_pid: me.pid.as_raw(),
        daemon,
        args: bytes,
    };
    let msg = postcard::to_stdvec(&req).map_err(io::Error::other)?;
    if msg.len() > MAX_REQUEST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "fork-server arguments over 160 KiB: pass bulk data through a Queue, pipe or shared memory",
        ));
    }
    let (reply, reply_theirs) = handoff::seqpacket_pair()?;
    let requester = if daemon { Some(sys::pidfd_open(sys::getpid())?) } else { None };
    let mut fds: Vec<BorrowedFd<'_>> = vec![reply_theirs.as_fd()];
    fds.extend(requester.as_ref().map(AsFd::as_fd));
    fds.extend(arg_fds.iter().map(AsFd::as_fd));
    handoff::send_with_fds(&control, &msg, &fds).map_err(|e| match e.kind() {
        io::ErrorKind::BrokenPipe => io::Error::new(io::ErrorKind::BrokenPipe, "the fork server has ended"),
        _ => e,
    })?;
    drop((reply_theirs, requester, arg_fds));
    let mut buf = Vec::with_capacity(64);
    let got = handoff::recv_with_fds(&reply, &mut buf, 1, true)?;
    let mut got = got.ok_or_else(|| io::Error::other("the fork server ended without starting the child"))?;
    let pid = match postcard::from_bytes::<Reply>(&buf) {
        Ok(Reply::Started { pid }) if got.len() == 1 => pid,
        Ok(Reply::Failed { errno }) => return Err(io::Error::from_raw_os_error(errno)),
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "a malformed fork-server reply")),
    };
    let pidfd = got.pop().expect("one descriptor");
    let child = Arc::new(Child {
        pid: Pid::from_raw(pid),
        name,
        daemon,
        status: Mutex::new(None),
        served: Some(Served { pidfd, status: reply }),
    });
    let mut children = registry();
    sweep(&mut children);
    children.push(Arc::clone(&child));
    drop(children);
    Ok(Process::new(child))
}

/// Reads the server's report of a child's end from its status socket: `Ok(None)` when
/// `nohang` and the child has not been reaped yet.
pub(crate) fn read_status(sock: BorrowedFd<'_>, nohang: bool) -> io::Result<Option<i32>> {
    let mut buf = Vec::with_capacity(16);
    match handoff::recv_with_fds(&sock, &mut buf, 0, !nohang) {
        Ok(Some(_)) => match postcard::from_bytes::<Reply>(&buf) {
            Ok(Reply::Exited { status }) => Ok(Some(status)),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "a malformed fork-server report")),
        },
        Ok(None) => Err(io::Error::other("the fork server ended before it reported the child's exit")),
        Err(e) if nohang && e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}
