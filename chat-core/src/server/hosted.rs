//! A room run by a front end on this machine.

use super::{AdminCmd, AdminReply, Config, Stats, serve};
use std::net::SocketAddr;
use std::time::Duration;

/// A room run by a front end on this machine (`chat-cli --host`, the GUI's "Host a room
/// here"): the network loop in a daemon child process, shut down cleanly when this handle drops
/// (and killed with its parent if that dies first).
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
        let socket = std::net::UdpSocket::bind(addr)?;
        let addr = socket.local_addr()?;
        let (console, net_end) = mp_core::mp_ipc::Pipe::duplex()?;
        let child = mp_core::Builder::new()
            .name("chat-host")
            .daemon(true)
            .spawn(move || serve(socket, cfg, Some(net_end), None).map(drop))?;
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

impl Drop for HostedRoom {
    fn drop(&mut self) {
        let _ = self.console.send(&AdminCmd::Shutdown);
        if !matches!(self.child.join_timeout(Duration::from_secs(5)), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.join();
        }
    }
}
