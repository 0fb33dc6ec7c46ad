//! Shared memory: [`Value`] and [`Array`] for forked children (Python's `Value` and `Array`), and
//! named [`SharedMemory`] for unrelated processes (`shm_open`).

use crate::mapping::Mapping;
use crate::sync::{LockResult, OwnerDied, RawGuard};
use crate::sys;
use crate::sys::mutex::{Locked, RawMutex};
use std::cell::UnsafeCell;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// Types that can live in memory shared between processes: plain data, where **every** bit
/// pattern is a valid value (a process killed in the middle of a write can leave any mix of old
/// and new bytes), with no pointers into one process's memory and no drop glue.
///
/// # Safety
///
/// Implement it only for `Copy` types whose every bit pattern is valid: integers, floats, arrays
/// and `#[repr(C)]` structs of them with no padding. Not `bool`, `char`, enums, references or
/// pointers.
pub unsafe trait Plain: Copy + Send + 'static {}

macro_rules! plain {
    ($($t:ty)*) => ($(
        // SAFETY: every bit pattern of a primitive integer or float is a valid value.
        unsafe impl Plain for $t {}
    )*)
}
plain! { u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64 }
// SAFETY: an array of plain values is plain: every element may hold any bit pattern.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

#[repr(C)]
struct Locked_<T: ?Sized> {
    lock: RawMutex,
    len: usize,
    data: UnsafeCell<T>,
}

/// One value of plain data in memory shared with forked children (Python's `Value`), behind a
/// robust process-shared lock.
///
/// Make it before forking; every child forked afterwards shares it. Reads and writes go through
/// the lock: [`get`](Value::get)/[`set`](Value::set) for one step, or [`lock`](Value::lock) for a
/// guard across several steps (a read-modify-write such as `+= 1`). If a process dies holding
/// the lock, the next locker is told ([`OwnerDied`]) and the value is whatever that process left.
///
/// # Examples
///
/// ```
/// let counter = mp_ipc::Value::new(0u64)?;
/// let kids: Vec<_> = (0..4)
///     .map(|_| mp_core::spawn(|| for _ in 0..1000 { *counter.lock().unwrap() += 1 }))
///     .collect::<Result<_, _>>()?;
/// for kid in kids {
///     assert!(kid.join()?.success());
/// }
/// assert_eq!(counter.get(), 4000);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Value<T: Plain> {
    map: Mapping<Locked_<T>>,
}
crate::mapping::handoff_by_mapping!(Value<T: Plain>, map);

// SAFETY: access to the data goes through the process-shared lock.
unsafe impl<T: Plain> Sync for Value<T> {}

impl<T: Plain> Value<T> {
    /// Shared memory holding `value`.
    ///
    /// # Errors
    ///
    /// The `mmap` or lock-initialisation error.
    pub fn new(value: T) -> io::Result<Value<T>> {
        // SAFETY: `init` writes a valid lock, length and value.
        let map = unsafe {
            Mapping::new(0, |p: *mut Locked_<T>| {
                RawMutex::init(&raw mut (*p).lock)?;
                (&raw mut (*p).len).write(1);
                (&raw mut (*p).data).write(UnsafeCell::new(value));
                Ok(())
            })?
        };
        Ok(Value { map })
    }

    /// Locks the value; the guard reads and writes it.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (holding the guard) when the previous holder died holding the lock.
    pub fn lock(&self) -> LockResult<Guard<'_, T>> {
        let (held, how) = RawGuard::lock(&self.map.lock);
        let g = Guard { _held: held, data: self.map.data.get(), _p: PhantomData };
        match how {
            Locked::Clean => Ok(g),
            Locked::OwnerDied => Err(OwnerDied::new(g)),
        }
    }

    /// A copy of the value (taken under the lock).
    pub fn get(&self) -> T {
        *self.lock().unwrap_or_else(OwnerDied::into_inner)
    }

    /// Replaces the value (under the lock).
    pub fn set(&self, value: T) {
        *self.lock().unwrap_or_else(OwnerDied::into_inner) = value;
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.get()).finish()
    }
}

/// An array of plain data in memory shared with forked children (Python's `Array`), behind a
/// robust process-shared lock. See [`Value`] for the rules.
///
/// # Examples
///
/// ```
/// let a = mp_ipc::Array::new(&[1i32, 2, 3])?;
/// a.set(1, 20);
/// a.lock().unwrap()[2] *= 10;
/// assert_eq!(a.to_vec(), [1, 20, 30]);
/// assert_eq!(a.len(), 3);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Array<T: Plain> {
    map: Mapping<Locked_<[T; 0]>>,
    len: usize,
}

