//! Helpers for the attack tests (`tests/tests/attacks_*.rs`): rooms, raw sessions and sims
//! driven against real server processes on loopback.

use crate::chatbench::Sim;
use chat_core::client::{ClientEvent, CloseReason};
use chat_core::protocol::{self, Event, ServerMsg};
use chat_core::server::{AdminCmd, AdminReply, Config, HostedRoom};
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// A room on an ephemeral loopback port, in a child process.
pub fn start_room(cfg: Config) -> HostedRoom {
    HostedRoom::start("127.0.0.1:0".parse().unwrap(), cfg).expect("room")
}

/// A socket on `local` (an address in 127.0.0.0/8, port 0), connected to `server`.
pub fn socket_to(server: SocketAddr, local: &str) -> UdpSocket {
    let s = UdpSocket::bind(local).expect("bind");
    s.connect(server).expect("connect");
    s
}

/// The names online, from the room's console.
pub fn users(room: &mut HostedRoom) -> Vec<String> {
    match room.ask(&AdminCmd::List).expect("the room answers") {
        AdminReply::Users(u) => u,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Waits up to `wait` for a datagram at any of `sims`, then pumps them all (so that their
/// timers run): the events, with the index of the sim that saw each.
pub fn pump_all(sims: &mut [&mut Sim], wait: Duration) -> Vec<(usize, ClientEvent)> {
    let fds: Vec<&dyn AsFd> = sims.iter().map(|s| s.socket() as &dyn AsFd).collect();
    let _ = mp_core::mp_ipc::wait_readable(&fds, Some(wait));
    let now = Instant::now();
    let mut out = Vec::new();
    for (i, s) in sims.iter_mut().enumerate() {
        out.extend(s.pump(now).into_iter().map(|e| (i, e)));
    }
    out
}

/// Pumps a whole vector of sims (see [`pump_all`]).
pub fn pump_every(sims: &mut [Sim], wait: Duration) -> Vec<(usize, ClientEvent)> {
    let mut all: Vec<&mut Sim> = sims.iter_mut().collect();
    pump_all(&mut all, wait)
}

/// Pumps `sim` until its login is answered (within 10 s): `Ok` when logged in, the reason
/// otherwise.
pub fn log_in(sim: &mut Sim) -> Result<(), CloseReason> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no answer to the login of {:?} within 10 s", sim.client.name());
        for (_, e) in pump_all(&mut [&mut *sim], Duration::from_millis(20)) {
            match e {
                ClientEvent::Connected => return Ok(()),
                ClientEvent::Closed(why) => return Err(why),
                _ => {}
            }
        }
    }
}

/// Reads the server's datagrams for a raw session with `tag` on `socket` until `done` holds
/// for the events so far (in sequence order, each once) or `limit` passes. Returns the events
/// and the highest sequence number up to which all arrived (for an acknowledgement). Leaves
/// the socket non-blocking.
pub fn read_session(
    socket: &UdpSocket,
    tag: u64,
    limit: Duration,
    done: impl Fn(&[Event]) -> bool,
) -> (Vec<Event>, u64) {
    let deadline = Instant::now() + limit;
    let mut got = Received::default();
    socket.set_nonblocking(true).expect("nonblocking");
    loop {
        got.read(socket, tag);
        let contiguous = got.contiguous();
        let events: Vec<Event> = got.events.range(..=contiguous).map(|(_, e)| e.clone()).collect();
        let left = deadline.saturating_duration_since(Instant::now());
        if done(&events) || left.is_zero() {
            return (events, contiguous);
        }
        let _ =
            mp_core::mp_ipc::wait_readable(&[socket as &dyn AsFd], Some(left.min(Duration::from_millis(50))));
    }
}

/// What a raw session was sent: bytes, and its events by sequence number.
#[derive(Default)]
pub struct Received {
    /// Bytes received.
    pub bytes: usize,
    /// Events by sequence number.
    pub events: BTreeMap<u64, Event>,
}

impl Received {
    /// Reads what is waiting at the non-blocking `socket` for the session with `tag`.
    pub fn read(&mut self, socket: &UdpSocket, tag: u64) {
        let mut b = [0u8; 2048];
        while let Ok(n) = socket.recv(&mut b) {
            self.bytes += n;
            if let Ok(ServerMsg::Data { tag: t, seq, events, .. }) = protocol::decode::<ServerMsg>(&b[..n])
                && t == tag
            {
                for (i, e) in events.into_iter().enumerate() {
                    self.events.insert(seq + i as u64, e);
                }
            }
        }
    }

    /// Every event up to this sequence number has arrived.
    pub fn contiguous(&self) -> u64 {
        (1..).take_while(|s| self.events.contains_key(s)).last().unwrap_or(0)
    }

    /// `Who` answers: parts, names listed, complete lists (parts with `last`), and the
    /// sequence number of the last part.
    pub fn who(&self) -> (usize, usize, usize, u64) {
        let mut out = (0, 0, 0, 0);
        for (&seq, e) in &self.events {
            if let Event::Who { names, last } = e {
                out = (out.0 + 1, out.1 + names.len(), out.2 + usize::from(*last), seq);
            }
        }
        out
    }
}
