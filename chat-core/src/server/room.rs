//! The room's state machine: users, history, sessions. No I/O: feed it datagrams, console
//! commands and clock ticks; everything it sends goes out through the one `send` callback the
//! caller passes to [`Room::on_datagram`] and [`Room::on_tick`].
//!
//! # How events reach thousands of users
//!
//! A broadcast (a line, an admin line, a join or leave notice) is encoded once and appended to
//! the room's log; every session holds only its position in that log. Each tick, a session
//! takes the next events (the log's and its own private ones, in order) up to a window of
//! [`WINDOW`] unacknowledged events, and sends them in datagrams of consecutive events with
//! one retransmission timer per datagram, at most 16 in flight. What it holds for that is a
//! few ranges of log positions, so memory does not grow with the number of users times the
//! backlog: 10,000 users logged in take about 21 MiB (`ci/bench`), handshake state and
//! per-address limits included.
//!
//! Join and leave notices alone wait up to [`PRESENCE_DELAY`] for company, so that a burst of
//! logins costs a few datagrams per user rather than one per login per user; a line goes at
//! once and takes the waiting notices with it. Log entries are dropped once every session is
//! past them. A session that falls [`MAX_BEHIND_BYTES`] behind is dropped as if it had timed
//! out; so is one whose own answers waiting reach [`MAX_PRIVATE`] or [`MAX_PRIVATE_BYTES`],
//! at the moment one more is queued.

use super::cookie::Cookies;
use super::fanout::{Log, Outbox, Shared, encode_event};
use super::limits::{AddrTable, Bucket};
use super::{AdminCmd, AdminReply, Config, Stats};
use crate::names::{check_text, skeleton};
use crate::protocol::{
    self, BATCH_BUDGET, ClientMsg, DecodeError, Event, LOGIN_SIZE, LeftReason, MAX_DATAGRAM, MAX_NAME,
    MAX_REQUESTS, Request, ServerMsg, now_ms,
};
use crate::reliable::{Endpoint, REQUEST_WINDOW, WINDOW};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a leaving session keeps retransmitting its last event.
const CLOSING_GRACE: Duration = Duration::from_secs(3);

/// How long a join or leave notice may wait for more to share its datagram. In a big room a
/// burst of logins would otherwise cost a datagram per login per user; lines and everything
/// else go at once (and take any waiting notices with them, in order).
pub const PRESENCE_DELAY: Duration = Duration::from_millis(100);

/// Join and leave notices of one name are shown at most once per this period: a name that
/// comes and goes faster (a client logging in again and again) is shown as it is when the
/// period ends, if that differs from what was shown last.
pub const PRESENCE_QUIET: Duration = Duration::from_secs(5);

/// A session with this many events of its own waiting (answers it does not acknowledge) is
/// dropped like one too far behind, when one more is queued.
pub const MAX_PRIVATE: usize = 4096;

/// The same limit in encoded bytes.
pub const MAX_PRIVATE_BYTES: usize = 1 << 20;

/// A session this many encoded bytes behind the room is dropped (as if timed out): the log
/// would otherwise grow without bound for a client that reads nothing but still heartbeats.
pub const MAX_BEHIND_BYTES: u64 = 8 << 20;

/// How often heartbeat timeouts and finished sessions are looked for.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// A path challenge is sent again (to the same new address) at most this often; another new
/// address waits until the pending challenge is this old.
const PATH_RETRY: Duration = Duration::from_millis(250);
const PATH_REPLACE: Duration = Duration::from_secs(1);

/// A session not yet verified may be sent this many times the bytes it sent.
const AMPLIFICATION: usize = 3;

/// What a version-1 client is told.
const UPGRADE: &str = "upgrade needed: protocol 2";

/// A request as it arrived: valid, or refused on arrival (with the reason, told in its turn).
#[derive(Debug)]
enum Inbound {
    Req(Request),
    Invalid(String),
}

/// An event for one session only, to go after the room-log position `after`.
#[derive(Debug)]
struct Private {
    after: u64,
    bytes: Shared,
    /// The request this answers (a refusal), 0 for none: requests are acknowledged only up
    /// to before the first one whose answer is still here, so that a client learns of a
    /// refusal no later than of the acknowledgement.
    answers: u64,
    /// The last event of a `Who` answer.
    ends_who: bool,
}

