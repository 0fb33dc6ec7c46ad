//! The chat server: the room's state machine ([`Room`], no I/O) and the network loop around it
//! ([`serve`]).

use crate::protocol::{
    self, ClientMsg, Event, LeftReason, MAX_DATAGRAM, Request, ServerMsg, check_name, check_text, now_ms,
};
use crate::reliable::{Endpoint, batches};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Lines of history a joining user receives (default 50).
    pub history: usize,
    /// A client silent this long is removed (default 10 s).
    pub timeout: Duration,
    /// Most users logged in at once (default 1024).
    pub max_clients: usize,
    /// Rate limit: lines a user may send in a burst (default 20)…
    pub burst: f64,
    /// …then this many per second (default 5).
    pub rate: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config { history: 50, timeout: Duration::from_secs(10), max_clients: 1024, burst: 20.0, rate: 5.0 }
    }
}

/// What the operator's console asks of the network loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminCmd {
    /// Send `[admin] text` to everyone.
    Say(String),
    /// Who is online?
    List,
    /// Remove a user.
    Kick(String),
    /// Tell everyone and stop.
    Shutdown,
    /// The counters so far.
    Stats,
}

/// The network loop's answer to an [`AdminCmd`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminReply {
    /// Done.
    Ok,
    /// Names online.
    Users(Vec<String>),
    /// Could not do it.
    Error(String),
    /// The counters.
    Stats(Stats),
}

/// Counters, for the operator and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Well-formed datagrams with an unknown token or from the wrong address.
    pub rejected: u64,
    /// Requests refused by the rate limit.
    pub rate_limited: u64,
    /// Events delivered (first transmissions).
    pub delivered: u64,
}

#[derive(Debug)]
struct Session {
    name: String,
    addr: SocketAddr,
    login_nonce: u64,
    /// Events are shared between the sessions they go to (one allocation per broadcast).
    link: Endpoint<Arc<Event>, Request>,
    last_heard: Instant,
    tokens: f64,
    last_refill: Instant,
    /// Leaving: only the last events (goodbye, kicked, shutdown) are still being delivered.
    closing: Option<Instant>,
}

/// Encodes exactly like [`ServerMsg`] (same variants in the same order up to `Data`), but
/// borrows shared events instead of owning copies.
#[derive(Serialize)]
enum DataOut<'a> {
    #[allow(dead_code)]
    LoginOk {
        nonce: u64,
        token: u64,
    },
    #[allow(dead_code)]
    LoginRefused {
        nonce: u64,
        reason: &'a str,
    },
    Data {
        seq: u64,
        ack: u64,
        events: &'a [Arc<Event>],
    },
}

/// Bytes of events per datagram: the datagram limit less the message's own fields.
pub(crate) const BATCH_BUDGET: usize = MAX_DATAGRAM - 40;

/// How often the network loop returns freed heap memory to the kernel.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// How long a leaving session keeps retransmitting its last event.
const CLOSING_GRACE: Duration = Duration::from_secs(3);

/// The room: users, history, reliable sessions. Feed it datagrams, console commands and clock
/// ticks; it returns datagrams to send.
#[derive(Debug)]
pub struct Room {
    cfg: Config,
    sessions: HashMap<u64, Session>,
    names: HashMap<String, u64>,
    history: VecDeque<Event>,
    stats: Stats,
    rng: u64,
    out: Vec<(SocketAddr, Vec<u8>)>,
    shutting_down: bool,
}

