//! Shared mappings: the memory every object shared between processes lives in
//! ([`Value`](crate::Value), [`Array`](crate::Array), [`Queue`](crate::Queue) and the locks).
//!
//! The memory is a sealed memory file (`memfd_create(2)`) mapped `MAP_SHARED`: children forked
//! later share it as they would an anonymous shared mapping, and its descriptor can also travel
//! to an unrelated process (a fork-server child, see [`handoff`](crate::handoff)), which maps
//! the same pages with [`Mapping::from_fd`]. The file's size is sealed at creation, so a mapping
//! of it can never fault past its end.

use crate::sys;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

/// A `MAP_SHARED` mapping of a memory file holding one `T` (and optional bytes after it),
/// shared with every child forked after it is made and with every process its descriptor is
/// passed to. Each process unmaps its own view on drop; the memory lives until the last view
/// and the last descriptor go.
pub(crate) struct Mapping<T> {
    ptr: NonNull<T>,
    len: usize,
    /// The memory file, kept so that it can be passed to another process.
    fd: OwnedFd,
}

// SAFETY: the mapping is plain shared memory; `T` decides what may be done through `&T`.
unsafe impl<T: Sync> Sync for Mapping<T> {}
// SAFETY: as above; moving the handle between threads moves only a pointer to shared memory.
unsafe impl<T: Sync> Send for Mapping<T> {}

impl<T> Mapping<T> {
    /// Maps zeroed memory for a `T` followed by `extra` bytes, and lets `init` fill in the `T`.
    ///
    /// # Safety
    ///
    /// `init` must leave a valid `T` at the pointer it is given (which points to zeroed memory).
    pub(crate) unsafe fn new(
        extra: usize,
        init: impl FnOnce(*mut T) -> io::Result<()>,
    ) -> io::Result<Mapping<T>> {
        let page = sys::page_size();
        let want = std::mem::size_of::<T>()
            .checked_add(extra)
            .and_then(|n| n.checked_next_multiple_of(page))
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?
            .max(page);
        let fd = sys::mman::memfd_sized(want)?;
        let ptr = sys::mman::map_shared_fd(fd.as_fd(), want)?.cast::<T>();
        let m = Mapping { ptr, len: want, fd };
        init(ptr.as_ptr())?;
        Ok(m)
    }

    /// Maps a memory file received from another process, which made it with [`Mapping::new`]
    /// for a `T` followed by at least `extra` bytes.
    ///
    /// The file's size is checked (`fstat`) before it is trusted: it must hold the `T` and
    /// `extra` bytes, and be sealed against shrinking (so no access through the mapping can
    /// fault). An `InvalidData` error otherwise.
    ///
    /// # Safety
    ///
    /// The file must hold a valid, initialised `T` at offset 0 (it was made by `Mapping::<T>::new`
    /// in a process running this same program).
    pub(crate) unsafe fn from_fd(fd: OwnedFd, extra: usize) -> io::Result<Mapping<T>> {
        let len = sys::mman::file_size(fd.as_fd())?;
        let need = std::mem::size_of::<T>().checked_add(extra);
        if need.is_none_or(|need| len < need) || len == 0 || !sys::mman::is_size_sealed(fd.as_fd()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the received descriptor is not a shared object of the expected type",
            ));
        }
        let ptr = sys::mman::map_shared_fd(fd.as_fd(), len)?.cast::<T>();
        Ok(Mapping { ptr, len, fd })
    }

    /// The memory file's descriptor (to pass it to another process).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The mapping's start, with provenance over all of it (the `T` and the bytes after it).
    pub(crate) fn raw(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// The bytes after the `T` (`extra` of them, and the rest of the last page).
    pub(crate) fn tail(&self) -> (*mut u8, usize) {
        let off = std::mem::size_of::<T>();
        // SAFETY: `off <= len`, so the pointer stays inside the mapping.
        (unsafe { self.ptr.as_ptr().cast::<u8>().add(off) }, self.len - off)
    }
}

impl<T> Deref for Mapping<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `new` initialised the `T` (or, for `from_fd`, the process that made the file
        // did); the mapping lives as long as `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for Mapping<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` or `from_fd` and no reference into it outlives
        // `self`. The `T` is not dropped: other processes may still use it.
        unsafe { sys::mman::unmap(self.ptr.cast(), self.len) };
    }
}

impl<T> fmt::Debug for Mapping<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping").field("ptr", &self.ptr).field("len", &self.len).finish()
    }
}

/// For a handle that is one [`Mapping`] in field `$field` and nothing else: the two accessors
/// [`handoff`](crate::handoff) uses to send it to another process and to rebuild it there,
/// `mapping_fd(&self)` and `from_mapping_fd(fd)`. Invoked in the handle's own module.
macro_rules! handoff_by_mapping {
    ($t:ident $(<$g:ident: $bound:path>)?, $field:ident) => {
        impl$(<$g: $bound>)? $t$(<$g>)? {
            /// The memory file of this handle (for [`crate::handoff`]).
            pub(crate) fn mapping_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.$field.fd()
            }

            /// A handle on the object whose memory file another process sent (for
            /// [`crate::handoff`]); the file's size is checked first.
            pub(crate) fn from_mapping_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
                // SAFETY: the descriptor was sent by `mapping_fd` of this same type in a process
                // running this same program (`handoff` pairs them by type), so the file holds an
                // initialised value; `from_fd` checks its size.
                Ok($t { $field: unsafe { crate::mapping::Mapping::from_fd(fd, 0)? } })
            }
        }
    };
}
pub(crate) use handoff_by_mapping;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_second_mapping_of_the_descriptor_sees_the_same_memory() {
        // SAFETY: zeroed memory is a valid AtomicU64.
        let a = unsafe { Mapping::<AtomicU64>::new(100, |_| Ok(())) }.unwrap();
        let fd = a.fd().try_clone_to_owned().unwrap();
        // SAFETY: the file holds the AtomicU64 `a` was made with.
        let b = unsafe { Mapping::<AtomicU64>::from_fd(fd, 100) }.unwrap();
        a.store(42, Ordering::SeqCst);
        assert_eq!(b.load(Ordering::SeqCst), 42);
        assert_eq!(a.tail().1, b.tail().1);
    }

    #[test]
    fn a_descriptor_too_small_or_not_sealed_is_refused() {
        // SAFETY: zeroed memory is a valid AtomicU64.
        let a = unsafe { Mapping::<AtomicU64>::new(0, |_| Ok(())) }.unwrap();
        let fd = a.fd().try_clone_to_owned().unwrap();
        // SAFETY: refused before anything is read.
        let err = unsafe { Mapping::<AtomicU64>::from_fd(fd, 1 << 20) }.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let file: OwnedFd = std::fs::File::open("/proc/self/exe").unwrap().into();
        // SAFETY: refused before anything is read.
        let err = unsafe { Mapping::<AtomicU64>::from_fd(file, 0) }.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
