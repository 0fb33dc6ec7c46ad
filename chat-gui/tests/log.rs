//! The log stays: after a shutdown, a kick or a lost session the transcript is still there,
//! selectable, with "Rejoin"; "Save log…" writes it to the file named in its path field.

mod common;

use chat_core::protocol::Event;
use chat_core::server::{AdminCmd, Config, HostedRoom};
use chat_gui::chat::ChatView;
use common::*;
use egui_kittest::kittest::Queryable;

#[test]
fn the_log_survives_a_server_shutdown_and_rejoin_works() {
    let _s = serial();
    let room = room();
    let addr = room.addr();
    let mut bob = Peer::join(addr, "bob");
    let mut h = app(addr);
    join_as(&mut h, "ann");
    bob.say("before the shutdown 你好");
    wait_text(&mut h, "before the shutdown 你好");
    drop(room); // tells every client the server shut down
    wait_until(&mut h, "the session to end", |h| !h.state().in_room());
    h.step();
    assert!(h.query_by_label_contains("Not connected: The server shut down").is_some());
    assert!(h.query_by_label("before the shutdown 你好").is_some(), "the transcript stays");
    assert!(h.ctx.global_style().interaction.selectable_labels, "its text can be selected and copied");
    assert!(h.query_by_label("Message").is_none(), "no input box without a session");
    h.check_accessibility();
    wait_until(&mut h, "the window title", |h| h.state().title().contains("(disconnected)"));

    // The room comes back; Rejoin logs in again with the same name, keeping the log.
    let _room = HostedRoom::start(addr, Config::default()).expect("the same address again");
    h.get_by_label("Rejoin").click();
    wait_until(&mut h, "the room again", |h| h.state().in_room());
    wait_text(&mut h, "rejoined");
    let mut cat = Peer::join(addr, "cat");
    cat.say("after the rejoin");
    wait_text(&mut h, "after the rejoin");
    assert!(h.query_by_label("before the shutdown 你好").is_some(), "the old lines are still there");
}

#[test]
fn a_kick_keeps_the_log() {
    let _s = serial();
    let mut room = room();
    let mut h = app(room.addr());
    join_as(&mut h, "ann");
    h.get_by_label("Message").type_text("my last words");
    h.step();
    h.key_press(egui::Key::Enter);
    wait_text(&mut h, "my last words");
    room.ask(&AdminCmd::Kick("ann".into())).expect("kick");
    wait_until(&mut h, "the kick", |h| !h.state().in_room());
    wait_text(&mut h, "Not connected: You were removed by the operator");
    assert!(h.query_by_label("my last words").is_some());
    assert!(h.query_by_label("Rejoin").is_some());
}

#[test]
fn save_log_writes_the_transcript_to_the_path_given() {
    let mut h = app("127.0.0.1:9".parse().unwrap());
    let mut view = ChatView::new("127.0.0.1:9".into(), "ann".into());
    view.apply(&Event::Line { ts: 0, from: "bob".into(), text: "你好，世界".into(), history: false });
    view.apply(&Event::Line {
        ts: 0,
        from: "eve".into(),
        text: "\u{1b}]0;pwned\u{7}".into(),
        history: false,
    });
    view.end("The server shut down.");
    h.state_mut().chat = Some(view);
    h.step();
    h.get_by_label("Save log…").click();
    h.step();
    h.check_accessibility();
    let path = std::env::temp_dir().join(format!("chat-gui-log-test-{}.txt", std::process::id()));
    h.get_by_label("Save to").focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label("Save to").type_text(&path.display().to_string());
    h.step();
    h.get_by_label("Save").click();
    h.step();
    h.step();
    let written = std::fs::read_to_string(&path).expect("the log file");
    let _ = std::fs::remove_file(&path);
    assert!(written.contains("bob: 你好，世界\n"), "{written}");
    assert!(written.contains("eve: ^[]0;pwned^G\n"), "escapes are written visibly: {written}");
    assert!(written.contains("The server shut down."), "{written}");
    assert!(h.query_by_label_contains("Saved 3 lines to").is_some());
}
