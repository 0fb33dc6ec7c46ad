//! The chat server: the room's state machine ([`Room`], no I/O) and the network loop around it
//! ([`serve`]).
//!
//! # How events reach thousands of users
//!
//! A broadcast (a line, an admin line, a join or leave notice) is encoded once and appended to
//! the room's log; every session holds only its position in that log. Each tick, a session
//! takes the next events (the log's and its own private ones, in order) up to a window of
//! [`WINDOW`] unacknowledged events, and sends them in datagrams of
//! consecutive events with one retransmission timer per datagram, at most 16 in flight. What
//! it holds for that is a few ranges of log positions, so memory does not grow with the number
//! of users times the backlog: 10,000 users logged in take about 13 MiB (`ci/bench`).
//!
//! Join and leave notices alone wait up to [`PRESENCE_DELAY`] for company, so that a burst of
//! logins costs a few datagrams per user rather than one per login per user; a line goes at
//! once and takes the waiting notices with it. Log entries are dropped once every session is
//! past them. A session that falls [`MAX_BEHIND_BYTES`] behind, or leaves [`MAX_PRIVATE`]
//! answers unacknowledged, is dropped as if it had timed out; a client over the rate limit is
//! told at most once a second.

use crate::fanout::{Log, Outbox, Shared, encode_event};
use crate::protocol::{
    self, BATCH_BUDGET, ClientMsg, Event, LeftReason, MAX_DATAGRAM, Request, ServerMsg, check_name,
    check_text, now_ms,
};
use crate::reliable::{Endpoint, WINDOW};
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
    token: u64,
    addr: SocketAddr,
    login_nonce: u64,
    /// The next room-log position this session has not yet taken into `link`.
    cursor: u64,
    /// Events for this session only, each to go after the room-log position it names.
    private: VecDeque<(u64, Shared)>,
    /// Events to this client.
    outbox: Outbox,
    /// Requests from this client (the receiving half only).
    link: Endpoint<(), Request>,
    last_heard: Instant,
    tokens: f64,
    last_refill: Instant,
    /// When the rate limit last refused a line with a message.
    last_refused: Option<Instant>,
    /// Leaving: only the events before this room-log position and the private ones (goodbye,
    /// kicked, shutdown) are still delivered.
    closing: Option<(Instant, u64)>,
}

impl Session {
    /// The oldest room-log position this session may still send (again).
    fn oldest_needed(&self) -> u64 {
        self.outbox.oldest_log_pos().unwrap_or(self.cursor)
    }
}

/// How often the network loop returns freed heap memory to the kernel.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// How long a leaving session keeps retransmitting its last event.
const CLOSING_GRACE: Duration = Duration::from_secs(3);

/// How long a join or leave notice may wait for more to share its datagram. In a big room a
/// burst of logins would otherwise cost a datagram per login per user; lines and everything
/// else go at once (and take any waiting notices with them, in order).
pub const PRESENCE_DELAY: Duration = Duration::from_millis(100);

/// A session with this many events of its own waiting (answers it does not acknowledge) is
/// dropped like one too far behind.
pub const MAX_PRIVATE: usize = 4096;

/// Socket buffer sizes the server asks for.
const SOCKET_BUFFER: usize = 4 << 20;

/// How often heartbeat timeouts and finished sessions are looked for.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// A session this many encoded bytes behind the room is dropped (as if timed out): the log
/// would otherwise grow without bound for a client that reads nothing but still heartbeats.
/// (So is one with more than [`MAX_PRIVATE`] events of its own waiting.)
pub const MAX_BEHIND_BYTES: u64 = 8 << 20;

