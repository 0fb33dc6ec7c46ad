//! What the chat screen says about the connection: the reconnect countdown ticks, the window
//! title shows a lost connection; and the theme follows the system or a choice.

use chat_gui::chat::{ChatView, Status};
use chat_gui::{AutoJoin, ChatApp};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

fn app() -> Harness<'static, ChatApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(820.0, 560.0))
        .build_eframe(|cc| ChatApp::new(cc, AutoJoin::default()));
    h.step();
    h
}

#[test]
fn the_reconnect_countdown_ticks_each_second() {
    let now = Instant::now();
    let mut view = ChatView::new("127.0.0.1:8888".into(), "ann".into());
    view.status = Status::Reconnecting { next_try: Some(now + Duration::from_millis(3500)) };
    let at = |ms| view.status_text(now + Duration::from_millis(ms));
    assert_eq!(at(0), "Reconnecting to 127.0.0.1:8888: next try in 4 s");
    assert_eq!(at(600), "Reconnecting to 127.0.0.1:8888: next try in 3 s");
    assert_eq!(at(1600), "Reconnecting to 127.0.0.1:8888: next try in 2 s");
    assert_eq!(at(3400), "Reconnecting to 127.0.0.1:8888: next try in 1 s");
    assert_eq!(at(3600), "Reconnecting to 127.0.0.1:8888: trying now…");
}

#[test]
fn the_title_and_the_status_bar_show_a_lost_connection() {
    let mut h = app();
    let mut view = ChatView::new("127.0.0.1:8888".into(), "ann".into());
    view.status = Status::Reconnecting { next_try: Some(Instant::now() + Duration::from_secs(3)) };
    h.state_mut().chat = Some(view);
    h.step();
    h.step();
    assert!(h.state().title().contains("(reconnecting)"), "{}", h.state().title());
    assert!(h.query_by_label_contains("next try in").is_some());
    h.state_mut().chat.as_mut().unwrap().end("The server shut down.");
    h.step();
    assert!(h.state().title().contains("(disconnected)"), "{}", h.state().title());
}

#[test]
fn the_theme_follows_the_system_until_one_is_chosen() {
    let mut h = app();
    // egui's default (and eframe's) is to follow the system; the test harness starts dark.
    assert_eq!(egui::Options::default().theme_preference, egui::ThemePreference::System);
    h.get_by_label("System").click();
    h.step();
    assert_eq!(h.ctx.options(|o| o.theme_preference), egui::ThemePreference::System);
    h.get_by_label("Light").click();
    h.step();
    h.step();
    assert_eq!(h.ctx.options(|o| o.theme_preference), egui::ThemePreference::Light);
    assert_eq!(h.ctx.theme(), egui::Theme::Light);
    h.get_by_label("Dark").click();
    h.step();
    h.step();
    assert_eq!(h.ctx.theme(), egui::Theme::Dark);
    h.check_accessibility();

    // The chat screen's button steps through the three.
    h.state_mut().chat = Some(ChatView::new("127.0.0.1:8888".into(), "ann".into()));
    h.step();
    h.get_by_label("Theme: dark").click();
    h.step();
    h.step();
    assert_eq!(h.ctx.options(|o| o.theme_preference), egui::ThemePreference::System);
}
