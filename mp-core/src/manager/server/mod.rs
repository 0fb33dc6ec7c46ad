//! The manager's server process: a listener and one thread per connection, as Python's
//! `multiprocessing.managers.Server` has.
//!
//! Why threads and not one `poll` loop: a call may wait (a blocking lock acquire) or move a large
//! value, and a client may stop reading; with a thread per connection each of these stalls only
//! its own connection, with plain blocking code. The cost is bounded: at most
//! [`MAX_CONNECTIONS`] connections are served at once (the next client waits in the listen
//! backlog until one closes, then its timeout applies), each thread has a [`STACK_SIZE`] stack,
//! and the store's mutex is never held across socket I/O.
//!
//! A client that dies mid-request leaves a cut frame: the read fails, the thread ends and every
//! lock that connection held is released (and its waiters woken), so a dead holder never blocks
//! the others. A reply to a client that has gone fails with `EPIPE` (`SIGPIPE` is blocked in
//! the server, so the write fails instead of killing it).
//!
//! The server is a forked child (see [`crate::process`]'s notes on forking a multithreaded
//! parent): it starts its own threads, creates every lock it uses after the fork, and takes no
//! lock inherited from its parent.

mod store;

use super::protocol::{self, Failure, Reply, Request};
use mp_ipc::signal::Signals;
use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use store::{ConnId, Store};

/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// Stack of a connection thread (requests are decoded onto the heap).
const STACK_SIZE: usize = 256 * 1024;
/// `SIGPIPE`, blocked in the server.
const SIGPIPE: i32 = 13;

/// What the connection threads share.
#[derive(Default)]
struct Shared {
    store: Mutex<Store>,
    /// Signalled whenever a lock is released.
    released: Condvar,
    /// Connections being served.
    connections: Mutex<usize>,
    /// Signalled whenever a connection ends.
    connection_ended: Condvar,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Carries out one request for connection `conn`.
    fn handle(&self, conn: ConnId, req: Request) -> Reply {
        let Request::LockAcquire(obj, wait_ms) = req else {
            let mut store = self.store();
            let released = matches!(req, Request::LockRelease(_));
            let reply = store.apply(conn, req);
            if released && matches!(reply, Reply::Done) {
                self.released.notify_all();
            }
            return reply;
        };
        let deadline = wait_ms.map(|ms| Instant::now().checked_add(Duration::from_millis(ms)));
        let mut store = self.store();
        loop {
            match store.try_acquire(obj, conn) {
                Ok(true) => return Reply::Bool(true),
                Ok(false) => {}
                Err(failure) => return Reply::Failed(failure),
            }
            store = match deadline {
                None | Some(None) => self.released.wait(store).unwrap_or_else(|e| e.into_inner()),
                Some(Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Reply::Bool(false);
                    }
                    self.released.wait_timeout(store, deadline - now).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// Serves one connection until its client closes it, dies, or sends something that is not a
    /// request; then releases the locks it held.
    fn serve_connection(&self, conn: ConnId, mut stream: UnixStream) {
        while let Ok(body) = protocol::read_frame(&mut stream) {
            let Ok(req) = postcard::from_bytes::<Request>(&body) else { break };
            drop(body);
            let reply = self.handle(conn, req);
            let frame = protocol::encode_frame(&reply)
                .or_else(|_| protocol::encode_frame(&Reply::Failed(Failure::TooLarge)));
            let Ok(frame) = frame else { break };
            if protocol::write_frame(&mut stream, &frame).is_err() {
                break;
            }
        }
        if self.store().release_all(conn) {
            self.released.notify_all();
        }
    }
}

/// The server's main loop: accepts connections for ever (the manager ends the process).
pub(crate) fn serve(listener: UnixListener) {
    // Blocked before any thread starts, so every connection thread inherits the mask. The
    // signal stays pending and harmless; the descriptor is kept for the life of the process.
    let _sigpipe = Signals::block(&[SIGPIPE]);
    let shared = Arc::new(Shared::default());
    let mut next_conn: ConnId = 0;
    loop {
        {
            let mut n = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
            while *n >= MAX_CONNECTIONS {
                n = shared.connection_ended.wait(n).unwrap_or_else(|e| e.into_inner());
            }
            *n += 1;
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                end_connection(&shared);
                if e.kind() != io::ErrorKind::Interrupted {
                    // Out of descriptors or memory: let some connections end first.
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
        };
        next_conn += 1;
        let conn = next_conn;
        let for_thread = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name(format!("manager-conn-{conn}"))
            .stack_size(STACK_SIZE)
            .spawn(move || {
                for_thread.serve_connection(conn, stream);
                end_connection(&for_thread);
            });
        if spawned.is_err() {
            // The stream went down with the closure: the client sees its connection closed.
            end_connection(&shared);
        }
    }
}

/// Counts one connection fewer and lets the accept loop go on if it waited.
fn end_connection(shared: &Shared) {
    let mut n = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
    *n -= 1;
    shared.connection_ended.notify_one();
}