/// A challenge sent to an address a session's datagram came from.
#[derive(Debug, Clone, Copy)]
struct PathCheck {
    addr: SocketAddr,
    challenge: u64,
    sent: Instant,
}

#[derive(Debug)]
struct Session {
    name: String,
    /// The name's skeleton: what names are unique by.
    key: String,
    token: u64,
    tag: u64,
    addr: SocketAddr,
    login_nonce: u64,
    /// The client has sent a datagram with its token from `addr` since `LoginOk`.
    confirmed: bool,
    /// Until then, bytes it may still be sent.
    credit: usize,
    path: Option<PathCheck>,
    /// The next room-log position this session has not yet taken into `outbox`.
    cursor: u64,
    private: VecDeque<Private>,
    private_bytes: usize,
    outbox: Outbox,
    /// Requests from this client (the receiving half only).
    link: Endpoint<(), Inbound>,
    last_heard: Instant,
    bucket: Bucket,
    /// When a rate limit last refused a request with a message.
    last_refused: Option<Instant>,
    /// A `Who` answer is queued and not yet taken into the outbox.
    who_queued: bool,
    /// The sequence number of the last event of the last `Who` answer taken.
    who_last_seq: u64,
    /// Leaving: only the events before this room-log position and the private ones (goodbye,
    /// kicked, shutdown) are still delivered.
    closing: Option<(Instant, u64)>,
}

impl Session {
    /// The oldest room-log position this session may still send (again).
    fn oldest_needed(&self) -> u64 {
        self.outbox.oldest_log_pos().unwrap_or(self.cursor)
    }

    /// The acknowledgement of requests to send: everything delivered, but not past a request
    /// whose answer has not been taken to be sent yet.
    fn safe_ack(&self) -> u64 {
        let floor = self.private.iter().filter(|p| p.answers > 0).map(|p| p.answers).min();
        floor.map_or(self.link.ack(), |f| self.link.ack().min(f - 1))
    }

    fn who_pending(&self) -> bool {
        self.who_queued || self.outbox.acked() < self.who_last_seq
    }
}

/// The room: users, history, reliable sessions.
#[derive(Debug)]
pub struct Room {
    cfg: Config,
    sessions: HashMap<u64, Session>,
    /// Live (not leaving) sessions by name skeleton and by address; live sessions per IP.
    names: HashMap<String, u64>,
    by_addr: HashMap<SocketAddr, u64>,
    per_ip: HashMap<IpAddr, usize>,
    addr_limits: AddrTable,
    cookies: Cookies,
    presence: HashMap<String, Presence>,
    /// Names whose presence is not settled yet (shown differs from true, or recently changed).
    unsettled: Vec<String>,
    upgrade_answers: Bucket,
    history: VecDeque<Event>,
    log: Log,
    stats: Stats,
    shutting_down: bool,
    last_sweep: Option<Instant>,
    /// Where datagrams are assembled.
    scratch: Vec<u8>,
    /// The earliest timer found by the last [`on_tick`](Self::on_tick).
    next_due: Option<Instant>,
    /// The operator watches: `activity` collects what happens.
    watch: bool,
    activity: Vec<String>,
    /// Activity lines not kept because the operator's log was full.
    activity_lost: usize,
}

/// Activity lines kept for the operator between two looks at most.
const MAX_ACTIVITY: usize = 1000;

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if mp_core::mp_ipc::getrandom(&mut b).is_err() {
        // No kernel randomness: std's randomly keyed hasher of the clock is the fallback.
        use std::hash::BuildHasher;
        return std::hash::RandomState::new().hash_one(Instant::now());
    }
    u64::from_le_bytes(b)
}

fn ip_of(addr: SocketAddr) -> IpAddr {
    addr.ip().to_canonical()
}

/// Checks a request's texts when it arrives (also out of order, before it is kept).
fn inbound(r: Request) -> Inbound {
    let text = match &r {
        Request::Chat(t) | Request::Action(t) => t,
        Request::Private { to, text } => {
            if to.chars().count() > MAX_NAME {
                return Inbound::Invalid(format!(
                    "no user can be named {} characters long",
                    to.chars().count()
                ));
            }
            text
        }
        Request::Who | Request::Quit => return Inbound::Req(r),
    };
    match check_text(text) {
        Ok(()) => Inbound::Req(r),
        Err(e) => Inbound::Invalid(e.to_string()),
    }
}

