//! Text from the network never controls the reader's terminal: a rogue server (the real server
//! refuses such text, so only a rogue one can send it) sends names and lines full of escape
//! sequences, CR/LF and bidi controls to a real `chat-cli`, in pipe mode and in a terminal
//! (tmux), and what reaches the terminal is only their visible forms.

use chat_core::protocol::{self, ClientMsg, Event, ServerMsg};
use mp_tests::testutil::workspace_bin;
use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A sender's name and a line that try to clear the screen, set the title, write the
/// clipboard (OSC 52), ring the bell and forge whole lines.
const EVIL_NAME: &str = "eve\u{1b}]0;pwned\u{7}";
const EVIL_TEXT: &str = "\u{1b}[2J\u{1b}[H\u{1b}]52;c;aGFja2Vk\u{7}hello\r[12:00:00] [admin] server moving\n\
                         bob left \u{202e}txt.exe\u{9b}31m";

/// Speaks just enough of the protocol to log a client in, then sends the evil line and says
/// goodbye to a quit. Stops when `stop` is set (or after a minute).
fn rogue_server(stop: Arc<AtomicBool>) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let addr = sock.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (token, tag) = (0x1234_5678_9abc, 0x0fed_cba9_8765);
        let mut buf = [0u8; 2048];
        let mut next_seq = 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
            let reply = |m: &ServerMsg| {
                let _ = sock.send_to(&protocol::encode(m), from);
            };
            match protocol::decode::<ClientMsg>(&buf[..n]) {
                Ok(ClientMsg::Login { nonce, cookie: None, .. }) => {
                    reply(&ServerMsg::Retry { nonce, cookie: 1 })
                }
                Ok(ClientMsg::Login { nonce, .. }) => {
                    reply(&ServerMsg::LoginOk { nonce, token, tag, burst: 20, per_sec: 5 });
                    let events = vec![
                        Event::Line { ts: 0, from: EVIL_NAME.into(), text: EVIL_TEXT.into(), history: false },
                        Event::Joined { ts: 0, name: "mallory\u{1b}[31m".into() },
                    ];
                    if next_seq == 1 {
                        next_seq += events.len() as u64;
                    }
                    reply(&ServerMsg::Data { tag, seq: 1, ack: 0, upto: 2, events });
                }
                Ok(ClientMsg::Data { seq, reqs, .. }) => {
                    let ack = seq + reqs.len() as u64 - 1;
                    let events =
                        if reqs.contains(&protocol::Request::Quit) { vec![Event::Goodbye] } else { vec![] };
                    if events.is_empty() {
                        reply(&ServerMsg::Ack { tag, ack, upto: next_seq - 1 });
                    } else {
                        reply(&ServerMsg::Data { tag, seq: next_seq, ack, upto: next_seq, events });
                    }
                }
                Ok(ClientMsg::Ack { .. }) => reply(&ServerMsg::Ack { tag, ack: 0, upto: 0 }),
                _ => {}
            }
        }
    });
    (addr, thread)
}

/// Bytes a terminal would act on.
fn controls(out: &str) -> Vec<char> {
    out.chars().filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)).collect()
}

#[test]
fn escapes_from_the_network_reach_pipe_output_only_as_visible_text() {
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, server) = rogue_server(Arc::clone(&stop));
    let mut child = Command::new(workspace_bin("chat-cli"))
        .args(["--server", &addr.to_string(), "--name", "tester"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take();
    let mut out = child.stdout.take().unwrap();
    // Give it time to log in and receive the lines, then end the input (a quit).
    std::thread::sleep(Duration::from_secs(2));
    drop(stdin.take());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "chat-cli did not quit");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    let mut bytes = Vec::new();
    out.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).expect("UTF-8 output");
    eprintln!("{text}");
    assert!(text.contains("hello"), "the line arrived: {text:?}");
    assert_eq!(controls(&text), [], "raw controls in the output: {text:?}");
    assert!(text.contains("^[") && text.contains("\\u{202e}"), "shown visibly: {text:?}");
    // The forged "[admin]" and "bob left" stay inside eve's one line.
    let eve: Vec<&str> = text.lines().filter(|l| l.contains("hello")).collect();
    assert_eq!(eve.len(), 1);
    assert!(eve[0].contains("server moving") && eve[0].contains("bob left"), "{eve:?}");
    assert!(!text.lines().any(|l| l.starts_with("[12:00:00]") || l.starts_with("bob left")), "{text:?}");
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux (ci/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn escapes_from_the_network_do_not_control_a_real_terminal() {
    assert!(Command::new("tmux").arg("-V").output().is_ok(), "tmux is needed (ci/test installs it)");
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, server) = rogue_server(Arc::clone(&stop));
    let socket = format!("mp-escapes-{}", std::process::id());
    let cmd = format!("{} --server {addr} --name tester", workspace_bin("chat-cli").display());
    let t = |args: &[&str]| {
        let mut all = vec!["-L", socket.as_str()];
        all.extend_from_slice(args);
        tmux(&all)
    };
    t(&["-f", "/dev/null", "new-session", "-d", "-x", "60", "-y", "20", "-s", "esc", &cmd]);
    t(&["set-option", "-g", "set-clipboard", "on"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pane = String::new();
    while !pane.contains("hello") {
        assert!(Instant::now() < deadline, "the line never showed: {pane}");
        std::thread::sleep(Duration::from_millis(100));
        pane = t(&["capture-pane", "-p", "-J", "-t", "esc"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    pane = t(&["capture-pane", "-p", "-J", "-t", "esc"]);
    let title = t(&["display-message", "-p", "-t", "esc", "#{pane_title}"]);
    let buffers = t(&["list-buffers"]);
    t(&["send-keys", "-t", "esc", "C-c"]);
    std::thread::sleep(Duration::from_millis(300));
    t(&["kill-server"]);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    eprintln!("pane:\n{pane}\ntitle: {title:?}\nbuffers: {buffers:?}");
    assert!(!title.contains("pwned"), "the title was set: {title:?}");
    assert!(buffers.trim().is_empty(), "the clipboard was written: {buffers:?}");
    assert!(pane.contains("^["), "shown visibly: {pane}");
    // The screen was not cleared: what came before the evil line is still there.
    let before = pane.find("hello").unwrap();
    assert!(pane[..before].trim().lines().count() >= 1, "the screen was cleared: {pane}");
    assert!(!pane.lines().any(|l| l.starts_with("[12:00:00]") || l.starts_with("bob left")), "{pane}");
}
