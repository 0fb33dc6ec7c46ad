//! Handles as arguments: values whose descriptors travel with them to another process.
//!
//! A forked child inherits every handle of its parent. A process that was *not* forked from the
//! holder (a child of `mp_core`'s fork server, for example) gets a handle another way: its
//! descriptors are sent over a Unix socket with `SCM_RIGHTS`, which installs copies of them in
//! the receiving process. This module does that for any `serde` value, the way `ipc-channel`
//! does:
//!
//! * [`encode_with_fds`] serializes a value with postcard. Each mp-ipc handle inside it
//!   ([`Connection`], [`PipeReader`],
//!   [`PipeWriter`], [`Queue`],
//!   [`JoinableQueue`], [`SimpleQueue`],
//!   [`Lock`], [`RLock`], [`Semaphore`],
//!   [`BoundedSemaphore`], [`Event`],
//!   [`Condition`], [`Barrier`], [`Value`],
//!   [`Array`], [`SharedMemory`], and any descriptor wrapped
//!   in [`Fd`]) writes only an index and a little metadata into the bytes, and puts a duplicate
//!   of its descriptor(s) into a per-thread list of outgoing descriptors, which is returned with
//!   the bytes.
//! * The bytes and the descriptors are sent as one message ([`send_with_fds`], over a socket
//!   from [`seqpacket_pair`]) and received as one ([`recv_with_fds`]).
//! * [`decode_with_fds`] deserializes the value; each handle takes its descriptor(s) from the
//!   received list by index and rebuilds itself around them (a shared-memory object maps the
//!   same memory file, checking its size first).
//!
//! Outside [`encode_with_fds`] a handle refuses to serialize, with the error
//! ["an mp-ipc handle can be sent only as a fork-server argument …"](NOT_IN_TRANSFER): written
//! into a [`Queue`] or a pipe, its index would mean nothing to the reader. Those
//! `send`s fail with [`SendError::Handle`](crate::SendError::Handle) carrying that text
//! (postcard itself keeps no text of a custom error).
//!
//! # What a passed handle is
//!
//! The received handle is a new handle on the same object: a lock or a queue is the same shared
//! memory, a pipe end is the same pipe. A [`Queue`] passed while its handle may
//! still put carries a duplicate of its producer descriptor (see the queue's design notes), so the
//! receiving process counts as a producer until it closes its handle or exits, as a forked child
//! does; a closed handle arrives closed. The sender keeps its own handle (the descriptors sent are
//! duplicates). A [`SharedMemory`] arrives as an attached segment that the
//! receiver does not unlink. A [`Connection`] or
//! [`PipeReader`] with bytes already read into its buffer refuses to
//! serialize (those bytes would be lost).
//!
//! # Examples
//!
//! ```
//! use mp_ipc::handoff::{self, Fd};
//! use std::io::{Read, Write};
//!
//! let (mut rd, wr) = std::io::pipe()?;
//! let (a, b) = handoff::seqpacket_pair()?;
//! let (bytes, fds) = handoff::encode_with_fds(&("log", Fd::new(wr)))?;
//! handoff::send_with_fds(&a, &bytes, &fds)?;
//! drop(fds); // the message holds its own copies
//!
//! let mut buf = Vec::with_capacity(4096);
//! let got = handoff::recv_with_fds(&b, &mut buf, handoff::MAX_FDS, true)?.expect("a message");
//! let (name, fd): (String, Fd) = handoff::decode_with_fds(&buf, got)?;
//! assert_eq!(name, "log");
//! std::fs::File::from(fd.into_inner()).write_all(b"hi")?;
//! let mut text = String::new();
//! rd.read_to_string(&mut text)?;
//! assert_eq!(text, "hi");
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::sys;
use crate::{
    Array, Barrier, BoundedSemaphore, Condition, Connection, Event, JoinableQueue, Lock, PipeReader,
    PipeWriter, Plain, Queue, RLock, Semaphore, SharedMemory, SimpleQueue, Value,
};
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser};
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// The most descriptors one message carries (the kernel's `SCM_MAX_FD`).
pub const MAX_FDS: usize = sys::scm::MAX_FDS;