/// Counts a live session from `ip` in (`up`) or out.
fn count_ip(per_ip: &mut HashMap<IpAddr, usize>, ip: IpAddr, up: bool) {
    if up {
        *per_ip.entry(ip).or_insert(0) += 1;
    } else if let Some(n) = per_ip.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}

type Send<'a> = dyn FnMut(SocketAddr, &[u8]) + 'a;

impl Room {
    /// An empty room.
    pub fn new(cfg: Config) -> Room {
        Room {
            cfg,
            sessions: HashMap::new(),
            names: HashMap::new(),
            by_addr: HashMap::new(),
            per_ip: HashMap::new(),
            addr_limits: AddrTable::default(),
            cookies: Cookies::new(Instant::now()),
            presence: HashMap::new(),
            unsettled: Vec::new(),
            upgrade_answers: Bucket::default(),
            history: VecDeque::new(),
            log: Log::default(),
            stats: Stats::default(),
            shutting_down: false,
            last_sweep: None,
            scratch: Vec::with_capacity(MAX_DATAGRAM),
            next_due: None,
            watch: false,
            activity: Vec::new(),
            activity_lost: 0,
        }
    }

    /// Notes `line` for the operator, when watching (a bounded number between two looks).
    pub(super) fn log(&mut self, line: impl FnOnce() -> String) {
        if !self.watch {
            return;
        }
        if self.activity.len() < MAX_ACTIVITY {
            self.activity.push(line());
        } else {
            self.activity_lost += 1;
        }
    }

