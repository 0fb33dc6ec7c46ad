//! Byte vectors as one block: the encode and decode fast path for `Vec<u8>` and [`Bytes`].
//!
//! serde sees a `Vec<u8>` as a sequence of numbers: postcard encodes it with one call per byte
//! and decodes it with one call (and one bounds check and one push) per byte, which is most of
//! the cost of a queue of small binary messages. Both write the same bytes as one block would:
//! a varint length, then the bytes. So when the type of a value *is* `Vec<u8>` or [`Bytes`],
//! [`as_block`] hands out its bytes and [`from_block`] builds it from a slice with one copy,
//! producing and accepting exactly postcard's encoding (tests below compare them).
//!
//! The type check is [`same_type`], which works for types that are not `'static` (the queue and
//! pipe APIs take any `Serialize`/`DeserializeOwned` type, borrowed ones included): the
//! technique of the `typeid` crate, written out here as the crate takes no dependency for it.

use crate::Bytes;
use std::any::TypeId;
use std::marker::PhantomData;

/// The bytes of `value` when its type is `Vec<u8>`, [`Bytes`] or `[u8]`.
#[inline]
pub(crate) fn as_block<T: ?Sized>(value: &T) -> Option<&[u8]> {
    let p = value as *const T;
    if same_type::<T, Vec<u8>>() {
        // SAFETY: `T` is `Vec<u8>` (same `TypeId`, and `Vec<u8>` has no lifetime that the id
        // could have erased), so the pointer is to a live `Vec<u8>` borrowed for `'_`.
        Some(unsafe { &*(p as *const Vec<u8>) })
    } else if same_type::<T, Bytes>() {
        // SAFETY: as above, for `Bytes`.
        Some(unsafe { &(*(p as *const Bytes)).0 })
    } else if same_type::<T, [u8]>() {
        // SAFETY: as above; `T` is `[u8]`, so `value` is `size_of_val(value)` initialised bytes
        // borrowed for `'_`.
        Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), std::mem::size_of_val(value)) })
    } else {
        None
    }
}

/// Whether `T` is `Vec<u8>` or [`Bytes`], the types [`from_vec`] builds.
#[inline]
pub(crate) fn is_block<T>() -> bool {
    same_type::<T, Vec<u8>>() || same_type::<T, Bytes>()
}

/// Builds a `T` from `bytes` when `T` is `Vec<u8>` or [`Bytes`] (one allocation, one copy).
#[inline]
pub(crate) fn from_block<T>(bytes: &[u8]) -> Option<T> {
    if is_block::<T>() { from_vec(bytes.to_vec()).ok() } else { None }
}

/// `v` itself as a `T` when `T` is `Vec<u8>` or [`Bytes`] (no copy); `v` back otherwise.
#[inline]
pub(crate) fn from_vec<T>(v: Vec<u8>) -> Result<T, Vec<u8>> {
    if same_type::<T, Vec<u8>>() {
        // SAFETY: `T` is `Vec<u8>` (same `TypeId`; `Vec<u8>` has no lifetime to erase).
        Ok(unsafe { transmute_same(v) })
    } else if same_type::<T, Bytes>() {
        // SAFETY: `T` is `Bytes`, as above.
        Ok(unsafe { transmute_same(Bytes(v)) })
    } else {
        Err(v)
    }
}

/// Moves `u` into a `T`.
///
/// # Safety
///
/// `U` and `T` are the same type.
#[inline]
unsafe fn transmute_same<U, T>(u: U) -> T {
    let u = std::mem::ManuallyDrop::new(u);
    // SAFETY: the same type (the caller's promise), read once from a value that is then
    // forgotten, so it is moved, not duplicated.
    unsafe { std::ptr::read(&*u as *const U as *const T) }
}

/// Appends postcard's encoding of a byte block: the length as a varint, then the bytes.
#[inline]
pub(crate) fn encode(bytes: &[u8], buf: &mut Vec<u8>) {
    let (len, n) = varint(bytes.len());
    buf.reserve(n + bytes.len());
    buf.extend_from_slice(&len[..n]);
    buf.extend_from_slice(bytes);
}

/// postcard's varint of `n` (7 bits a byte, least significant first, high bit: more follows),
/// and how many of the 10 bytes it takes.
#[inline]
pub(crate) fn varint(mut n: usize) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    (out, i + 1)
}

/// The bytes of a block encoded by [`encode`] when `frame` is exactly one such block in the
/// shortest form; `None` for anything else (the caller then lets postcard decode it, which gives
/// the same value or postcard's own error).
#[inline]
pub(crate) fn decode(frame: &[u8]) -> Option<&[u8]> {
    let (k, len) = prefix(frame)?;
    let body = &frame[k..];
    (body.len() == len).then_some(body)
}