/// The room: users, history, reliable sessions. Feed it datagrams, console commands and clock
/// ticks; it returns datagrams to send.
#[derive(Debug)]
pub struct Room {
    cfg: Config,
    sessions: HashMap<u64, Session>,
    names: HashMap<String, u64>,
    history: VecDeque<Event>,
    log: Log,
    stats: Stats,
    rng: u64,
    out: Vec<(SocketAddr, Vec<u8>)>,
    shutting_down: bool,
    last_sweep: Option<Instant>,
    /// Where datagrams are assembled.
    scratch: Vec<u8>,
    /// The earliest timer found by the last [`on_tick`](Self::on_tick).
    next_due: Option<Instant>,
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
            log: Log::default(),
            stats: Stats::default(),
            rng: u64::from_le_bytes(seed) | 1,
            out: Vec::new(),
            shutting_down: false,
            last_sweep: None,
            scratch: Vec::with_capacity(MAX_DATAGRAM),
            next_due: None,
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
                s.outbox.on_ack(ack);
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
                s.outbox.on_ack(ack);
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
        let end = self.log.end();
        let private: VecDeque<(u64, Shared)> = self
            .history
            .iter()
            .map(|e| match e {
                Event::Line { ts, from, text, .. } => {
                    Event::Line { ts: *ts, from: from.clone(), text: text.clone(), history: true }
                }
                other => other.clone(),
            })
            .map(|e| (end, encode_event(&e)))
            .collect();
        self.sessions.insert(
            token,
            Session {
                name: name.clone(),
                token,
                addr,
                login_nonce: nonce,
                cursor: end,
                private,
                outbox: Outbox::default(),
                link: Endpoint::new(),
                last_heard: now,
                tokens: self.cfg.burst,
                last_refill: now,
                last_refused: None,
                closing: None,
            },
        );
        self.names.insert(name.clone(), token);
        self.reply(addr, &ServerMsg::LoginOk { nonce, token });
        self.broadcast(Event::Joined { ts: now_ms(), name }, Some(token), now);
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
                self.remember(&e);
                self.broadcast(e, Some(token), now);
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

