//! "Host a room here": the badge says where others join, Leave asks whether the room ends for
//! everyone or keeps running, and closing the window ends it.

mod common;

use chat_core::client::{ClientEvent, CloseReason};
use chat_core::protocol::Event;
use chat_gui::ChatApp;
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::net::SocketAddr;

fn free_port() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The GUI hosting a room at `addr`'s port, with bob in it.
fn host_with_bob(addr: SocketAddr) -> (Harness<'static, ChatApp>, Peer) {
    let mut h = app(addr);
    h.state_mut().form.name = "host".into();
    h.get_by_label("Host a room here").click();
    wait_until(&mut h, "the chat screen", |h| h.state().in_room());
    let bob = Peer::join(addr, "bob");
    wait_text(&mut h, "bob joined");
    (h, bob)
}

#[test]
fn the_badge_shows_where_others_join_and_leave_can_keep_the_room_running() {
    let _s = serial();
    let addr = free_port();
    let (mut h, mut bob) = host_with_bob(addr);
    let others = chat_gui::host::addresses_for_others(format!("0.0.0.0:{}", addr.port()).parse().unwrap());
    assert!(others.iter().all(|a| a.port() == addr.port() && !a.ip().is_unspecified()));
    let list = others.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    wait_text(&mut h, &format!("hosting at {list}"));
    assert!(h.query_by_label_contains("hosting at 0.0.0.0").is_none(), "an address others can type");
    h.check_accessibility();

    h.get_by_label("Leave").click();
    h.step();
    wait_text(&mut h, "You host this room (1 other in it)");
    h.check_accessibility();
    h.get_by_label("Keep it running").click();
    wait_until(&mut h, "the session to end", |h| !h.state().in_room());
    wait_text(&mut h, "Not connected: You left the room; it keeps running in this window");
    assert!(h.state().is_hosting());
    bob.wait(|e| matches!(e, ClientEvent::Room(Event::Left { name, .. }) if name == "host"));
    let _cat = Peer::join(addr, "cat");
    bob.wait(|e| matches!(e, ClientEvent::Room(Event::Joined { name, .. }) if name == "cat"));

    // On the connect screen the room is still named, with a way to end it.
    h.get_by_label("Connect elsewhere").click();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("hosting at ").is_some());
    h.get_by_label("End the room").click();
    h.step();
    bob.wait(|e| matches!(e, ClientEvent::Closed(CloseReason::Shutdown)));
    assert!(!h.state().is_hosting());
}

#[test]
fn leave_can_end_the_room_for_everyone() {
    let _s = serial();
    let (mut h, mut bob) = host_with_bob(free_port());
    h.get_by_label("Leave").click();
    h.step();
    h.get_by_label("End it for everyone").click();
    wait_until(&mut h, "the session to end", |h| !h.state().in_room());
    bob.wait(|e| matches!(e, ClientEvent::Closed(CloseReason::Shutdown)));
    assert!(!h.state().is_hosting());
}

#[test]
fn closing_the_window_ends_the_hosted_room() {
    let _s = serial();
    let (h, mut bob) = host_with_bob(free_port());
    drop(h);
    bob.wait(|e| matches!(e, ClientEvent::Closed(CloseReason::Shutdown)));
}