impl<T: Plain> Array<T> {
    /// The memory file of this array (for [`crate::handoff`]).
    pub(crate) fn mapping_fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }

    /// A handle on the array of `len` elements whose memory file another process sent (for
    /// [`crate::handoff`]): the file must hold them, and say it holds `len`.
    pub(crate) fn from_mapping_fd(fd: OwnedFd, len: usize) -> io::Result<Array<T>> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: the descriptor was sent by `mapping_fd` of an `Array<T>` in a process running
        // this same program; `from_fd` checks that the file holds the header and `len` elements.
        let map = unsafe { Mapping::<Locked_<[T; 0]>>::from_fd(fd, bytes)? };
        if (*map).len != len {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "an Array of another length"));
        }
        Ok(Array { map, len })
    }
}

// SAFETY: access to the data goes through the process-shared lock.
unsafe impl<T: Plain> Sync for Array<T> {}
// SAFETY: the handle is a pointer to shared memory; the data is plain (`T: Send`).
unsafe impl<T: Plain> Send for Array<T> {}

impl<T: Plain> Array<T> {
    /// Shared memory holding a copy of `values`.
    ///
    /// # Errors
    ///
    /// The `mmap` or lock-initialisation error; `InvalidInput` when the size overflows.
    pub fn new(values: &[T]) -> io::Result<Array<T>> {
        let bytes = std::mem::size_of_val(values);
        let align_pad = std::mem::align_of::<T>();
        // SAFETY: `init` writes a valid lock and length; the elements are copied in below.
        let map = unsafe {
            Mapping::new(bytes + align_pad, |p: *mut Locked_<[T; 0]>| {
                RawMutex::init(&raw mut (*p).lock)?;
                (&raw mut (*p).len).write(values.len());
                Ok(())
            })?
        };
        let a = Array { map, len: values.len() };
        // SAFETY: `data_ptr` points at room for `len` elements; the mapping is not yet shared.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), a.data_ptr(), values.len()) };
        Ok(a)
    }

    /// `len` copies of `value`.
    ///
    /// # Errors
    ///
    /// As [`Array::new`].
    pub fn from_elem(value: T, len: usize) -> io::Result<Array<T>> {
        Array::new(&vec![value; len])
    }

    fn data_ptr(&self) -> *mut T {
        // The elements start right after the header, which `[T; 0]` aligns for `T`. The pointer
        // is derived from the mapping's raw pointer, so it may reach past the header.
        // SAFETY: `raw` points at the initialised header inside the live mapping.
        unsafe { (&raw mut (*self.map.raw()).data).cast::<T>() }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Locks the array; the guard is a `[T]`.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (holding the guard) when the previous holder died holding the lock.
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        let (held, how) = RawGuard::lock(&self.map.lock);
        let g = ArrayGuard { _held: held, data: self.data_ptr(), len: self.len, _p: PhantomData };
        match how {
            Locked::Clean => Ok(g),
            Locked::OwnerDied => Err(OwnerDied::new(g)),
        }
    }

    /// A copy of element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        self.lock().unwrap_or_else(OwnerDied::into_inner).get(i).copied()
    }

    /// Sets element `i`; returns `false` (and changes nothing) past the end.
    pub fn set(&self, i: usize, value: T) -> bool {
        match self.lock().unwrap_or_else(OwnerDied::into_inner).get_mut(i) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// A copy of all elements.
    pub fn to_vec(&self) -> Vec<T> {
        self.lock().unwrap_or_else(OwnerDied::into_inner).to_vec()
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Array").field(&self.to_vec()).finish()
    }
}

/// Access to a locked [`Value`]; unlocks on drop.
pub struct Guard<'a, T> {
    _held: RawGuard<'a>,
    data: *mut T,
    _p: PhantomData<&'a mut T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so no other process or thread accesses the data.
        unsafe { &*self.data }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above.
        unsafe { &mut *self.data }
    }
}

impl<T: fmt::Debug> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Access to a locked [`Array`] as a slice; unlocks on drop.
pub struct ArrayGuard<'a, T> {
    _held: RawGuard<'a>,
    data: *mut T,
    len: usize,
    _p: PhantomData<&'a mut [T]>,
}

impl<T> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lock is held; `data` points at `len` initialised plain elements.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl<T> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.len) }
    }
}

