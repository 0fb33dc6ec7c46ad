//! The client session both front ends share: login, reliable requests, heartbeats,
//! reconnection. [`Client`] is a state machine with no I/O; [`Connection`] drives it over a
//! UDP socket.

use crate::protocol::{
    self, BATCH_BUDGET, ClientMsg, Event, MAX_REQUESTS, Request, ServerMsg, check_name, check_text,
};
use crate::reliable::{Endpoint, REQUEST_WINDOW, WINDOW, batches};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What [`Client::input`] understands, for `/help`.
pub const HELP: &str = "commands: /who (who is online), /msg NAME TEXT (a private line), \
/me ACTION (* you ACTION), /quit [MESSAGE] (leave, saying MESSAGE first), /help; \
any other line goes to everyone (start it with // to send a line that begins with /)";

/// Send a heartbeat after this long without sending anything.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// The server is considered gone after this long without a datagram from it.
pub const SERVER_SILENCE: Duration = Duration::from_secs(5);
/// The first login gives up after this long without an answer (the server is unreachable).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A quit waits this long for the server's goodbye.
const QUIT_WAIT: Duration = Duration::from_secs(3);
const LOGIN_RETRY_MIN: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(8);
/// The server's default rate limit, kept to until `LoginOk` says the real one.
const DEFAULT_BURST: u32 = 20;
const DEFAULT_RATE: u32 = 5;

/// A token bucket a little inside the server's, so that paced requests are never refused.
#[derive(Debug, Clone, Copy)]
struct Pace {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Option<Instant>,
}

impl Pace {
    fn new(burst: u32, per_sec: u32) -> Pace {
        // One token and a tenth of the rate in hand: arrival jitter must not cross the limit.
        let burst = (f64::from(burst) - 1.0).max(1.0);
        Pace { tokens: burst, burst, rate: f64::from(per_sec) * 0.9, last: None }
    }

    /// Takes a token if there is one; otherwise when there will be.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let dt = self.last.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64(((1.0 - self.tokens) / self.rate.max(1e-9)).min(3600.0)))
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The user quit and the server said goodbye (the seed's special flag).
    Goodbye,
    /// The user quit; the server did not answer in time.
    QuitUnanswered,
    /// The operator removed this user.
    Kicked,
    /// The server shut down.
    Shutdown,
    /// No answer to the first login: nothing listens there.
    Unreachable,
    /// The login (or a re-login after a reconnect) was refused.
    Refused(String),
}

/// What the front end shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Logged in (first time).
    Connected,
    /// The server went quiet; retrying with backoff (`retry_in` until the next attempt).
    Reconnecting {
        /// How long until the next attempt.
        retry_in: Duration,
    },
    /// Logged in again after a reconnect.
    Reconnected,
    /// Local information for the user (the answer to `/help`).
    Notice(String),
    /// The server took request `id` (as [`Client::request`] returned it): a line is in the
    /// room. A refused request instead comes as `Room(Event::Refused { request: id, .. })`.
    /// Both come at most once per id; a request in flight when the session ends gets neither.
    Accepted(u64),
    /// The network changed this client's address on the way (NAT rebinding); the server
    /// checked the new one and the session goes on there, nothing lost.
    AddressChanged,
    /// Something in the room.
    Room(Event),
    /// The session is over.
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// First login.
    Connecting {
        since: Instant,
    },
    Online,
    /// Server lost; logging in again.
    Reconnecting,
    Quitting {
        since: Instant,
    },
    Closed,
}

