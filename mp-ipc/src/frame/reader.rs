//! The receiving half of the framing: a reader that keeps what it has read in its own buffer,
//! so a timeout in the middle of a frame loses nothing (the next call carries on where this one
//! stopped), and reads a large frame straight into a buffer of its own.

use super::{DEFAULT_MAX, HEADER, decode};
use crate::block;
use crate::error::RecvError;
use crate::park::Wait;
use crate::sys;
use serde::de::DeserializeOwned;
use std::os::fd::BorrowedFd;

/// The largest own buffer of a frame a reader keeps for the next one.
const SPARE_MAX: usize = 16 << 20;
/// Bytes asked of the kernel per read when no large frame is pending.
const CHUNK: usize = 64 << 10;
/// Frames above this size are read straight into their own buffer, not through the shared one.
const DIRECT: usize = 64 << 10;
/// The most a frame's own buffer reserves ahead of payload bytes that have arrived, at first.
/// After that it doubles each time the payload fills it ([`next_step`]), bounded by the
/// announced length, so a length prefix costs memory only as bytes arrive: about twice what came
/// in, plus this, whatever length it claims. A 64 MiB message still takes about 10 reallocations.
const FIRST_RESERVE: usize = 64 << 10;

/// The receiving half of the framing.
#[derive(Debug)]
pub(crate) struct FrameReader {
    /// Bytes read but not yet handed out: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// A large frame being read straight into its own buffer: `(payload so far, full length)`.
    large: Option<(Vec<u8>, usize)>,
    /// When a receive of a byte vector began that large frame and it is one byte block (see
    /// [`block`]), its length prefix, kept here instead of in the buffer: the buffer then holds
    /// exactly the bytes and becomes the received vector without a copy.
    stripped: Option<Prefix>,
    /// The last frame was a large one: while nothing else is buffered, the next read asks only
    /// for a header (and a block's length prefix), so that a stream of large frames is read
    /// straight into each frame's own buffer rather than partly through the shared one.
    after_large: bool,
    /// The longest large frame received whole so far (a block of at most this length is
    /// reserved at once).
    largest: usize,
    /// The own buffer of the last large frame that was decoded or copied out rather than handed
    /// to the caller, kept (up to [`SPARE_MAX`]) for the next one: a stream of large messages
    /// then reuses memory whose pages are already in place instead of faulting in fresh ones
    /// for every message. Only memory real frames already filled is kept, so a hostile length
    /// prefix still gains nothing.
    spare: Vec<u8>,
    pub(crate) max: usize,
}

/// A byte block's length prefix taken off its frame: the bytes and how many of them are used.
type Prefix = ([u8; 10], usize);

/// A received frame's payload, as [`FrameReader::next`] hands it out.
enum Payload<'a> {
    /// Still in the reader's shared buffer.
    Borrowed(&'a [u8]),
    /// Read into a buffer of its own.
    Own(Vec<u8>),
    /// A byte block read into a buffer of its own: its length prefix and its bytes, apart.
    Block(Prefix, Vec<u8>),
}

impl Payload<'_> {
    /// The whole payload in one vector (a block gets its prefix back, which moves its bytes).
    fn into_vec(self) -> Vec<u8> {
        match self {
            Payload::Borrowed(b) => b.to_vec(),
            Payload::Own(v) => v,
            Payload::Block((prefix, n), mut v) => {
                v.reserve_exact(n);
                v.splice(0..0, prefix[..n].iter().copied());
                v
            }
        }
    }
}

/// Where the next frame's payload is.
enum Ready {
    /// In `buf[start..end]`.
    Buffered(usize, usize),
    /// In its own vector, with the length prefix that was taken off when it is a byte block.
    Own(Vec<u8>, Option<Prefix>),
}

