//! [`NamespaceProxy`]: Python's `Manager().Namespace()`.

use super::{encode, maybe_of, unexpected};
use crate::manager::client::Client;
use crate::manager::error::ManagerError;
use crate::manager::protocol::{ObjId, Reply, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Named attributes held by a [`Manager`](crate::Manager) server (Python's
/// `manager.Namespace()`, where `ns.x = 1` is [`set`](NamespaceProxy::set)`("x", &1)`).
///
/// Each attribute has its own type, chosen at each call: reading an attribute as another type
/// than it was stored with is [`ManagerError::Codec`] (or, for types whose encodings overlap, a
/// wrong value), so give each name one type.
///
/// # Examples
///
/// ```
/// let manager = mp_core::Manager::start()?;
/// let ns = manager.namespace()?;
/// ns.set("epoch", &3u32)?;
/// let child = {
///     let ns = ns.clone();
///     mp_core::spawn(move || ns.set("status", "训练中").map_err(|e| e.to_string()))?
/// };
/// assert!(child.join()?.success());
/// assert_eq!(ns.get::<String>("status")?.as_deref(), Some("训练中"));
/// assert_eq!(ns.get::<u32>("epoch")?, Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct NamespaceProxy {
    client: Arc<Client>,
    obj: ObjId,
}

impl std::fmt::Debug for NamespaceProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceProxy").field("id", &self.obj).finish_non_exhaustive()
    }
}

impl NamespaceProxy {
    pub(crate) fn new(client: Arc<Client>, obj: ObjId) -> Self {
        NamespaceProxy { client, obj }
    }

    /// The attribute `name` decoded as a `T`, `None` if it is not set (Python's `ns.name`, or
    /// `getattr(ns, name, None)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`] once the manager has shut down or died (so for every method);
    /// [`ManagerError::Codec`] if the value does not decode as a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let ns = manager.namespace()?;
    /// assert_eq!(ns.get::<f64>("lr")?, None);
    /// ns.set("lr", &0.5f64)?;
    /// assert_eq!(ns.get::<f64>("lr")?, Some(0.5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ManagerError> {
        maybe_of(&self.client, &Request::NsGet(self.obj, name.to_owned()))
    }

    /// Sets the attribute `name` (Python's `ns.name = value`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`]; [`ManagerError::Codec`] if `value` cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let ns = manager.namespace()?;
    /// ns.set("dims", &(640u32, 480u32))?;
    /// assert_eq!(ns.get::<(u32, u32)>("dims")?, Some((640, 480)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<(), ManagerError> {
        match self.client.call(&Request::NsSet(self.obj, name.to_owned(), encode(value)?))? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Deletes the attribute `name` (Python's `del ns.name`); whether it was set.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let ns = manager.namespace()?;
    /// ns.set("x", &1u8)?;
    /// assert!(ns.delete("x")?);
    /// assert!(!ns.delete("x")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, name: &str) -> Result<bool, ManagerError> {
        match self.client.call(&Request::NsDelete(self.obj, name.to_owned()))? {
            Reply::Bool(was) => Ok(was),
            _ => Err(unexpected()),
        }
    }

    /// The names set, in the order they were first set (Python's `vars(ns)` keys).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Gone`].
    ///
    /// # Examples
    ///
    /// ```
    /// let manager = mp_core::Manager::start()?;
    /// let ns = manager.namespace()?;
    /// ns.set("b", &1u8)?;
    /// ns.set("a", &2u8)?;
    /// assert_eq!(ns.names()?, ["b", "a"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn names(&self) -> Result<Vec<String>, ManagerError> {
        match self.client.call(&Request::NsNames(self.obj))? {
            Reply::Names(names) => Ok(names),
            _ => Err(unexpected()),
        }
    }
}