impl Room {
    /// An empty room.
    pub fn new(cfg: Config) -> Room {
        let mut seed = [0u8; 8];
        let _ = mp_core::mp_ipc::getrandom(&mut seed);
        Room {
            cfg,
            sessions: HashMap::new(),
            names: HashMap::new(),
            history: VecDeque::new(),
            stats: Stats::default(),
            rng: u64::from_le_bytes(seed) | 1,
            out: Vec::new(),
            shutting_down: false,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Names online, sorted.
    pub fn users(&self) -> Vec<String> {
        let mut v: Vec<String> = self.names.keys().cloned().collect();
        v.sort();
        v
    }

    fn token(&mut self) -> u64 {
        let mut b = [0u8; 8];
        if mp_core::mp_ipc::getrandom(&mut b).is_ok() {
            return u64::from_le_bytes(b);
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn reply(&mut self, addr: SocketAddr, msg: &ServerMsg) {
        self.out.push((addr, protocol::encode(msg)));
    }

    /// Handles one datagram from `addr`.
    pub fn on_datagram(&mut self, addr: SocketAddr, bytes: &[u8], now: Instant) {
        let msg: ClientMsg = match protocol::decode(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match msg {
            ClientMsg::Login { name, nonce } => self.on_login(addr, name, nonce, now),
            ClientMsg::Data { token, seq, ack, reqs } => {
                let Some(s) = self.session_from(token, addr) else {
                    self.reply(addr, &ServerMsg::UnknownSession);
                    return;
                };
                s.last_heard = now;
                s.link.on_ack(ack);
                let mut ready = Vec::new();
                for (i, r) in reqs.into_iter().enumerate() {
                    ready.extend(s.link.on_data(seq.saturating_add(i as u64), r, now));
                }
                for r in ready {
                    self.on_request(token, r, now);
                }
            }
            ClientMsg::Ack { token, ack } => {
                let Some(s) = self.session_from(token, addr) else {
                    self.reply(addr, &ServerMsg::UnknownSession);
                    return;
                };
                s.last_heard = now;
                s.link.on_ack(ack);
                // A bare ack is also the client's heartbeat: answer it, so that an idle client
                // knows the server is there.
                let ack = s.link.ack();
                self.reply(addr, &ServerMsg::Ack { ack });
            }
        }
    }

    /// The session for `token`, only if the datagram comes from the session's own address.
    fn session_from(&mut self, token: u64, addr: SocketAddr) -> Option<&mut Session> {
        match self.sessions.get_mut(&token) {
            Some(s) if s.addr == addr => Some(s),
            _ => {
                self.stats.rejected += 1;
                None
            }
        }
    }

    fn on_login(&mut self, addr: SocketAddr, name: String, nonce: u64, now: Instant) {
        if self.shutting_down {
            self.reply(
                addr,
                &ServerMsg::LoginRefused { nonce, reason: "the server is shutting down".into() },
            );
            return;
        }
        if let Err(reason) = check_name(&name) {
            self.reply(addr, &ServerMsg::LoginRefused { nonce, reason });
            return;
        }
        if let Some(&token) = self.names.get(&name) {
            let same = self.sessions.get(&token).is_some_and(|s| s.addr == addr);
            let retry = self.sessions.get(&token).is_some_and(|s| s.addr == addr && s.login_nonce == nonce);
            if retry {
                // Our LoginOk was lost: say it again.
                self.reply(addr, &ServerMsg::LoginOk { nonce, token });
                return;
            }
            if same {
                // The same client logging in again (it lost its session): replace the old one.
                self.remove(token, None, now);
            } else {
                let reason = format!("the name {name:?} is taken; choose another");
                self.reply(addr, &ServerMsg::LoginRefused { nonce, reason });
                return;
            }
        }
        if self.names.len() >= self.cfg.max_clients {
            let reason = format!("the room is full ({} users)", self.cfg.max_clients);
            self.reply(addr, &ServerMsg::LoginRefused { nonce, reason });
            return;
        }
        let token = self.token();
        let mut link = Endpoint::new();
        for e in &self.history {
            if let Event::Line { ts, from, text, .. } = e {
                link.send(Arc::new(Event::Line {
                    ts: *ts,
                    from: from.clone(),
                    text: text.clone(),
                    history: true,
                }));
            }
        }
        self.sessions.insert(
            token,
            Session {
                name: name.clone(),
                addr,
                login_nonce: nonce,
                link,
                last_heard: now,
                tokens: self.cfg.burst,
                last_refill: now,
                closing: None,
            },
        );
        self.names.insert(name.clone(), token);
        self.reply(addr, &ServerMsg::LoginOk { nonce, token });
        self.broadcast(Event::Joined { ts: now_ms(), name }, Some(token));
    }

    fn on_request(&mut self, token: u64, req: Request, now: Instant) {
        let Some(s) = self.sessions.get_mut(&token) else { return };
        if s.closing.is_some() {
            return;
        }
        let name = s.name.clone();
        match req {
            Request::Chat(text) | Request::Private { text, .. } if check_text(&text).is_err() => {
                let reason = check_text(&text).err().unwrap_or_default();
                self.send_to(token, Event::Refused { reason });
            }
            Request::Chat(text) => {
                if !self.take_token(token, now) {
                    return;
                }
                let e = Event::Line { ts: now_ms(), from: name, text, history: false };
                self.history.push_back(e.clone());
                while self.history.len() > self.cfg.history {
                    self.history.pop_front();
                }
                self.broadcast(e, Some(token));
            }
            Request::Private { to, text } => {
                if !self.take_token(token, now) {
                    return;
                }
                match self.names.get(&to).copied() {
                    Some(dst) => {
                        let ts = now_ms();
                        self.send_to(dst, Event::Private { ts, peer: name, sent: false, text: text.clone() });
                        if dst != token {
                            self.send_to(token, Event::Private { ts, peer: to, sent: true, text });
                        }
                    }
                    None => self
                        .send_to(token, Event::Refused { reason: format!("no user named {to:?} is online") }),
                }
            }
            Request::Who => {
                let users = self.users();
                let mut part: Vec<String> = Vec::new();
                let mut size = 0;
                for u in users {
                    if size + u.len() + 8 > MAX_DATAGRAM - 100 {
                        self.send_to(token, Event::Who { names: std::mem::take(&mut part), last: false });
                        size = 0;
                    }
                    size += u.len() + 2;
                    part.push(u);
                }
                self.send_to(token, Event::Who { names: part, last: true });
            }
            Request::Quit => self.remove(token, Some((LeftReason::Quit, Event::Goodbye)), now),
        }
    }

    /// Takes one rate-limit token; refuses (telling the user) when none is left.
    fn take_token(&mut self, token: u64, now: Instant) -> bool {
        let (burst, rate) = (self.cfg.burst, self.cfg.rate);
        let Some(s) = self.sessions.get_mut(&token) else { return false };
        let elapsed = now.saturating_duration_since(s.last_refill).as_secs_f64();
        s.tokens = (s.tokens + elapsed * rate).min(burst);
        s.last_refill = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            self.stats.rate_limited += 1;
            let reason = format!("slow down: at most {burst} lines at once, then {rate} per second");
            self.send_to(token, Event::Refused { reason });
            false
        }
    }

    fn send_to(&mut self, token: u64, e: Event) {
        if let Some(s) = self.sessions.get_mut(&token) {
            s.link.send(Arc::new(e));
        }
    }

    fn broadcast(&mut self, e: Event, except: Option<u64>) {
        let e = Arc::new(e);
        for (t, s) in self.sessions.iter_mut() {
            if Some(*t) != except && s.closing.is_none() {
                s.link.send(Arc::clone(&e));
            }
        }
    }

    /// Removes a user: the others see them leave; `last` is the user's own final event.
    fn remove(&mut self, token: u64, last: Option<(LeftReason, Event)>, now: Instant) {
        let Some(s) = self.sessions.get_mut(&token) else { return };
        if s.closing.is_some() {
            return;
        }
        let name = s.name.clone();
        self.names.remove(&name);
        let reason = match last {
            Some((reason, event)) => {
                s.link.send(Arc::new(event));
                s.closing = Some(now);
                reason
            }
            None => {
                self.sessions.remove(&token);
                LeftReason::TimedOut
            }
        };
        self.broadcast(Event::Left { ts: now_ms(), name, reason }, Some(token));
    }

    /// A line from the operator's console.
    pub fn on_admin(&mut self, cmd: AdminCmd, now: Instant) -> AdminReply {
        match cmd {
            AdminCmd::Say(text) => {
                if let Err(e) = check_text(&text) {
                    return AdminReply::Error(e);
                }
                let e = Event::Admin { ts: now_ms(), text };
                self.history.push_back(e.clone());
                while self.history.len() > self.cfg.history {
                    self.history.pop_front();
                }
                self.broadcast(e, None);
                AdminReply::Ok
            }
            AdminCmd::List => AdminReply::Users(self.users()),
            AdminCmd::Stats => AdminReply::Stats(self.stats),
            AdminCmd::Kick(name) => match self.names.get(&name).copied() {
                Some(token) => {
                    self.remove(token, Some((LeftReason::Kicked, Event::Kicked)), now);
                    AdminReply::Ok
                }
                None => AdminReply::Error(format!("no user named {name:?} is online")),
            },
            AdminCmd::Shutdown => {
                self.shutting_down = true;
                for s in self.sessions.values_mut() {
                    if s.closing.is_none() {
                        s.link.send(Arc::new(Event::Shutdown));
                        s.closing = Some(now);
                    }
                }
                self.names.clear();
                AdminReply::Ok
            }
        }
    }

    /// Whether a shutdown was asked for and every client has acknowledged it (or given up).
    pub fn finished(&self) -> bool {
        self.shutting_down && self.sessions.is_empty()
    }

    /// Timers: retransmissions, acknowledgements, heartbeat timeouts, closing sessions.
    pub fn on_tick(&mut self, now: Instant) {
        let timeout = self.cfg.timeout;
        let silent: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.closing.is_none() && now.saturating_duration_since(s.last_heard) > timeout)
            .map(|(t, _)| *t)
            .collect();
        for t in silent {
            self.remove(t, None, now);
        }
        let done: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.closing.is_some_and(|c| {
                    s.link.unacked() == 0 || now.saturating_duration_since(c) > CLOSING_GRACE
                })
            })
            .map(|(t, _)| *t)
            .collect();
        for t in done {
            self.sessions.remove(&t);
        }
        for s in self.sessions.values_mut() {
            let ack = s.link.ack();
            let due = s.link.poll_transmit(now);
            self.stats.delivered += due.len() as u64;
            for (seq, events) in batches(due, BATCH_BUDGET) {
                self.out.push((s.addr, protocol::encode(&DataOut::Data { seq, ack, events: &events })));
            }
            if s.link.poll_ack(now) {
                self.out.push((s.addr, protocol::encode(&ServerMsg::Ack { ack })));
            }
        }
    }

    /// The next moment [`on_tick`](Self::on_tick) has work.
    pub fn next_timeout(&self, now: Instant) -> Instant {
        let heartbeat = now + Duration::from_millis(500);
        self.sessions.values().filter_map(|s| s.link.next_timeout()).fold(heartbeat, Instant::min)
    }

    /// Datagrams to send, taken.
    pub fn take_output(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.out)
    }
}

