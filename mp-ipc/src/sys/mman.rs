//! Memory mappings: sealed memory files shared with other processes, and named POSIX shared
//! memory.

use super::{cvt, cvt_r};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// Seals that fix a memory file's size: it can neither shrink (a mapping of it could then fault
/// with `SIGBUS`) nor grow, and no seal can be added or removed afterwards.
const SIZE_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

/// A memory file of `len` zeroed bytes whose size is sealed (`memfd_create(MFD_CLOEXEC |
/// MFD_ALLOW_SEALING)`, `ftruncate`, `F_ADD_SEALS`): its descriptor can be passed to another
/// process, which maps the same memory.
pub(crate) fn memfd_sized(len: usize) -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated literal.
    let fd =
        cvt(unsafe { libc::memfd_create(c"mp-ipc".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) })?;
    // SAFETY: memfd_create succeeded; the descriptor is ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    ftruncate(fd.as_fd(), len)?;
    // SAFETY: fcntl on a valid descriptor with an integer argument.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, SIZE_SEALS) })?;
    Ok(fd)
}

/// Whether `fd` is a memory file whose size can no longer shrink (see [`memfd_sized`]), so that
/// a mapping of it cannot fault past its end.
pub(crate) fn is_size_sealed(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: fcntl on a valid descriptor with no argument.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_SHRINK != 0
}

/// `mmap(MAP_SHARED)` of `len` bytes of `fd` from offset 0.
pub(crate) fn map_shared_fd(fd: BorrowedFd<'_>, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a new mapping of a file does not alias memory Rust already references.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// `munmap`.
///
/// # Safety
///
/// `ptr`/`len` must be a mapping made by this module that no live reference points into.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// `shm_open(name, O_RDWR | O_CLOEXEC [| O_CREAT | O_EXCL], 0600)`.
pub(crate) fn shm_open(name: &CStr, create: bool) -> io::Result<OwnedFd> {
    let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
    if create {
        flags |= libc::O_CREAT | libc::O_EXCL;
    }
    // SAFETY: `name` is NUL-terminated.
    let fd = cvt_r(|| unsafe { libc::shm_open(name.as_ptr(), flags, 0o600) })?;
    // SAFETY: shm_open succeeded; the descriptor is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(name)`.
pub(crate) fn shm_unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    cvt(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
}

/// `ftruncate(fd, len)`.
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: ftruncate on a valid descriptor.
    cvt_r(|| unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// The size of the file behind `fd` (`fstat`).
pub(crate) fn file_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid writable stat.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st.st_size as usize)
}

/// An empty memory file that may grow and shrink (`memfd_create(MFD_CLOEXEC)`): read and written
/// with `pread`/`pwrite`, never mapped, so a size change cannot fault anyone.
pub(crate) fn memfd_growable(name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: memfd_create succeeded; the descriptor is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
