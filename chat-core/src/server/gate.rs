//! The way into the room: the cookie round trip, admission of a verified login (name, rate,
//! caps, a takeover by the name's owner), and the path check that moves a session to a new
//! address.

use super::*;

/// When a client refused for a full room (or a full address) may try again.
const ROOM_RETRY: Duration = Duration::from_secs(5);

/// The session rate limit as `LoginOk` tells it (whole requests, saturating).
fn rate_of(cfg: &Config) -> (u32, u32) {
    let whole = |x: f64| if x >= f64::from(u32::MAX) { u32::MAX } else { x.max(1.0) as u32 };
    (whole(cfg.burst), whole(cfg.rate))
}

/// Why a verified login is refused, and whether trying again later may help.
#[derive(Debug)]
pub(super) struct Refusal {
    reason: String,
    retry_after: Option<Duration>,
}

impl Refusal {
    fn final_(reason: String) -> Refusal {
        Refusal { reason, retry_after: None }
    }

    fn later(reason: String, after: Duration) -> Refusal {
        Refusal { reason, retry_after: Some(after) }
    }
}

impl Room {
    /// Whether a datagram with `token` from `from` belongs to a session there (and marks it
    /// heard and verified). Otherwise: an unknown token is told so (in fewer bytes than it
    /// sent); a known one from a new address earns that address a path challenge.
    pub(super) fn verify(
        &mut self,
        token: u64,
        from: SocketAddr,
        len: usize,
        now: Instant,
        send: &mut Send<'_>,
    ) -> bool {
        let Some(s) = self.sessions.get_mut(&token) else {
            self.stats.rejected += 1;
            let reply = protocol::encode(&ServerMsg::UnknownSession { echo: protocol::echo_of(token) });
            if reply.len() <= len {
                send(from, &reply);
            }
            return false;
        };
        if s.addr == from {
            s.last_heard = now;
            s.confirmed = true;
            return true;
        }
        self.stats.rejected += 1;
        // One new address at a time; the same one is challenged again now and then.
        if let Some(p) = s.path {
            let age = now.saturating_duration_since(p.sent);
            if (p.addr == from && age < PATH_RETRY) || (p.addr != from && age < PATH_REPLACE) {
                return false;
            }
        }
        let challenge = match s.path {
            Some(p) if p.addr == from => p.challenge,
            _ => random_u64(),
        };
        let d = protocol::encode(&ServerMsg::PathChallenge { tag: s.tag, challenge });
        if d.len() <= AMPLIFICATION * len {
            send(from, &d);
            s.path = Some(PathCheck { addr: from, challenge, sent: now });
        }
        false
    }

    /// The session moves to the address that echoed its challenge.
    pub(super) fn on_path_response(&mut self, token: u64, challenge: u64, from: SocketAddr, now: Instant) {
        let Some(s) = self.sessions.get_mut(&token) else {
            self.stats.rejected += 1;
            return;
        };
        if !s.path.is_some_and(|p| p.addr == from && p.challenge == challenge) {
            self.stats.rejected += 1;
            return;
        }
        let (old, new) = (ip_of(s.addr), ip_of(from));
        let live = s.closing.is_none();
        if live && old != new && self.per_ip.get(&new).copied().unwrap_or(0) >= self.cfg.max_per_ip {
            return;
        }
        if live {
            self.by_addr.remove(&s.addr);
            self.by_addr.insert(from, token);
            count_ip(&mut self.per_ip, old, false);
            count_ip(&mut self.per_ip, new, true);
        }
        s.addr = from;
        s.path = None;
        s.last_heard = now;
        s.confirmed = true;
        self.stats.migrations += 1;
    }

