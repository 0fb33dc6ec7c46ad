//! The server's objects and what each request does to them (everything but waiting for a lock,
//! which `server/mod.rs` does around [`Store::try_acquire`]).

use crate::manager::protocol::{Blob, Failure, Kind, ObjId, Reply, Request};
use std::collections::HashMap;
use std::hash::Hash;

/// Which connection holds a lock. Connections are numbered by the server in accept order.
pub(super) type ConnId = u64;

/// A map that remembers insertion order, as Python's `dict` does: `keys()`, `values()` and
/// `items()` list entries in the order they were first stored.
#[derive(Debug)]
pub(super) struct OrderedMap<K, V> {
    /// Entries in insertion order; `None` where one was removed.
    slots: Vec<Option<(K, V)>>,
    /// Where each key's entry is in `slots`.
    index: HashMap<K, usize>,
}

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap { slots: Vec::new(), index: HashMap::new() }
    }
}

impl<K: Hash + Eq + Clone, V> OrderedMap<K, V> {
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.index.get(key).and_then(|&at| self.slots[at].as_ref()).map(|(_, v)| v)
    }

    /// Stores `value`, returning the value it replaced (which keeps its place in the order).
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&at) = self.index.get(&key) {
            let slot = self.slots[at].as_mut().expect("indexed slots are full");
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.index.insert(key.clone(), self.slots.len());
        self.slots.push(Some((key, value)));
        None
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.index.remove(key)?;
        let (_, value) = self.slots[at].take().expect("indexed slots are full");
        // Compact once at least half of the slots are holes, so removal stays O(1) amortized.
        if self.slots.len() > 16 && self.index.len() * 2 < self.slots.len() {
            self.slots.retain(Option::is_some);
            for (at, slot) in self.slots.iter().enumerate() {
                let (k, _) = slot.as_ref().expect("only full slots were kept");
                *self.index.get_mut(k).expect("every kept key is indexed") = at;
            }
        }
        Some(value)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.index.clear();
    }
}

/// One object held by the server.
#[derive(Debug)]
enum Object {
    Dict(OrderedMap<Blob, Blob>),
    List(Vec<Blob>),
    Namespace(OrderedMap<String, Blob>),
    Lock(Option<ConnId>),
}

/// Every object of the server. Objects live as long as the server: proxies in other processes
/// may still name them, and the server cannot know when the last copy is gone.
#[derive(Debug, Default)]
pub(super) struct Store {
    objects: HashMap<ObjId, Object>,
    next_id: ObjId,
}

impl Store {
    /// Takes lock `obj` for `conn` if it is free: `Ok(true)`; `Ok(false)` while another holds it.
    pub(super) fn try_acquire(&mut self, obj: ObjId, conn: ConnId) -> Result<bool, Failure> {
        match self.objects.get_mut(&obj) {
            Some(Object::Lock(holder @ None)) => {
                *holder = Some(conn);
                Ok(true)
            }
            Some(Object::Lock(Some(_))) => Ok(false),
            Some(_) => Err(Failure::WrongKind),
            None => Err(Failure::NoSuchObject),
        }
    }

    /// Releases every lock `conn` holds (its client closed the connection or died); whether any
    /// was held.
    pub(super) fn release_all(&mut self, conn: ConnId) -> bool {
        let mut any = false;
        for object in self.objects.values_mut() {
            if let Object::Lock(holder) = object
                && *holder == Some(conn)
            {
                *holder = None;
                any = true;
            }
        }
        any
    }

    /// Carries out every request except [`Request::LockAcquire`] with a wait.
    pub(super) fn apply(&mut self, conn: ConnId, req: Request) -> Reply {
        match self.apply_inner(conn, req) {
            Ok(reply) => reply,
            Err(failure) => Reply::Failed(failure),
        }
    }

