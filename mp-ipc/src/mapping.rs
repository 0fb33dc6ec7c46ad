//! Anonymous shared mappings: the memory every object shared with forked children lives in
//! ([`Value`](crate::Value), [`Array`](crate::Array), [`Queue`](crate::Queue) and the locks).

use crate::sys;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;

/// An anonymous `MAP_SHARED` mapping holding one `T`, shared with every child forked after it is
/// made. Each process unmaps its own view on drop; the memory lives until the last view goes.
pub(crate) struct Mapping<T> {
    ptr: NonNull<T>,
    len: usize,
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
        let ptr = sys::mman::map_shared_anon(want)?.cast::<T>();
        let m = Mapping { ptr, len: want };
        init(ptr.as_ptr())?;
        Ok(m)
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
        // SAFETY: `new` initialised the `T`; the mapping lives as long as `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for Mapping<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` and no reference into it outlives `self`.
        // The `T` is not dropped: other processes may still use it.
        unsafe { sys::mman::unmap(self.ptr.cast(), self.len) };
    }
}

impl<T> fmt::Debug for Mapping<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping").field("ptr", &self.ptr).field("len", &self.len).finish()
    }
}
