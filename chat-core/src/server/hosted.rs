//! A room run by a front end on this machine.

use super::{AdminCmd, AdminReply, Config, Stats, serve};
use mp_core::mp_ipc::Connection;
use mp_core::mp_ipc::handoff::Fd;
use mp_core::mp_ipc::signal::Signals;
use mp_core::mp_ipc::signal::consts::{SIGINT, SIGTERM};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// A room run by a front end on this machine (`chat-cli --host`, the GUI's "Host a room
/// here"): the network loop in a daemon child process, shut down cleanly when this handle drops
/// (and killed with its parent if that dies first).
///
/// The child is started by the fork server (`mp_core::forkserver`): the front end is
/// multithreaded (the GUI runs winit, a GL driver and accessibility threads), and a fork server
/// child is a clean copy of the program as it was at the top of `main`. The bound UDP socket and
/// the console's end of the admin pipe travel to it as arguments; it holds no other descriptor.
#[derive(Debug)]
pub struct HostedRoom {
    console: mp_core::mp_ipc::Connection,
    child: mp_core::Process,
    addr: SocketAddr,
}

impl HostedRoom {
    /// Binds `addr` and starts serving there.
    ///
    /// # Errors
    ///
    /// The bind error (`AddrInUse` when a room already runs there), or the fork error.
    pub fn start(addr: SocketAddr, cfg: Config) -> std::io::Result<HostedRoom> {
        let socket = UdpSocket::bind(addr)?;
        let addr = socket.local_addr()?;
        let (console, net_end) = mp_core::mp_ipc::Pipe::duplex()?;
        let args = (Fd::new(socket), cfg, net_end);
        let child = mp_core::Builder::new().name("chat-host").daemon(true).spawn_fn(run_room, args)?;
        Ok(HostedRoom { console, child, addr })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Asks the room's process and waits for its answer.
    ///
    /// # Errors
    ///
    /// When the room's process does not answer.
    pub fn ask(&mut self, cmd: &AdminCmd) -> std::io::Result<AdminReply> {
        self.console.send(cmd).map_err(std::io::Error::other)?;
        self.console.recv_timeout::<AdminReply>(Duration::from_secs(10)).map_err(std::io::Error::other)
    }

    /// The room's counters (malformed and rejected datagrams, rate-limited lines …).
    ///
    /// # Errors
    ///
    /// When the room's process does not answer.
    pub fn stats(&mut self) -> std::io::Result<Stats> {
        match self.ask(&AdminCmd::Stats)? {
            AdminReply::Stats(s) => Ok(s),
            other => Err(std::io::Error::other(format!("unexpected reply {other:?}"))),
        }
    }
}

/// The hosted room's process: serves until the console says to shut down.
fn run_room((socket, cfg, console): (Fd, Config, Connection)) -> std::io::Result<()> {
    // A Ctrl-C or SIGTERM meant for the front end (sent to its whole process group) must not
    // cut the room short: the front end shuts it down through the console, and a daemon dies
    // with it anyway.
    let _quiet = Signals::block(&[SIGINT, SIGTERM])?;
    serve(UdpSocket::from(socket.into_inner()), cfg, Some(console), None).map(drop)
}

impl Drop for HostedRoom {
    fn drop(&mut self) {
        let _ = self.console.send(&AdminCmd::Shutdown);
        if !matches!(self.child.join_timeout(Duration::from_secs(5)), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.join();
        }
    }
}
