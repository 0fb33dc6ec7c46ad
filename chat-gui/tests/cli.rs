//! The `chat-gui` binary's command line: `--help` and `--version` print and exit without a
//! window; without a display it says so in one sentence and exits with 1.

use std::process::{Command, Output};

fn chat_gui(args: &[&str], display: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chat-gui"));
    c.args(args).env_remove("WAYLAND_DISPLAY").env_remove("DISPLAY");
    if let Some(d) = display {
        c.env("DISPLAY", d);
    }
    c.output().expect("run chat-gui")
}

#[test]
fn help_and_version_print_and_exit_without_a_window() {
    let out = chat_gui(&["--help"], None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("usage: chat-gui [--server HOST:PORT] [--name NAME]"), "{text}");
    assert!(text.contains("fonts-noto-cjk"));
    let out = chat_gui(&["--version"], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("chat-gui "));
}

#[test]
fn without_a_display_it_says_so_in_one_line_and_exits_1() {
    let out = chat_gui(&[], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("chat-gui: no display to open a window on"), "{err}");
}

#[test]
fn a_display_nobody_serves_is_one_line_too() {
    let out = chat_gui(&[], Some(":7391"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("cannot open a window on display \":7391\""), "{err}");
    assert!(!err.contains("OsError"), "no debug dump: {err}");
}

#[test]
fn an_unknown_argument_is_named() {
    let out = chat_gui(&["--colour"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument \"--colour\""));
}