/// The session state machine.
#[derive(Debug)]
pub struct Client {
    name: String,
    phase: Phase,
    nonce: u64,
    /// The server's cookie for this login attempt, once it has sent one.
    cookie: Option<u64>,
    /// The token of the session lost, while logging in again.
    resume: Option<u64>,
    token: u64,
    /// The value every server datagram of this session carries.
    tag: u64,
    /// The last path challenge answered.
    last_challenge: Option<u64>,
    /// Requests waiting for the rate limit, in order, with their ids.
    paced: VecDeque<(u64, Request)>,
    /// The id the next request gets.
    next_id: u64,
    /// Requests sent: link sequence number → id.
    in_flight: std::collections::BTreeMap<u64, u64>,
    /// Acknowledgements (of requests up to `.0`) that count once the events up to `.1` are
    /// in: a refusal comes among them.
    pending_accept: VecDeque<(u64, u64)>,
    /// When the next paced request may go.
    paced_at: Option<Instant>,
    /// A quit is among them.
    quit_asked: bool,
    /// The server's rate limit as this client keeps to it.
    pace: Pace,
    link: Endpoint<Request, Event>,
    next_login: Instant,
    login_backoff: Duration,
    last_heard: Instant,
    last_sent: Instant,
    events: VecDeque<ClientEvent>,
    out: Vec<Vec<u8>>,
}

/// Requests go out in a window the server keeps for out-of-order arrivals; events come in the
/// server's window.
fn new_link() -> Endpoint<Request, Event> {
    Endpoint::with_windows(REQUEST_WINDOW, WINDOW)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = mp_core::mp_ipc::getrandom(&mut b);
    u64::from_le_bytes(b)
}

impl Client {
    /// Starts logging in as `name`.
    ///
    /// # Errors
    ///
    /// The reason, when `name` is not a valid name.
    pub fn new(name: &str, now: Instant) -> Result<Client, String> {
        check_name(name)?;
        let mut c = Client {
            name: name.to_string(),
            phase: Phase::Connecting { since: now },
            nonce: random_u64(),
            cookie: None,
            resume: None,
            token: 0,
            tag: 0,
            last_challenge: None,
            paced: VecDeque::new(),
            next_id: 1,
            in_flight: std::collections::BTreeMap::new(),
            pending_accept: VecDeque::new(),
            paced_at: None,
            quit_asked: false,
            pace: Pace::new(DEFAULT_BURST, DEFAULT_RATE),
            link: new_link(),
            next_login: now,
            login_backoff: LOGIN_RETRY_MIN,
            last_heard: now,
            last_sent: now,
            events: VecDeque::new(),
            out: Vec::new(),
        };
        c.on_tick(now);
        Ok(c)
    }

    /// The name this session logs in with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether the user is logged in now.
    pub fn is_online(&self) -> bool {
        self.phase == Phase::Online
    }

    fn push(&mut self, msg: &ClientMsg, now: Instant) {
        self.out.push(protocol::encode(msg));
        self.last_sent = now;
    }

    /// Queues a request for reliable delivery; the next [`on_tick`](Self::on_tick) sends it,
    /// with every other request queued since, in as few datagrams as fit. Returns its id: the
    /// session reports [`ClientEvent::Accepted`] or a refusal with it.
    ///
    /// # Errors
    ///
    /// The reason, in words, when the text is too long or the session is over.
    pub fn request(&mut self, req: Request, now: Instant) -> Result<u64, String> {
        if let Request::Chat(t) | Request::Action(t) | Request::Private { text: t, .. } = &req {
            check_text(t)?;
        }
        if self.quit_asked || matches!(self.phase, Phase::Closed | Phase::Quitting { .. }) {
            return Err("the session is over".into());
        }
        // The wait for the goodbye starts when the quit leaves, after the lines before it.
        self.quit_asked = req == Request::Quit;
        // Paced: released to the link within the server's rate limit (`on_tick`), so that a
        // pasted burst arrives whole, in order, instead of being refused past the limit.
        let id = self.next_id;
        self.next_id += 1;
        self.paced.push_back((id, req));
        if self.phase == Phase::Online {
            self.release_paced(now);
        }
        Ok(id)
    }

