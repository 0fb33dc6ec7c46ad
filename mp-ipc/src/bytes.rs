//! [`Bytes`]: a byte buffer that serde sends as one block.

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A `Vec<u8>` that serializes as one block of bytes (serde's `serialize_bytes` /
/// `deserialize_byte_buf`), for typed messages that carry binary data.
///
/// serde treats a plain `Vec<u8>` as a sequence of numbers, one call per byte: postcard then
/// copies a 1 MiB vector byte by byte. `Bytes` is encoded as a length and one copy of the
/// bytes, several times faster (see the crate's benchmarks); the encoding is the same
/// (postcard writes a length and the raw bytes in both cases), so a receiver may decode a
/// `Vec<u8>` sent as `Bytes` and the other way round.
///
/// A message that *is* a `Vec<u8>` (the `T` of a `Queue<Vec<u8>>` or of `send::<Vec<u8>>`)
/// already takes the fast path: this crate recognises the type and moves it as one block. Use
/// `Bytes` for byte buffers inside other messages (a struct field, a tuple), which serde
/// encodes element by element.
///
/// # Examples
///
/// ```
/// use mp_ipc::{Bytes, Pipe};
/// let (mut rx, tx) = Pipe::simplex()?;
/// tx.send(&("image.png", Bytes::from(vec![0x89, b'P', b'N', b'G'])))?;
/// let (name, data): (String, Bytes) = rx.recv()?;
/// assert_eq!(name, "image.png");
/// assert_eq!(&data[..], b"\x89PNG");
/// assert_eq!(data.into_inner().len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// An empty buffer.
    pub fn new() -> Bytes {
        Bytes(Vec::new())
    }

    /// The vector inside.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 32;
        write!(f, "Bytes({} bytes: {:02x?}", self.0.len(), &self.0[..self.0.len().min(SHOWN)])?;
        if self.0.len() > SHOWN {
            f.write_str(" …")?;
        }
        f.write_str(")")
    }
}

impl Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Bytes {
        Bytes(v.to_vec())
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(b: Bytes) -> Vec<u8> {
        b.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a block of bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes(v))
    }

    /// For formats that send bytes as a sequence of numbers.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // Bounded: the hint comes from the input, which may lie.
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64 << 10));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(Bytes(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_a_vec_of_bytes_and_decodes_either_way() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let as_bytes = postcard::to_allocvec(&Bytes(data.clone())).unwrap();
        let as_vec = postcard::to_allocvec(&data).unwrap();
        assert_eq!(as_bytes, as_vec, "the same wire format");
        assert_eq!(postcard::from_bytes::<Bytes>(&as_vec).unwrap().0, data);
        assert_eq!(postcard::from_bytes::<Vec<u8>>(&as_bytes).unwrap(), data);
    }

    #[test]
    fn debug_shows_the_length_and_the_first_bytes() {
        assert_eq!(format!("{:?}", Bytes::from(&b"\x01\x02"[..])), "Bytes(2 bytes: [01, 02])");
        assert!(format!("{:?}", Bytes(vec![0; 100])).ends_with(" …)"));
    }
}
