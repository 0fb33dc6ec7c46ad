//! Where the server listens: a Unix socket in a private directory.
//!
//! Access control is the file system's: the directory is created with mode `0700` (by `mkdir`
//! itself, so there is no moment at which it is open to others) under a random name, and the
//! socket in it is set to `0600`. Only this user (and root) can reach the socket; no other check
//! is made on connections. The directory and the socket are removed when the manager shuts down.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// The longest socket path `bind` takes (`sun_path` is 108 bytes with the final NUL).
const MAX_SOCKET_PATH: usize = 107;
/// The socket's name inside the directory.
const SOCKET_NAME: &str = "manager.sock";

/// A private directory holding the manager's socket; removed on drop (by the process that made
/// it only).
#[derive(Debug)]
pub(crate) struct SocketDir {
    dir: PathBuf,
    socket: PathBuf,
    creator: u32,
}

impl SocketDir {
    /// Makes a new private directory under `parent` (by default `$XDG_RUNTIME_DIR`, else the
    /// temporary directory) and binds a listener in it.
    pub(crate) fn bind(parent: Option<&Path>) -> io::Result<(SocketDir, UnixListener)> {
        let parent = match parent {
            Some(p) => p.to_path_buf(),
            None => default_parent(),
        };
        let dir = make_private_dir(&parent)?;
        let made = SocketDir { socket: dir.join(SOCKET_NAME), dir, creator: std::process::id() };
        let listener = UnixListener::bind(&made.socket)?;
        fs::set_permissions(&made.socket, fs::Permissions::from_mode(0o600))?;
        Ok((made, listener))
    }

    /// The socket's path.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Removes the socket and the directory (errors ignored: there is nothing left to do).
    pub(crate) fn remove(&self) {
        if self.creator == std::process::id() {
            let _ = fs::remove_file(&self.socket);
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `$XDG_RUNTIME_DIR` (per user, `0700`, on tmpfs) when set and short enough, else the
/// temporary directory.
fn default_parent() -> PathBuf {
    let room = MAX_SOCKET_PATH - "/mp-manager-4294967295-0123456789abcdef/".len() - SOCKET_NAME.len();
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir() && p.as_os_str().len() <= room)
        .unwrap_or_else(std::env::temp_dir)
}

/// `mkdir(parent/mp-manager-<pid>-<random>, 0700)`, retrying on a name that exists.
fn make_private_dir(parent: &Path) -> io::Result<PathBuf> {
    for _ in 0..16 {
        let mut random = [0u8; 8];
        mp_ipc::getrandom(&mut random)?;
        let name = format!("mp-manager-{}-{:016x}", std::process::id(), u64::from_le_bytes(random));
        let dir = parent.join(name);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free name for the manager's directory"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn the_directory_is_private_and_removed_on_drop() {
        let (made, listener) = SocketDir::bind(None).unwrap();
        let dir = made.socket().parent().unwrap().to_path_buf();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let meta = fs::symlink_metadata(made.socket()).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        drop(listener);
        drop(made);
        assert!(!dir.exists());
    }
}
