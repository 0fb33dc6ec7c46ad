//! Text from the network is data: the screens show control characters in caret notation and
//! invisible or direction-changing characters as `\u{…}`, never raw. The screens are fed
//! events directly (no server), so any text can be tried, also text a server would refuse.

use chat_core::protocol::Event;
use chat_gui::chat::ChatView;
use chat_gui::{AutoJoin, ChatApp};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn app() -> Harness<'static, ChatApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(820.0, 560.0))
        .build_eframe(|cc| ChatApp::new(cc, AutoJoin::default()));
    h.state_mut().form.name.clear();
    h.step();
    h
}

/// No label holds any of these as they are.
fn assert_nothing_raw(h: &Harness<'_, ChatApp>) {
    for c in ['\u{1b}', '\u{7}', '\r', '\n', '\u{9b}', '\u{202e}', '\u{200b}', '\u{3164}'] {
        assert!(h.query_all_by_label_contains(&c.to_string()).next().is_none(), "a label shows {c:?} raw");
    }
}

#[test]
fn lines_names_and_refusals_on_the_chat_screen_are_shown_visibly() {
    let mut h = app();
    let mut view = ChatView::new("127.0.0.1:8888".into(), "ann".into());
    let line = "\u{1b}]0;pwned\u{7}hi \u{202e}olleh\r\nmore";
    view.apply(&Event::Line { ts: 0, from: "bob".into(), text: line.into(), history: false });
    view.apply(&Event::Joined { ts: 0, name: "e\u{200b}ve".into() });
    view.apply(&Event::Who { names: vec!["ann".into(), "bob".into(), "e\u{200b}ve".into()], last: true });
    view.apply(&Event::Private {
        ts: 0,
        peer: "m\u{9b}al".into(),
        sent: false,
        text: "\u{1b}[2Jpsst".into(),
    });
    view.apply(&Event::Admin { ts: 0, text: "\u{1b}]52;c;cHduZWQ=\u{7}".into() });
    view.apply(&Event::Left {
        ts: 0,
        name: "\u{3164}".into(),
        reason: chat_core::protocol::LeftReason::Quit,
    });
    view.apply(&Event::Refused { reason: "no user named \u{202e}x".into(), request: 0 });
    h.state_mut().chat = Some(view);
    h.step();
    h.step();
    for shown in [
        "^[]0;pwned^Ghi \\u{202e}olleh^M^Jmore",
        "e\\u{200b}ve joined",
        "[private] m\\u{9b}al to ann:",
        "^[[2Jpsst",
        "^[]52;c;cHduZWQ=^G",
        "\\u{3164} left",
        "Not sent: no user named \\u{202e}x",
    ] {
        assert!(h.query_all_by_label_contains(shown).next().is_some(), "{shown:?} is not shown");
    }
    assert!(h.query_by_label("e\\u{200b}ve").is_some(), "the user list shows the name visibly");
    assert_nothing_raw(&h);
}

#[test]
fn a_refusal_on_the_connect_screen_is_shown_visibly() {
    let mut h = app();
    h.state_mut().form.notice = Some("\u{1b}[31mthe server\u{202e} says no".into());
    h.state_mut().form.name_error = Some("Refused: the name \"\u{1b}]0;x\u{7}\" is taken.".into());
    h.step();
    assert!(h.query_by_label_contains("^[[31mthe server\\u{202e} says no").is_some());
    assert!(h.query_by_label_contains("Refused: the name \"^[]0;x^G\" is taken.").is_some());
    assert_nothing_raw(&h);
}

#[test]
fn a_name_that_could_pass_for_another_is_refused_before_connecting() {
    let mut h = app();
    for (name, why) in [
        ("ADMIN", "the name reads as “admin”, which is reserved"),
        ("аlice", "the name mixes Latin and Cyrillic letters"),
        ("ali\u{200b}ce", "invisible or formatting character (U+200B)"),
        ("bob:", "brackets, colons and @ are not allowed"),
        ("ann smith", "the name contains a space"),
    ] {
        h.state_mut().form.name = name.into();
        h.step();
        h.get_by_label("Join").click();
        h.step();
        h.step();
        assert!(h.query_all_by_label_contains(why).next().is_some(), "{name:?}: {why:?} is not shown");
        assert!(!h.state().form.busy && !h.state().in_room(), "{name:?}: no connection is tried");
    }
}