    /// What happened since the last call, for the operator's log (empty unless watching).
    pub fn take_activity(&mut self) -> Vec<String> {
        let mut out = std::mem::take(&mut self.activity);
        if self.activity_lost > 0 {
            out.push(format!("… and {} more (the log was not read fast enough)", self.activity_lost));
            self.activity_lost = 0;
        }
        out
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Names online, sorted.
    pub fn users(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.names.values().filter_map(|t| self.sessions.get(t)).map(|s| s.name.clone()).collect();
        v.sort();
        v
    }

    /// Handles one datagram from `from`; what it answers goes to `send`.
    pub fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant, send: &mut Send<'_>) {
        let (burst, rate) = (self.cfg.datagram_burst, self.cfg.datagram_rate);
        if !self.addr_limits.socket(from).take(1.0, burst, rate, now) {
            self.stats.rate_limited += 1;
            return;
        }
        let msg: ClientMsg = match protocol::decode(bytes) {
            Ok(m) => m,
            Err(DecodeError::Version(Some(1))) => return self.on_old_client(from, bytes, now, send),
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match msg {
            ClientMsg::Login { name, nonce, cookie, resume, .. } => {
                self.on_login(from, bytes.len(), name, nonce, cookie, resume, now, send)
            }
            ClientMsg::Data { token, seq, ack, reqs } => {
                if reqs.len() > MAX_REQUESTS {
                    self.stats.malformed += 1;
                    return;
                }
                if !self.verify(token, from, bytes.len(), now, send) {
                    return;
                }
                let Some(s) = self.sessions.get_mut(&token) else { return };
                s.outbox.on_ack(ack);
                // What becomes deliverable is numbered on from what was delivered before.
                let first = s.link.ack() + 1;
                let mut ready = Vec::new();
                for (i, r) in reqs.into_iter().enumerate() {
                    ready.extend(s.link.on_data_with(seq.saturating_add(i as u64), now, || inbound(r)));
                }
                for (k, r) in ready.into_iter().enumerate() {
                    self.on_request(token, first + k as u64, r, now);
                }
            }
            ClientMsg::Ack { token, ack } => {
                if !self.verify(token, from, bytes.len(), now, send) {
                    return;
                }
                let Some(s) = self.sessions.get_mut(&token) else { return };
                s.outbox.on_ack(ack);
                // A bare ack is also the client's heartbeat: answer it, so that an idle client
                // knows the server is there.
                let (ack, upto) = (s.safe_ack(), s.outbox.last_seq());
                send(from, &protocol::encode(&ServerMsg::Ack { tag: s.tag, ack, upto }));
            }
            ClientMsg::PathResponse { token, challenge } => {
                self.on_path_response(token, challenge, from, now)
            }
        }
    }

    /// Removes a live session from the name, address and per-IP indexes.
    fn unlink(&mut self, token: u64) {
        let Some(s) = self.sessions.get(&token) else { return };
        let (key, addr) = (s.key.clone(), s.addr);
        if self.names.get(&key) == Some(&token) {
            self.names.remove(&key);
        }
        if self.by_addr.get(&addr) == Some(&token) {
            self.by_addr.remove(&addr);
            count_ip(&mut self.per_ip, ip_of(addr), false);
        }
    }

    fn on_request(&mut self, token: u64, seq: u64, req: Inbound, now: Instant) {
        let Some(s) = self.sessions.get(&token) else { return };
        if s.closing.is_some() {
            return;
        }
        let name = s.name.clone();
        let req = match req {
            Inbound::Invalid(reason) => {
                self.answer(token, seq, reason, now);
                return;
            }
            Inbound::Req(Request::Quit) => {
                self.remove(token, Some((LeftReason::Quit, Event::Goodbye)), now);
                return;
            }
            Inbound::Req(r) => r,
        };
        if !self.take_token(token, seq, now) {
            return;
        }
        match req {
            Request::Chat(text) => {
                self.log(|| format!("{name}: {text}"));
                let e = Event::Line { ts: now_ms(), from: name, text, history: false };
                self.remember(&e);
                self.broadcast(e, Some(token), now);
            }
            Request::Action(text) => {
                // The sender sees it too: it shows as the room shows it.
                self.log(|| format!("* {name} {text}"));
                let e = Event::Action { ts: now_ms(), from: name, text, history: false };
                self.remember(&e);
                self.broadcast(e, None, now);
            }
            Request::Private { to, text } => match self.names.get(&skeleton(&to)).copied() {
                Some(dst) => {
                    let ts = now_ms();
                    let peer = self.sessions.get(&dst).map_or(to, |d| d.name.clone());
                    self.send_to(
                        dst,
                        Event::Private { ts, peer: name, sent: false, text: text.clone() },
                        now,
                    );
                    if dst != token {
                        self.send_to(token, Event::Private { ts, peer, sent: true, text }, now);
                    }
                }
                None => self.answer(token, seq, format!("no user named {to:?} is online"), now),
            },
            Request::Who => {
                // One answer in flight at a time: a request meanwhile is answered by it.
                if self.sessions.get(&token).is_some_and(Session::who_pending) {
                    return;
                }
                let users = self.users();
                let mut part: Vec<String> = Vec::new();
                let mut size = 0;
                for u in users {
                    if size + u.len() + 8 > MAX_DATAGRAM - 100 {
                        self.send_to(
                            token,
                            Event::Who { names: std::mem::take(&mut part), last: false },
                            now,
                        );
                        size = 0;
                    }
                    size += u.len() + 2;
                    part.push(u);
                }
                self.send_to(token, Event::Who { names: part, last: true }, now);
                if let Some(s) = self.sessions.get_mut(&token)
                    && let Some(last) = s.private.back_mut()
                {
                    last.ends_who = true;
                    s.who_queued = true;
                }
            }
            Request::Quit => {}
        }
    }

    /// Keeps `e` for the history new users receive.
    fn remember(&mut self, e: &Event) {
        self.history.push_back(e.clone());
        while self.history.len() > self.cfg.history {
            self.history.pop_front();
        }
    }

    /// Takes one rate-limit token from the session and from its address; refuses (telling the
    /// user, at most once a second) when either has none left.
    fn take_token(&mut self, token: u64, seq: u64, now: Instant) -> bool {
        let cfg = &self.cfg;
        let Some(s) = self.sessions.get_mut(&token) else { return false };
        let ip_ok =
            |t: &mut AddrTable| t.get(ip_of(s.addr)).requests.take(1.0, cfg.ip_burst, cfg.ip_rate, now);
        let own = s.bucket.take(1.0, cfg.burst, cfg.rate, now);
        if own && ip_ok(&mut self.addr_limits) {
            return true;
        }
        self.stats.rate_limited += 1;
        if s.last_refused.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            s.last_refused = Some(now);
            let reason = if own {
                "slow down: too many requests from your address".to_string()
            } else {
                format!("slow down: at most {} lines at once, then {} per second", cfg.burst, cfg.rate)
            };
            self.answer(token, seq, reason, now);
        }
        false
    }

    /// The refusal of request `seq` of a session.
    fn answer(&mut self, token: u64, seq: u64, reason: String, now: Instant) {
        self.queue_for(token, Event::Refused { reason, request: seq }, seq, now);
    }