impl<T: fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Named POSIX shared memory (`shm_open(3)`, mode 0600), for processes that are not forks of
/// one another. It appears as `/dev/shm/NAME`.
///
/// The creator's handle removes the name when it drops, unless [`persist`](Self::persist) was
/// called; handles from [`open`](Self::open) never remove it. The memory itself lives until the
/// last mapping goes.
///
/// Access is raw bytes: [`read_at`](Self::read_at) and [`write_at`](Self::write_at) copy in and
/// out. Other processes may write at the same time; coordinate them with a lock or semaphore
/// (for example one kept inside the memory by a protocol of your own, or a pipe).
///
/// Any process that can open the name can also shrink the object (`ftruncate`). Touching a mapped
/// page past the new end raises `SIGBUS`, which kills the process; so `read_at` and `write_at` do
/// not touch the mapping but let the kernel copy (`pread(2)`/`pwrite(2)` on the object's
/// descriptor), and a shrunk object gives them an [`UnexpectedEof`](io::ErrorKind::UnexpectedEof)
/// error. Only memory reached through [`as_ptr`](Self::as_ptr) carries the `SIGBUS` hazard.
///
/// # Examples
///
/// ```
/// use mp_ipc::SharedMemory;
/// let name = format!("/mp-doc-{}", std::process::id());
/// let a = SharedMemory::create(&name, 4096)?;
/// a.write_at(10, b"hello")?;
/// let b = SharedMemory::open(&name)?;
/// let mut buf = [0u8; 5];
/// b.read_at(10, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// assert_eq!(b.len(), 4096);
/// drop(a); // removes /dev/shm/mp-doc-PID
/// assert!(SharedMemory::open(&name).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
    name: CString,
    unlink_on_drop: bool,
}

// SAFETY: the handle is a descriptor and a mapping; the bytes are only copied in and out.
unsafe impl Send for SharedMemory {}
// SAFETY: as above.
unsafe impl Sync for SharedMemory {}

/// Checks a POSIX IPC object name (`/name`: one leading slash, no other, at most 255 bytes, no
/// NUL) and makes it a C string; `what` names the kind of object in the error.
pub(crate) fn posix_name(name: &str, what: &str) -> io::Result<CString> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid {what} name {name:?}: use \"/name\" (one leading slash, no other slash, at most 255 bytes)"
            ),
        )
    };
    if !name.starts_with('/') || name.len() < 2 || name.len() > 255 || name[1..].contains('/') {
        return Err(bad());
    }
    CString::new(name).map_err(|_| bad())
}

fn shm_name(name: &str) -> io::Result<CString> {
    posix_name(name, "shared memory")
}