impl FrameReader {
    pub(crate) fn new() -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            pos: 0,
            large: None,
            stripped: None,
            after_large: false,
            largest: 0,
            spare: Vec::new(),
            max: DEFAULT_MAX,
        }
    }

    /// Bytes of memory this reader holds for frames (its shared buffer and a large frame's own).
    #[cfg(test)]
    fn reserved(&self) -> usize {
        self.buf.capacity() + self.large.as_ref().map_or(0, |(v, _)| v.capacity()) + self.spare.capacity()
    }

    /// Whether a whole frame (or any byte of one) is already buffered, so a receive would not
    /// need the kernel to say "readable".
    pub(crate) fn has_buffered(&self) -> bool {
        self.buf.len() > self.pos || self.large.is_some()
    }

    /// Receives one frame and hands its payload to `f`: borrowed from the shared buffer, or the
    /// frame's own buffer when it was read into one. With `block`, a large frame that is one
    /// byte block is read without its length prefix and handed out as [`Payload::Block`].
    /// [`Wait::Now`] takes only what is readable now; [`Wait::Until`] waits for more until the
    /// deadline (a past one still takes what is readable now). Either gives
    /// [`RecvError::Empty`] when that is not a whole frame; [`Wait::Forever`] blocks.
    fn next<R>(
        &mut self,
        fd: BorrowedFd<'_>,
        wait: Wait,
        block: bool,
        f: impl FnOnce(Payload<'_>) -> R,
    ) -> Result<R, RecvError> {
        match self.fill(fd, wait, block)? {
            Ready::Buffered(start, end) => {
                let r = f(Payload::Borrowed(&self.buf[start..end]));
                self.pos = end;
                if self.pos == self.buf.len() {
                    self.pos = 0;
                    self.buf.clear();
                    if self.buf.capacity() > 4 * CHUNK {
                        self.buf = Vec::new();
                    }
                }
                Ok(r)
            }
            Ready::Own(v, None) => Ok(f(Payload::Own(v))),
            Ready::Own(v, Some(prefix)) => Ok(f(Payload::Block(prefix, v))),
        }
    }

    /// As [`next`](Self::next) for a caller that only reads the payload: a frame's own buffer
    /// is kept as the spare afterwards.
    fn next_borrowed<R>(
        &mut self,
        fd: BorrowedFd<'_>,
        wait: Wait,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RecvError> {
        let mut own = None;
        let r = self.next(fd, wait, false, |p| match p {
            Payload::Borrowed(b) => f(b),
            p => {
                let v = p.into_vec();
                let r = f(&v);
                own = Some(v);
                r
            }
        })?;
        if let Some(mut v) = own
            && v.capacity() <= SPARE_MAX
            && v.capacity() > self.spare.capacity()
        {
            v.clear();
            self.spare = v;
        }
        Ok(r)
    }

    pub(crate) fn recv_bytes(&mut self, fd: BorrowedFd<'_>, wait: Wait) -> Result<Vec<u8>, RecvError> {
        self.next(fd, wait, false, |p| p.into_vec())
    }

    /// Receives one frame into `dst`; returns its length. A frame longer than `dst` is
    /// consumed and handed back in [`RecvError::BufferTooShort`].
    pub(crate) fn recv_bytes_into(
        &mut self,
        fd: BorrowedFd<'_>,
        dst: &mut [u8],
        wait: Wait,
    ) -> Result<usize, RecvError> {
        self.next_borrowed(fd, wait, |bytes| match dst.get_mut(..bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                Ok(bytes.len())
            }
            None => Err(RecvError::BufferTooShort { message: bytes.to_vec() }),
        })?
    }

    pub(crate) fn recv<T: DeserializeOwned>(
        &mut self,
        fd: BorrowedFd<'_>,
        wait: Wait,
    ) -> Result<T, RecvError> {
        if !block::is_block::<T>() {
            return self.next_borrowed(fd, wait, decode)?;
        }
        // A byte vector: a large one becomes the vector it was read into, without a copy.
        self.next(fd, wait, true, |p| match p {
            Payload::Block(prefix, v) => {
                block::from_vec(v).or_else(|v| decode(&Payload::Block(prefix, v).into_vec()))
            }
            Payload::Own(v) => decode(&v),
            Payload::Borrowed(b) => decode(b),
        })?
    }

    /// Reads until a whole frame is in; with `strip`, a large frame that is one byte block is
    /// read without its length prefix (kept in [`stripped`](Self::stripped)).
    fn fill(&mut self, fd: BorrowedFd<'_>, wait: Wait, strip: bool) -> Result<Ready, RecvError> {
        loop {
            if let Some((mut v, full)) = self.large.take() {
                if v.len() == full {
                    self.after_large = true;
                    self.largest = self.largest.max(full);
                    return Ok(Ready::Own(v, self.stripped.take()));
                }
                if v.capacity() == v.len() {
                    v.reserve_exact(next_step(v.len(), full));
                }
                // Never past this frame's end (a reused spare may be larger than the frame).
                let rest = full - v.len();
                let read = self.wait(fd, wait).and_then(|()| Ok(sys::fd::read_spare(fd, &mut v, rest)?));
                match read {
                    Ok(0) => {
                        self.stripped = None;
                        return Err(RecvError::Disconnected);
                    }
                    Ok(_) => self.large = Some((v, full)),
                    Err(e) => {
                        self.large = Some((v, full));
                        return Err(e);
                    }
                }
                continue;
            }
            let avail = self.buf.len() - self.pos;
            if avail >= HEADER {
                let h = &self.buf[self.pos..self.pos + HEADER];
                let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                if len > self.max {
                    return Err(RecvError::TooLarge { len: len as u64, max: self.max as u64 });
                }
                if avail - HEADER >= len {
                    self.after_large = false;
                    let start = self.pos + HEADER;
                    return Ok(Ready::Buffered(start, start + len));
                }
                if len > DIRECT {
                    // Move what we have of this frame into its own buffer and read the rest there.
                    let mut have = &self.buf[self.pos + HEADER..];
                    let mut full = len;
                    if strip
                        && let Some((n, body)) = block::prefix(have)
                        && n + body == len
                    {
                        let mut prefix = [0; 10];
                        prefix[..n].copy_from_slice(&have[..n]);
                        self.stripped = Some((prefix, n));
                        have = &have[n..];
                        full = body;
                    }
                    // A block's buffer goes to the caller, so it is not the spare (which stays for
                    // frames that are read and dropped). It is reserved whole at once when a frame
                    // at least as long has already arrived whole on this stream (the peer has
                    // shown it sends such frames; the read then takes as few calls as the kernel
                    // allows, with no reallocation); otherwise it grows as bytes arrive, like any
                    // large frame, so a lying length prefix still costs only what was sent.
                    let mut v = if self.stripped.is_some() {
                        if full <= self.largest {
                            Vec::with_capacity(full)
                        } else {
                            Vec::with_capacity(have.len() + next_step(have.len(), full))
                        }
                    } else if self.spare.capacity() >= full {
                        std::mem::take(&mut self.spare)
                    } else {
                        Vec::with_capacity(have.len() + next_step(have.len(), full))
                    };
                    v.extend_from_slice(have);
                    self.buf.clear();
                    self.pos = 0;
                    self.large = Some((v, full));
                    continue;
                }
            }
            // Need more bytes: make room (compact) and read.
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            if self.buf.capacity() - self.buf.len() < CHUNK / 2 {
                self.buf.reserve(CHUNK);
            }
            self.wait(fd, wait)?;
            let most = if self.after_large && self.buf.is_empty() { HEADER + 10 } else { usize::MAX };
            if sys::fd::read_spare(fd, &mut self.buf, most)? == 0 {
                self.buf.clear();
                return Err(RecvError::Disconnected);
            }
        }
    }

    /// Returns once `fd` is readable (blocking reads need no wait: the read itself blocks).
    fn wait(&self, fd: BorrowedFd<'_>, wait: Wait) -> Result<(), RecvError> {
        let ready = match wait {
            Wait::Forever => return Ok(()),
            Wait::Now => sys::fd::readable_now(fd)?,
            Wait::Until(t) => sys::fd::poll_readable(&[fd], Some(t))?[0],
        };
        if ready { Ok(()) } else { Err(RecvError::Empty) }
    }
}