/// Runs the room on `socket` until a shutdown (from the console connection, or a blocked
/// `SIGTERM`/`SIGINT` read from `signals`) has been delivered.
///
/// # Errors
///
/// Socket errors other than the transient ones.
pub fn serve(
    socket: std::net::UdpSocket,
    cfg: Config,
    mut admin: Option<mp_core::mp_ipc::Connection>,
    signals: Option<&mp_core::mp_ipc::signal::Signals>,
) -> std::io::Result<Stats> {
    use mp_core::mp_ipc::wait_readable;
    use std::os::fd::AsFd;
    socket.set_nonblocking(true)?;
    let mut room = Room::new(cfg);
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_trim = Instant::now();
    loop {
        let now = Instant::now();
        room.on_tick(now);
        flush(&socket, &mut room);
        // After bursts (many joins at once), give freed memory back every few seconds.
        if now.duration_since(last_trim) >= TRIM_EVERY {
            mp_core::mp_ipc::trim_heap();
            last_trim = now;
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
            let src = sources_kind(i, admin.is_some());
            match src {
                Source::Socket => {
                    // Bounded: a flood cannot starve timers and the console.
                    for _ in 0..10_000 {
                        match socket.recv_from(&mut buf) {
                            Ok((n, addr)) => room.on_datagram(addr, &buf[..n], now),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) if transient(&e) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Source::Admin => {
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
                Source::Signal => {
                    if let Some(s) = signals
                        && s.try_wait()?.is_some()
                    {
                        room.on_admin(AdminCmd::Shutdown, now);
                    }
                }
            }
            flush(&socket, &mut room);
        }
    }
}

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

    /// The room's counters (malformed and rejected datagrams, rate-limited lines …).
    ///
    /// # Errors
    ///
    /// When the room's process does not answer.
    pub fn stats(&mut self) -> std::io::Result<Stats> {
        self.console.send(&AdminCmd::Stats).map_err(std::io::Error::other)?;
        match self.console.recv_timeout::<AdminReply>(Duration::from_secs(10)) {
            Ok(AdminReply::Stats(s)) => Ok(s),
            Ok(other) => Err(std::io::Error::other(format!("unexpected reply {other:?}"))),
            Err(e) => Err(std::io::Error::other(e)),
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

enum Source {
    Socket,
    Admin,
    Signal,
}

fn sources_kind(i: usize, has_admin: bool) -> Source {
    match (i, has_admin) {
        (0, _) => Source::Socket,
        (1, true) => Source::Admin,
        _ => Source::Signal,
    }
}

fn transient(e: &std::io::Error) -> bool {
    // ICMP "port unreachable" from a client that went away shows up as ECONNREFUSED on Linux.
    matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::Interrupted)
}

fn flush(socket: &std::net::UdpSocket, room: &mut Room) {
    for (addr, d) in room.take_output() {
        // A full socket buffer drops the datagram; the reliability layer sends it again.
        let _ = socket.send_to(&d, addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_event_encoding_is_the_protocols() {
        let events = vec![Event::Joined { ts: 5, name: "ann".into() }, Event::Goodbye];
        let shared: Vec<Arc<Event>> = events.iter().cloned().map(Arc::new).collect();
        assert_eq!(
            protocol::encode(&DataOut::Data { seq: 3, ack: 4, events: &shared }),
            protocol::encode(&ServerMsg::Data { seq: 3, ack: 4, events })
        );
    }
}
