//! The chat session on its own thread, so that the network never blocks the UI. The UI sends
//! commands over an `mp-ipc` pipe (which also wakes the thread); updates come back on a
//! channel, each followed by a repaint request.
//!
//! Every line the UI sends carries a number of the UI's; the session answers with
//! [`Update::Queued`] (the line's request id, for [`ClientEvent::Accepted`] and refusals) or
//! [`Update::Rejected`] (refused before sending: too long, an unknown command …).

use chat_core::client::{ClientEvent, Connection};
use mp_core::mp_ipc::{self, Pipe};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::Instant;

#[derive(Debug, Serialize, Deserialize)]
enum Command {
    /// A line the user typed (chat text, `/who`, `/msg NAME TEXT`, `quit`), with the UI's
    /// number for it.
    Line(u64, String),
    /// Leave the room (the seed's `quit`).
    Leave,
}

/// What the session reports to the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// From the session.
    Event(ClientEvent),
    /// Line `line` is on its way; `request` is the id of the request that carries its text
    /// (`None` for a command that carries none, such as `/who` or `/help`).
    Queued {
        /// The UI's number of the line.
        line: u64,
        /// The request id ([`ClientEvent::Accepted`] and refusals name it).
        request: Option<u64>,
    },
    /// Line `line` was not sent, for `reason`.
    Rejected {
        /// The UI's number of the line.
        line: u64,
        /// Why, in words.
        reason: String,
    },
}

/// A running session.
#[derive(Debug)]
pub struct Session {
    commands: mp_ipc::Connection,
    events: Receiver<Update>,
    thread: Option<JoinHandle<()>>,
}

impl Session {
    /// Starts logging in to `server` as `name`; `repaint` is called after every event.
    ///
    /// # Errors
    ///
    /// `InvalidInput` (with the reason) for a bad name; socket errors.
    pub fn start(
        server: SocketAddr,
        name: &str,
        repaint: impl Fn() + Send + 'static,
    ) -> std::io::Result<Session> {
        let mut conn = Connection::open(server, name)?;
        let (ui_end, mut thread_end) = Pipe::duplex()?;
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new().name("chat-session".into()).spawn(move || {
            loop {
                let ready = mp_ipc::wait_readable(&[conn.socket(), &thread_end], Some(conn.wait_hint()))
                    .unwrap_or_default();
                if ready.contains(&1) || thread_end.has_buffered() {
                    loop {
                        match thread_end.try_recv::<Command>() {
                            Ok(Command::Line(line, text)) => {
                                let update = match conn.client.input(&text, Instant::now()) {
                                    Ok(request) => Update::Queued { line, request },
                                    Err(reason) => Update::Rejected { line, reason },
                                };
                                let _ = tx.send(update);
                                repaint();
                            }
                            Ok(Command::Leave) => {
                                let _ = conn.client.input("quit", Instant::now());
                            }
                            Err(e) if e.is_empty() => break,
                            // The UI is gone: leave the room.
                            Err(_) => {
                                let _ = conn.client.input("quit", Instant::now());
                                break;
                            }
                        }
                    }
                }
                conn.poll();
                let mut closed = false;
                for e in conn.client.take_events() {
                    closed |= matches!(e, ClientEvent::Closed(_));
                    let _ = tx.send(Update::Event(e));
                    repaint();
                }
                if closed {
                    return;
                }
            }
        })?;
        Ok(Session { commands: ui_end, events: rx, thread: Some(thread) })
    }

    /// Sends a line the user typed, numbered `line` by the UI (see [`Update`]).
    pub fn send_line(&self, line: u64, text: &str) {
        let _ = self.commands.send(&Command::Line(line, text.to_string()));
    }

    /// Leaves the room; a `Closed` event follows.
    pub fn leave(&self) {
        let _ = self.commands.send(&Command::Leave);
    }

    /// Updates that arrived since the last call.
    pub fn events(&self) -> Vec<Update> {
        self.events.try_iter().collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Leave politely, and wait (briefly: the session gives up after a few seconds) for the
        // goodbye, so that the others see this user leave.
        self.leave();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