/// How much room a frame's own buffer reserves past the `have` payload bytes that arrived (when
/// they fill it): as much again (doubling), at least [`FIRST_RESERVE`], never past the announced
/// length `full`. A rest of up to an eighth more than that step is taken at once, so that a
/// message just over a power of two (a postcard-encoded 1 MiB vector is 1 MiB + 3 bytes) does not
/// end with a reallocation of the whole buffer for its last few bytes.
fn next_step(have: usize, full: usize) -> usize {
    let step = have.max(FIRST_RESERVE);
    let rest = full - have;
    if rest <= step + step / 8 { rest } else { step }
}
#[cfg(test)]
mod tests {
    use super::super::{encode_frame, send_encoded, write_bytes};
    use super::*;
    use crate::Bytes;
    use serde::Serialize;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    /// The capacity of the buffer a large frame is being read into (0 when there is none).
    fn large_capacity(r: &FrameReader) -> usize {
        r.large.as_ref().map_or(0, |(v, _)| v.capacity())
    }

    #[test]
    fn a_huge_length_prefix_reserves_memory_only_as_bytes_arrive() {
        let (rx, tx) = sys::fd::socketpair().unwrap();
        let mut r = FrameReader::new();
        let claimed = 64usize << 20;
        assert!(claimed <= r.max, "the claim is within the limit, so only memory bounds it");
        sys::fd::write_all2(tx.as_fd(), &(claimed as u32).to_le_bytes(), b"a few bytes", true).unwrap();
        assert!(matches!(r.recv_bytes(rx.as_fd(), Wait::Now), Err(RecvError::Empty)));
        assert!(r.large.as_ref().is_some_and(|(v, full)| v.len() == 11 && *full == claimed));
        assert!(large_capacity(&r) <= FIRST_RESERVE + FIRST_RESERVE / 8, "{}", large_capacity(&r));
        assert!(r.reserved() <= CHUNK + FIRST_RESERVE + FIRST_RESERVE / 8, "{}", r.reserved());
        drop(tx);
        // A deadline turns a hang into a test failure rather than a stuck test run.
        let deadline = Instant::now() + Duration::from_secs(60);
        assert!(matches!(r.recv_bytes(rx.as_fd(), Wait::Until(deadline)), Err(RecvError::Disconnected)));
    }