    /// Keeps `e` for the history new users receive.
    fn remember(&mut self, e: &Event) {
        self.history.push_back(e.clone());
        while self.history.len() > self.cfg.history {
            self.history.pop_front();
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
            // Told at most once a second: a flood must not turn into a flood of refusals.
            if s.last_refused.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
                s.last_refused = Some(now);
                let reason = format!("slow down: at most {burst} lines at once, then {rate} per second");
                self.send_to(token, Event::Refused { reason });
            }
            false
        }
    }

    /// An event for one session, after every broadcast logged so far.
    fn send_to(&mut self, token: u64, e: Event) {
        let end = self.log.end();
        if let Some(s) = self.sessions.get_mut(&token) {
            s.private.push_back((end, encode_event(&e)));
        }
    }

    /// An event for every session (but `except`) not leaving: logged once; each session takes
    /// it in its turn.
    fn broadcast(&mut self, e: Event, except: Option<u64>, now: Instant) {
        let urgent = !matches!(e, Event::Joined { .. } | Event::Left { .. });
        self.log.push(encode_event(&e), now, except, urgent);
    }

    /// Removes a user: the others see them leave; `last` is the user's own final event.
    fn remove(&mut self, token: u64, last: Option<(LeftReason, Event)>, now: Instant) {
        let end = self.log.end();
        let Some(s) = self.sessions.get_mut(&token) else { return };
        if s.closing.is_some() {
            return;
        }
        let name = s.name.clone();
        self.names.remove(&name);
        let reason = match last {
            Some((reason, event)) => {
                s.private.push_back((end, encode_event(&event)));
                s.closing = Some((now, end));
                reason
            }
            None => {
                self.sessions.remove(&token);
                LeftReason::TimedOut
            }
        };
        self.broadcast(Event::Left { ts: now_ms(), name, reason }, Some(token), now);
    }

    /// A line from the operator's console.
    pub fn on_admin(&mut self, cmd: AdminCmd, now: Instant) -> AdminReply {
        match cmd {
            AdminCmd::Say(text) => {
                if let Err(e) = check_text(&text) {
                    return AdminReply::Error(e);
                }
                let e = Event::Admin { ts: now_ms(), text };
                self.remember(&e);
                self.broadcast(e, None, now);
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
                let end = self.log.end();
                let shutdown = encode_event(&Event::Shutdown);
                for s in self.sessions.values_mut() {
                    if s.closing.is_none() {
                        s.private.push_back((end, Arc::clone(&shutdown)));
                        s.closing = Some((now, end));
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

    /// Heartbeat timeouts, sessions too far behind, finished leavers; then drops the log
    /// entries every session has taken.
    fn sweep(&mut self, now: Instant) {
        let timeout = self.cfg.timeout;
        let end = self.log.end();
        let lagging = |s: &Session| {
            s.closing.is_none()
                && (self.log.bytes_from(s.oldest_needed()) > MAX_BEHIND_BYTES
                    || s.private.len() > MAX_PRIVATE)
        };
        let gone: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| {
                (s.closing.is_none() && now.saturating_duration_since(s.last_heard) > timeout) || lagging(s)
            })
            .map(|s| s.token)
            .collect();
        for t in gone {
            self.remove(t, None, now);
        }
        self.sessions.retain(|_, s| match s.closing {
            Some((since, stop)) => {
                let all_sent = s.outbox.is_idle() && s.private.is_empty() && s.cursor >= stop;
                !all_sent && now.saturating_duration_since(since) <= CLOSING_GRACE
            }
            None => true,
        });
        let mut oldest = end;
        for s in self.sessions.values_mut() {
            oldest = oldest.min(s.oldest_needed());
            s.outbox.shrink();
            if s.private.is_empty() && s.private.capacity() > 0 {
                s.private = VecDeque::new();
            }
        }
        self.log.trim_to(oldest.min(self.log.end()));
    }

    /// Timers: retransmissions, acknowledgements, heartbeat timeouts, closing sessions; and
    /// sends what the sessions have room for. The datagrams go to [`take_output`](Self::take_output).
    pub fn on_tick(&mut self, now: Instant) {
        let mut out = std::mem::take(&mut self.out);
        self.on_tick_send(now, &mut |addr, d| out.push((addr, d.to_vec())));
        out.append(&mut self.out);
        self.out = out;
    }

    /// [`on_tick`](Self::on_tick), handing each datagram to `send` as it is made instead of
    /// queueing them all (ten thousand sessions' worth at once would be a lot of memory).
    pub fn on_tick_send(&mut self, now: Instant, send: &mut dyn FnMut(SocketAddr, &[u8])) {
        if self.last_sweep.is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY) {
            self.sweep(now);
            self.last_sweep = Some(now);
        }
        let mut next: Option<Instant> = None;
        let mut earliest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let log = &self.log;
        for s in self.sessions.values_mut() {
            if let Some(wait_until) = take_events(s, log, now) {
                earliest(wait_until);
            }
            let ack = s.link.ack();
            let addr = s.addr;
            let (datagrams, fresh) =
                s.outbox.transmit(now, log, ack, &mut self.scratch, &mut |d: &[u8]| send(addr, d));
            self.stats.delivered += fresh;
            if datagrams > 0 {
                s.link.ack_sent();
            } else if s.link.poll_ack(now) {
                send(addr, &protocol::encode(&ServerMsg::Ack { ack }));
            }
            if let Some(t) = s.outbox.next_timeout() {
                earliest(t);
            }
            if let Some(t) = s.link.next_timeout() {
                earliest(t);
            }
        }
        self.next_due = next;
    }

    /// The next moment [`on_tick`](Self::on_tick) has work.
    pub fn next_timeout(&self, now: Instant) -> Instant {
        let sweep = self.last_sweep.map_or(now, |t| t + SWEEP_EVERY);
        self.next_due.map_or(sweep, |t| t.min(sweep))
    }

    /// Datagrams to send, taken.
    pub fn take_output(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.out)
    }
}

/// Moves the session's next events (room log and private, in order) into its reliable link, as
/// far as the window allows. Presence notices alone wait up to [`PRESENCE_DELAY`] for company:
/// then the time they are due is returned.
fn take_events(s: &mut Session, log: &Log, now: Instant) -> Option<Instant> {
    let stop = s.closing.map_or(log.end(), |(_, stop)| stop);
    if s.private.is_empty() && s.cursor >= stop {
        return None;
    }
    let urgent = !s.private.is_empty()
        || s.closing.is_some()
        || log.last_urgent.is_some_and(|u| u >= s.cursor)
        || log.bytes_from(s.cursor) >= BATCH_BUDGET as u64;
    if !urgent {
        let due = log.get(s.cursor).map_or(now, |e| e.at + PRESENCE_DELAY);
        if due > now {
            return Some(due);
        }
    }
    while s.outbox.unacked() < WINDOW as u64 {
        if let Some((after, _)) = s.private.front()
            && *after <= s.cursor
        {
            if let Some((_, e)) = s.private.pop_front() {
                s.outbox.push_one(e);
            }
            continue;
        }
        let Some(entry) = log.get(s.cursor).filter(|_| s.cursor < stop) else { break };
        if entry.except != Some(s.token) {
            s.outbox.push_log(s.cursor);
        }
        s.cursor += 1;
    }
    None
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
    // Room for the acknowledgements and heartbeats of thousands of clients that arrive while a
    // tick is sending; a smaller buffer (where the system caps it) only means more resends.
    let _ = mp_core::mp_ipc::set_recv_buffer(&socket, SOCKET_BUFFER);
    let _ = mp_core::mp_ipc::set_send_buffer(&socket, SOCKET_BUFFER);
    let mut room = Room::new(cfg);
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_trim = Instant::now();
    loop {
        let now = Instant::now();
        room.on_tick_send(now, &mut |addr, d| {
            // A full socket buffer drops the datagram; the reliability layer sends it again.
            let _ = socket.send_to(d, addr);
        });
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

    use crate::client::{Client, ClientEvent};

    /// Real clients and a room over a perfect, instant network in fake time. A client that does
    /// not `read` still heartbeats and hears the answers, but every data datagram to it is lost.
    struct Net {
        room: Room,
        clients: Vec<(SocketAddr, Client, bool)>,
        now: Instant,
    }

    impl Net {
        fn new(cfg: Config) -> Net {
            Net { room: Room::new(cfg), clients: Vec::new(), now: Instant::now() }
        }

        fn join(&mut self, name: &str, reads: bool) -> usize {
            let addr: SocketAddr = format!("127.0.0.1:{}", 1000 + self.clients.len()).parse().unwrap();
            self.clients.push((addr, Client::new(name, self.now).unwrap(), reads));
            let i = self.clients.len() - 1;
            self.step(Duration::ZERO);
            self.step(Duration::ZERO);
            i
        }

        /// Lets `dt` pass, then delivers everything each way once.
        fn step(&mut self, dt: Duration) {
            self.now += dt;
            let now = self.now;
            for (addr, c, _) in &mut self.clients {
                c.on_tick(now);
                for d in c.take_output() {
                    self.room.on_datagram(*addr, &d, now);
                }
            }
            self.room.on_tick(now);
            for (to, d) in self.room.take_output() {
                if let Some((_, c, reads)) = self.clients.iter_mut().find(|(a, _, _)| *a == to) {
                    let data = matches!(protocol::decode(&d), Ok(ServerMsg::Data { .. }));
                    if *reads || !data {
                        c.on_datagram(&d, now);
                    }
                }
            }
        }

        fn events(&mut self, i: usize) -> Vec<ClientEvent> {
            self.clients[i].1.take_events()
        }
    }

    fn lines(events: &[ClientEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Room(Event::Line { text, .. } | Event::Admin { text, .. }) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn join_notices_wait_briefly_for_company_lines_do_not() {
        let mut net = Net::new(Config::default());
        let ann = net.join("ann", true);
        net.events(ann);
        for i in 0..5 {
            net.join(&format!("u{i}"), true);
        }
        let early = net.events(ann);
        assert!(!early.iter().any(|e| matches!(e, ClientEvent::Room(Event::Joined { .. }))), "{early:?}");
        net.step(PRESENCE_DELAY);
        net.step(Duration::ZERO);
        let joined: Vec<ClientEvent> = net.events(ann);
        assert_eq!(joined.iter().filter(|e| matches!(e, ClientEvent::Room(Event::Joined { .. }))).count(), 5);
        // A join followed by a line: both at once, in order.
        let bob = net.join("bob", true);
        net.clients[bob].1.request(Request::Chat("hi".into()), net.now).unwrap();
        net.step(Duration::ZERO);
        net.step(Duration::ZERO);
        let got = net.events(ann);
        assert!(matches!(&got[0], ClientEvent::Room(Event::Joined { name, .. }) if name == "bob"), "{got:?}");
        assert_eq!(lines(&got), ["hi"]);
    }

    #[test]
    fn private_events_keep_their_place_after_a_long_backlog() {
        let mut net = Net::new(Config::default());
        let ann = net.join("ann", true);
        let n = WINDOW * 3;
        for i in 0..n {
            assert_eq!(net.room.on_admin(AdminCmd::Say(format!("a{i}")), net.now), AdminReply::Ok);
        }
        assert_eq!(net.room.on_admin(AdminCmd::Kick("ann".into()), net.now), AdminReply::Ok);
        let mut got = Vec::new();
        for _ in 0..100 {
            net.step(Duration::from_millis(1));
            got.extend(net.events(ann));
            assert!(net.room.sessions.values().all(|s| s.outbox.unacked() <= WINDOW as u64));
        }
        assert_eq!(lines(&got), (0..n).map(|i| format!("a{i}")).collect::<Vec<_>>());
        assert_eq!(got.last(), Some(&ClientEvent::Closed(crate::client::CloseReason::Kicked)));
        net.step(SWEEP_EVERY);
        assert!(net.room.sessions.is_empty());
        assert_eq!(net.room.log.len(), 0, "nobody needs the log any more");
    }

    #[test]
    fn the_log_is_shared_and_a_reader_of_nothing_is_dropped_when_too_far_behind() {
        let mut net = Net::new(Config::default());
        let ann = net.join("ann", true);
        let deaf = net.join("deaf", false);
        net.events(ann);
        let line = "x".repeat(1000);
        let mut said = 0u64;
        while net.room.sessions.len() == 2 {
            net.room.on_admin(AdminCmd::Say(line.clone()), net.now);
            said += 1;
            net.step(Duration::from_millis(1));
            // The deaf client's window is full; the rest of its backlog is the room's one copy.
            let deaf_s = net.room.sessions.values().find(|s| s.name == "deaf");
            assert!(deaf_s.is_none_or(|s| s.outbox.unacked() <= WINDOW as u64));
            assert!(net.room.log.bytes_from(net.room.log.start) <= MAX_BEHIND_BYTES + 2 * 1024 * 1024);
            assert!(said < 20_000, "the deaf client was never dropped");
        }
        assert!(said * 1000 >= MAX_BEHIND_BYTES, "dropped after {said} lines");
        net.step(PRESENCE_DELAY);
        net.step(Duration::ZERO);
        let got = net.events(ann);
        let about_deaf = |e: &&ClientEvent| match e {
            ClientEvent::Room(Event::Joined { name, .. }) => name == "deaf",
            ClientEvent::Room(Event::Left { name, reason, .. }) => {
                name == "deaf" && *reason == LeftReason::TimedOut
            }
            _ => false,
        };
        let deaf_events: Vec<_> = got.iter().filter(about_deaf).collect();
        assert_eq!(deaf_events.len(), 2, "joined once, dropped once: {deaf_events:?} of {}", got.len());
        assert!(net.clients[deaf].1.is_online(), "it heartbeated all along");
        net.step(SWEEP_EVERY);
        assert!(net.room.log.len() < 10, "{} entries kept", net.room.log.len());
    }

    #[test]
    fn a_thousand_joins_cost_one_log_entry_each_not_one_per_user() {
        let mut net = Net::new(Config { max_clients: 2000, ..Config::default() });
        for i in 0..1000 {
            net.join(&format!("u{i}"), true);
        }
        for _ in 0..5 {
            net.step(PRESENCE_DELAY);
        }
        assert_eq!(net.room.users().len(), 1000);
        assert!(net.room.sessions.values().all(|s| s.outbox.is_idle() && s.cursor == net.room.log.end()));
        // Every user saw every later join exactly once.
        for i in [0, 500, 998] {
            let joined =
                net.events(i).iter().filter(|e| matches!(e, ClientEvent::Room(Event::Joined { .. }))).count();
            assert_eq!(joined, 999 - i, "u{i}");
        }
        net.step(SWEEP_EVERY);
        assert_eq!(net.room.log.len(), 0);
    }
}
