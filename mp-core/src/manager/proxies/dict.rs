//! [`DictProxy`]: Python's `Manager().dict()`.

use super::{decode, encode, len_of, maybe_of, stored, unexpected, values_of};
use crate::manager::client::Client;
use crate::manager::error::ManagerError;
use crate::manager::protocol::{Blob, ObjId, Reply, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// A dict held by a [`Manager`](crate::Manager) server, shared by every process that has a copy
/// of the proxy (Python's `manager.dict()`).
///
/// Keys and values are stored postcard-encoded and keys are compared by their encoding, so two
/// keys are the same key exactly when they encode to the same bytes. That holds for ordinary
/// serde types (integers, strings, tuples, structs, enums, `Vec`s, `BTreeMap`s) and for the
/// borrowed forms the methods accept (`&str` for `String`, `&[T]` for `Vec<T>`); it does not for
/// a `HashMap` or `HashSet` key, whose encoding follows its iteration order, nor for floats
/// (`0.0` and `-0.0` are different keys, and `NaN` finds itself).
///
/// Every method is one request, carried out atomically; a sequence of calls is not (use
/// [`update_with`](DictProxy::update_with), [`setdefault`](DictProxy::setdefault) or a
/// [`Manager::lock`](crate::Manager::lock) for a read-modify-write). Listing methods
/// ([`keys`](DictProxy::keys), [`items`](DictProxy::items), …) return a snapshot, in insertion
/// order as Python's `dict` keeps it.
///
/// Cloning the proxy is cheap and names the same dict; a proxy moved into a child process works
/// there with the child's own connection.
///
/// # Examples
///
/// ```
/// let manager = mp_core::Manager::start()?;
/// let ages = manager.dict::<String, u32>()?;
/// ages.set("ada", &36)?;
/// let child = {
///     let ages = ages.clone();
///     mp_core::spawn(move || ages.set("alan", &41).map_err(|e| e.to_string()))?
/// };
/// assert!(child.join()?.success());
/// assert_eq!(ages.get("alan")?, Some(41));
/// assert_eq!(ages.keys()?, ["ada", "alan"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DictProxy<K, V> {
    client: Arc<Client>,
    obj: ObjId,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for DictProxy<K, V> {
    fn clone(&self) -> Self {
        DictProxy { client: Arc::clone(&self.client), obj: self.obj, types: PhantomData }
    }
}

impl<K, V> fmt::Debug for DictProxy<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DictProxy").field("id", &self.obj).finish_non_exhaustive()
    }
}

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    pub(crate) fn new(client: Arc<Client>, obj: ObjId) -> Self {
        DictProxy { client, obj, types: PhantomData }
    }

    /// The value stored under `key` (Python's `d.get(key)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] once the manager has shut down or died (so for every method);
    /// [`ManagerError::Codec`] if the stored value does not decode as a `V`.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<String, Vec<u8>>()?;
    /// assert_eq!(d.get("x")?, None);
    /// d.set("x", &vec![1, 2])?;
    /// assert_eq!(d.get("x")?, Some(vec![1, 2]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        maybe_of(&self.client, &Request::DictGet(self.obj, encode(key)?))
    }

    /// The value under `key`, or `V::default()` when there is none (Python's
    /// `d.get(key, default)`; the dict is not changed).
    ///
    /// # Errors
    ///
    /// As [`get`](DictProxy::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u8, u64>()?;
    /// assert_eq!(d.get_or_default(&1)?, 0);
    /// assert!(d.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_or_default<Q>(&self, key: &Q) -> Result<V, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
        V: Default,
    {
        Ok(self.get(key)?.unwrap_or_default())
    }

    /// Stores `value` under `key` (Python's `d[key] = value`). Unlike
    /// [`insert`](DictProxy::insert), the old value is not sent back.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Codec`] if `key` or `value` cannot be encoded;
    /// [`ManagerError::TooLarge`] beyond 1 GiB.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<String, String>()?;
    /// d.set("键", "值")?;
    /// assert_eq!(d.get("键")?.as_deref(), Some("值"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set<Q, W>(&self, key: &Q, value: &W) -> Result<(), ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
        V: Borrow<W>,
        W: Serialize + ?Sized,
    {
        let req =
            Request::DictSet { obj: self.obj, key: encode(key)?, value: encode(value)?, return_old: false };
        match self.client.call(&req)? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Stores `value` under `key` and returns the value it replaced, as `HashMap::insert` does.
    ///
    /// # Errors
    ///
    /// As [`set`](DictProxy::set) and [`get`](DictProxy::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u32, char>()?;
    /// assert_eq!(d.insert(&1, &'a')?, None);
    /// assert_eq!(d.insert(&1, &'b')?, Some('a'));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert<Q, W>(&self, key: &Q, value: &W) -> Result<Option<V>, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
        V: Borrow<W>,
        W: Serialize + ?Sized,
    {
        let req =
            Request::DictSet { obj: self.obj, key: encode(key)?, value: encode(value)?, return_old: true };
        maybe_of(&self.client, &req)
    }

    /// Removes `key` and returns its value (Python's `d.pop(key, None)`).
    ///
    /// # Errors
    ///
    /// As [`get`](DictProxy::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<String, i32>()?;
    /// d.set("a", &-1)?;
    /// assert_eq!(d.remove("a")?, Some(-1));
    /// assert_eq!(d.remove("a")?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Result<Option<V>, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        maybe_of(&self.client, &Request::DictRemove { obj: self.obj, key: encode(key)?, return_old: true })
    }

    /// Removes `key` without sending its value back (Python's `del d[key]`); whether it was
    /// there.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Codec`] if `key` cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.set(&1, &1)?;
    /// assert!(d.delete(&1)?);
    /// assert!(!d.delete(&1)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete<Q>(&self, key: &Q) -> Result<bool, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        match self.client.call(&Request::DictRemove {
            obj: self.obj,
            key: encode(key)?,
            return_old: false,
        })? {
            Reply::Bool(was) => Ok(was),
            _ => Err(unexpected()),
        }
    }

    /// Whether `key` is stored (Python's `key in d`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Codec`] if `key` cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<(u8, u8), ()>()?;
    /// d.set(&(1, 2), &())?;
    /// assert!(d.contains_key(&(1, 2))?);
    /// assert!(!d.contains_key(&(2, 1))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        match self.client.call(&Request::DictContains(self.obj, encode(key)?))? {
            Reply::Bool(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    /// The value under `key`, after storing `default` there if there was none, in one atomic
    /// step (Python's `d.setdefault(key, default)`).
    ///
    /// # Errors
    ///
    /// As [`insert`](DictProxy::insert).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<String, u32>()?;
    /// assert_eq!(d.setdefault("n", &5)?, 5);
    /// assert_eq!(d.setdefault("n", &6)?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn setdefault<Q, W>(&self, key: &Q, default: &W) -> Result<V, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
        V: Borrow<W>,
        W: Serialize + ?Sized,
    {
        match self.client.call(&Request::DictSetDefault(self.obj, encode(key)?, encode(default)?))? {
            Reply::Value(v) => decode(&v),
            _ => Err(unexpected()),
        }
    }

    /// Replaces the value under `key` with `f(old)` atomically, and returns the new value.
    ///
    /// `f` runs in the calling process, so this is optimistic: the new value is stored only if
    /// the entry still holds what `f` saw (compared by encoding); otherwise `f` runs again on
    /// the newer value. `f` may therefore run more than once, and must have no side effects.
    /// Under heavy contention on one key a [`Manager::lock`](crate::Manager::lock) avoids the
    /// retries.
    ///
    /// # Errors
    ///
    /// As [`insert`](DictProxy::insert).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let hits = manager.dict::<String, u64>()?;
    /// let workers: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         let hits = hits.clone();
    ///         mp_core::spawn(move || -> Result<(), mp_core::manager::ManagerError> {
    ///             for _ in 0..100 {
    ///                 hits.update_with("page", |n| n.unwrap_or(0) + 1)?;
    ///             }
    ///             Ok(())
    ///         })
    ///     })
    ///     .collect::<Result<_, _>>()?;
    /// for w in workers {
    ///     assert!(w.join()?.success());
    /// }
    /// assert_eq!(hits.get("page")?, Some(300));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_with<Q>(&self, key: &Q, mut f: impl FnMut(Option<V>) -> V) -> Result<V, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let key = encode(key)?;
        let mut seen = stored(&self.client, &Request::DictGet(self.obj, key.clone()))?;
        loop {
            let new = f(seen.as_ref().map(decode).transpose()?);
            let new_blob = encode(&new)?;
            let req = Request::DictCompareAndSet {
                obj: self.obj,
                key: key.clone(),
                expected: seen.clone(),
                new: new_blob,
            };
            match self.client.call(&req)? {
                Reply::Bool(true) => return Ok(new),
                Reply::Bool(false) => {}
                _ => return Err(unexpected()),
            }
            seen = stored(&self.client, &Request::DictGet(self.obj, key.clone()))?;
        }
    }

    /// Stores every pair, in order, in one atomic step (Python's `d.update(pairs)`).
    ///
    /// # Errors
    ///
    /// As [`set`](DictProxy::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u32, u32>()?;
    /// d.update((0..10).map(|i| (i, i * i)))?;
    /// assert_eq!(d.len()?, 10);
    /// assert_eq!(d.get(&9)?, Some(81));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update<I: IntoIterator<Item = (K, V)>>(&self, pairs: I) -> Result<(), ManagerError> {
        let pairs: Vec<(Blob, Blob)> = pairs
            .into_iter()
            .map(|(k, v)| Ok((encode(&k)?, encode(&v)?)))
            .collect::<Result<_, ManagerError>>()?;
        match self.client.call(&Request::DictUpdate(self.obj, pairs))? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// The number of entries (Python's `len(d)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.set(&1, &2)?;
    /// assert_eq!(d.len()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> Result<usize, ManagerError> {
        len_of(&self.client, self.obj)
    }

    /// Whether the dict is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// assert!(manager.dict::<u8, u8>()?.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// The keys, in insertion order (a snapshot: Python's `list(d.keys())`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Codec`] if a key does not decode as a `K`.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<char, u8>()?;
    /// d.set(&'b', &1)?;
    /// d.set(&'a', &2)?;
    /// assert_eq!(d.keys()?, ['b', 'a']);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<K>, ManagerError> {
        values_of(&self.client, &Request::DictKeys(self.obj))
    }

    /// The values, in insertion order of their keys (a snapshot).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Codec`] if a value does not decode as a `V`.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u8, String>()?;
    /// d.set(&2, "two")?;
    /// assert_eq!(d.values()?, ["two"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn values(&self) -> Result<Vec<V>, ManagerError> {
        values_of(&self.client, &Request::DictValues(self.obj))
    }

    /// The entries, in insertion order (a snapshot: Python's `list(d.items())`; iterate over
    /// it).
    ///
    /// # Errors
    ///
    /// As [`keys`](DictProxy::keys) and [`values`](DictProxy::values).
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.update([(1, 10), (2, 20)])?;
    /// let total: u32 = d.items()?.into_iter().map(|(k, v)| u32::from(k) * u32::from(v)).sum();
    /// assert_eq!(total, 50);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        match self.client.call(&Request::DictItems(self.obj))? {
            Reply::Items(kvs) => kvs.iter().map(|(k, v)| Ok((decode(k)?, decode(v)?))).collect(),
            _ => Err(unexpected()),
        }
    }

    /// Removes every entry (Python's `d.clear()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.set(&1, &1)?;
    /// d.clear()?;
    /// assert!(d.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) -> Result<(), ManagerError> {
        match self.client.call(&Request::Clear(self.obj))? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }
}
