//! POSIX message queues (`mq_overview(7)`).

use super::{cvt, cvt_r, realtime_abs};
use std::ffi::CStr;
use std::io;
use std::time::Instant;

/// An open message queue descriptor (on Linux, a file descriptor).
#[derive(Debug)]
pub(crate) struct Mqd(libc::mqd_t);

impl Mqd {
    pub(crate) fn raw(&self) -> libc::mqd_t {
        self.0
    }
}

impl Drop for Mqd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is open and owned by this value; it is closed once.
        unsafe { libc::mq_close(self.0) };
    }
}

/// `mq_open(name, O_RDWR | O_CLOEXEC [| O_CREAT [| O_EXCL]], 0600, attr)`.
pub(crate) fn open(name: &CStr, create: Option<(bool, i64, i64)>) -> io::Result<Mqd> {
    let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
    let q = match create {
        None => {
            // SAFETY: `name` is NUL-terminated; no attr is read without O_CREAT.
            cvt(unsafe { libc::mq_open(name.as_ptr(), flags) })?
        }
        Some((exclusive, maxmsg, msgsize)) => {
            flags |= libc::O_CREAT;
            if exclusive {
                flags |= libc::O_EXCL;
            }
            // SAFETY: an all-zero mq_attr is valid; the fields are set below.
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = maxmsg;
            attr.mq_msgsize = msgsize;
            // SAFETY: `name` is NUL-terminated; mode and attr are the variadic arguments
            // O_CREAT requires.
            cvt(unsafe {
                libc::mq_open(name.as_ptr(), flags, 0o600 as libc::mode_t, &attr as *const libc::mq_attr)
            })?
        }
    };
    Ok(Mqd(q))
}

/// `mq_unlink(name)`.
pub(crate) fn unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    cvt(unsafe { libc::mq_unlink(name.as_ptr()) }).map(drop)
}

/// `mq_getattr`: (maxmsg, msgsize, curmsgs).
pub(crate) fn getattr(q: &Mqd) -> io::Result<(i64, i64, i64)> {
    // SAFETY: an all-zero mq_attr is valid storage.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: `attr` is valid writable storage.
    cvt(unsafe { libc::mq_getattr(q.raw(), &mut attr) })?;
    Ok((attr.mq_maxmsg, attr.mq_msgsize, attr.mq_curmsgs))
}

/// Sends one message; `deadline` `Some(past)` = try once. `Ok(false)` when full at the deadline.
pub(crate) fn send(q: &Mqd, msg: &[u8], prio: u32, deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let r = match deadline {
            None => {
                // SAFETY: `msg` is valid for reads of its length.
                return cvt_r(|| unsafe { libc::mq_send(q.raw(), msg.as_ptr().cast(), msg.len(), prio) })
                    .map(|_| true);
            }
            Some(d) => {
                let abs = realtime_abs(d);
                // SAFETY: as above; `abs` is a live timespec.
                unsafe { libc::mq_timedsend(q.raw(), msg.as_ptr().cast(), msg.len(), prio, &abs) }
            }
        };
        match cvt(r) {
            Ok(_) => return Ok(true),
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ETIMEDOUT) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
                Some(libc::ETIMEDOUT) => {}
                _ => return Err(e),
            },
        }
    }
}

/// Receives one message into `buf` (at least the queue's message size): `Some((len, prio))`,
/// or `None` when empty at the deadline.
pub(crate) fn receive(
    q: &Mqd,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<Option<(usize, u32)>> {
    let mut prio = 0u32;
    loop {
        let r = match deadline {
            // SAFETY: `buf` is valid for writes of its length; `prio` is writable.
            None => unsafe { libc::mq_receive(q.raw(), buf.as_mut_ptr().cast(), buf.len(), &mut prio) },
            Some(d) => {
                let abs = realtime_abs(d);
                // SAFETY: as above; `abs` is a live timespec.
                unsafe { libc::mq_timedreceive(q.raw(), buf.as_mut_ptr().cast(), buf.len(), &mut prio, &abs) }
            }
        };
        match cvt(r) {
            Ok(n) => return Ok(Some((n as usize, prio))),
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ETIMEDOUT) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(None),
                Some(libc::ETIMEDOUT) => {}
                _ => return Err(e),
            },
        }
    }
}