/// The error a handle gives when it is serialized outside [`encode_with_fds`].
pub const NOT_IN_TRANSFER: &str = "an mp-ipc handle can be sent only as a fork-server argument \
     (mp_ipc::handoff::encode_with_fds), not through a queue, pipe or other serializer: \
     its descriptor cannot travel in bytes";

thread_local! {
    /// Descriptors collected by the [`encode_with_fds`] running on this thread.
    static OUTGOING: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    /// Descriptors offered to the [`decode_with_fds`] running on this thread; each is taken once.
    static INCOMING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
    /// Why the last handle on this thread refused to serialize. Postcard keeps no text of a
    /// custom error, so the encoders here ([`encode_with_fds`], a queue's or pipe's `send`) read
    /// the reason from this slot to report it.
    static REFUSAL: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Records why a handle refused to serialize, and makes the serializer's error.
fn refuse<E: ser::Error>(why: &'static str) -> E {
    REFUSAL.with(|r| r.set(Some(why)));
    E::custom(why)
}

/// Takes the reason recorded by the last refusal on this thread (see `REFUSAL`).
pub(crate) fn take_refusal() -> Option<&'static str> {
    REFUSAL.with(std::cell::Cell::take)
}

/// Restores the previous per-thread list when an encode or decode ends (also by a panic), so
/// that a nested call cannot leak into an outer one.
struct Restore<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    prev: Option<T>,
}

impl<T: 'static> Restore<T> {
    fn install(key: &'static std::thread::LocalKey<RefCell<Option<T>>>, value: T) -> Restore<T> {
        let prev = key.with(|c| c.replace(Some(value)));
        Restore { key, prev }
    }

    /// Restores the previous list now and returns the one installed.
    fn take(mut self) -> Option<T> {
        let prev = self.prev.take();
        let key = self.key;
        // Restored here: the drop must not restore again.
        std::mem::forget(self);
        key.with(|c| c.replace(prev))
    }
}

impl<T: 'static> Drop for Restore<T> {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // `try_with`: during thread teardown the slot may be gone already.
        let _ = self.key.try_with(|c| c.replace(prev));
    }
}

fn codec_error(e: postcard::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn encode_error(e: postcard::Error) -> io::Error {
    match take_refusal() {
        Some(why) => io::Error::new(io::ErrorKind::InvalidData, why),
        None => codec_error(e),
    }
}

/// Serializes `value` with postcard, collecting the descriptors of the mp-ipc handles (and
/// [`Fd`]s) inside it: returns the bytes and duplicates of those descriptors, in the order the
/// bytes refer to them. Send both together ([`send_with_fds`]); see the [module docs](self).
///
/// # Errors
///
/// `InvalidData` with the serializer's error (a handle that cannot travel, such as a
/// [`Connection`] with buffered input, or more than [`MAX_FDS`]
/// descriptors); the `dup` error (`EMFILE` at the descriptor limit).
///
/// # Examples
///
/// ```
/// use mp_ipc::handoff::{Fd, decode_with_fds, encode_with_fds};
/// let file = std::fs::File::open("/dev/null")?;
/// let (bytes, fds) = encode_with_fds(&(7u32, Fd::new(file)))?;
/// assert_eq!(fds.len(), 1);
/// let (n, _null): (u32, Fd) = decode_with_fds(&bytes, fds)?;
/// assert_eq!(n, 7);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn encode_with_fds<T: Serialize + ?Sized>(value: &T) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let collect = Restore::install(&OUTGOING, Vec::new());
    take_refusal();
    let bytes = postcard::to_stdvec(value).map_err(encode_error)?;
    let fds = collect.take().unwrap_or_default();
    Ok((bytes, fds))
}

/// Deserializes a value made by [`encode_with_fds`] in another process, giving the handles inside
/// it the received descriptors `fds`. Descriptors that no handle takes are closed.
///
/// # Errors
///
/// `InvalidData`: the bytes do not decode as a `T`, an index names no received descriptor (or
/// one already taken), or a shared-memory descriptor is not a memory file of the expected size.
///
/// # Examples
///
/// ```
/// use mp_ipc::handoff::{decode_with_fds, encode_with_fds};
/// let (bytes, fds) = encode_with_fds(&String::from("no descriptors"))?;
/// assert!(fds.is_empty());
/// assert_eq!(decode_with_fds::<String>(&bytes, fds)?, "no descriptors");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn decode_with_fds<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> io::Result<T> {
    let _offer = Restore::install(&INCOMING, fds.into_iter().map(Some).collect());
    postcard::from_bytes(bytes).map_err(codec_error)
}

