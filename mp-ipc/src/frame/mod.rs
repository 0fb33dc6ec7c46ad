//! Length-framed messages on a byte stream: a 4-byte little-endian length, then the payload.
//! This module encodes and writes them; [`reader`] reads them back.

mod reader;

pub(crate) use reader::FrameReader;

use crate::block;
use crate::error::{RecvError, SendError};
use crate::sys;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::os::fd::BorrowedFd;
use std::time::Instant;

/// Default largest message: 64 MiB.
pub(crate) const DEFAULT_MAX: usize = 64 << 20;
/// The length word before every payload.
const HEADER: usize = 4;

/// Appends the postcard encoding of `value` to `buf`, as `postcard::to_extend` does, but without
/// a `memcpy` call for every small piece (a varint, a short string): encoding a million small
/// numbers spends most of its time in those calls otherwise. On error `buf` may hold a part.
///
/// # Errors
///
/// postcard's, for a value serde cannot express in its format.
///
/// # Examples
///
/// ```
/// let mut buf = vec![0xff];
/// mp_ipc::encode_into(&(1u32, "你好"), &mut buf)?;
/// assert_eq!(buf[0], 0xff);
/// assert_eq!(postcard::from_bytes::<(u32, String)>(&buf[1..])?, (1, "你好".to_string()));
/// # Ok::<(), postcard::Error>(())
/// ```
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> postcard::Result<()> {
    if let Some(bytes) = block::as_block(value) {
        block::encode(bytes, buf);
        return Ok(());
    }
    postcard::serialize_with_flavor(value, Append(buf))
}

/// A postcard output that appends to a `Vec`, short pieces byte by byte.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        self.0.push(b);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() <= 16 {
            self.0.reserve(data.len());
            for &b in data {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Encodes `value` as one frame (header and payload) into `buf`, which it clears first.
fn encode_frame<T: Serialize + ?Sized>(value: &T, max: usize, buf: &mut Vec<u8>) -> Result<(), SendError> {
    buf.clear();
    buf.extend_from_slice(&[0; HEADER]);
    encode_into(value, buf).map_err(SendError::encoding)?;
    let len = buf.len() - HEADER;
    check_len(len, max)?;
    buf[..HEADER].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

thread_local! {
    /// The sending buffer of this thread, reused so that a send allocates (and the kernel
    /// faults in fresh pages) only when a message is larger than any before it.
    static SEND_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Encodes `value` as one frame into this thread's reused buffer and writes it to `fd`.
pub(crate) fn send_encoded<T: Serialize + ?Sized>(
    fd: BorrowedFd<'_>,
    socket: bool,
    value: &T,
    max: usize,
) -> Result<(), SendError> {
    if let Some(bytes) = block::as_block(value) {
        // A byte vector goes as it is, behind its header: no copy into the buffer.
        let (varint, n) = block::varint(bytes.len());
        let len = n + bytes.len();
        check_len(len, max)?;
        let mut head = [0u8; HEADER + 10];
        head[..HEADER].copy_from_slice(&(len as u32).to_le_bytes());
        head[HEADER..HEADER + n].copy_from_slice(&varint[..n]);
        return Ok(sys::fd::write_all2(fd, &head[..HEADER + n], bytes, socket)?);
    }
    // Taken out of the cell for the call, so that a `Serialize` impl that itself sends (or a
    // signal handler) finds an empty buffer instead of a borrow error.
    let mut buf = SEND_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let r = encode_frame(value, max, &mut buf).and_then(|()| write_encoded(fd, socket, &buf));
    // Keep at most 16 MiB around per thread.
    if buf.capacity() <= 16 << 20 {
        SEND_BUF.with(|b| *b.borrow_mut() = buf);
    }
    r
}

fn check_len(len: usize, max: usize) -> Result<(), SendError> {
    if len > max || len > u32::MAX as usize {
        return Err(SendError::TooLarge { len: len as u64, max: max.min(u32::MAX as usize) as u64 });
    }
    Ok(())
}

/// Writes one frame of raw bytes.
pub(crate) fn write_bytes(
    fd: BorrowedFd<'_>,
    socket: bool,
    payload: &[u8],
    max: usize,
) -> Result<(), SendError> {
    check_len(payload.len(), max)?;
    let header = (payload.len() as u32).to_le_bytes();
    Ok(sys::fd::write_all2(fd, &header, payload, socket)?)
}

/// Writes several messages of raw bytes, each framed, with one system call in the common case.
pub(crate) fn write_many(
    fd: BorrowedFd<'_>,
    socket: bool,
    payloads: &[&[u8]],
    max: usize,
) -> Result<(), SendError> {
    let total: usize = payloads.iter().map(|p| HEADER + p.len()).sum();
    let mut buf = Vec::with_capacity(total);
    for p in payloads {
        check_len(p.len(), max)?;
        buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
        buf.extend_from_slice(p);
    }
    Ok(sys::fd::write_all2(fd, &buf, &[], socket)?)
}

/// Writes one already-encoded frame (from [`encode_frame`]).
pub(crate) fn write_encoded(fd: BorrowedFd<'_>, socket: bool, frame: &[u8]) -> Result<(), SendError> {
    Ok(sys::fd::write_all2(fd, frame, &[], socket)?)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RecvError> {
    if let Some(v) = block::decode(bytes).and_then(block::from_block) {
        return Ok(v);
    }
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        // postcard has no "trailing bytes" error of its own: bytes left over after the value mean
        // the frame holds another type than the one asked for.
        Ok(_) => Err(RecvError::Decode(postcard::Error::DeserializeBadEncoding)),
        Err(e) => Err(RecvError::Decode(e)),
    }
}

/// Waits for `fd` to be readable until `deadline`; for `poll(timeout)` on connections.
pub(crate) fn poll_fd(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> std::io::Result<bool> {
    Ok(sys::fd::poll_readable(&[fd], deadline)?[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_into_appends_exactly_postcards_bytes() {
        #[derive(Serialize)]
        struct Mixed {
            small: u8,
            big: u64,
            neg: i64,
            short: String,
            long: String,
            list: Vec<u32>,
            bytes: Vec<u8>,
        }
        let v = Mixed {
            small: 7,
            big: u64::MAX,
            neg: -300,
            short: "hé".into(),
            long: "x".repeat(1000),
            list: (0..300).map(|i| i * 1000).collect(),
            bytes: vec![1; 17],
        };
        let mut buf = vec![9, 9];
        encode_into(&v, &mut buf).unwrap();
        assert_eq!(&buf[..2], [9, 9], "appended after what was there");
        assert_eq!(buf[2..], postcard::to_allocvec(&v).unwrap());
    }
}