    #[test]
    fn a_huge_byte_vector_prefix_reserves_memory_only_as_bytes_arrive() {
        let (rx, tx) = sys::fd::socketpair().unwrap();
        let mut r = FrameReader::new();
        // A frame that looks like one byte vector of 64 MiB - 4 (a 4-byte length prefix).
        let claimed = 64usize << 20;
        let body = claimed - 4;
        let prefix = block::varint(body);
        assert_eq!(prefix.1, 4);
        let mut head = (claimed as u32).to_le_bytes().to_vec();
        head.extend_from_slice(&prefix.0[..4]);
        sys::fd::write_all2(tx.as_fd(), &head, b"a few bytes", true).unwrap();
        assert!(matches!(r.recv::<Vec<u8>>(rx.as_fd(), Wait::Now), Err(RecvError::Empty)));
        assert!(r.stripped.is_some(), "read as a block");
        assert!(r.large.as_ref().is_some_and(|(v, full)| v.len() == 11 && *full == body));
        assert!(large_capacity(&r) <= FIRST_RESERVE + FIRST_RESERVE / 8, "{}", large_capacity(&r));
        drop(tx);
        let deadline = Instant::now() + Duration::from_secs(60);
        assert!(matches!(r.recv::<Vec<u8>>(rx.as_fd(), Wait::Until(deadline)), Err(RecvError::Disconnected)));
        assert!(r.stripped.is_none(), "nothing of that frame is left");
    }

    #[test]
    fn a_spare_larger_than_the_next_frame_reads_only_that_frame() {
        let (rx, tx) = sys::fd::socketpair().unwrap();
        let sizes = [300_000usize, 100_000, 100_000, 70_000, 300_000];
        let writer = std::thread::spawn(move || {
            for (i, &n) in sizes.iter().enumerate() {
                let data = vec![i as u8; n];
                match i % 3 {
                    0 => write_bytes(tx.as_fd(), true, &data, DEFAULT_MAX).unwrap(),
                    1 => send(&tx, &data),
                    _ => send(&tx, &Bytes(data)),
                }
            }
        });
        let mut r = FrameReader::new();
        let wait = Wait::Until(Instant::now() + Duration::from_secs(60));
        let mut into = vec![0u8; 400_000];
        // Kept as the spare: 300 KB of room for the next, smaller frames.
        assert_eq!(r.recv_bytes_into(rx.as_fd(), &mut into, wait).unwrap(), 300_000);
        let n = r.recv_bytes_into(rx.as_fd(), &mut into, wait).unwrap();
        assert_eq!(postcard::from_bytes::<Vec<u8>>(&into[..n]).unwrap(), vec![1; 100_000]);
        assert_eq!(r.recv::<Bytes>(rx.as_fd(), wait).unwrap().0, vec![2; 100_000]);
        assert_eq!(r.recv_bytes(rx.as_fd(), wait).unwrap(), vec![3; 70_000]);
        let last: Vec<u8> = r.recv(rx.as_fd(), wait).unwrap();
        assert!(last == vec![4; 300_000]);
        writer.join().unwrap();
        assert!(!r.has_buffered());
    }

    #[test]
    fn a_block_finished_by_another_receive_leaves_the_stream_in_step() {
        let (rx, tx) = sys::fd::socketpair().unwrap();
        let data = Bytes(vec![7; 200_000]);
        let mut frame = Vec::new();
        encode_frame(&data, DEFAULT_MAX, &mut frame).unwrap();
        let mut r = FrameReader::new();
        let wait = Wait::Until(Instant::now() + Duration::from_secs(60));
        let mut into = vec![0u8; 300_000];
        for round in 0..3 {
            // Begun as a byte vector, finished as raw bytes into a buffer; then the same again.
            sys::fd::write_all2(tx.as_fd(), &frame[..100_000], &[], true).unwrap();
            assert!(matches!(r.recv::<Vec<u8>>(rx.as_fd(), Wait::Now), Err(RecvError::Empty)));
            sys::fd::write_all2(tx.as_fd(), &frame[100_000..], &[], true).unwrap();
            let n = r.recv_bytes_into(rx.as_fd(), &mut into, wait).unwrap();
            assert!(into[..n] == frame[HEADER..], "round {round}");
        }
        send(&tx, &data);
        assert!(r.recv::<Bytes>(rx.as_fd(), wait).unwrap() == data);
        assert!(!r.has_buffered());
    }

