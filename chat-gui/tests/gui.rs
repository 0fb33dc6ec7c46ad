//! The GUI against a real server, driven through its accessibility tree (egui_kittest; no GPU).

mod common;

use chat_core::client::ClientEvent;
use chat_core::protocol::Event;
use common::*;
use egui_kittest::kittest::Queryable;

#[test]
fn join_send_with_enter_and_button_receive_and_user_list() {
    // The user list shows both.
    let (_s, room, mut bob, mut h) = ann_and_bob();
    assert!(h.query_by_label("bob").is_some());
    bob.wait(|e| matches!(e, ClientEvent::Room(Event::Joined { name, .. }) if name == "ann"));

    // Enter sends, and the focus stays in the box.
    h.get_by_label("Message").focus();
    h.step();
    h.get_by_label("Message").type_text("hello with enter");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
    bob.wait_line("hello with enter");
    assert!(h.get_by_label("Message").is_focused(), "focus stays in the input box");
    assert!(h.query_by_label_contains("hello with enter").is_some(), "own line shown");

    // The button sends too.
    h.get_by_label("Message").type_text("hello with the button");
    h.step();
    h.get_by_label("Send").click();
    h.step();
    bob.wait_line("hello with the button");

    // A line from the other user arrives.
    bob.say("hi ann, bob here");
    wait_text(&mut h, "hi ann, bob here");

    // Someone else joins: the list updates.
    let _cat = Peer::join(room.addr(), "cat");
    wait_text(&mut h, "Online (3)");
    wait_text(&mut h, "cat joined");
}

#[test]
fn a_taken_or_invalid_name_is_shown_inline_and_the_form_keeps_it() {
    let _s = serial();
    let room = room();
    let _ann = Peer::join(room.addr(), "ann");
    let mut h = app(room.addr());
    h.get_by_label("Your name").focus();
    h.step();
    h.get_by_label("Your name").type_text("ann");
    h.step();
    h.get_by_label("Join").click();
    wait_text(&mut h, "is taken");
    assert!(!h.state().in_room());
    h.step();
    assert!(h.get_by_label("Your name").is_focused(), "the cursor is back in the refused field");
    assert_eq!(h.state().form.name, "ann", "the form keeps what was typed");

    // Invalid name and invalid address: told next to the field, without connecting.
    h.state_mut().form.name = " spaced".into();
    h.state_mut().form.address = "not an address".into();
    h.step();
    h.get_by_label("Join").click();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("This name cannot be used: the name contains a space").is_some());
    assert!(h.query_by_label_contains("is not an address").is_some());
}

#[test]
fn bidi_and_invisible_characters_from_another_user_are_shown_visibly() {
    let (_s, _room, mut bob, mut h) = ann_and_bob();
    bob.say("hi \u{202e}olleh\u{200b}!");
    wait_text(&mut h, "hi \\u{202e}olleh\\u{200b}!");
    assert!(h.query_by_label_contains("\u{202e}").is_none(), "the override is not in any label raw");
}

#[test]
fn an_unreachable_server_is_shown_inline() {
    let _s = serial();
    let free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut h = app(free);
    h.state_mut().form.name = "ann".into();
    h.get_by_label("Join").click();
    wait_text(&mut h, "No chat server answers");
    assert!(!h.state().in_room());
}

#[test]
fn private_message_from_the_user_list() {
    let (_s, _room, mut bob, mut h) = ann_and_bob();
    h.get_by_label("bob").click();
    h.step();
    assert_eq!(h.state().chat.as_ref().unwrap().input, "/msg bob ");
    h.get_by_label("Message").type_text("only for bob");
    h.step();

    h.key_press(egui::Key::Enter);
    h.step();
    bob.wait_line("only for bob");
    assert!(bob.seen.iter().any(|e| matches!(e, Event::Private { peer, sent: false, .. } if peer == "ann")));
    wait_text(&mut h, "ann to bob");
}

#[test]
fn leave_returns_to_the_connect_screen_and_the_others_see_it() {
    let (_s, _room, mut bob, mut h) = ann_and_bob();
    bob.say("a line before ann leaves");
    wait_text(&mut h, "a line before ann leaves");
    h.get_by_label("Leave").click();
    wait_until(&mut h, "the session to end", |h| !h.state().in_room());
    wait_text(&mut h, "Not connected: You left the room");
    bob.wait(|e| matches!(e, ClientEvent::Room(Event::Left { name, .. }) if name == "ann"));
    // The log stays until the user goes back to the connect screen.
    assert!(h.query_by_label_contains("a line before ann leaves").is_some(), "the log stays after Leave");
    h.check_accessibility();
    h.get_by_label("Connect elsewhere").click();
    wait_until(&mut h, "the connect screen", |h| h.state().chat.is_none());
    h.step();
    assert!(h.query_by_label("Your name").is_some());
    assert_eq!(h.state().form.name, "ann");
}

#[test]
fn the_server_going_away_is_shown() {
    let _s = serial();
    let room = room();
    let mut h = app(room.addr());
    join_as(&mut h, "ann");
    drop(room); // shuts the room down: every client is told
    wait_until(&mut h, "the session to end", |h| !h.state().in_room());
    wait_text(&mut h, "Not connected: The server shut down");
}

#[test]
fn host_a_room_here_reaches_a_room_in_two_clicks() {
    let _s = serial();
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut h = app(port);
    h.state_mut().form.name = "host".into();
    h.get_by_label("Host a room here").click();
    wait_until(&mut h, "the chat screen", |h| h.state().in_room());
    wait_text(&mut h, "Online (1)");
    let mut bob = Peer::join(port, "bob");
    wait_text(&mut h, "bob joined");
    bob.say("hello host");
    wait_text(&mut h, "hello host");
}