    /// An event for one session, after every broadcast logged so far.
    fn send_to(&mut self, token: u64, e: Event, now: Instant) {
        self.queue_for(token, e, 0, now);
    }

    /// [`send_to`](Self::send_to) for an event that answers request `answers` (0: none). A
    /// session whose queue is full is dropped instead (as one too far behind).
    fn queue_for(&mut self, token: u64, e: Event, answers: u64, now: Instant) {
        let end = self.log.end();
        let Some(s) = self.sessions.get_mut(&token) else { return };
        let bytes = encode_event(&e);
        if s.closing.is_none()
            && (s.private.len() >= MAX_PRIVATE || s.private_bytes + bytes.len() > MAX_PRIVATE_BYTES)
        {
            self.remove(token, None, now);
            return;
        }
        s.private_bytes += bytes.len();
        s.private.push_back(Private { after: end, bytes, answers, ends_who: false });
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
        if self.sessions.get(&token).is_none_or(|s| s.closing.is_some()) {
            return;
        }
        self.unlink(token);
        let Some(s) = self.sessions.get_mut(&token) else { return };
        let key = s.key.clone();
        let why = match &last {
            Some((LeftReason::Kicked, _)) => " (kicked)",
            Some(_) => "",
            None => " (timed out or too far behind)",
        };
        let (name, addr) = (s.name.clone(), s.addr);
        self.log(|| format!("{name} left{why} ({addr})"));
        let Some(s) = self.sessions.get_mut(&token) else { return };
        let reason = match last {
            Some((reason, event)) => {
                let bytes = encode_event(&event);
                s.private_bytes += bytes.len();
                s.private.push_back(Private { after: end, bytes, answers: 0, ends_who: false });
                s.closing = Some((now, end));
                reason
            }
            None => {
                self.sessions.remove(&token);
                LeftReason::TimedOut
            }
        };
        if let Some(p) = self.presence.get_mut(&key)
            && p.online == Some(token)
        {
            p.online = None;
            p.reason = reason;
            self.settle(&key, now, reason == LeftReason::Kicked);
        }
    }

    /// Heartbeat timeouts, sessions too far behind, finished leavers, presence to settle; then
    /// drops the log entries every session has taken.
    fn sweep(&mut self, now: Instant) {
        let timeout = self.cfg.timeout;
        let end = self.log.end();
        let log = &self.log;
        let gone: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| {
                s.closing.is_none()
                    && (now.saturating_duration_since(s.last_heard) > timeout
                        || log.bytes_from(s.oldest_needed()) > MAX_BEHIND_BYTES)
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
        self.settle_all(now);
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
    /// sends what the sessions have room for, each datagram through `send` as it is made.
    pub fn on_tick(&mut self, now: Instant, send: &mut Send<'_>) {
        if self.last_sweep.is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY) {
            self.sweep(now);
            self.last_sweep = Some(now);
        }
        let mut next: Option<Instant> = None;
        let mut earliest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let log = &self.log;
        for s in self.sessions.values_mut() {
            // Nothing but the LoginOk until the client has shown it has it.
            if !s.confirmed {
                continue;
            }
            if let Some(wait_until) = take_events(s, log, now) {
                earliest(wait_until);
            }
            let ack = s.safe_ack();
            let (addr, tag) = (s.addr, s.tag);
            let (datagrams, fresh) =
                s.outbox.transmit(now, log, tag, ack, &mut self.scratch, &mut |d: &[u8]| send(addr, d));
            self.stats.delivered += fresh;
            if datagrams > 0 {
                s.link.ack_sent();
            } else if s.link.poll_ack(now) {
                send(addr, &protocol::encode(&ServerMsg::Ack { tag, ack, upto: s.outbox.last_seq() }));
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
}

/// Moves the session's next events (room log and private, in order) into its outbox, as far as
/// the window allows. Presence notices alone wait up to [`PRESENCE_DELAY`] for company: then
/// the time they are due is returned.
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
        if s.private.front().is_some_and(|p| p.after <= s.cursor) {
            if let Some(p) = s.private.pop_front() {
                s.private_bytes -= p.bytes.len();
                s.outbox.push_one(p.bytes);
                if p.ends_who {
                    s.who_queued = false;
                    s.who_last_seq = s.outbox.last_seq();
                }
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

#[path = "admin.rs"]
mod admin;
#[path = "gate.rs"]
mod gate;
#[path = "presence.rs"]
mod presence;

use presence::Presence;

#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;
