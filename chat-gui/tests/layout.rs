//! Small windows: the input box stays whole and usable, the user list folds away (with a
//! toggle) so that messages keep their width.

mod common;

use chat_gui::ChatApp;
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// A room with bob, and ann in a window of `w`×`h`.
fn ann_in_window(
    w: f32,
    h: f32,
) -> (std::sync::MutexGuard<'static, ()>, chat_core::server::HostedRoom, Peer, Harness<'static, ChatApp>) {
    let guard = serial();
    let room = room();
    let bob = Peer::join(room.addr(), "bob");
    let mut app = app_sized(room.addr(), egui::vec2(w, h));
    join_as(&mut app, "ann");
    wait_until(&mut app, "the user list", |h| h.state().chat.as_ref().is_some_and(|c| c.users.len() == 2));
    (guard, room, bob, app)
}

fn inside(h: &Harness<'_, ChatApp>, label: &str, w: f32, height: f32) {
    let r = h.get_by_label(label).rect();
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w, height));
    assert!(window.contains_rect(r), "{label:?} at {r:?} is not inside the {w}×{height} window");
    assert!(r.width() >= 30.0, "{label:?} is squeezed to {r:?}");
}

#[test]
fn a_260_by_220_window_still_shows_the_input_box() {
    let (_s, _room, mut bob, mut h) = ann_in_window(260.0, 220.0);
    h.step();
    inside(&h, "Message", 260.0, 220.0);
    inside(&h, "Send", 260.0, 220.0);
    h.get_by_label("Message").type_text("from a small window");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    bob.wait_line("from a small window");
}

#[test]
fn the_user_list_folds_away_on_a_narrow_window_and_the_toggle_shows_it() {
    let (_s, _room, mut bob, mut h) = ann_in_window(420.0, 320.0);
    h.step();
    assert!(h.query_by_label("Online (2)").is_none(), "folded at 420 px");
    bob.say("a long line that should get the whole width of a narrow window to wrap in");
    wait_text(&mut h, "a long line");
    h.get_by_label("People").click();
    h.step();
    h.step();
    assert!(h.query_by_label("Online (2)").is_some(), "the toggle shows the list");
    h.check_accessibility();
    h.get_by_label("People").click();
    h.step();
    h.step();
    assert!(h.query_by_label("Online (2)").is_none(), "and hides it again");
}

#[test]
fn the_user_list_is_shown_on_a_wide_window() {
    let (_s, _room, _bob, mut h) = ann_in_window(820.0, 560.0);
    h.step();
    assert!(h.query_by_label("Online (2)").is_some());
}