/// Puts a duplicate of `fd` into the outgoing list of the running [`encode_with_fds`]; returns
/// its index. Fails with [`NOT_IN_TRANSFER`] outside one.
pub(crate) fn push_fd<E: ser::Error>(fd: BorrowedFd<'_>) -> Result<u32, E> {
    OUTGOING.with(|c| {
        let mut list = c.borrow_mut();
        let list = list.as_mut().ok_or_else(|| refuse::<E>(NOT_IN_TRANSFER))?;
        if list.len() >= MAX_FDS {
            return Err(refuse("more than 253 descriptors in one message"));
        }
        let dup = fd
            .try_clone_to_owned()
            .map_err(|_| refuse::<E>("a handle's descriptor could not be duplicated"))?;
        list.push(dup);
        Ok((list.len() - 1) as u32)
    })
}

/// Takes received descriptor `index` from the running [`decode_with_fds`].
pub(crate) fn take_fd<E: de::Error>(index: u32) -> Result<OwnedFd, E> {
    INCOMING.with(|c| {
        let mut list = c.borrow_mut();
        let list = list.as_mut().ok_or_else(|| {
            E::custom("an mp-ipc handle can be decoded only by mp_ipc::handoff::decode_with_fds")
        })?;
        list.get_mut(index as usize)
            .and_then(Option::take)
            .ok_or_else(|| E::custom(format_args!("descriptor {index} was not received, or was taken twice")))
    })
}

/// Serializes `fd` as its index in the outgoing list.
pub(crate) fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    push_fd::<S::Error>(fd)?.serialize(s)
}

/// Deserializes an index and takes that received descriptor.
pub(crate) fn deserialize_fd<'de, D: Deserializer<'de>>(d: D) -> Result<OwnedFd, D::Error> {
    take_fd(u32::deserialize(d)?)
}

/// Any descriptor, as a value that can travel with [`encode_with_fds`]: a socket
/// (`std::net::UdpSocket`, `TcpListener`), a file, a pidfd, an eventfd.
///
/// # Examples
///
/// ```
/// use mp_ipc::handoff::{Fd, decode_with_fds, encode_with_fds};
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let addr = socket.local_addr()?;
/// let (bytes, fds) = encode_with_fds(&Fd::new(socket))?;
/// let got: Fd = decode_with_fds(&bytes, fds)?;
/// let socket = std::net::UdpSocket::from(got.into_inner());
/// assert_eq!(socket.local_addr()?, addr);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Fd(OwnedFd);

impl Fd {
    /// Wraps anything that owns a descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// let fd = mp_ipc::handoff::Fd::new(std::fs::File::open("/dev/null")?);
    /// let _file = std::fs::File::from(fd.into_inner());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(fd: impl Into<OwnedFd>) -> Fd {
        Fd(fd.into())
    }

    /// The descriptor, to turn back into its type (`UdpSocket::from(fd.into_inner())`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let fd = mp_ipc::handoff::Fd::new(std::fs::File::open("/dev/null")?);
    /// let owned: OwnedFd = fd.into_inner();
    /// drop(owned);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(self) -> OwnedFd {
        self.0
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fd").field(&self.0.as_raw_fd()).finish()
    }
}

