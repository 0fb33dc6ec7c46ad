//! [`ListProxy`]: Python's `Manager().list()`.

use super::{decode, encode, len_of, maybe_of, unexpected, values_of};
use crate::manager::client::Client;
use crate::manager::error::ManagerError;
use crate::manager::protocol::{Blob, ObjId, Reply, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// A list held by a [`Manager`](crate::Manager) server, shared by every process that has a copy
/// of the proxy (Python's `manager.list()`).
///
/// Every method is one atomic request. Indices are from the front (no negative indices); an
/// index past the end is [`ManagerError::IndexOutOfRange`] for the methods that change the list
/// and `None` for [`get`](ListProxy::get). [`to_vec`](ListProxy::to_vec) is the snapshot to
/// iterate over.
///
/// # Examples
///
/// ```
/// let manager = mp_core::Manager::start()?;
/// let log = manager.list::<String>()?;
/// let children: Vec<_> = (0..3)
///     .map(|i| {
///         let log = log.clone();
///         mp_core::spawn(move || log.push(&format!("child {i}")).map_err(|e| e.to_string()))
///     })
///     .collect::<Result<_, _>>()?;
/// for c in children {
///     assert!(c.join()?.success());
/// }
/// let mut lines = log.to_vec()?;
/// lines.sort();
/// assert_eq!(lines, ["child 0", "child 1", "child 2"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ListProxy<T> {
    client: Arc<Client>,
    obj: ObjId,
    types: PhantomData<fn() -> T>,
}

impl<T> Clone for ListProxy<T> {
    fn clone(&self) -> Self {
        ListProxy { client: Arc::clone(&self.client), obj: self.obj, types: PhantomData }
    }
}

impl<T> fmt::Debug for ListProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListProxy").field("id", &self.obj).finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    pub(crate) fn new(client: Arc<Client>, obj: ObjId) -> Self {
        ListProxy { client, obj, types: PhantomData }
    }

    fn done(&self, req: Request) -> Result<(), ManagerError> {
        match self.client.call(&req)? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Appends `value` (Python's `l.append(value)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] once the manager has shut down or died (so for every method);
    /// [`ManagerError::Codec`] if `value` cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<String>()?;
    /// l.push("你好")?;
    /// assert_eq!(l.get(0)?.as_deref(), Some("你好"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "append")]
    pub fn push<W>(&self, value: &W) -> Result<(), ManagerError>
    where
        T: Borrow<W>,
        W: Serialize + ?Sized,
    {
        self.done(Request::ListPush(self.obj, encode(value)?))
    }

    /// Appends every value, in one atomic step (Python's `l.extend(values)`).
    ///
    /// # Errors
    ///
    /// As [`push`](ListProxy::push).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u32>()?;
    /// l.extend(1..=3)?;
    /// assert_eq!(l.to_vec()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn extend<I: IntoIterator<Item = T>>(&self, values: I) -> Result<(), ManagerError> {
        let values: Vec<Blob> = values.into_iter().map(|v| encode(&v)).collect::<Result<_, _>>()?;
        self.done(Request::ListExtend(self.obj, values))
    }

    /// The element at `index`, `None` past the end (Python's `l[index]`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Codec`] if the element does not decode as a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u8>()?;
    /// l.push(&7)?;
    /// assert_eq!(l.get(0)?, Some(7));
    /// assert_eq!(l.get(1)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, index: usize) -> Result<Option<T>, ManagerError> {
        maybe_of(&self.client, &Request::ListGet(self.obj, index as u64))
    }

    /// Replaces the element at `index` (Python's `l[index] = value`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::IndexOutOfRange`] past the end; as [`push`](ListProxy::push).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u8>()?;
    /// l.push(&1)?;
    /// l.set(0, &2)?;
    /// assert_eq!(l.get(0)?, Some(2));
    /// assert!(matches!(l.set(1, &3), Err(mp_core::manager::ManagerError::IndexOutOfRange { index: 1, len: 1 })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set<W>(&self, index: usize, value: &W) -> Result<(), ManagerError>
    where
        T: Borrow<W>,
        W: Serialize + ?Sized,
    {
        self.done(Request::ListSet(self.obj, index as u64, encode(value)?))
    }

    /// Inserts `value` before `index`; an index equal to the length appends (Python's
    /// `l.insert(index, value)`, which however clamps indices past the end).
    ///
    /// # Errors
    ///
    /// [`ManagerError::IndexOutOfRange`] past the length; as [`push`](ListProxy::push).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<char>()?;
    /// l.extend(['a', 'c'])?;
    /// l.insert(1, &'b')?;
    /// assert_eq!(l.to_vec()?, ['a', 'b', 'c']);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert<W>(&self, index: usize, value: &W) -> Result<(), ManagerError>
    where
        T: Borrow<W>,
        W: Serialize + ?Sized,
    {
        self.done(Request::ListInsert(self.obj, index as u64, encode(value)?))
    }

    /// Removes and returns the element at `index` (Python's `l.pop(index)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::IndexOutOfRange`] past the end; as [`get`](ListProxy::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u8>()?;
    /// l.extend([1, 2, 3])?;
    /// assert_eq!(l.remove(0)?, 1);
    /// assert_eq!(l.to_vec()?, [2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove(&self, index: usize) -> Result<T, ManagerError> {
        match self.client.call(&Request::ListRemove(self.obj, index as u64))? {
            Reply::Value(v) => decode(&v),
            _ => Err(unexpected()),
        }
    }

    /// Removes and returns the last element, `None` when empty (Python's `l.pop()`).
    ///
    /// # Errors
    ///
    /// As [`get`](ListProxy::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u8>()?;
    /// l.push(&9)?;
    /// assert_eq!(l.pop()?, Some(9));
    /// assert_eq!(l.pop()?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pop(&self) -> Result<Option<T>, ManagerError> {
        maybe_of(&self.client, &Request::ListPop(self.obj))
    }

    /// The number of elements (Python's `len(l)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u8>()?;
    /// l.extend([0; 4])?;
    /// assert_eq!(l.len()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> Result<usize, ManagerError> {
        len_of(&self.client, self.obj)
    }

    /// Whether the list is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// assert!(manager.list::<u8>()?.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// Every element, in order (a snapshot: Python's `list(l)`; iterate over it).
    ///
    /// # Errors
    ///
    /// As [`get`](ListProxy::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u32>()?;
    /// l.extend([1, 2, 3])?;
    /// assert_eq!(l.to_vec()?.iter().sum::<u32>(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        values_of(&self.client, &Request::ListItems(self.obj))
    }

    /// Removes every element (Python's `l.clear()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let l = manager.list::<u8>()?;
    /// l.push(&1)?;
    /// l.clear()?;
    /// assert_eq!(l.len()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.done(Request::Clear(self.obj))
    }
}
