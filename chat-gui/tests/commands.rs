//! The commands typed in the input box: `/who` prints the list in the log, `/help` lists the
//! commands, `/me` is an action everyone sees.

mod common;

use chat_core::client::ClientEvent;
use chat_core::protocol::Event;
use chat_gui::ChatApp;
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn type_line(h: &mut Harness<'_, ChatApp>, line: &str) {
    h.get_by_label("Message").type_text(line);
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
}

#[test]
fn who_prints_who_is_online_in_the_log() {
    let (_s, _room, _bob, mut h) = ann_and_bob();
    assert!(h.query_by_label_contains("online: ").is_none(), "the automatic list stays out of the log");
    type_line(&mut h, "/who");
    wait_text(&mut h, "2 online: ann, bob");
}

#[test]
fn help_lists_the_commands() {
    let (_s, _room, _bob, mut h) = ann_and_bob();
    type_line(&mut h, "/help");
    wait_text(&mut h, "commands: /who");
    assert!(h.query_by_label_contains("/msg NAME TEXT").is_some());
    assert!(h.query_by_label_contains("/me ACTION").is_some());
}

#[test]
fn me_is_an_action_both_sides_see() {
    let (_s, _room, mut bob, mut h) = ann_and_bob();
    type_line(&mut h, "/me waves 你好");
    wait_text(&mut h, "* ann waves 你好");
    bob.wait(|e| matches!(e, ClientEvent::Room(Event::Action { from, text, .. }) if from == "ann" && text == "waves 你好"));
    bob.say("/me nods");
    wait_text(&mut h, "* bob nods");
}