    /// Interprets a line the user typed (see [`HELP`]): a command, or chat text. Returns the
    /// id of the request that carries the line's text (a chat line, an action, a private
    /// line, the message of a `/quit`), if any.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), and for an unknown or malformed command (the reason says
    /// what to type instead).
    pub fn input(&mut self, line: &str, now: Instant) -> Result<Option<u64>, String> {
        if line == "quit" {
            return self.request(Request::Quit, now).map(|_| None);
        }
        let Some(command) = line.strip_prefix('/').filter(|l| !l.starts_with('/')) else {
            // A line starting with "//" sends the text from the second slash on.
            let text = line.strip_prefix('/').unwrap_or(line);
            return self.request(Request::Chat(text.to_string()), now).map(Some);
        };
        let command = command.trim_end();
        let (word, rest) = match command.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim_start()),
            None => (command, ""),
        };
        match (word, rest) {
            ("help" | "?", _) => {
                self.events.push_back(ClientEvent::Notice(HELP.into()));
                Ok(None)
            }
            ("quit" | "exit", "") => self.request(Request::Quit, now).map(|_| None),
            ("quit" | "exit", message) => {
                let id = self.request(Request::Chat(message.to_string()), now)?;
                self.request(Request::Quit, now)?;
                Ok(Some(id))
            }
            ("who" | "names", "") => self.request(Request::Who, now).map(|_| None),
            ("me", "") => Err("usage: /me ACTION (for example /me waves)".into()),
            ("me", action) => self.request(Request::Action(action.to_string()), now).map(Some),
            ("msg", rest) => match rest.split_once(char::is_whitespace) {
                Some((to, text)) if !text.trim().is_empty() => self
                    .request(Request::Private { to: to.into(), text: text.trim_start().into() }, now)
                    .map(Some),
                _ => Err("usage: /msg NAME TEXT".into()),
            },
            ("nick", _) => {
                Err("a name cannot change in the room: /quit, then log in with the new name".into())
            }
            ("who" | "names", _) => Err("usage: /who".into()),
            _ => {
                Err(format!("unknown command /{word}; /help lists the commands (//{word} sends it as text)"))
            }
        }
    }

    /// A datagram arrived from the server's address. Anything but an answer to this login
    /// attempt (by its nonce) or a datagram of this session (by its tag) is dropped.
    pub fn on_datagram(&mut self, bytes: &[u8], now: Instant) {
        let Ok(msg) = protocol::decode::<ServerMsg>(bytes) else { return };
        let logging_in = matches!(self.phase, Phase::Connecting { .. } | Phase::Reconnecting);
        let ours = self.token != 0;
        match msg {
            ServerMsg::Retry { nonce, cookie } if nonce == self.nonce && logging_in => {
                self.last_heard = now;
                self.cookie = Some(cookie);
                // Straight back with the cookie; the retry timer stays as it is.
                let d = protocol::pad_login(&self.name, self.nonce, self.cookie, self.resume);
                self.out.push(d);
                self.last_sent = now;
            }
            ServerMsg::LoginOk { nonce, token, tag, burst, per_sec } if nonce == self.nonce && logging_in => {
                self.pace = Pace::new(burst, per_sec);
                self.last_heard = now;
                let first = matches!(self.phase, Phase::Connecting { .. });
                self.token = token;
                self.tag = tag;
                self.resume = None;
                self.phase = Phase::Online;
                self.login_backoff = LOGIN_RETRY_MIN;
                // Tells the server at once that the LoginOk arrived: until then it sends nothing.
                self.push(&ClientMsg::Ack { token, ack: self.link.ack() }, now);
                self.events.push_back(if first { ClientEvent::Connected } else { ClientEvent::Reconnected });
            }
            ServerMsg::LoginRefused { nonce, retry_after_ms, .. }
                if nonce == self.nonce && self.phase == Phase::Reconnecting && retry_after_ms > 0 =>
            {
                // Passing (a rate limit, a full room): the session is not over, only late.
                self.last_heard = now;
                let wait = Duration::from_millis(u64::from(retry_after_ms)).min(RECONNECT_MAX);
                self.next_login = now + wait;
                self.events.push_back(ClientEvent::Reconnecting { retry_in: wait });
            }
            ServerMsg::LoginRefused { nonce, reason, .. } if nonce == self.nonce && logging_in => {
                self.close(CloseReason::Refused(reason));
            }
            ServerMsg::Data { tag, seq, ack, upto, events } if ours && tag == self.tag => {
                self.last_heard = now;
                self.link.on_ack(ack);
                let mut ready = Vec::new();
                for (i, event) in events.into_iter().enumerate() {
                    ready.extend(self.link.on_data(seq.saturating_add(i as u64), event, now));
                }
                self.link.on_datagram(now);
                // The session's end is told after what this datagram acknowledges, so that a
                // line the server took before the end is reported accepted first.
                let mut ending = None;
                for e in ready {
                    match e {
                        Event::Goodbye => ending = ending.or(Some(CloseReason::Goodbye)),
                        Event::Kicked => ending = ending.or(Some(CloseReason::Kicked)),
                        Event::Shutdown => ending = ending.or(Some(CloseReason::Shutdown)),
                        Event::Refused { reason, request } => {
                            // The server's number of the request, turned into ours.
                            let request = self.in_flight.remove(&request).unwrap_or(0);
                            self.events.push_back(ClientEvent::Room(Event::Refused { reason, request }));
                        }
                        other => self.events.push_back(ClientEvent::Room(other)),
                    }
                }
                self.note_accepted(ack, upto);
                if let Some(why) = ending {
                    self.finish(why, now);
                }
            }
            ServerMsg::Ack { tag, ack, upto } if ours && tag == self.tag => {
                self.last_heard = now;
                self.link.on_ack(ack);
                self.note_accepted(ack, upto);
            }
            ServerMsg::PathChallenge { tag, challenge } if ours && tag == self.tag => {
                // Our address changed on the way (NAT rebinding): prove we are here. The
                // server asks again until it has the answer; the user is told once.
                self.push(&ClientMsg::PathResponse { token: self.token, challenge }, now);
                if self.last_challenge != Some(challenge) {
                    self.last_challenge = Some(challenge);
                    self.events.push_back(ClientEvent::AddressChanged);
                }
            }
            ServerMsg::UnknownSession { echo }
                if ours && self.phase == Phase::Online && echo == protocol::echo_of(self.token) =>
            {
                self.start_reconnect(now)
            }
            _ => return,
        }
        self.on_tick(now);
    }

    /// Ends the session after acknowledging its final event at once.
    fn finish(&mut self, why: CloseReason, now: Instant) {
        self.push(&ClientMsg::Ack { token: self.token, ack: self.link.ack() }, now);
        self.close(why);
    }

    fn close(&mut self, why: CloseReason) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.events.push_back(ClientEvent::Closed(why));
        }
    }

    fn start_reconnect(&mut self, now: Instant) {
        self.phase = Phase::Reconnecting;
        // The old token proves the name is ours, should the server still hold it.
        self.resume = Some(self.token).filter(|&t| t != 0);
        self.token = 0;
        self.tag = 0;
        self.nonce = random_u64();
        self.cookie = None;
        // Requests not yet acknowledged go to the new session, in order (with their ids);
        // those acknowledged and not yet known to be accepted reached the server: accepted.
        let mut fresh = new_link();
        let old = std::mem::take(&mut self.link);
        let acked = old.ack_of_peer();
        let ids = std::mem::take(&mut self.in_flight);
        for (_, &id) in ids.range(..=acked) {
            self.events.push_back(ClientEvent::Accepted(id));
        }
        let mut waiting = ids.range(acked + 1..).map(|(_, &id)| id);
        for r in old.into_unacked() {
            let seq = fresh.send(r);
            if let Some(id) = waiting.next() {
                self.in_flight.insert(seq, id);
            }
        }
        self.link = fresh;
        self.pending_accept.clear();
        self.login_backoff = Duration::from_secs(1);
        self.next_login = now;
        self.events.push_back(ClientEvent::Reconnecting { retry_in: Duration::ZERO });
    }

    /// Timers: login retries, retransmissions, acknowledgements, heartbeats, silence.
    pub fn on_tick(&mut self, now: Instant) {
        match self.phase {
            Phase::Closed => {}
            Phase::Connecting { since } => {
                if now.saturating_duration_since(since) > CONNECT_TIMEOUT {
                    self.close(CloseReason::Unreachable);
                } else {
                    self.login_due(now, LOGIN_RETRY_MIN * 4);
                }
            }
            Phase::Reconnecting => self.login_due(now, RECONNECT_MAX),
            Phase::Online | Phase::Quitting { .. } => {
                if let Phase::Quitting { since } = self.phase
                    && now.saturating_duration_since(since) > QUIT_WAIT
                {
                    self.close(CloseReason::QuitUnanswered);
                    return;
                }
                if now.saturating_duration_since(self.last_heard) > SERVER_SILENCE {
                    if self.phase == Phase::Online {
                        self.start_reconnect(now);
                        self.login_due(now, RECONNECT_MAX);
                    } else {
                        self.close(CloseReason::QuitUnanswered);
                    }
                    return;
                }
                self.release_paced(now);
                let (token, ack) = (self.token, self.link.ack());
                let sends = self.link.poll_transmit(now);
                for (seq, reqs) in batches(sends, BATCH_BUDGET, MAX_REQUESTS) {
                    self.push(&ClientMsg::Data { token, seq, ack, reqs }, now);
                }
                if self.link.poll_ack(now) || now.saturating_duration_since(self.last_sent) >= HEARTBEAT {
                    self.push(&ClientMsg::Ack { token, ack: self.link.ack() }, now);
                }
            }
        }
    }

    /// Moves paced requests to the link as the rate limit allows (a quit at once, in its turn).
    fn release_paced(&mut self, now: Instant) {
        self.paced_at = None;
        while let Some((_, req)) = self.paced.front() {
            if *req != Request::Quit
                && let Err(at) = self.pace.take(now)
            {
                self.paced_at = Some(at);
                return;
            }
            let Some((id, req)) = self.paced.pop_front() else { return };
            if req == Request::Quit {
                self.phase = Phase::Quitting { since: now };
            }
            let seq = self.link.send(req);
            self.in_flight.insert(seq, id);
        }
    }

    /// The server acknowledged requests up to `ack`, with any refusal of them among its events
    /// up to `upto`: once those are all in, the requests not refused were accepted.
    fn note_accepted(&mut self, ack: u64, upto: u64) {
        if self.pending_accept.back().is_none_or(|&(a, u)| ack > a || upto > u) {
            self.pending_accept.push_back((ack, upto));
        }
        // A few kept are enough: a later acknowledgement covers an earlier one.
        while self.pending_accept.len() > 16 {
            self.pending_accept.pop_front();
        }
        let have = self.link.ack();
        while let Some(&(ack, upto)) = self.pending_accept.front() {
            if upto > have {
                break;
            }
            self.pending_accept.pop_front();
            while let Some((&seq, &id)) = self.in_flight.first_key_value() {
                if seq > ack {
                    break;
                }
                self.in_flight.remove(&seq);
                self.events.push_back(ClientEvent::Accepted(id));
            }
        }
    }

    /// Requests typed and not yet sent (waiting for the server's rate limit).
    pub fn queued(&self) -> usize {
        self.paced.len()
    }

    fn login_due(&mut self, now: Instant, max: Duration) {
        if now >= self.next_login {
            let d = protocol::pad_login(&self.name, self.nonce, self.cookie, self.resume);
            self.out.push(d);
            self.last_sent = now;
            self.next_login = now + self.login_backoff;
            if self.phase == Phase::Reconnecting {
                self.events.push_back(ClientEvent::Reconnecting { retry_in: self.login_backoff });
            }
            self.login_backoff = (self.login_backoff * 2).min(max);
        }
    }

    /// When [`on_tick`](Self::on_tick) next has work.
    pub fn next_timeout(&self, now: Instant) -> Instant {
        let mut t = now + Duration::from_millis(250);
        if let Some(l) = self.link.next_timeout() {
            t = t.min(l);
        }
        match self.phase {
            Phase::Connecting { .. } | Phase::Reconnecting => t.min(self.next_login),
            Phase::Online | Phase::Quitting { .. } => {
                let t = self.paced_at.map_or(t, |p| t.min(p));
                t.min(self.last_sent + HEARTBEAT)
            }
            Phase::Closed => t,
        }
    }

    /// Datagrams to send to the server, taken.
    pub fn take_output(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out)
    }

    /// Events for the front end, taken.
    pub fn take_events(&mut self) -> Vec<ClientEvent> {
        self.events.drain(..).collect()
    }
}

mod connection;

pub use connection::{Connection, probe};

#[cfg(test)]
mod tests;
