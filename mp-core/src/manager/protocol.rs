//! The wire between a proxy and the server: one request frame, then one reply frame.
//!
//! A frame is a little-endian `u32` length followed by that many bytes of a postcard-encoded
//! [`Request`] or [`Reply`]. Keys and values travel as [`Blob`]s: bytes the proxy already encoded
//! with postcard, written as one block (not byte by byte, as serde writes a `Vec<u8>`) and never
//! decoded by the server, which therefore needs no knowledge of the proxies' types.

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::io::{self, Read, Write};

/// The largest frame either side sends or accepts.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// The server's name for one of its objects.
pub(crate) type ObjId = u64;

/// Bytes encoded by a proxy, opaque to the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Blob(pub Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        struct BlobVisitor;
        impl Visitor<'_> for BlobVisitor {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a block of bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
        }
        d.deserialize_byte_buf(BlobVisitor)
    }
}

/// What a server object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    Dict,
    List,
    Namespace,
    Lock,
}

/// One call of a proxy. Each is carried out atomically by the server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// A new, empty object: [`Reply::Created`].
    Create(Kind),
    /// Entries of a dict, list or namespace: [`Reply::Len`].
    Len(ObjId),
    /// Empties a dict, list or namespace: [`Reply::Done`].
    Clear(ObjId),
    /// [`Reply::Maybe`].
    DictGet(ObjId, Blob),
    /// Stores a value; the old one comes back ([`Reply::Maybe`]) when `return_old`, else
    /// [`Reply::Done`].
    DictSet { obj: ObjId, key: Blob, value: Blob, return_old: bool },
    /// The stored value, after storing `value` if there was none: [`Reply::Value`].
    DictSetDefault(ObjId, Blob, Blob),
    /// Removes an entry; [`Reply::Maybe`] with the old value when `return_old`, else
    /// [`Reply::Bool`] (whether it was there).
    DictRemove { obj: ObjId, key: Blob, return_old: bool },
    /// [`Reply::Bool`].
    DictContains(ObjId, Blob),
    /// Stores `new` only if the entry is still `expected` (`None`: absent): [`Reply::Bool`].
    DictCompareAndSet { obj: ObjId, key: Blob, expected: Option<Blob>, new: Blob },
    /// [`Reply::Values`].
    DictKeys(ObjId),
    /// [`Reply::Values`].
    DictValues(ObjId),
    /// [`Reply::Items`].
    DictItems(ObjId),
    /// Stores every pair, in order: [`Reply::Done`].
    DictUpdate(ObjId, Vec<(Blob, Blob)>),
    /// [`Reply::Done`].
    ListPush(ObjId, Blob),
    /// [`Reply::Done`].
    ListExtend(ObjId, Vec<Blob>),
    /// [`Reply::Maybe`].
    ListGet(ObjId, u64),
    /// [`Reply::Done`] or [`Failure::IndexOutOfRange`].
    ListSet(ObjId, u64, Blob),
    /// [`Reply::Done`] or [`Failure::IndexOutOfRange`] (an index equal to the length appends).
    ListInsert(ObjId, u64, Blob),
    /// [`Reply::Value`] or [`Failure::IndexOutOfRange`].
    ListRemove(ObjId, u64),
    /// The last element: [`Reply::Maybe`].
    ListPop(ObjId),
    /// [`Reply::Values`].
    ListItems(ObjId),
    /// [`Reply::Maybe`].
    NsGet(ObjId, String),
    /// [`Reply::Done`].
    NsSet(ObjId, String, Blob),
    /// [`Reply::Bool`]: whether it was there.
    NsDelete(ObjId, String),
    /// [`Reply::Names`].
    NsNames(ObjId),
    /// Waits for the lock (`None`: for ever; `Some(0)`: not at all), then takes it for this
    /// connection: [`Reply::Bool`] (whether it was taken).
    LockAcquire(ObjId, Option<u64>),
    /// [`Reply::Done`] or [`Failure::NotOwner`].
    LockRelease(ObjId),
}

/// The server's answer to one [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Done,
    Created(ObjId),
    Bool(bool),
    Len(u64),
    Value(Blob),
    Maybe(Option<Blob>),
    Values(Vec<Blob>),
    Items(Vec<(Blob, Blob)>),
    Names(Vec<String>),
    Failed(Failure),
}

/// Why the server refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Failure {
    IndexOutOfRange { index: u64, len: u64 },
    NoSuchObject,
    WrongKind,
    NotOwner,
    TooLarge,
}

/// Encodes `msg` as one frame, ready for one `write_all`.
pub(crate) fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, EncodeError> {
    let frame = postcard::to_extend(msg, vec![0u8; 4]).map_err(EncodeError::Codec)?;
    let len = frame.len() - 4;
    if len > MAX_FRAME {
        return Err(EncodeError::TooLarge);
    }
    let mut frame = frame;
    frame[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(frame)
}

/// Why [`encode_frame`] failed.
#[derive(Debug)]
pub(crate) enum EncodeError {
    Codec(postcard::Error),
    TooLarge,
}

/// Reads one frame's body. A peer that closes before a whole frame arrived gives
/// `UnexpectedEof`; a length over [`MAX_FRAME`] gives `InvalidData` (and nothing is allocated
/// for it: the body is read as it arrives).
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "manager frame too large"));
    }
    let mut body = Vec::with_capacity(len.min(1 << 20));
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(body)
}

/// Writes one frame made by [`encode_frame`].
pub(crate) fn write_frame(w: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    w.write_all(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_a_frame_round_trip() {
        let req =
            Request::DictSet { obj: 7, key: Blob(vec![1, 2]), value: Blob(vec![9; 1000]), return_old: true };
        let frame = encode_frame(&req).unwrap();
        assert_eq!(u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize, frame.len() - 4);
        let body = read_frame(&mut &frame[..]).unwrap();
        match postcard::from_bytes::<Request>(&body).unwrap() {
            Request::DictSet { obj, key, value, return_old } => {
                assert_eq!((obj, key.0, value.0.len(), return_old), (7, vec![1, 2], 1000, true));
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn a_blob_is_one_length_then_its_bytes() {
        let bytes = postcard::to_stdvec(&Blob(vec![5; 3])).unwrap();
        assert_eq!(bytes, [3, 5, 5, 5]);
    }

    #[test]
    fn a_cut_frame_is_an_unexpected_eof() {
        let frame = encode_frame(&Request::Len(1)).unwrap();
        let err = read_frame(&mut &frame[..frame.len() - 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_oversized_length_is_refused_before_reading() {
        let frame = u32::MAX.to_le_bytes();
        let err = read_frame(&mut &frame[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