impl SharedMemory {
    /// Creates `name` (which must look like `/something`) with `len` zeroed bytes; fails if it
    /// exists.
    ///
    /// # Errors
    ///
    /// `AlreadyExists`, `InvalidInput` for a bad name or a zero length, or the system's error.
    pub fn create(name: &str, len: usize) -> io::Result<SharedMemory> {
        let cname = shm_name(name)?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "shared memory of length 0"));
        }
        let fd = sys::mman::shm_open(&cname, true)?;
        let made =
            sys::mman::ftruncate(fd.as_fd(), len).and_then(|()| sys::mman::map_shared_fd(fd.as_fd(), len));
        match made {
            Ok(ptr) => Ok(SharedMemory { fd, ptr, len, name: cname, unlink_on_drop: true }),
            Err(e) => {
                let _ = sys::mman::shm_unlink(&cname);
                Err(e)
            }
        }
    }

    /// Opens an existing `name`, mapping all of it.
    ///
    /// # Errors
    ///
    /// `NotFound`, `InvalidInput` for a bad name, or the system's error.
    pub fn open(name: &str) -> io::Result<SharedMemory> {
        let cname = shm_name(name)?;
        let fd = sys::mman::shm_open(&cname, false)?;
        let len = sys::mman::file_size(fd.as_fd())?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "shared memory object is empty"));
        }
        let ptr = sys::mman::map_shared_fd(fd.as_fd(), len)?;
        Ok(SharedMemory { fd, ptr, len, name: cname, unlink_on_drop: false })
    }

    /// The descriptor and the system name of this segment (for [`crate::handoff`]).
    pub(crate) fn handoff_parts(&self) -> (BorrowedFd<'_>, &[u8]) {
        (self.fd.as_fd(), self.name.as_bytes())
    }

    /// A handle on the segment whose descriptor another process sent (for [`crate::handoff`]):
    /// attached, as [`open`](Self::open) does, so it does not remove the name when dropped.
    pub(crate) fn from_handoff_fd(fd: OwnedFd, name: Vec<u8>) -> io::Result<SharedMemory> {
        let name = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let len = sys::mman::file_size(fd.as_fd())?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "shared memory object is empty"));
        }
        let ptr = sys::mman::map_shared_fd(fd.as_fd(), len)?;
        Ok(SharedMemory { fd, ptr, len, name, unlink_on_drop: false })
    }

    /// Keeps the name after this handle drops (it can then be removed with [`unlink`](Self::unlink)).
    pub fn persist(&mut self) {
        self.unlink_on_drop = false;
    }

    /// Removes `name` now (existing mappings stay valid).
    ///
    /// # Errors
    ///
    /// `NotFound` or the system's error.
    pub fn unlink(name: &str) -> io::Result<()> {
        sys::mman::shm_unlink(&shm_name(name)?)
    }

    /// Length in bytes: the length mapped when this handle was made (another process may have
    /// resized the object since).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: zero-length objects are refused.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name, as given.
    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or_default()
    }

    /// The start of the mapping (of [`len`](Self::len) bytes), for callers that build their own
    /// structures in it.
    ///
    /// # Shrinking by another process
    ///
    /// Reading or writing through the pointer is `unsafe` code, and it has one hazard more than
    /// ordinary memory: if any process shrinks the object (`ftruncate`) after this handle mapped
    /// it, touching a page past the new end raises `SIGBUS`, which kills this process. Use the
    /// pointer only for objects whose processes all agree never to shrink them, or use
    /// [`read_at`](Self::read_at) and [`write_at`](Self::write_at), which report a shrunk object
    /// as an error instead.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Checks that `offset..offset + n` lies inside the mapped length; returns its end.
    fn range_end(&self, offset: usize, n: usize) -> io::Result<usize> {
        match offset.checked_add(n) {
            Some(end) if end <= self.len => Ok(end),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("range {offset}..+{n} is outside shared memory of {} bytes", self.len),
            )),
        }
    }

    /// The error for an access that needs the object to reach `end` bytes when it no longer does.
    fn truncated(&self, end: usize) -> io::Error {
        let now = match sys::mman::file_size(self.fd.as_fd()) {
            Ok(n) => format!("{n} bytes now"),
            Err(e) => format!("size unknown: {e}"),
        };
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the shared memory object was truncated by another process ({now}, access needs {end})"),
        )
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`.
    ///
    /// The copy is one `pread(2)` of the object's descriptor, so that an object shrunk by another
    /// process is an error rather than a `SIGBUS`. That costs a system call (about a microsecond)
    /// and a kernel copy, a few times slower than a `memcpy` for large ranges: code that copies
    /// in bulk on a hot path, among processes that agree never to shrink the object, can use
    /// [`as_ptr`](Self::as_ptr) instead.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the range is outside [`len`](Self::len); `UnexpectedEof` when another
    /// process shrank the object below the end of the range (`buf` may then hold part of the
    /// bytes).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> io::Result<()> {
        let end = self.range_end(offset, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            match sys::fd::pread(self.fd.as_fd(), &mut buf[done..], offset + done)? {
                0 => return Err(self.truncated(end)),
                n => done += n,
            }
        }
        Ok(())
    }

    /// Copies `buf` to `offset`.
    ///
    /// The copy is one `pwrite(2)` of the object's descriptor after an `fstat(2)` that checks the
    /// object still reaches the end of the range, so that an object shrunk by another process is
    /// an error rather than a `SIGBUS` (the cost is as for [`read_at`](Self::read_at), plus the
    /// `fstat`). A shrink that races with the write, between the check and
    /// the copy, is not detected: the write then grows the object back to the end of the range
    /// (with zeros before it), as a `pwrite` past the end of a file does.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the range is outside [`len`](Self::len); `UnexpectedEof` when another
    /// process shrank the object below the end of the range (nothing is written then).
    pub fn write_at(&self, offset: usize, buf: &[u8]) -> io::Result<()> {
        let end = self.range_end(offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        // pwrite past the end of the file would grow it rather than stop short: check first.
        if sys::mman::file_size(self.fd.as_fd())? < end {
            return Err(self.truncated(end));
        }
        let mut done = 0;
        while done < buf.len() {
            match sys::fd::pwrite(self.fd.as_fd(), &buf[done..], offset + done)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => done += n,
            }
        }
        Ok(())
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `create`/`open`; no reference into it outlives `self`.
        unsafe { sys::mman::unmap(self.ptr, self.len) };
        if self.unlink_on_drop {
            let _ = sys::mman::shm_unlink(&self.name);
        }
    }
}

impl AsFd for SharedMemory {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for SharedMemory {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
