//! `chat-cli` in a real terminal (tmux), as a person uses it: editing with the arrow keys,
//! Home and End, history, long and wrapped lines, a resize, Chinese text, local time. What the
//! other user receives is exactly what was meant, and the screen never keeps stale rows.

use mp_tests::testutil::workspace_bin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A chat-server on an ephemeral port, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(workspace_bin("chat-server"))
            .args(["--bind", "127.0.0.1:0", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chat-server");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut banner = String::new();
        std::io::BufRead::read_line(&mut out, &mut banner).expect("banner");
        let addr = banner.split_whitespace().nth(3).expect("address in the banner").to_string();
        // Keep reading so that the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tmux server of its own (its own socket), with one window running `chat-cli`.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(tag: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        assert!(Command::new("tmux").arg("-V").output().is_ok(), "tmux is needed (ci/test installs it)");
        let t = Tmux { socket: format!("mp-term-{tag}-{}", std::process::id()) };
        let (c, r) = (cols.to_string(), rows.to_string());
        t.run(&["-f", "/dev/null", "new-session", "-d", "-x", &c, "-y", &r, "-s", "t", cmd]);
        // A session of a given size stays that size.
        t.run(&["set-option", "-g", "window-size", "manual"]);
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let mut all = vec!["-L", self.socket.as_str()];
        all.extend_from_slice(args);
        let out = Command::new("tmux").args(&all).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types literal text.
    fn text(&self, s: &str) {
        self.run(&["send-keys", "-t", "t", "-l", s]);
    }

    /// Presses keys by tmux's names (Left, Home, BSpace, Enter, C-a …).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn pane(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits (up to 15 s) until the pane shows `needle`; returns the pane.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let pane = self.pane();
            if pane.contains(needle) {
                return pane;
            }
            assert!(Instant::now() < deadline, "{needle:?} never showed:\n{pane}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn resize(&self, cols: u16, rows: u16) {
        self.run(&["resize-window", "-t", "t", "-x", &cols.to_string(), "-y", &rows.to_string()]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

fn cli(addr: &str, name: &str) -> String {
    format!(
        "env TZ=Asia/Shanghai NO_COLOR=1 {} --server {addr} --name {name}",
        workspace_bin("chat-cli").display()
    )
}

/// Rows of the pane that hold the input line (`> ` and what wraps after it).
fn input_rows(pane: &str) -> Vec<String> {
    let rows: Vec<&str> = pane.lines().collect();
    let last = rows.iter().rposition(|r| !r.trim().is_empty()).unwrap_or(0);
    let first = rows[..=last].iter().rposition(|r| r.starts_with("> ")).unwrap_or(last);
    rows[first..=last].iter().map(|r| r.to_string()).collect()
}

#[test]
fn arrows_home_end_and_history_edit_the_line_as_meant() {
    let srv = Server::start();
    let bob = Tmux::start("bob", 80, 24, &cli(&srv.addr, "bob"));
    bob.wait_for("joined as bob");
    let ann = Tmux::start("ann", 80, 24, &cli(&srv.addr, "ann"));
    ann.wait_for("joined as ann");
    // "fix teh typo": back over " typo" to mend "teh", then Home, then End.
    ann.text("fix teh typo");
    ann.keys(&["Left", "Left", "Left", "Left", "Left"]);
    ann.keys(&["BSpace", "BSpace", "BSpace"]);
    ann.text("the");
    ann.keys(&["Home"]);
    ann.text("please ");
    ann.keys(&["End"]);
    ann.text("!");
    ann.keys(&["Enter"]);
    let pane = bob.wait_for("ann: please fix the typo!");
    assert!(!pane.contains("[D") && !pane.contains("[1~"), "escape text leaked:\n{pane}");
    // Up recalls it; edited and sent again.
    ann.keys(&["Up"]);
    ann.wait_for("> please fix the typo!");
    ann.keys(&["C-a", "Delete", "Delete", "Delete", "Delete", "Delete", "Delete", "Delete", "Enter"]);
    bob.wait_for("ann: fix the typo!");
    // Ctrl-W deletes a word, Ctrl-U the line.
    ann.text("one two three");
    ann.keys(&["C-w"]);
    ann.keys(&["Enter"]);
    bob.wait_for("ann: one two\n");
    // Chinese: a character at a time, two columns each.
    ann.text("你好世界");
    ann.keys(&["Left", "Left", "BSpace"]);
    ann.text("，");
    ann.keys(&["Enter"]);
    bob.wait_for("ann: 你，世界");
    // A line the server refuses comes back into the input line.
    ann.text("/msg nobody are you there");
    ann.keys(&["Enter"]);
    ann.wait_for("no user named \"nobody\"");
    let pane = ann.wait_for("> /msg nobody are you there");
    assert!(input_rows(&pane).concat().starts_with("> /msg nobody are you there"), "{pane}");
    ann.keys(&["C-u"]);
    // Local time (TZ=Asia/Shanghai): the own line's time is the clock there.
    let pane = ann.pane();
    let now = std::process::Command::new("date").env("TZ", "Asia/Shanghai").arg("+%H:%M").output().unwrap();
    let hm = String::from_utf8_lossy(&now.stdout).trim().to_string();
    assert!(pane.contains(&format!("[{hm}")), "no local time [{hm}…] in:\n{pane}");
}

#[test]
fn long_lines_wrap_and_leave_no_stale_rows_also_when_lines_arrive_and_on_resize() {
    let srv = Server::start();
    let ann = Tmux::start("wrap-ann", 100, 30, &cli(&srv.addr, "ann"));
    ann.wait_for("joined as ann");
    let bob = Tmux::start("wrap-bob", 40, 30, &cli(&srv.addr, "bob"));
    bob.wait_for("joined as bob");
    // 160 characters at 100 columns, then 30 Backspaces: two rows, then what is left.
    // 160 characters in which no 40 repeat.
    let long: String = (0..40).map(|i| format!("{i:03}.")).collect();
    ann.text(&long);
    ann.wait_for(&long[150..]);
    for _ in 0..30 {
        ann.keys(&["BSpace"]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let pane = ann.pane();
    let rows = input_rows(&pane);
    let shown: String = rows.concat();
    assert_eq!(shown.trim_end(), format!("> {}", &long[..130]), "input area:\n{pane}");
    assert_eq!(pane.matches(&long[..40]).count(), 1, "a stale copy of the first row:\n{pane}");
    // Ctrl-U clears ann's line. At 40 columns, lines arrive while a wrapped line is typed.
    ann.keys(&["C-u"]);
    let typing = "this line is longer than forty columns so it wraps over rows";
    bob.text(typing);
    for k in 0..5 {
        ann.text(&format!("arrival {k}"));
        ann.keys(&["Enter"]);
        bob.wait_for(&format!("ann: arrival {k}"));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pane = bob.pane();
    assert_eq!(pane.matches("this line is longer").count(), 1, "stale copies of the input:\n{pane}");
    let shown: String = input_rows(&pane).concat();
    assert_eq!(shown.trim_end(), format!("> {typing}"), "input area:\n{pane}");
    // A resize: the input is redrawn for the new width, once.
    bob.resize(60, 30);
    std::thread::sleep(Duration::from_millis(500));
    bob.keys(&["C-l"]);
    std::thread::sleep(Duration::from_millis(300));
    let pane = bob.pane();
    assert_eq!(pane.matches("this line is longer").count(), 1, "after a resize:\n{pane}");
    bob.keys(&["Enter"]);
    ann.wait_for(&format!("bob: {typing}"));
}
