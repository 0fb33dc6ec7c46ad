//! Descriptor passing over Unix sockets: `sendmsg`/`recvmsg` with `SCM_RIGHTS`, and
//! `SOCK_SEQPACKET` socket pairs (one message per `send`, never merged or split).

use super::{cvt, cvt_r};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one message carries (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = 253;

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: a connected pair that keeps message
/// boundaries, sees the end of the stream when the peer closes, and carries descriptors.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    // SAFETY: socketpair succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A control-message buffer for `n` descriptors, aligned for `cmsghdr`.
fn cmsg_buffer(n: usize) -> Vec<u64> {
    let bytes = if n == 0 {
        0
    } else {
        // SAFETY: CMSG_SPACE only computes a size.
        unsafe { libc::CMSG_SPACE((n * std::mem::size_of::<RawFd>()) as libc::c_uint) as usize }
    };
    vec![0u64; bytes.div_ceil(8)]
}

/// Sends `data` as one message with `fds` attached (`SCM_RIGHTS`), with `MSG_NOSIGNAL` (a
/// closed peer gives `EPIPE`, never `SIGPIPE`); retried on `EINTR`. The kernel duplicates the
/// descriptors into the message: the caller's stay open. On a `SOCK_SEQPACKET` socket the
/// message is sent whole or not at all (`EMSGSIZE` when it exceeds the send buffer).
pub(crate) fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "more than 253 descriptors in one message"));
    }
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
    let mut control = cmsg_buffer(fds.len());
    // SAFETY: an all-zero msghdr is valid (no name, no control data yet).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = (control.len() * 8) as _;
        // SAFETY: the control buffer is CMSG_SPACE(fds) bytes, aligned, and zeroed: the first
        // header fits, and its data area holds `fds.len()` descriptors.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len =
                libc::CMSG_LEN((fds.len() * std::mem::size_of::<RawFd>()) as libc::c_uint) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    // SAFETY: `msg` points at one iovec over `data` and at the control buffer, both alive for
    // the call.
    let n = cvt_r(|| unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })? as usize;
    if n != data.len() {
        // Only a stream socket sends part of a message; callers use SOCK_SEQPACKET.
        return Err(io::Error::new(io::ErrorKind::WriteZero, "the message was sent in part"));
    }
    Ok(())
}

/// Receives one message into `buf` (replacing its contents; at most its capacity) and the
/// descriptors that came with it (at most `max_fds`), each an `OwnedFd` with close-on-exec set
/// atomically (`MSG_CMSG_CLOEXEC`). `wait: false` does not wait (`WouldBlock` when nothing is
/// there); `wait: true` retries `EINTR`.
///
/// `Ok(None)` is the end of the stream (the peer closed); an empty message without descriptors
/// reads the same, so callers never send one. A message longer than `buf`'s
/// capacity (`MSG_TRUNC`) or with more descriptors than `max_fds` (`MSG_CTRUNC`) is an
/// `InvalidData` error, and the descriptors that did arrive are closed.
pub(crate) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max_fds: usize,
    wait: bool,
) -> io::Result<Option<Vec<OwnedFd>>> {
    buf.clear();
    let spare = buf.spare_capacity_mut();
    let mut iov = libc::iovec { iov_base: spare.as_mut_ptr().cast(), iov_len: spare.len() };
    let mut control = cmsg_buffer(max_fds.min(MAX_FDS));
    // SAFETY: an all-zero msghdr is valid (no name, no control data yet).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !control.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = (control.len() * 8) as _;
    }
    let flags = libc::MSG_CMSG_CLOEXEC | if wait { 0 } else { libc::MSG_DONTWAIT };
    let mut call = || {
        // SAFETY: `msg` points at an iovec over `buf`'s spare capacity and at the control
        // buffer, both alive and writable for the call.
        unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) }
    };
    let n = if wait { cvt_r(call)? } else { cvt(call())? } as usize;
    // Descriptors first: they are owned (and closed on every error path) from here on.
    let mut fds = Vec::new();
    if msg.msg_controllen > 0 {
        // SAFETY: the kernel filled in `msg.msg_controllen` bytes of well-formed control
        // messages; CMSG_FIRSTHDR/NXTHDR stay within them, and each SCM_RIGHTS payload holds
        // `(cmsg_len - CMSG_LEN(0)) / 4` descriptors newly installed in this process.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    for i in 0..payload / std::mem::size_of::<RawFd>() {
                        fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a message carried too many descriptors"));
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a message was longer than the buffer"));
    }
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    // SAFETY: the kernel initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(n) };
    Ok(Some(fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn descriptors_travel_with_their_message_and_arrive_close_on_exec() {
        let (a, b) = seqpacket_pair().unwrap();
        let (mut rd, wr) = std::io::pipe().unwrap();
        send_with_fds(a.as_fd(), b"hello", &[wr.as_fd()]).unwrap();
        drop(wr);
        let mut buf = Vec::with_capacity(64);
        let mut fds = recv_with_fds(b.as_fd(), &mut buf, 4, true).unwrap().unwrap();
        assert_eq!(buf, b"hello");
        assert_eq!(fds.len(), 1);
        // SAFETY: F_GETFD only queries a descriptor we own.
        let flags = unsafe { libc::fcntl(fds[0].as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        let mut wr = std::fs::File::from(fds.pop().unwrap());
        wr.write_all(b"x").unwrap();
        drop(wr);
        let mut got = String::new();
        rd.read_to_string(&mut got).unwrap();
        assert_eq!(got, "x");
    }

    #[test]
    fn too_many_descriptors_close_what_arrived_and_fail() {
        let (a, b) = seqpacket_pair().unwrap();
        let (_rd, wr) = std::io::pipe().unwrap();
        send_with_fds(a.as_fd(), b"x", &[wr.as_fd(), wr.as_fd(), wr.as_fd()]).unwrap();
        let mut buf = Vec::with_capacity(8);
        let err = recv_with_fds(b.as_fd(), &mut buf, 1, true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_long_message_is_refused_and_a_closed_peer_ends_the_stream() {
        let (a, b) = seqpacket_pair().unwrap();
        send_with_fds(a.as_fd(), &[7u8; 100], &[]).unwrap();
        send_with_fds(a.as_fd(), b"ok", &[]).unwrap();
        let mut buf = Vec::with_capacity(10);
        assert_eq!(
            recv_with_fds(b.as_fd(), &mut buf, 0, true).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(recv_with_fds(b.as_fd(), &mut buf, 0, true).unwrap().is_some());
        assert_eq!(buf, b"ok");
        let e = recv_with_fds(b.as_fd(), &mut buf, 0, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        assert!(recv_with_fds(b.as_fd(), &mut buf, 0, true).unwrap().is_none());
    }
}
