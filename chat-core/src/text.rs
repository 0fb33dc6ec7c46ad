//! How events read as text, the same in every front end.

use crate::client::{ClientEvent, CloseReason};
use crate::protocol::{Event, LeftReason};

/// `HH:MM:SS` (UTC) of a server timestamp in milliseconds.
pub fn clock(ts_ms: u64) -> String {
    let s = ts_ms / 1000;
    format!("{:02}:{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

/// One line for a room event, without the time.
pub fn event_line(e: &Event) -> String {
    match e {
        Event::Line { from, text, .. } => format!("{from}: {text}"),
        Event::Private { peer, sent: false, text, .. } => format!("[private from {peer}] {text}"),
        Event::Private { peer, sent: true, text, .. } => format!("[private to {peer}] {text}"),
        Event::Joined { name, .. } => format!("{name} joined"),
        Event::Left { name, reason: LeftReason::Quit, .. } => format!("{name} left"),
        Event::Left { name, reason: LeftReason::TimedOut, .. } => format!("{name} left (timed out)"),
        Event::Left { name, reason: LeftReason::Kicked, .. } => format!("{name} left (kicked)"),
        Event::Admin { text, .. } => format!("[admin] {text}"),
        Event::Who { names, .. } => format!("online: {}", names.join(", ")),
        Event::Refused { reason } => format!("refused: {reason}"),
        Event::Goodbye => "goodbye".into(),
        Event::Kicked => "you were removed by the operator".into(),
        Event::Shutdown => "the server is shutting down".into(),
    }
}

/// The server timestamp of an event, if it has one.
pub fn event_ts(e: &Event) -> Option<u64> {
    match e {
        Event::Line { ts, .. }
        | Event::Private { ts, .. }
        | Event::Joined { ts, .. }
        | Event::Left { ts, .. }
        | Event::Admin { ts, .. } => Some(*ts),
        _ => None,
    }
}

/// One line for a client event (room events with their time).
pub fn client_line(e: &ClientEvent) -> String {
    match e {
        ClientEvent::Connected => "connected".into(),
        ClientEvent::Reconnecting { retry_in } if retry_in.is_zero() => {
            "lost the server; reconnecting".into()
        }
        ClientEvent::Reconnecting { retry_in } => {
            format!("reconnecting (next try in {} s)", retry_in.as_secs())
        }
        ClientEvent::Reconnected => "reconnected".into(),
        ClientEvent::Room(ev) => match event_ts(ev) {
            Some(ts) => format!("[{}] {}", clock(ts), event_line(ev)),
            None => event_line(ev),
        },
        ClientEvent::Closed(why) => match why {
            CloseReason::Goodbye => "goodbye".into(),
            CloseReason::QuitUnanswered => "left (the server did not answer)".into(),
            CloseReason::Kicked => "you were removed by the operator".into(),
            CloseReason::Shutdown => "the server shut down".into(),
            CloseReason::Unreachable => "the server is unreachable".into(),
            CloseReason::Refused(r) => format!("login refused: {r}"),
        },
    }
}
