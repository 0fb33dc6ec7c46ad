//! What the GUI tests share: a room, the app in a harness, waiting, a second user.
#![allow(dead_code)]

use chat_core::client::{ClientEvent, Connection};
use chat_core::protocol::Event;
use chat_core::server::{Config, HostedRoom};
use chat_gui::{AutoJoin, ChatApp};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(15);

/// GUI tests fork a server each; one at a time keeps them from inheriting each other's sockets.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn room() -> HostedRoom {
    HostedRoom::start("127.0.0.1:0".parse().unwrap(), Config::default()).expect("start a room")
}

pub fn app(addr: SocketAddr) -> Harness<'static, ChatApp> {
    app_sized(addr, egui::vec2(820.0, 560.0))
}

/// The app in a window of `size`, on the connect screen with `addr` filled in.
pub fn app_sized(addr: SocketAddr, size: egui::Vec2) -> Harness<'static, ChatApp> {
    let mut h = Harness::builder().with_size(size).build_eframe(|cc| ChatApp::new(cc, AutoJoin::default()));
    h.state_mut().form.address = addr.to_string();
    h.state_mut().form.name.clear();
    h.step();
    h
}

/// Steps the UI until `done` holds.
pub fn wait_until(h: &mut Harness<'_, ChatApp>, what: &str, done: impl Fn(&Harness<'_, ChatApp>) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        h.step();
        if done(h) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn wait_text(h: &mut Harness<'_, ChatApp>, text: &str) {
    let t = text.to_string();
    wait_until(h, text, move |h| h.query_by_label_contains(&t).is_some());
}

pub fn join_as(h: &mut Harness<'_, ChatApp>, name: &str) {
    // Every widget a user can act on has an accessible name, on both screens.
    h.check_accessibility();
    h.get_by_label("Your name").focus();
    h.step();
    h.get_by_label("Your name").type_text(name);
    h.step();
    h.get_by_label("Join").click();
    wait_until(h, "the chat screen", |h| h.state().in_room());
    wait_text(h, "Connected to");
    h.check_accessibility();
}

/// A second user, driven directly through the client session.
pub struct Peer {
    pub conn: Connection,
    pub seen: Vec<Event>,
}

impl Peer {
    pub fn join(addr: SocketAddr, name: &str) -> Peer {
        let mut p = Peer { conn: Connection::open(addr, name).unwrap(), seen: Vec::new() };
        p.wait(|e| matches!(e, ClientEvent::Connected));
        p
    }

    pub fn wait(&mut self, want: impl Fn(&ClientEvent) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.conn.poll();
            let mut hit = false;
            for e in self.conn.client.take_events() {
                hit |= want(&e);
                if let ClientEvent::Room(ev) = e {
                    self.seen.push(ev);
                }
            }
            if hit {
                return;
            }
            assert!(Instant::now() < deadline, "peer timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn wait_line(&mut self, text: &str) {
        if self
            .seen
            .iter()
            .any(|e| matches!(e, Event::Line { text: t, .. } | Event::Private { text: t, .. } if t == text))
        {
            return;
        }
        self.wait(|e| matches!(e, ClientEvent::Room(Event::Line { text: t, .. } | Event::Private { text: t, .. }) if t == text));
    }

    pub fn say(&mut self, line: &str) {
        self.conn.client.input(line, Instant::now()).unwrap();
        self.conn.poll();
    }
}

/// A room with bob (a client session) and ann (the GUI), both in.
pub fn ann_and_bob() -> (std::sync::MutexGuard<'static, ()>, HostedRoom, Peer, Harness<'static, ChatApp>) {
    let guard = serial();
    let room = room();
    let bob = Peer::join(room.addr(), "bob");
    let mut h = app(room.addr());
    join_as(&mut h, "ann");
    wait_text(&mut h, "Online (2)");
    (guard, room, bob, h)
}
