//! Honest sending: a line shows as sent only when the server accepted it; a refused line goes
//! back into the input box with the reason beside it; lines waiting for the server are marked
//! pending; the counter beside the box counts as the server does.

mod common;

use chat_core::protocol::{Event, MAX_TEXT_CHARS};
use chat_gui::ChatApp;
use chat_gui::chat::{ChatView, Status};
use chat_gui::log::Kind;
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn type_line(h: &mut Harness<'_, ChatApp>, line: &str) {
    h.get_by_label("Message").type_text(line);
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
}

fn input(h: &Harness<'_, ChatApp>) -> String {
    h.state().chat.as_ref().map(|c| c.input.clone()).unwrap_or_default()
}

#[test]
fn a_line_the_server_refuses_goes_back_to_the_box_with_its_reason() {
    let (_s, _room, _bob, mut h) = ann_and_bob();
    type_line(&mut h, "/msg nobody are you there?");
    wait_text(&mut h, "Not sent: ");
    assert_eq!(input(&h), "/msg nobody are you there?", "the line is back in the box");
    assert!(h.query_by_label_contains("nobody").is_some());
    assert!(h.query_by_label_contains("are you there?").is_none(), "not in the log as sent");
    h.step();
    assert!(h.get_by_label("Message").is_focused());
    h.check_accessibility();
}

#[test]
fn a_line_too_long_is_counted_as_the_server_counts_and_comes_back() {
    let (_s, _room, mut bob, mut h) = ann_and_bob();
    let long = "你".repeat(MAX_TEXT_CHARS + 1);
    h.get_by_label("Message").type_text(&long);
    h.step();
    h.step();
    assert!(h.query_by_label(&format!("{}/{MAX_TEXT_CHARS}", MAX_TEXT_CHARS + 1)).is_some(), "the counter");
    h.key_press(egui::Key::Enter);
    wait_text(&mut h, &format!("at most {MAX_TEXT_CHARS}"));
    assert_eq!(input(&h), long);
    assert!(
        !h.state().chat.as_ref().unwrap().lines.iter().any(|l| l.kind == Kind::Own),
        "never shown as sent"
    );

    // Shortened, it goes, and shows as sent once accepted.
    h.state_mut().chat.as_mut().unwrap().input = "你".repeat(MAX_TEXT_CHARS);
    h.step();
    h.get_by_label("Send").click();
    h.step();
    bob.wait_line(&"你".repeat(MAX_TEXT_CHARS));
    wait_until(&mut h, "the line accepted", |h| {
        h.state().chat.as_ref().unwrap().lines.iter().any(|l| l.kind == Kind::Own && l.pending.is_none())
    });
    assert!(h.state().chat.as_ref().unwrap().refusal.is_none(), "the reason goes with a sent line");
}

#[test]
fn lines_are_pending_until_accepted_and_refusals_return_them() {
    let mut view = ChatView::new("127.0.0.1:8888".into(), "ann".into());
    let a = view.send("first");
    let b = view.send("second");
    assert!(view.lines.iter().all(|l| l.pending.is_some()), "both pending");
    view.queued(a, Some(11));
    view.queued(b, Some(12));
    view.accepted(11);
    assert_eq!(view.lines[0].pending, None);
    assert_eq!(view.lines[0].text, "first");
    view.apply(&Event::Refused { reason: "slow down".into(), request: 12 });
    assert_eq!(view.lines.len(), 1, "the refused line leaves the log");
    assert_eq!(view.input, "second");
    assert_eq!(view.refusal.as_deref(), Some("slow down"));

    // Commands show nothing, and a refusal about no line is a line in the log.
    let c = view.send("/who");
    view.queued(c, None);
    assert_eq!(view.lines.len(), 1);
    view.apply(&Event::Refused { reason: "something else".into(), request: 0 });
    assert_eq!(view.lines.last().unwrap().kind, Kind::Error);
}

#[test]
fn lines_typed_while_reconnecting_are_marked_pending_and_lost_ones_said_so() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(820.0, 560.0))
        .build_eframe(|cc| ChatApp::new(cc, chat_gui::AutoJoin::default()));
    let mut view = ChatView::new("127.0.0.1:8888".into(), "ann".into());
    view.status = Status::Reconnecting { next_try: None };
    view.send("typed while offline");
    h.state_mut().chat = Some(view);
    h.step();
    h.step();
    assert!(h.query_by_label("(pending)").is_some());
    h.state_mut().chat.as_mut().unwrap().end("The server shut down.");
    h.step();
    assert!(h.query_by_label("(pending)").is_none());
    assert!(h.query_by_label_contains("the session ended before the server took it").is_some());
}

#[test]
fn the_counter_counts_the_text_the_server_counts() {
    let mut view = ChatView::new("127.0.0.1:8888".into(), "ann".into());
    for (input, counted) in [
        ("你好，世界", Some(5)),
        ("/msg bob 你好", Some(2)),
        ("/me waves", Some(5)),
        ("//slash", Some(6)),
        ("/who", None),
        ("/help", None),
    ] {
        view.input = input.into();
        assert_eq!(view.counted_chars(), counted, "{input:?}");
    }
}
