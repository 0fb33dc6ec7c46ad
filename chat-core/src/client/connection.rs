//! The session over a UDP socket, and a probe for a server.

use super::{Client, LOGIN_RETRY_MIN, random_u64};
use crate::protocol::{self, ServerMsg};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Whether a chat server answers at `server` within `timeout`: sends a login without a cookie
/// (the server answers with a cookie and keeps nothing, so this logs nobody in) every 250 ms
/// until the answer comes. For a front end that wants to fail fast on a dead address before
/// it asks for a name.
///
/// # Errors
///
/// Socket errors.
pub fn probe(server: SocketAddr, timeout: Duration) -> std::io::Result<bool> {
    let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    let nonce = random_u64();
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        // Nothing listening shows as ECONNREFUSED on a later call: keep trying until the time.
        let _ = socket.send(&protocol::pad_login("probe", nonce, None, None));
        let _ = socket.set_read_timeout(Some(left.min(LOGIN_RETRY_MIN).max(Duration::from_millis(1))));
        let until = Instant::now() + LOGIN_RETRY_MIN;
        while Instant::now() < until.min(deadline) {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    if matches!(protocol::decode(&buf[..n]), Ok(ServerMsg::Retry { nonce: got, .. }) if got == nonce)
                    {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => break,
            }
        }
    }
    Ok(false)
}

/// A [`Client`] over a UDP socket connected to the server.
#[derive(Debug)]
pub struct Connection {
    /// The session.
    pub client: Client,
    socket: UdpSocket,
    buf: Vec<u8>,
}

impl Connection {
    /// Binds an ephemeral local port and starts logging in to `server` as `name`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad name; socket errors.
    pub fn open(server: SocketAddr, name: &str) -> std::io::Result<Connection> {
        let local: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().expect("valid")
        } else {
            "[::]:0".parse().expect("valid")
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        let client = Client::new(name, Instant::now())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let mut c = Connection { client, socket, buf: vec![0u8; 2048] };
        c.flush();
        Ok(c)
    }

    /// The socket, to wait on it together with other sources.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Sends what the session has queued.
    pub fn flush(&mut self) {
        for d in self.client.take_output() {
            // Lost datagrams (a full buffer, an absent server) are sent again by the session.
            let _ = self.socket.send(&d);
        }
    }

    /// Reads every datagram waiting on the socket, runs the timers, sends what is due.
    pub fn poll(&mut self) {
        let now = Instant::now();
        loop {
            match self.socket.recv(&mut self.buf) {
                Ok(n) => {
                    let d = self.buf[..n].to_vec();
                    self.client.on_datagram(&d, now);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ECONNREFUSED: nothing listens (yet); the session's timers decide.
                Err(_) => break,
            }
        }
        self.client.on_tick(now);
        self.flush();
    }

    /// How long until [`poll`](Self::poll) has timer work.
    pub fn wait_hint(&self) -> Duration {
        let now = Instant::now();
        self.client.next_timeout(now).saturating_duration_since(now)
    }
}
