//! The operator's console commands, and the end of a shutdown.

use super::*;

impl Room {
    /// A line from the operator's console.
    pub fn on_admin(&mut self, cmd: AdminCmd, now: Instant) -> AdminReply {
        match cmd {
            AdminCmd::Say(text) => {
                if let Err(e) = check_text(&text) {
                    return AdminReply::Error(e.to_string());
                }
                let e = Event::Admin { ts: now_ms(), text };
                self.remember(&e);
                self.broadcast(e, None, now);
                AdminReply::Done(format!("sent to {} users", self.names.len()))
            }
            AdminCmd::List => AdminReply::Users(self.users()),
            AdminCmd::Watch(on) => {
                self.watch = on;
                self.activity.clear();
                AdminReply::Done(if on { "activity log on" } else { "activity log off" }.into())
            }
            AdminCmd::Stats => AdminReply::Stats(self.stats),
            AdminCmd::Kick(name) => match self.names.get(&skeleton(name.trim())).copied() {
                Some(token) => {
                    let real = self.sessions.get(&token).map_or(name, |s| s.name.clone());
                    self.remove(token, Some((LeftReason::Kicked, Event::Kicked)), now);
                    AdminReply::Done(format!("kicked {real:?}"))
                }
                None => AdminReply::Error(format!("no user named {name:?} is online")),
            },
            AdminCmd::Shutdown => {
                self.shutting_down = true;
                let end = self.log.end();
                let shutdown = encode_event(&Event::Shutdown);
                for s in self.sessions.values_mut() {
                    if s.closing.is_none() {
                        s.private_bytes += shutdown.len();
                        s.private.push_back(Private {
                            after: end,
                            bytes: Arc::clone(&shutdown),
                            answers: 0,
                            ends_who: false,
                        });
                        s.closing = Some((now, end));
                    }
                }
                self.names.clear();
                self.by_addr.clear();
                self.per_ip.clear();
                AdminReply::Done(format!("shutting down; telling {} users", self.sessions.len()))
            }
        }
    }

    /// Whether a shutdown was asked for and every client has acknowledged it (or given up).
    pub fn finished(&self) -> bool {
        self.shutting_down && self.sessions.is_empty()
    }
}
