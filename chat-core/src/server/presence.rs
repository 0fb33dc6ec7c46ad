//! Join and leave notices: shown when a name's state changes, at most once per
//! [`PRESENCE_QUIET`] per name, so that a client logging in and out again and again shows as
//! it is, not as every change.

use super::*;

/// What the room last showed of a name, and what is true now.
#[derive(Debug)]
pub(super) struct Presence {
    pub(super) name: String,
    /// The live session with this name.
    pub(super) online: Option<u64>,
    /// Shown as online.
    pub(super) shown: bool,
    pub(super) shown_at: Option<Instant>,
    pub(super) reason: LeftReason,
}

impl Room {
    /// Shows a name's presence if it differs from what was shown and the name has been quiet
    /// for [`PRESENCE_QUIET`] (or at once with `force`); otherwise the sweep looks again.
    pub(super) fn settle(&mut self, key: &str, now: Instant, force: bool) {
        if self.show(key, now, force) {
            self.unsettled.push(key.to_string());
        }
    }

    /// Shows what can be shown of `key`; returns whether it needs another look later (a change
    /// not shown yet, or a name gone whose quiet period has not passed: it is forgotten then).
    fn show(&mut self, key: &str, now: Instant, force: bool) -> bool {
        let Some(p) = self.presence.get_mut(key) else { return false };
        let online = p.online.is_some();
        let quiet = p.shown_at.is_none_or(|t| now.saturating_duration_since(t) >= PRESENCE_QUIET);
        if online != p.shown && (quiet || force) {
            p.shown = online;
            p.shown_at = Some(now);
            let e = match p.online {
                Some(_) => Event::Joined { ts: now_ms(), name: p.name.clone() },
                None => Event::Left { ts: now_ms(), name: p.name.clone(), reason: p.reason },
            };
            let except = p.online;
            self.broadcast(e, except, now);
            return !online;
        }
        if online != p.shown {
            return true;
        }
        if !online && quiet {
            self.presence.remove(key);
            return false;
        }
        !online
    }

    /// Shows what the sweep can show; forgets names gone and quiet.
    pub(super) fn settle_all(&mut self, now: Instant) {
        let mut keys = std::mem::take(&mut self.unsettled);
        keys.sort_unstable();
        keys.dedup();
        keys.retain(|key| self.show(key, now, false));
        self.unsettled = keys;
    }
}