impl From<Fd> for OwnedFd {
    fn from(fd: Fd) -> OwnedFd {
        fd.0
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Serialize for Fd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.0.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for Fd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fd, D::Error> {
        deserialize_fd(d).map(Fd)
    }
}

/// A connected pair of `AF_UNIX` `SOCK_SEQPACKET` sockets with close-on-exec set: each `send`
/// arrives as one message (never merged or split), the end of the stream shows when the peer
/// closes, and messages can carry descriptors.
///
/// # Errors
///
/// The `socketpair(2)` error (`EMFILE` at the descriptor limit).
///
/// # Examples
///
/// ```
/// let (a, b) = mp_ipc::handoff::seqpacket_pair()?;
/// let null = std::fs::File::open("/dev/null")?;
/// mp_ipc::handoff::send_with_fds(&a, b"one", &[&null])?;
/// mp_ipc::handoff::send_with_fds(&a, b"two", &[&null, &null])?;
/// let mut buf = Vec::with_capacity(16);
/// let fds = mp_ipc::handoff::recv_with_fds(&b, &mut buf, 4, true)?.expect("a message");
/// assert_eq!((buf.as_slice(), fds.len()), (&b"one"[..], 1));
/// let fds = mp_ipc::handoff::recv_with_fds(&b, &mut buf, 4, true)?.expect("a message");
/// assert_eq!((buf.as_slice(), fds.len()), (&b"two"[..], 2), "one message per send");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    sys::scm::seqpacket_pair()
}

/// Sends `data` as one message on a Unix socket with `fds` attached (`sendmsg(2)` with
/// `SCM_RIGHTS`); the kernel duplicates the descriptors into the message, so the caller's stay
/// open. A closed peer gives `EPIPE` (`BrokenPipe`), never `SIGPIPE`. Do not send an empty
/// message without descriptors: the receiver reads it as the end of the stream.
///
/// # Errors
///
/// `InvalidInput` for more than [`MAX_FDS`] descriptors; the `sendmsg` error (`EMSGSIZE` for a
/// message larger than the socket's send buffer, `EPIPE`).
///
/// # Examples
///
/// See [`seqpacket_pair`].
pub fn send_with_fds(sock: &impl AsFd, data: &[u8], fds: &[impl AsFd]) -> io::Result<()> {
    let fds: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
    sys::scm::send_with_fds(sock.as_fd(), data, &fds)
}

/// Receives one message into `buf` (its previous contents are replaced; it holds at most its
/// capacity) and the descriptors that came with it, each an `OwnedFd` with close-on-exec set
/// atomically (`MSG_CMSG_CLOEXEC`). `wait: false` returns `WouldBlock` instead of waiting.
/// `Ok(None)` is the end of the stream (the peer closed).
///
/// # Errors
///
/// `InvalidData` when the message was longer than `buf`'s capacity or carried more than
/// `max_fds` descriptors (the descriptors that did arrive are closed); the `recvmsg(2)` error.
///
/// # Examples
///
/// See [`seqpacket_pair`].
pub fn recv_with_fds(
    sock: &impl AsFd,
    buf: &mut Vec<u8>,
    max_fds: usize,
    wait: bool,
) -> io::Result<Option<Vec<OwnedFd>>> {
    sys::scm::recv_with_fds(sock.as_fd(), buf, max_fds, wait)
}

// ---- The handles: each writes indexes (and a little metadata) and travels by descriptor. ----

/// A handle's descriptor index, or the error of a handle that cannot travel.
fn index_of<E: ser::Error>(fd: BorrowedFd<'_>) -> Result<u32, E> {
    push_fd::<E>(fd)
}

/// Turns a rebuild error into the deserializer's error.
fn rebuilt<T, E: de::Error>(r: io::Result<T>) -> Result<T, E> {
    r.map_err(E::custom)
}

/// Handles that are one shared-memory object: one descriptor, nothing else.
macro_rules! mapped_handle {
    ($($t:ty),* $(,)?) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_fd(self.mapping_fd(), s)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                rebuilt(<$t>::from_mapping_fd(deserialize_fd(d)?))
            }
        }
    )*};
}

mapped_handle!(Lock, RLock, Semaphore, BoundedSemaphore, Event, Barrier);

impl<T: Plain> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.mapping_fd(), s)
    }
}

impl<'de, T: Plain> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        rebuilt(Value::from_mapping_fd(deserialize_fd(d)?))
    }
}

impl<T: Plain> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.len() as u64, index_of::<S::Error>(self.mapping_fd())?).serialize(s)
    }
}

