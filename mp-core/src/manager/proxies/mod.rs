//! The proxies: typed handles on the server's objects. Each method is one request and one reply,
//! carried out atomically by the server.

mod dict;
mod list;
mod lock;
mod namespace;

pub use dict::DictProxy;
pub use list::ListProxy;
pub use lock::{LockProxy, LockProxyGuard};
pub use namespace::NamespaceProxy;

use super::client::Client;
use super::error::ManagerError;
use super::protocol::{Blob, ObjId, Reply, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a key or value the way the server stores it.
fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Blob, ManagerError> {
    Ok(Blob(postcard::to_stdvec(value)?))
}

/// Decodes a stored key or value as the proxy's type.
fn decode<T: DeserializeOwned>(blob: &Blob) -> Result<T, ManagerError> {
    Ok(postcard::from_bytes(&blob.0)?)
}

/// The error for a reply of the wrong shape.
fn unexpected() -> ManagerError {
    ManagerError::Protocol("a reply of another kind than the request")
}

/// The number of entries of object `obj` (a dict's keys, a list's elements).
fn len_of(client: &Client, obj: ObjId) -> Result<usize, ManagerError> {
    match client.call(&Request::Len(obj))? {
        Reply::Len(n) => Ok(n as usize),
        _ => Err(unexpected()),
    }
}

/// Sends `req`, which answers with a stored value or none: the value as stored.
fn stored(client: &Client, req: &Request) -> Result<Option<Blob>, ManagerError> {
    match client.call(req)? {
        Reply::Maybe(v) => Ok(v),
        _ => Err(unexpected()),
    }
}

/// Sends `req`, which answers with a stored value or none, and decodes it as a `T`.
fn maybe_of<T: DeserializeOwned>(client: &Client, req: &Request) -> Result<Option<T>, ManagerError> {
    stored(client, req)?.as_ref().map(decode).transpose()
}

/// Sends `req`, which answers with a list of stored values, and decodes each as a `T`.
fn values_of<T: DeserializeOwned>(client: &Client, req: &Request) -> Result<Vec<T>, ManagerError> {
    match client.call(req)? {
        Reply::Values(vs) => vs.iter().map(decode).collect(),
        _ => Err(unexpected()),
    }
}