    fn apply_inner(&mut self, conn: ConnId, req: Request) -> Result<Reply, Failure> {
        use Request::*;
        Ok(match req {
            Create(kind) => {
                self.next_id += 1;
                let object = match kind {
                    Kind::Dict => Object::Dict(OrderedMap::default()),
                    Kind::List => Object::List(Vec::new()),
                    Kind::Namespace => Object::Namespace(OrderedMap::default()),
                    Kind::Lock => Object::Lock(None),
                };
                self.objects.insert(self.next_id, object);
                Reply::Created(self.next_id)
            }
            Len(obj) => Reply::Len(match self.object(obj)? {
                Object::Dict(d) => d.len(),
                Object::List(l) => l.len(),
                Object::Namespace(n) => n.len(),
                Object::Lock(_) => return Err(Failure::WrongKind),
            } as u64),
            Clear(obj) => {
                match self.object(obj)? {
                    Object::Dict(d) => d.clear(),
                    Object::List(l) => l.clear(),
                    Object::Namespace(n) => n.clear(),
                    Object::Lock(_) => return Err(Failure::WrongKind),
                }
                Reply::Done
            }
            DictGet(obj, key) => Reply::Maybe(self.dict(obj)?.get(&key).cloned()),
            DictSet { obj, key, value, return_old } => {
                let old = self.dict(obj)?.insert(key, value);
                if return_old { Reply::Maybe(old) } else { Reply::Done }
            }
            DictSetDefault(obj, key, value) => {
                let d = self.dict(obj)?;
                match d.get(&key) {
                    Some(v) => Reply::Value(v.clone()),
                    None => {
                        d.insert(key, value.clone());
                        Reply::Value(value)
                    }
                }
            }
            DictRemove { obj, key, return_old } => {
                let old = self.dict(obj)?.remove(&key);
                if return_old { Reply::Maybe(old) } else { Reply::Bool(old.is_some()) }
            }
            DictContains(obj, key) => Reply::Bool(self.dict(obj)?.get(&key).is_some()),
            DictCompareAndSet { obj, key, expected, new } => {
                let d = self.dict(obj)?;
                let swap = d.get(&key) == expected.as_ref();
                if swap {
                    d.insert(key, new);
                }
                Reply::Bool(swap)
            }
            DictKeys(obj) => Reply::Values(self.dict(obj)?.iter().map(|(k, _)| k.clone()).collect()),
            DictValues(obj) => Reply::Values(self.dict(obj)?.iter().map(|(_, v)| v.clone()).collect()),
            DictItems(obj) => {
                Reply::Items(self.dict(obj)?.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            DictUpdate(obj, pairs) => {
                let d = self.dict(obj)?;
                for (k, v) in pairs {
                    d.insert(k, v);
                }
                Reply::Done
            }
            ListPush(obj, value) => {
                self.list(obj)?.push(value);
                Reply::Done
            }
            ListExtend(obj, values) => {
                self.list(obj)?.extend(values);
                Reply::Done
            }
            ListGet(obj, index) => {
                let l = self.list(obj)?;
                Reply::Maybe(usize::try_from(index).ok().and_then(|i| l.get(i)).cloned())
            }
            ListSet(obj, index, value) => {
                let l = self.list(obj)?;
                let at = in_range(index, l.len(), l.len())?;
                l[at] = value;
                Reply::Done
            }
            ListInsert(obj, index, value) => {
                let l = self.list(obj)?;
                let at = in_range(index, l.len() + 1, l.len())?;
                l.insert(at, value);
                Reply::Done
            }
            ListRemove(obj, index) => {
                let l = self.list(obj)?;
                let at = in_range(index, l.len(), l.len())?;
                Reply::Value(l.remove(at))
            }
            ListPop(obj) => Reply::Maybe(self.list(obj)?.pop()),
            ListItems(obj) => Reply::Values(self.list(obj)?.clone()),
            NsGet(obj, name) => Reply::Maybe(self.namespace(obj)?.get(&name).cloned()),
            NsSet(obj, name, value) => {
                self.namespace(obj)?.insert(name, value);
                Reply::Done
            }
            NsDelete(obj, name) => Reply::Bool(self.namespace(obj)?.remove(&name).is_some()),
            NsNames(obj) => Reply::Names(self.namespace(obj)?.iter().map(|(k, _)| k.clone()).collect()),
            LockAcquire(obj, _) => Reply::Bool(self.try_acquire(obj, conn)?),
            LockRelease(obj) => match self.object(obj)? {
                Object::Lock(holder) if *holder == Some(conn) => {
                    *holder = None;
                    Reply::Done
                }
                Object::Lock(_) => return Err(Failure::NotOwner),
                _ => return Err(Failure::WrongKind),
            },
        })
    }

    fn object(&mut self, obj: ObjId) -> Result<&mut Object, Failure> {
        self.objects.get_mut(&obj).ok_or(Failure::NoSuchObject)
    }

    fn dict(&mut self, obj: ObjId) -> Result<&mut OrderedMap<Blob, Blob>, Failure> {
        match self.object(obj)? {
            Object::Dict(d) => Ok(d),
            _ => Err(Failure::WrongKind),
        }
    }

    fn list(&mut self, obj: ObjId) -> Result<&mut Vec<Blob>, Failure> {
        match self.object(obj)? {
            Object::List(l) => Ok(l),
            _ => Err(Failure::WrongKind),
        }
    }

    fn namespace(&mut self, obj: ObjId) -> Result<&mut OrderedMap<String, Blob>, Failure> {
        match self.object(obj)? {
            Object::Namespace(n) => Ok(n),
            _ => Err(Failure::WrongKind),
        }
    }
}

/// `index` as a `usize` below `bound`, or the failure naming the list's length `len`.
fn in_range(index: u64, bound: usize, len: usize) -> Result<usize, Failure> {
    match usize::try_from(index) {
        Ok(at) if at < bound => Ok(at),
        _ => Err(Failure::IndexOutOfRange { index, len: len as u64 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(bytes: &[u8]) -> Blob {
        Blob(bytes.to_vec())
    }

    #[test]
    fn an_ordered_map_lists_keys_in_first_insertion_order_across_compactions() {
        let mut m = OrderedMap::default();
        for i in 0..100u32 {
            m.insert(i, i);
        }
        for i in (0..100).filter(|i| i % 3 != 0) {
            assert_eq!(m.remove(&i), Some(i));
        }
        m.insert(3, 33);
        m.insert(1000, 1);
        let keys: Vec<u32> = m.iter().map(|(k, _)| *k).collect();
        let mut want: Vec<u32> = (0..100).filter(|i| i % 3 == 0).collect();
        want.push(1000);
        assert_eq!(keys, want);
        assert_eq!(m.get(&3), Some(&33));
        assert_eq!(m.len(), want.len());
    }

    #[test]
    fn a_compare_and_set_stores_only_over_the_expected_value() {
        let mut s = Store::default();
        let Reply::Created(d) = s.apply(1, Request::Create(Kind::Dict)) else { panic!() };
        let cas = |s: &mut Store, expected: Option<Blob>, new: &[u8]| {
            s.apply(1, Request::DictCompareAndSet { obj: d, key: b(b"k"), expected, new: b(new) })
        };
        assert!(matches!(cas(&mut s, None, b"1"), Reply::Bool(true)));
        assert!(matches!(cas(&mut s, None, b"2"), Reply::Bool(false)));
        assert!(matches!(cas(&mut s, Some(b(b"1")), b"2"), Reply::Bool(true)));
        assert!(matches!(s.apply(1, Request::DictGet(d, b(b"k"))), Reply::Maybe(Some(v)) if v == b(b"2")));
    }

    #[test]
    fn a_lock_is_released_with_its_holders_connection_only() {
        let mut s = Store::default();
        let Reply::Created(l) = s.apply(1, Request::Create(Kind::Lock)) else { panic!() };
        assert_eq!(s.try_acquire(l, 1), Ok(true));
        assert_eq!(s.try_acquire(l, 2), Ok(false));
        assert!(matches!(s.apply(2, Request::LockRelease(l)), Reply::Failed(Failure::NotOwner)));
        assert!(!s.release_all(2));
        assert!(s.release_all(1));
        assert_eq!(s.try_acquire(l, 2), Ok(true));
    }

    #[test]
    fn list_indices_past_the_end_are_refused_with_the_length() {
        let mut s = Store::default();
        let Reply::Created(l) = s.apply(1, Request::Create(Kind::List)) else { panic!() };
        s.apply(1, Request::ListPush(l, b(b"a")));
        assert!(matches!(s.apply(1, Request::ListInsert(l, 1, b(b"b"))), Reply::Done));
        assert!(matches!(
            s.apply(1, Request::ListSet(l, 2, b(b"c"))),
            Reply::Failed(Failure::IndexOutOfRange { index: 2, len: 2 })
        ));
        assert!(matches!(s.apply(1, Request::ListRemove(l, 0)), Reply::Value(v) if v == b(b"a")));
    }
}