impl<'de, T: Plain> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (len, index) = <(u64, u32)>::deserialize(d)?;
        let len = usize::try_from(len).map_err(de::Error::custom)?;
        rebuilt(Array::from_mapping_fd(take_fd(index)?, len))
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (reentrant, lock, state) = self.handoff_parts();
        (reentrant, index_of::<S::Error>(lock)?, index_of::<S::Error>(state)?).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (reentrant, lock, state) = <(bool, u32, u32)>::deserialize(d)?;
        rebuilt(Condition::from_handoff_parts(reentrant, take_fd(lock)?, take_fd(state)?))
    }
}

impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (fd, name) = self.handoff_parts();
        (name, index_of::<S::Error>(fd)?).serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (name, index) = <(Vec<u8>, u32)>::deserialize(d)?;
        rebuilt(SharedMemory::from_handoff_fd(take_fd(index)?, name))
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (map, gone, overflow, producer) = self.handoff_parts().map_err(ser::Error::custom)?;
        let producer = match &producer {
            Some(fd) => Some(index_of::<S::Error>(fd.as_fd())?),
            None => None,
        };
        let (map, gone, overflow) =
            (index_of::<S::Error>(map)?, index_of::<S::Error>(gone)?, index_of::<S::Error>(overflow)?);
        (map, gone, overflow, producer).serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (map, gone, overflow, producer) = <(u32, u32, u32, Option<u32>)>::deserialize(d)?;
        let producer = producer.map(take_fd).transpose()?;
        rebuilt(Queue::from_handoff_parts(take_fd(map)?, take_fd(gone)?, take_fd(overflow)?, producer))
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (queue, tasks) = self.handoff_parts();
        (queue, index_of::<S::Error>(tasks)?).serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (queue, tasks) = <(Queue<T>, u32)>::deserialize(d)?;
        rebuilt(JoinableQueue::from_handoff_parts(queue, take_fd(tasks)?))
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue().serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SimpleQueue::from_queue(Queue::deserialize(d)?))
    }
}

/// A pipe end: refused while it holds bytes already read (they would be lost).
macro_rules! pipe_end {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let (fd, max, buffered) = self.handoff_parts();
                if buffered {
                    return Err(refuse(concat!(
                        "a ", stringify!($t), " with received bytes not yet read cannot be sent"
                    )));
                }
                (max as u64, index_of::<S::Error>(fd)?).serialize(s)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let (max, index) = <(u64, u32)>::deserialize(d)?;
                let max = usize::try_from(max).map_err(de::Error::custom)?;
                Ok(<$t>::from_handoff_parts(take_fd(index)?, max))
            }
        }
    )*};
}

