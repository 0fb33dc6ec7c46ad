//! End to end: real `chat-server` and `chat-cli` processes on loopback.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

fn bin(name: &str) -> PathBuf {
    mp_tests::testutil::workspace_bin(name)
}

/// A child process whose output lines are collected as they come.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    rx: Receiver<String>,
    name: String,
}

impl Proc {
    fn start(path: PathBuf, args: &[&str], name: &str) -> Proc {
        let mut child = Command::new(path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start process");
        let (tx, rx) = channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let (tx, lines) = (tx.clone(), Arc::clone(&lines));
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let stdin = child.stdin.take();
        Proc { child, stdin, lines, rx, name: name.to_string() }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to stdin");
        stdin.flush().expect("flush");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a line containing `needle`; returns it.
    fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!(
            "{}: no line with {needle:?} within {WAIT:?}; got {:#?}",
            self.name,
            self.lines.lock().unwrap()
        );
    }

    fn count(&self, needle: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{} did not exit; output {:#?}", self.name, self.all());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(extra: &[&str]) -> (Proc, String) {
    server_at("127.0.0.1:0", extra)
}

fn server_at(bind: &str, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["--bind", bind];
    args.extend_from_slice(extra);
    let p = Proc::start(bin("chat-server"), &args, "server");
    let line = p.expect("listening on");
    let addr = line.split_whitespace().nth(3).expect("address in the banner").to_string();
    (p, addr)
}

fn client(addr: &str, name: &str) -> Proc {
    let p = Proc::start(bin("chat-cli"), &["--server", addr, "--name", name], name);
    p.expect(&format!("joined as {name}"));
    p
}

#[test]
fn join_chat_in_one_order_and_quit() {
    let (_srv, addr) = server(&[]);
    let mut ann = client(&addr, "ann");
    let bob = client(&addr, "bob");
    let cat = client(&addr, "cat");
    ann.expect("bob joined");
    bob.expect("cat joined");
    // 20 lines: the rate limit's burst.
    for i in 0..20 {
        ann.send(&format!("line {i}"));
    }
    bob.expect("ann: line 19");
    cat.expect("ann: line 19");
    for p in [&bob, &cat] {
        let got: Vec<String> = p.all().into_iter().filter(|l| l.contains("ann: line")).collect();
        let want: Vec<String> = (0..20).map(|i| format!("ann: line {i}")).collect();
        assert_eq!(got.len(), 20, "{}: {got:#?}", p.name);
        for (g, w) in got.iter().zip(&want) {
            assert!(g.ends_with(w.as_str()), "{}: {g} vs {w}", p.name);
            assert!(g.starts_with('['), "lines carry the server time: {g}");
        }
    }
    assert_eq!(ann.count("ann: line"), 0, "a user does not get their own lines back");
    ann.send("quit");
    ann.expect("goodbye");
    assert_eq!(ann.wait_exit(), 0);
    bob.expect("ann left");
    cat.expect("ann left");
}

#[test]
fn every_user_sees_all_lines_in_the_same_order() {
    let (_srv, addr) = server(&[]);
    let mut ann = client(&addr, "ann");
    let mut bob = client(&addr, "bob");
    let cat = client(&addr, "cat");
    ann.expect("cat joined");
    bob.expect("cat joined");
    for i in 0..10 {
        ann.send(&format!("a{i}"));
        bob.send(&format!("b{i}"));
    }
    cat.expect("ann: a9");
    cat.expect("bob: b9");
    // Everyone's view of the lines, without timestamps; each user lacks only their own.
    let view = |p: &Proc| -> Vec<String> {
        p.all()
            .into_iter()
            .filter_map(|l| l.split_once("] ").map(|(_, rest)| rest.to_string()))
            .filter(|l| l.starts_with("ann: ") || l.starts_with("bob: "))
            .collect()
    };
    ann.expect("bob: b9");
    bob.expect("ann: a9");
    let c = view(&cat);
    assert_eq!(c.len(), 20);
    let without = |v: &[String], who: &str| -> Vec<String> {
        v.iter().filter(|l| !l.starts_with(who)).cloned().collect()
    };
    assert_eq!(view(&ann), without(&c, "ann: "), "ann sees bob's lines in cat's order");
    assert_eq!(view(&bob), without(&c, "bob: "), "bob sees ann's lines in cat's order");
}

#[test]
fn forty_pasted_lines_all_arrive_in_order_and_the_others_still_chat() {
    let (_srv, addr) = server(&[]);
    let mut ann = client(&addr, "ann");
    let mut bob = client(&addr, "bob");
    ann.expect("bob joined");
    // Past the server's rate limit (20 at once, then 5 a second): the client paces them.
    for i in 0..40 {
        ann.send(&format!("flood {i}"));
    }
    bob.send("still here");
    let t = Instant::now();
    ann.expect("bob: still here");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    bob.expect("ann: flood 39");
    let lines = bob.lines.lock().unwrap().clone();
    let got: Vec<String> =
        lines.iter().filter_map(|l| l.split_once("ann: ").map(|(_, t)| t.to_string())).collect();
    let want: Vec<String> = (0..40).map(|i| format!("flood {i}")).collect();
    assert_eq!(got, want, "every pasted line once, in order");
    assert!(!ann.lines.lock().unwrap().iter().any(|l| l.contains("refused")), "nothing was refused");
}

#[test]
fn a_taken_or_invalid_name_is_refused_with_a_reason() {
    let (_srv, addr) = server(&[]);
    let _ann = client(&addr, "ann");
    let mut dup = Proc::start(bin("chat-cli"), &["--server", &addr, "--name", "ann"], "dup");
    dup.expect("taken");
    assert_eq!(dup.wait_exit(), 2);
    let mut bad = Proc::start(bin("chat-cli"), &["--server", &addr, "--name", " spaced"], "bad");
    bad.expect("space");
    assert_eq!(bad.wait_exit(), 2);
    let long = "x".repeat(33);
    let mut bad = Proc::start(bin("chat-cli"), &["--server", &addr, "--name", &long], "long");
    bad.expect("33 characters");
    assert_eq!(bad.wait_exit(), 2);
    // End of input quits cleanly.
    let mut eve = client(&addr, "eve");
    eve.close_stdin();
    assert_eq!(eve.wait_exit(), 0);
}

#[test]
fn admin_lines_list_and_kick() {
    let (mut srv, addr) = server(&[]);
    let ann = client(&addr, "ann");
    let mut bob = client(&addr, "bob");
    srv.send("the server says hello");
    ann.expect("[admin] the server says hello");
    bob.expect("[admin] the server says hello");
    srv.send("/list");
    srv.expect("online (2): ann, bob");
    srv.send("/kick nobody");
    srv.expect("no user named \"nobody\"");
    srv.send("/kick bob");
    bob.expect("removed by the operator");
    assert_eq!(bob.wait_exit(), 3, "kicked");
    ann.expect("bob left (kicked)");
    srv.send("/list");
    srv.expect("online (1): ann");
}

#[test]
fn who_private_messages_history_and_long_lines() {
    let (_srv, addr) = server(&["--history", "3"]);
    let mut ann = client(&addr, "ann");
    for i in 0..5 {
        ann.send(&format!("old {i}"));
    }
    ann.send("/who");
    ann.expect("online: ann");
    let mut bob = client(&addr, "bob");
    bob.expect("ann: old 4");
    assert_eq!(bob.count("ann: old"), 3, "history holds the last 3 lines: {:#?}", bob.all());
    assert_eq!(bob.count("ann: old 1"), 0);
    ann.send("/msg bob just for you");
    bob.expect("[private from ann] just for you");
    ann.expect("[private to bob] just for you");
    ann.send("/msg nobody hi");
    ann.expect("no user named \"nobody\"");
    // The limit counts characters as people do: 300, Chinese or not.
    ann.send(&"x".repeat(301));
    ann.expect("301 characters; at most 300");
    ann.send(&"你".repeat(300));
    bob.expect(&"你".repeat(300));
    bob.send("/who");
    bob.expect("online: ann, bob");
}

#[test]
fn a_killed_client_times_out() {
    let (_srv, addr) = server(&["--timeout", "1"]);
    let ann = client(&addr, "ann");
    let cat = client(&addr, "cat");
    ann.expect("cat joined");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(cat.pid(), libc::SIGKILL) };
    let t = Instant::now();
    ann.expect("cat left (timed out)");
    assert!(t.elapsed() < Duration::from_secs(10));
    drop(cat);
}

#[test]
fn clients_reconnect_after_a_server_restart() {
    let (srv, addr) = server(&[]);
    let mut ann = client(&addr, "ann");
    // SAFETY: signalling our own child process (its network child dies with it: a daemon).
    unsafe { libc::kill(srv.pid(), libc::SIGKILL) };
    drop(srv);
    ann.expect("lost the server; reconnecting");
    let (_srv2, addr2) = server_at(&addr, &[]);
    assert_eq!(addr, addr2);
    ann.expect("reconnected");
    let bob = client(&addr, "bob");
    ann.send("after the restart");
    bob.expect("ann: after the restart");
}

#[test]
fn shutdown_from_the_console_and_by_sigterm() {
    let (mut srv, addr) = server(&[]);
    let mut ann = client(&addr, "ann");
    let mut bob = client(&addr, "bob");
    srv.send("/shutdown");
    ann.expect("the server shut down");
    bob.expect("the server shut down");
    assert_eq!(ann.wait_exit(), 4, "server shut down");
    assert_eq!(bob.wait_exit(), 4);
    assert_eq!(srv.wait_exit(), 0);

    let (mut srv, addr) = server(&[]);
    let mut ann = client(&addr, "ann");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(srv.pid(), libc::SIGTERM) };
    ann.expect("the server shut down");
    assert_eq!(ann.wait_exit(), 4);
    assert_eq!(srv.wait_exit(), 0);
}

#[test]
fn end_of_console_input_does_not_stop_the_server() {
    let (mut srv, addr) = server(&[]);
    srv.close_stdin();
    std::thread::sleep(Duration::from_millis(200));
    let ann = client(&addr, "ann");
    drop(ann);
    assert!(srv.child.try_wait().unwrap().is_none(), "server still runs");
}

#[test]
fn arguments_help_version_and_unreachable_server() {
    for b in ["chat-server", "chat-cli"] {
        let out = Command::new(bin(b)).arg("--help").output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("usage"));
        let out = Command::new(bin(b)).arg("--version").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(b));
        let out = Command::new(bin(b)).arg("--bogus").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{b}");
    }
    let out = Command::new(bin("chat-cli"))
        .args(["--server", "127.0.0.1:1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--name is required without a terminal");
    // A port nobody listens on: unreachable, exit 1.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let free = sock.local_addr().unwrap().to_string();
    drop(sock);
    let out = Command::new(bin("chat-cli"))
        .args(["--server", &free, "--name", "zed"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no chat server answers"));
}

#[test]
fn hostnames_commands_and_exit_codes() {
    let (_srv, addr) = server(&[]);
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    // A host name and the --flag=value form.
    let mut ann = Proc::start(bin("chat-cli"), &[&format!("--server=localhost:{port}"), "--name=ann"], "ann");
    ann.expect("joined as ann");
    ann.expect("online: ann");
    let mut bob = client(&addr, "bob");
    ann.send("/me waves   ");
    bob.expect("* ann waves");
    ann.expect("* ann waves");
    ann.send("/help");
    ann.expect("/msg NAME TEXT");
    ann.send("/nick anna");
    ann.expect("error: a name cannot change");
    ann.send("//etc is a path");
    bob.expect("ann: /etc is a path");
    ann.send("/quit see you all");
    bob.expect("ann: see you all");
    bob.expect("ann left");
    assert_eq!(ann.wait_exit(), 0);
    // Ctrl-C (SIGINT) leaves cleanly, with 130.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(bob.pid(), libc::SIGINT) };
    bob.expect("goodbye");
    assert_eq!(bob.wait_exit(), 130);
    // Short argument errors.
    let out = Command::new(bin("chat-cli")).arg("--nmae").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("try --help") && !err.contains("usage"), "{err}");
}

#[test]
fn a_listener_stays_after_the_end_of_its_input() {
    let (_srv, addr) = server(&[]);
    let mut log =
        Proc::start(bin("chat-cli"), &["--server", &addr, "--name", "logger", "--listen"], "logger");
    log.expect("joined as logger");
    log.close_stdin();
    let mut ann = client(&addr, "ann");
    ann.send("for the record");
    log.expect("ann: for the record");
    // Plain lines: no carriage returns, no escapes.
    assert!(log.all().iter().all(|l| !l.contains('\r') && !l.contains('\u{1b}')));
    ann.send("/quit");
    assert_eq!(ann.wait_exit(), 0);
}

#[test]
fn the_console_logs_joins_lines_and_kicks_and_confirms_commands() {
    let (mut srv, addr) = server(&[]);
    let mut ann = client(&addr, "ann");
    srv.expect("ann joined (127.0.0.1:");
    ann.send("hello console");
    srv.expect("] ann: hello console");
    srv.send("/help");
    srv.expect("/kick NAME");
    srv.send("all well?");
    srv.expect("sent to 1 users");
    srv.send("/kick ANN");
    srv.expect("kicked \"ann\"");
    srv.expect("ann left (kicked)");
    assert_eq!(ann.wait_exit(), 3);
    srv.send("/frob");
    srv.expect("/help lists the commands");
    // --quiet: no log.
    let (mut quiet, addr) = server(&["--quiet"]);
    let mut bob = client(&addr, "bob");
    bob.send("unlogged");
    bob.send("/quit");
    assert_eq!(bob.wait_exit(), 0);
    quiet.send("/list");
    quiet.expect("nobody is online");
    assert!(!quiet.all().iter().any(|l| l.contains("bob")), "{:?}", quiet.all());
    // Range errors that say what is allowed.
    let out = Command::new(bin("chat-server")).args(["--timeout", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 0"));
}