    #[test]
    fn a_large_frame_grows_by_doubling_as_its_bytes_arrive() {
        let (rx, tx) = sys::fd::socketpair().unwrap();
        let mut r = FrameReader::new();
        let payload: Vec<u8> = (0..(1usize << 20) + 3).map(|i| (i % 251) as u8).collect();
        let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let mut capacities = Vec::new();
        let mut got = None;
        for piece in frame.chunks(16 << 10) {
            sys::fd::write_all2(tx.as_fd(), piece, &[], true).unwrap();
            match r.recv_bytes(rx.as_fd(), Wait::Now) {
                Err(RecvError::Empty) => {}
                other => got = Some(other.unwrap()),
            }
            if let Some((v, _)) = &r.large {
                let bound = 2 * v.len() + v.len() / 8 + FIRST_RESERVE + FIRST_RESERVE / 8;
                assert!(v.capacity() <= bound, "{} reserved for {} received", v.capacity(), v.len());
                if capacities.last() != Some(&v.capacity()) {
                    capacities.push(v.capacity());
                }
            }
        }
        let got = got.expect("the whole frame arrived");
        assert!(got == payload);
        assert_eq!(got.capacity(), payload.len(), "no room reserved past the announced length");
        assert!(capacities.len() <= 6, "reallocations: {capacities:?}");
    }

    /// Sends `value` as a frame on `tx`, as a `Connection` does.
    fn send<T: Serialize + ?Sized>(tx: &std::os::fd::OwnedFd, value: &T) {
        send_encoded(tx.as_fd(), true, value, DEFAULT_MAX).unwrap();
    }

    #[test]
    fn a_large_byte_vector_is_handed_out_in_the_buffer_it_was_read_into() {
        let (rx, tx) = sys::fd::socketpair().unwrap();
        let data: Vec<u8> = (0..(1usize << 20) + 5).map(|i| (i % 253) as u8).collect();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            send(&tx, &sent);
            send(&tx, "small");
            send(&tx, &Bytes(sent.clone()));
            send(&tx, &sent[..10]);
            send(&tx, &(sent, 1u8));
        });
        let mut r = FrameReader::new();
        // A deadline turns a hang into a test failure.
        let wait = Wait::Until(Instant::now() + Duration::from_secs(60));
        let got: Vec<u8> = r.recv(rx.as_fd(), wait).unwrap();
        assert!(got == data);
        assert_eq!(got.capacity(), data.len(), "read into a buffer of exactly its length");
        assert_eq!(r.recv::<String>(rx.as_fd(), wait).unwrap(), "small");
        assert!(r.recv::<Bytes>(rx.as_fd(), wait).unwrap().0 == data);
        assert_eq!(r.recv::<Vec<u8>>(rx.as_fd(), wait).unwrap(), data[..10]);
        // A vector followed by more is not one block: decoded as a whole, it has bytes left over.
        assert!(matches!(r.recv::<Vec<u8>>(rx.as_fd(), wait), Err(RecvError::Decode(_))));
        writer.join().unwrap();
        assert!(!r.has_buffered());
    }

    #[test]
    fn a_block_begun_by_a_typed_receive_can_be_finished_as_raw_bytes() {
        let (rx, tx) = sys::fd::socketpair().unwrap();
        let data = Bytes((0..300_000u32).map(|i| (i % 251) as u8).collect());
        let mut frame = Vec::new();
        encode_frame(&data, DEFAULT_MAX, &mut frame).unwrap();
        let mut r = FrameReader::new();
        sys::fd::write_all2(tx.as_fd(), &frame[..100_000], &[], true).unwrap();
        assert!(matches!(r.recv::<Bytes>(rx.as_fd(), Wait::Now), Err(RecvError::Empty)));
        assert!(r.stripped.is_some(), "its length prefix was set apart");
        sys::fd::write_all2(tx.as_fd(), &frame[100_000..], &[], true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let raw = r.recv_bytes(rx.as_fd(), Wait::Until(deadline)).unwrap();
        assert!(raw == frame[HEADER..], "the payload whole, prefix included");
        assert!(raw == postcard::to_allocvec(&data).unwrap());
    }
}