pipe_end!(Connection, PipeReader, PipeWriter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_outside_a_transfer_refuses_to_serialize() {
        let fd = Fd::new(std::fs::File::open("/dev/null").unwrap());
        assert!(postcard::to_stdvec(&fd).is_err());
        assert_eq!(take_refusal(), Some(NOT_IN_TRANSFER));
        let bytes = postcard::to_stdvec(&0u32).unwrap();
        assert!(postcard::from_bytes::<Fd>(&bytes).is_err());
    }

    #[test]
    fn a_handle_outside_a_transfer_fails_with_the_clear_error() {
        let lock = Lock::new().unwrap();
        assert!(postcard::to_stdvec(&lock).is_err());
        let q: Queue<Lock> = Queue::new(0).unwrap();
        let err = q.put(&lock).unwrap_err();
        assert!(matches!(err, crate::SendError::Handle(_)), "{err:?}");
        assert!(err.to_string().contains("can be sent only as a fork-server argument"), "{err}");
    }

    #[test]
    fn every_handle_comes_back_as_a_handle_on_the_same_object() {
        type Handles = (
            (Lock, RLock, Semaphore, BoundedSemaphore, Event, Barrier),
            (Value<u64>, Array<u32>, Condition),
            (Queue<u32>, JoinableQueue<u32>, SimpleQueue<u32>),
            (Connection, PipeReader, PipeWriter),
        );
        let (conn, peer) = crate::Pipe::duplex().unwrap();
        let (rd, wr) = crate::Pipe::simplex().unwrap();
        let sent: Handles = (
            (
                Lock::new().unwrap(),
                RLock::new().unwrap(),
                Semaphore::new(0).unwrap(),
                BoundedSemaphore::new(1).unwrap(),
                Event::new().unwrap(),
                Barrier::new(1).unwrap(),
            ),
            (Value::new(7u64).unwrap(), Array::new(&[1u32, 2, 3]).unwrap(), Condition::new().unwrap()),
            (Queue::new(0).unwrap(), JoinableQueue::new(0).unwrap(), SimpleQueue::new().unwrap()),
            (peer, rd, crate::Pipe::simplex().unwrap().1),
        );
        let (bytes, fds) = encode_with_fds(&sent).unwrap();
        let got: Handles = decode_with_fds(&bytes, fds).unwrap();
        let (
            (lock, _rlock, sem, _bsem, event, _barrier),
            (value, array, _cond),
            (q, jq, sq),
            (mut peer, mut rd, _),
        ) = got;
        let _held = sent.0.0.lock().unwrap();
        assert!(lock.try_lock().is_none(), "the same lock");
        sent.0.2.release().unwrap();
        assert!(sem.try_acquire());
        sent.0.4.set();
        assert!(event.is_set());
        value.set(8);
        assert_eq!(sent.1.0.get(), 8);
        assert_eq!(array.to_vec(), [1, 2, 3]);
        q.put(&5).unwrap();
        assert_eq!(sent.2.0.get().unwrap(), 5);
        jq.put(&6).unwrap();
        assert_eq!(sent.2.1.get().unwrap(), 6);
        sq.put(&7).unwrap();
        assert_eq!(sent.2.2.get().unwrap(), 7);
        conn.send(&1u8).unwrap();
        assert_eq!(peer.recv::<u8>().unwrap(), 1);
        wr.send(&2u8).unwrap();
        assert_eq!(rd.recv::<u8>().unwrap(), 2);
    }

    #[test]
    fn a_passed_queue_counts_as_a_producer_until_it_closes() {
        let q: Queue<u32> = Queue::new(0).unwrap();
        let (bytes, fds) = encode_with_fds(&q).unwrap();
        let theirs: Queue<u32> = decode_with_fds(&bytes, fds).unwrap();
        q.close();
        assert!(q.try_get().unwrap_err().is_empty(), "the received handle still produces");
        theirs.put(&1).unwrap();
        theirs.close();
        assert_eq!(q.get().unwrap(), 1);
        assert!(q.get().unwrap_err().is_disconnected());
        // A closed handle travels closed.
        let (bytes, fds) = encode_with_fds(&q).unwrap();
        let closed: Queue<u32> = decode_with_fds(&bytes, fds).unwrap();
        assert!(closed.put(&2).is_err());
    }

    #[test]
    fn a_connection_with_unread_bytes_refuses_to_travel() {
        let (a, mut b) = crate::Pipe::duplex().unwrap();
        a.send_bytes_many(&[b"one", b"two"]).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"one");
        // "two" may already sit in b's buffer: then b cannot be sent.
        if let Err(e) = encode_with_fds(&b) {
            assert!(e.to_string().contains("not yet read"), "{e}");
        }
    }

    #[test]
    fn an_index_is_taken_once() {
        let f = || Fd::new(std::fs::File::open("/dev/null").unwrap());
        let (bytes, fds) = encode_with_fds(&f()).unwrap();
        // The same index twice: the second take fails.
        let mut twice = bytes.clone();
        twice.extend_from_slice(&bytes);
        assert!(decode_with_fds::<(Fd, Fd)>(&twice, fds).is_err());
    }

    #[test]
    fn nested_encodes_keep_their_own_descriptors() {
        struct Nested;
        impl Serialize for Nested {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let inner = Fd::new(std::fs::File::open("/dev/null").unwrap());
                let (_, fds) = encode_with_fds(&(inner,)).map_err(ser::Error::custom)?;
                assert_eq!(fds.len(), 1);
                s.serialize_u8(0)
            }
        }
        let outer = Fd::new(std::fs::File::open("/dev/null").unwrap());
        let (_, fds) = encode_with_fds(&(Nested, outer)).unwrap();
        assert_eq!(fds.len(), 1);
        assert!(OUTGOING.with(|c| c.borrow().is_none()));
    }
}
