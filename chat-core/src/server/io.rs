//! The network loop: a [`Room`] on a UDP socket, with the operator's console and signals.

use super::{AdminCmd, Config, Room, Stats};
use mp_core::mp_ipc::{Connection, signal::Signals, wait_readable};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How often the network loop returns freed heap memory to the kernel.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// Socket buffer sizes the server asks for.
const SOCKET_BUFFER: usize = 4 << 20;

/// Datagrams read in one go at most: a flood cannot starve timers and the console.
const READ_BATCH: usize = 1024;

/// Runs the room on `socket` until a shutdown (from the console connection, or a blocked
/// `SIGTERM`/`SIGINT` read from `signals`) has been delivered.
///
/// # Errors
///
/// Socket errors other than the transient ones.
pub fn serve(
    socket: UdpSocket,
    cfg: Config,
    mut admin: Option<Connection>,
    signals: Option<&Signals>,
) -> std::io::Result<Stats> {
    socket.set_nonblocking(true)?;
    // Room for the acknowledgements and heartbeats of thousands of clients that arrive while a
    // tick is sending; a smaller buffer (where the system caps it) only means more resends.
    let _ = mp_core::mp_ipc::set_recv_buffer(&socket, SOCKET_BUFFER);
    let _ = mp_core::mp_ipc::set_send_buffer(&socket, SOCKET_BUFFER);
    let mut room = Room::new(cfg);
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_trim = Instant::now();
    // The room's one way out. A full socket buffer drops the datagram; the reliability layer
    // sends it again.
    let mut send = |addr: SocketAddr, d: &[u8]| {
        let _ = socket.send_to(d, addr);
    };
    loop {
        let now = Instant::now();
        room.on_tick(now, &mut send);
        // After bursts (many joins at once), give freed memory back every few seconds.
        if now.duration_since(last_trim) >= TRIM_EVERY {
            mp_core::mp_ipc::trim_heap();
            last_trim = now;
        }
        // The operator's log, when the console watches.
        let activity = room.take_activity();
        if !activity.is_empty()
            && let Some(conn) = admin.as_mut()
        {
            let _ = conn.send(&super::AdminReply::Activity(activity));
        }
        if room.finished() {
            return Ok(room.stats());
        }
        let wait = room.next_timeout(now).saturating_duration_since(Instant::now());
        let mut sources: Vec<&dyn AsFd> = vec![&socket];
        if let Some(a) = admin.as_ref() {
            sources.push(a);
        }
        if let Some(s) = signals {
            sources.push(s);
        }
        let ready = if admin.as_ref().is_some_and(|a| a.has_buffered()) {
            vec![1]
        } else {
            wait_readable(&sources, Some(wait))?
        };
        let now = Instant::now();
        for i in ready {
            match (i, admin.is_some()) {
                (0, _) => {
                    for _ in 0..READ_BATCH {
                        match socket.recv_from(&mut buf) {
                            Ok((n, addr)) => room.on_datagram(addr, &buf[..n], now, &mut send),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) if transient(&e) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                }
                (1, true) => {
                    let Some(conn) = admin.as_mut() else { continue };
                    match conn.try_recv::<AdminCmd>() {
                        Ok(cmd) => {
                            let reply = room.on_admin(cmd, now);
                            let _ = conn.send(&reply);
                        }
                        Err(e) if e.is_empty() => {}
                        // The console is gone: go on serving without it.
                        Err(_) => admin = None,
                    }
                }
                _ => {
                    if let Some(s) = signals
                        && s.try_wait()?.is_some()
                    {
                        room.on_admin(AdminCmd::Shutdown, now);
                    }
                }
            }
        }
    }
}

fn transient(e: &std::io::Error) -> bool {
    // ICMP "port unreachable" from a client that went away shows up as ECONNREFUSED on Linux.
    matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::Interrupted)
}