/// The length prefix at the start of `frame`, in its shortest form: `(bytes it takes, the length
/// it announces)`; `None` when it is incomplete, longer than needed or over 63 bits.
#[inline]
pub(crate) fn prefix(frame: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0u64;
    for (i, &b) in frame.iter().enumerate().take(9) {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // Shortest form only (no zero last byte after the first), and a length this
            // machine's `usize` holds; postcard decides the rest.
            let len = usize::try_from(len).ok()?;
            return (b != 0 || i == 0).then_some((i + 1, len));
        }
    }
    None
}

/// Whether `A` and `B` are the same type, lifetimes aside; `B` must have none for the answer to
/// mean "identical".
#[inline]
fn same_type<A: ?Sized, B: ?Sized + 'static>() -> bool {
    type_id_of::<A>() == TypeId::of::<B>()
}

/// The `TypeId` of `T` with its lifetimes erased, for any `T` (`TypeId::of` wants `'static`).
fn type_id_of<T: ?Sized>() -> TypeId {
    trait NonStaticAny {
        fn id(&self) -> TypeId
        where
            Self: 'static;
    }
    impl<T: ?Sized> NonStaticAny for PhantomData<T> {
        fn id(&self) -> TypeId
        where
            Self: 'static,
        {
            TypeId::of::<T>()
        }
    }
    let marker = PhantomData::<T>;
    let object: &dyn NonStaticAny = &marker;
    // SAFETY: only the trait object's lifetime bound is widened, to call `id`, which uses no
    // value of `T` (the object is a zero-sized `PhantomData`): nothing that lives shorter is
    // ever reached through it. Type ids are computed after lifetimes are erased, so the id is
    // the one of `T` with every lifetime `'static`.
    let object: &(dyn NonStaticAny + 'static) = unsafe { std::mem::transmute(object) };
    object.id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_byte_vectors() {
        assert!(as_block(&vec![1u8, 2]).is_some());
        assert!(as_block(&Bytes(vec![1])).is_some());
        assert_eq!(as_block::<[u8]>(&[7u8, 8][..]), Some(&[7u8, 8][..]));
        assert!(as_block(&vec![1u16]).is_none());
        assert!(as_block(&vec![1i8]).is_none());
        assert!(as_block(&"ab".to_string()).is_none());
        assert!(as_block(&(vec![1u8],)).is_none());
        let borrowed: &[u8] = &[1, 2];
        assert!(as_block(&borrowed).is_none(), "a reference to a slice is another type");
        // A type with a lifetime works (and is not a block).
        struct Holder<'a>(#[allow(dead_code)] &'a str);
        let s = String::from("x");
        assert!(as_block(&Holder(&s)).is_none());
        assert_eq!(from_block::<Vec<u8>>(b"hi"), Some(b"hi".to_vec()));
        assert_eq!(from_block::<Bytes>(b"hi"), Some(Bytes(b"hi".to_vec())));
        assert_eq!(from_block::<String>(b"hi"), None);
        assert_eq!(from_block::<Vec<i8>>(b"hi"), None);
        assert_eq!(from_vec::<Bytes>(vec![5]), Ok(Bytes(vec![5])));
        assert_eq!(from_vec::<Vec<u32>>(vec![5]), Err(vec![5]));
        assert!(is_block::<Vec<u8>>() && is_block::<Bytes>() && !is_block::<String>());
    }

    #[test]
    fn encodes_exactly_as_postcard() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 2_097_152, (1 << 20) + 3] {
            let v: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut buf = vec![0xaa];
            encode(&v, &mut buf);
            assert_eq!(buf[1..], postcard::to_allocvec(&v).unwrap(), "length {len}");
            assert_eq!(decode(&buf[1..]), Some(&v[..]), "length {len}");
        }
        for n in [0usize, 1, 0x7f, 0x80, 0x3fff, 0x4000, u32::MAX as usize, usize::MAX] {
            let (bytes, used) = varint(n);
            assert_eq!(bytes[..used], postcard::to_allocvec(&n).unwrap(), "varint {n}");
        }
    }

    #[test]
    fn leaves_anything_unusual_to_postcard() {
        assert_eq!(decode(&[]), None, "no length");
        assert_eq!(decode(&[3, 1, 2]), None, "too short");
        assert_eq!(decode(&[1, 1, 2]), None, "trailing bytes");
        assert_eq!(decode(&[0x81, 0x00, 9]), None, "a length not in its shortest form");
        assert_eq!(decode(&[0x80; 12]), None, "an endless varint");
        assert_eq!(decode(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), None);
        assert_eq!(decode(&[0]), Some(&[][..]));
        assert_eq!(prefix(&[0x80]), None, "an incomplete length");
        assert_eq!(prefix(&[0x80, 0x01, 7]), Some((2, 128)));
        assert_eq!(prefix(&[0xff; 9]), None, "over 63 bits");
        let nine = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(prefix(&nine), usize::try_from(1u64 << 56).ok().map(|n| (9, n)), "as wide as usize");
    }
}