    /// A login from a version-1 client: told to upgrade, in at most three times the bytes it
    /// sent, and at most twenty such answers a second in all.
    pub(super) fn on_old_client(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        now: Instant,
        send: &mut Send<'_>,
    ) {
        self.stats.rejected += 1;
        let Some(nonce) = protocol::old_login_nonce(bytes) else { return };
        let d = protocol::old_login_refused(nonce, UPGRADE);
        if d.len() <= AMPLIFICATION * bytes.len() && self.upgrade_answers.take(1.0, 20.0, 20.0, now) {
            send(from, &d);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_login(
        &mut self,
        from: SocketAddr,
        len: usize,
        name: String,
        nonce: u64,
        cookie: Option<u64>,
        resume: Option<u64>,
        now: Instant,
        send: &mut Send<'_>,
    ) {
        if len < LOGIN_SIZE {
            self.stats.malformed += 1;
            return;
        }
        if !cookie.is_some_and(|c| self.cookies.check(from, nonce, c, now)) {
            // Not verified: one answer, smaller than the login, and nothing kept.
            self.stats.retries += 1;
            let cookie = self.cookies.make(from, nonce, now);
            send(from, &protocol::encode(&ServerMsg::Retry { nonce, cookie }));
            return;
        }
        // The attempt that made a session, again: its LoginOk was lost.
        if let Some(s) = self.by_addr.get(&from).and_then(|t| self.sessions.get_mut(t))
            && s.login_nonce == nonce
        {
            let (burst, per_sec) = rate_of(&self.cfg);
            let d =
                protocol::encode(&ServerMsg::LoginOk { nonce, token: s.token, tag: s.tag, burst, per_sec });
            if !s.confirmed {
                s.credit += AMPLIFICATION * len;
                if s.credit < d.len() {
                    return;
                }
                s.credit -= d.len();
            }
            send(from, &d);
            return;
        }
        let Refusal { reason, retry_after } = match self.admit(from, &name, resume, now) {
            Ok(resumed) => {
                self.open_session(from, len, name, nonce, resumed, now, send);
                return;
            }
            Err(refusal) => refusal,
        };
        self.stats.refused_logins += 1;
        let retry_after_ms = retry_after.map_or(0, |d| d.as_millis().clamp(1, u128::from(u32::MAX)) as u32);
        send(from, &protocol::encode(&ServerMsg::LoginRefused { nonce, reason, retry_after_ms }));
    }

    /// Whether a verified login may open a session: `Ok(Some(old))` when it takes over its
    /// own earlier session (detached here), `Ok(None)` for a new user, or the reason not.
    pub(super) fn admit(
        &mut self,
        from: SocketAddr,
        name: &str,
        resume: Option<u64>,
        now: Instant,
    ) -> Result<Option<Session>, Refusal> {
        if self.shutting_down {
            return Err(Refusal::final_("the server is shutting down".into()));
        }
        let ip = ip_of(from);
        let (burst, rate) = (self.cfg.login_burst, self.cfg.login_rate);
        if !self.addr_limits.get(ip).logins.take(1.0, burst, rate, now) {
            self.stats.rate_limited += 1;
            let wait = Duration::from_secs_f64((1.0 / rate).clamp(0.05, 60.0));
            return Err(Refusal::later(
                format!("too many logins from {ip}; wait a few seconds and try again"),
                wait,
            ));
        }
        crate::names::check_name(name).map_err(|e| Refusal::final_(e.to_string()))?;
        if let Some(&held) = self.names.get(&skeleton(name))
            && let Some(s) = self.sessions.get(&held)
        {
            if resume == Some(s.token) {
                return Ok(self.detach(held));
            }
            return Err(Refusal::final_(if s.name == name {
                format!("the name {name:?} is taken; choose another")
            } else {
                format!("the name {name:?} is too much like {:?}, who is online; choose another", s.name)
            }));
        }
        if let Some(s) = self.by_addr.get(&from).and_then(|t| self.sessions.get(t)) {
            return Err(Refusal::final_(format!("this address is logged in already, as {:?}", s.name)));
        }
        if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.cfg.max_per_ip {
            let reason = format!("too many users from {ip} (at most {})", self.cfg.max_per_ip);
            return Err(Refusal::later(reason, ROOM_RETRY));
        }
        if self.names.len() >= self.cfg.max_clients {
            return Err(Refusal::later(
                format!("the room is full ({} users)", self.cfg.max_clients),
                ROOM_RETRY,
            ));
        }
        Ok(None)
    }

    /// Takes a session out of the room without a leave notice (its user is logging in again).
    pub(super) fn detach(&mut self, token: u64) -> Option<Session> {
        self.unlink(token);
        self.sessions.remove(&token)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_session(
        &mut self,
        from: SocketAddr,
        len: usize,
        name: String,
        nonce: u64,
        resumed: Option<Session>,
        now: Instant,
        send: &mut Send<'_>,
    ) {
        let token = random_u64();
        let tag = random_u64();
        let end = self.log.end();
        // Back again: the room lines the old session had not had acknowledged come again; a
        // new user gets the history.
        let (cursor, private) = match &resumed {
            Some(old) => (old.oldest_needed(), VecDeque::new()),
            None => {
                let history = self.history.iter().map(|e| match e {
                    Event::Line { ts, from, text, .. } => {
                        Event::Line { ts: *ts, from: from.clone(), text: text.clone(), history: true }
                    }
                    Event::Action { ts, from, text, .. } => {
                        Event::Action { ts: *ts, from: from.clone(), text: text.clone(), history: true }
                    }
                    other => other.clone(),
                });
                (
                    end,
                    history
                        .map(|e| Private { after: end, bytes: encode_event(&e), answers: 0, ends_who: false })
                        .collect(),
                )
            }
        };
        let key = skeleton(&name);
        let (burst, per_sec) = rate_of(&self.cfg);
        let d = protocol::encode(&ServerMsg::LoginOk { nonce, token, tag, burst, per_sec });
        let s = Session {
            name: name.clone(),
            key: key.clone(),
            token,
            tag,
            addr: from,
            login_nonce: nonce,
            confirmed: false,
            credit: (AMPLIFICATION * len).saturating_sub(d.len()),
            path: None,
            cursor,
            private_bytes: private.iter().map(|p: &Private| p.bytes.len()).sum(),
            private,
            outbox: Outbox::default(),
            link: Endpoint::with_windows(0, REQUEST_WINDOW),
            last_heard: now,
            bucket: Bucket::default(),
            last_refused: None,
            who_queued: false,
            who_last_seq: 0,
            closing: None,
        };
        self.sessions.insert(token, s);
        self.names.insert(key.clone(), token);
        self.by_addr.insert(from, token);
        count_ip(&mut self.per_ip, ip_of(from), true);
        send(from, &d);
        let p = self.presence.entry(key.clone()).or_insert_with(|| Presence {
            name: name.clone(),
            online: None,
            shown: false,
            shown_at: None,
            reason: LeftReason::Quit,
        });
        p.online = Some(token);
        p.name = name.clone();
        if resumed.is_none() {
            self.settle(&key, now, false);
        }
        let again = if resumed.is_some() { " again" } else { "" };
        self.log(|| format!("{name} joined{again} ({from})"));
    }
}
