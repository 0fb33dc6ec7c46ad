//! File-descriptor calls: pipes, socket pairs, reads, writes and `poll`.

use super::{cvt, cvt_r, remaining};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    // SAFETY: socketpair succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets a pipe's buffer size (`F_SETPIPE_SZ`); returns the size the kernel chose (at least the
/// one asked for, rounded up to pages).
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: fcntl on a valid descriptor with an integer argument.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) }).map(|n| n as usize)
}

/// Sets a socket's receive (`SO_RCVBUF`) or send (`SO_SNDBUF`) buffer size; returns the size the
/// kernel reports afterwards (it doubles the request for its own bookkeeping and caps it at
/// `net.core.rmem_max`/`wmem_max`).
pub(crate) fn set_socket_buffer(fd: BorrowedFd<'_>, recv: bool, size: usize) -> io::Result<usize> {
    let opt = if recv { libc::SO_RCVBUF } else { libc::SO_SNDBUF };
    let val = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `val` is a c_int and `len` its size, as SO_RCVBUF/SO_SNDBUF expect.
    cvt(unsafe { libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, opt, (&raw const val).cast(), len) })?;
    let mut got: libc::c_int = 0;
    let mut got_len = len;
    // SAFETY: `got` is a writable c_int and `got_len` holds its size.
    cvt(unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, opt, (&raw mut got).cast(), &mut got_len)
    })?;
    Ok(usize::try_from(got).unwrap_or(0))
}

/// One `read(2)` of at most `max` bytes into spare capacity, retried on `EINTR`; returns the
/// bytes read.
pub(crate) fn read_spare(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let room = max.min(spare.len());
    let spare = &mut spare[..room];
    // SAFETY: `spare` is valid for writes of `spare.len()` bytes (uninitialised is fine for read).
    let n = cvt_r(|| unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) })? as usize;
    // SAFETY: the kernel initialised exactly `n` bytes past the old length.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// One `pread(2)` of up to `buf.len()` bytes at `offset`, retried on `EINTR`; returns the bytes
/// read, fewer than asked (0 at or past the end) when the file ends inside the range. The kernel
/// does the copy, so a file shrunk by another process gives a short count, never `SIGBUS`.
pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: usize) -> io::Result<usize> {
    let offset = file_offset(offset)?;
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let n = cvt_r(|| unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), offset) })?;
    Ok(n as usize)
}

/// One `pwrite(2)` of up to `buf.len()` bytes at `offset`, retried on `EINTR`; returns the bytes
/// written. Unlike a store through a mapping it cannot raise `SIGBUS`, but past the end of the
/// file it extends the file rather than stopping short.
pub(crate) fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: usize) -> io::Result<usize> {
    let offset = file_offset(offset)?;
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call.
    let n = cvt_r(|| unsafe { libc::pwrite(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), offset) })?;
    Ok(n as usize)
}

fn file_offset(offset: usize) -> io::Result<libc::off_t> {
    libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Writes all of `a` then all of `b` with `writev(2)` (one call in the common case), retrying on
/// `EINTR` and short writes. `EPIPE` comes back as `io::ErrorKind::BrokenPipe`, which callers
/// report as "disconnected"; Rust programs ignore `SIGPIPE` by default, so it does not kill them.
pub(crate) fn write_all2(fd: BorrowedFd<'_>, a: &[u8], b: &[u8], socket: bool) -> io::Result<()> {
    if socket { send_all2(fd, a, b) } else { writev_all2(fd, a, b) }
}

fn writev_all2(fd: BorrowedFd<'_>, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let iov = [
            libc::iovec { iov_base: a.as_ptr() as *mut _, iov_len: a.len() },
            libc::iovec { iov_base: b.as_ptr() as *mut _, iov_len: b.len() },
        ];
        // SAFETY: both iovecs point into live slices borrowed for this call.
        let n = cvt_r(|| unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), 2) })? as usize;
        advance(&mut a, &mut b, n)?;
    }
    Ok(())
}

/// Drops the first `n` bytes written from the pair `a`, `b`.
fn advance(a: &mut &[u8], b: &mut &[u8], n: usize) -> io::Result<()> {
    if n == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    let take = n.min(a.len());
    *a = &a[take..];
    *b = &b[n - take..];
    Ok(())
}

/// Like `writev_all2` for a socket, with `sendmsg(MSG_NOSIGNAL)`: a closed peer gives `EPIPE`,
/// never a `SIGPIPE`, whatever the process's signal dispositions are.
fn send_all2(fd: BorrowedFd<'_>, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let mut iov = [
            libc::iovec { iov_base: a.as_ptr() as *mut _, iov_len: a.len() },
            libc::iovec { iov_base: b.as_ptr() as *mut _, iov_len: b.len() },
        ];
        // SAFETY: an all-zero msghdr is valid (no name, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = 2;
        // SAFETY: `msg` points at two iovecs over live slices borrowed for this call.
        let n = cvt_r(|| unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })? as usize;
        advance(&mut a, &mut b, n)?;
    }
    Ok(())
}

/// Which of `fds` are readable (or at end of file / in error, which a read then reports),
/// waiting until at least one is or the deadline passes. Returns one flag per descriptor;
/// all `false` means the deadline passed.
pub fn poll_readable(fds: &[BorrowedFd<'_>], deadline: Option<Instant>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    poll(&mut pfds, deadline)?;
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// `poll(2)` against a deadline; returns the number of ready entries (0 when it passed).
/// `EINTR` is retried with the time left recomputed.
pub(crate) fn poll(pfds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let timeout_ms = match remaining(deadline) {
            None => -1,
            // Round up, so that a wait never ends before its deadline.
            Some(d) => libc::c_int::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX),
        };
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
        match cvt(r) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() < d) => continue,
            Ok(n) => return Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Whether `fd` is readable right now (or at end of file), without waiting.
pub(crate) fn readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut p = [libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    // SAFETY: `p` is a valid one-element pollfd array.
    let r = cvt_r(|| unsafe { libc::poll(p.as_mut_ptr(), 1, 0) })?;
    Ok(r > 0)
}

/// Opens `/dev/null` read-only with close-on-exec.
pub fn open_dev_null() -> io::Result<OwnedFd> {
    // SAFETY: the path is a NUL-terminated literal.
    let fd = cvt_r(|| unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
    // SAFETY: open succeeded; the descriptor is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `dup2(from, to)`: makes `to` refer to `from`'s open file (without close-on-exec).
pub fn dup2(from: BorrowedFd<'_>, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on a valid descriptor; `to` is replaced atomically.
    cvt_r(|| unsafe { libc::dup2(from.as_raw_fd(), to) }).map(drop)
}

/// Closes a descriptor this process inherited but does not own through any handle it will use
/// (a forked child dropping its copies of the parent's descriptors).
///
/// # Safety
///
/// Nothing in this process may use `fd` afterwards (in particular no `OwnedFd` may close it
/// again: callers are children that end in `_exit`, so no destructor runs).
pub unsafe fn close_raw(fd: RawFd) {
    // SAFETY: guaranteed by the caller; close is never retried.
    unsafe { libc::close(fd) };
}
