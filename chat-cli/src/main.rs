//! `chat-cli`: the terminal client of the chat room.
//!
//! In a terminal it asks for a name (again when refused), and keeps the line being typed intact
//! while messages arrive (raw mode, redrawn with ANSI codes, restored on every exit). With stdin
//! not a terminal, `--name` is required, each input line is sent in order, end of input quits,
//! and events print one per line. Exit codes: 0 clean quit, 1 unreachable server, 2 name refused
//! or bad arguments.

mod editor;
mod term;

use editor::{Action, Editor};

use chat_core::client::{CONNECT_TIMEOUT, ClientEvent, CloseReason, Connection, probe};
use chat_core::names::check_name;
use chat_core::protocol::{Event, now_ms};
use chat_core::server::{Config, HostedRoom};
use chat_core::text::{client_line, clock, event_ts, visible};
use mp_core::mp_ipc::signal::{
    Signals,
    consts::{SIGINT, SIGTERM},
};
use mp_core::mp_ipc::wait_readable;
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::time::Instant;

const USAGE: &str = "usage: chat-cli [--server HOST:PORT] [--name NAME] [--host] [--listen]

Joins the chat room at HOST:PORT (default 127.0.0.1:8888; a name such as localhost works, and
the port defaults to 8888). --server=HOST:PORT and --name=NAME work too.
  --name NAME   log in as NAME (asked for in a terminal; required otherwise)
  --host        start a room on this machine first (as chat-server would), then join it
  --listen      with input that is not a terminal: stay in the room after the end of input
                (a logger), until Ctrl-C
In the room: a line goes to everyone; /help lists the commands (/who, /msg NAME TEXT,
/me ACTION, /quit [MESSAGE]); a line that starts with // sends the rest starting with /.
Lines you type are sent as fast as the server's rate limit allows, in order.
Exit codes: 0 quit, 1 error or server unreachable, 2 refused at login or bad arguments,
3 removed by the operator, 4 server shut down, 130 interrupted (Ctrl-C).";

/// The default port, when `--server` names none.
const DEFAULT_PORT: u16 = 8888;

struct Args {
    server: String,
    name: Option<String>,
    host: bool,
    listen: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args { server: "127.0.0.1:8888".into(), name: None, host: false, listen: false };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value =
            |what: &str| inline.clone().or_else(|| it.next()).ok_or(format!("{flag} needs {what}"));
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("chat-cli {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "--server" => args.server = value("HOST:PORT")?,
            "--name" => args.name = Some(value("a name")?),
            "--host" => args.host = true,
            "--listen" => args.listen = true,
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(Some(args))
}

/// `HOST:PORT`, `HOST` (port 8888), `[V6]:PORT`, resolved; IPv4 first.
fn resolve(server: &str) -> Result<SocketAddr, String> {
    let with_port = if server.parse::<SocketAddr>().is_ok()
        || server
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok())
    {
        server.to_string()
    } else {
        format!("{server}:{DEFAULT_PORT}")
    };
    let addrs: Vec<SocketAddr> =
        with_port.to_socket_addrs().map_err(|e| format!("--server: cannot find {server:?}: {e}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("--server: {server:?} has no address"))
}

fn main() {
    // First, while single-threaded: `--host` starts its room through the fork server, a copy of
    // the program as it is now (only then: a plain client needs no server process). A failure
    // here shows again, as an error, when the room is started.
    if std::env::args().skip(1).any(|a| a == "--host") {
        let _ = mp_core::forkserver::start();
    }
    let code = match run() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chat-cli: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn host(addr: SocketAddr) -> Result<Option<HostedRoom>, String> {
    match HostedRoom::start(addr, Config::default()) {
        Ok(room) => {
            println!("hosting a room at {}", room.addr());
            Ok(Some(room))
        }
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            println!("a room already runs at {addr}: joining it");
            Ok(None)
        }
        Err(e) => Err(format!("cannot host a room at {addr}: {e}")),
    }
}

/// The session; returns the exit code.
fn run() -> Result<i32, String> {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return Ok(0),
        Err(e) => {
            eprintln!("chat-cli: {e}; try --help");
            return Ok(2);
        }
    };
    let server = match resolve(&args.server) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("chat-cli: {e}; try --help");
            return Ok(2);
        }
    };
    let tty = term::stdin_is_tty();
    if !tty && args.name.is_none() {
        eprintln!("chat-cli: --name is required when standard input is not a terminal; try --help");
        return Ok(2);
    }
    // SIGWINCH (a resize) only matters to the terminal mode; blocked, it is read with the others.
    let signals = Signals::block(&[SIGTERM, SIGINT, term::SIGWINCH]).map_err(|e| e.to_string())?;
    let _room = if args.host { host(server)? } else { None };
    if tty {
        println!("connecting to {server}…");
        // A dead address fails now, before the name is asked for.
        if args.name.is_none() && !probe(server, CONNECT_TIMEOUT).map_err(|e| e.to_string())? {
            eprintln!("chat-cli: no chat server answers at {server}");
            return Ok(1);
        }
    }

    let mut name = args.name.clone();
    let (mut conn, early) = loop {
        let n = match name.take() {
            Some(n) => match check_name(&n) {
                Ok(()) => n,
                Err(e) => {
                    eprintln!("this name cannot be used: {e}");
                    if !tty {
                        return Ok(2);
                    }
                    continue;
                }
            },
            None => ask_name()?,
        };
        match login(server, &n, &signals)? {
            Login::Ok(c, early) => break (c, early),
            Login::Refused(reason) => {
                // The server's words: shown, never interpreted by the terminal.
                eprintln!("login refused: {}", visible(&reason));
                if !tty {
                    return Ok(2);
                }
            }
            Login::Unreachable => {
                eprintln!("chat-cli: no chat server answers at {server}");
                return Ok(1);
            }
            Login::Interrupted => return Ok(130),
        }
    };
    let style = Style::new(conn.client.name(), tty);
    println!("joined as {} (type /help for the commands, /quit to leave)", visible(conn.client.name()));
    for e in &early {
        println!("{}", style.line(e).0);
    }
    // Who is here, at once.
    let _ = conn.client.input("/who", Instant::now());
    let code = if tty {
        chat_tty(&mut conn, &signals, &style)?
    } else {
        chat_lines(&mut conn, &signals, args.listen)?
    };
    Ok(code)
}

/// How events look: plain, or (in a terminal without `NO_COLOR`) with a colour per name, the
/// lines that mention this user highlighted, and a bell for those and for private lines.
struct Style {
    me: String,
    color: bool,
}

impl Style {
    fn new(me: &str, tty: bool) -> Style {
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style { me: me.to_string(), color }
    }

    /// A stable colour for a name (one of six ANSI colours).
    fn paint(&self, name: &str) -> String {
        let shown = visible(name);
        if !self.color {
            return shown.into_owned();
        }
        let h = name.bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
        format!("\x1b[{}m{shown}\x1b[0m", 31 + h % 6)
    }

    /// The line for `e`, and whether it should ring the bell.
    fn line(&self, e: &ClientEvent) -> (String, bool) {
        let ClientEvent::Room(ev) = e else { return (client_line(e), false) };
        let time = event_ts(ev).map(|ts| format!("[{}] ", clock(ts))).unwrap_or_default();
        match ev {
            Event::Line { from, text, .. } => {
                let mention = from != &self.me && mentions(text, &self.me);
                let text = visible(text);
                let text =
                    if mention && self.color { format!("\x1b[1;7m{text}\x1b[0m") } else { text.into_owned() };
                (format!("{time}{}: {text}", self.paint(from)), mention && self.color)
            }
            Event::Private { peer, sent: false, text, .. } => {
                (format!("{time}[private from {}] {}", self.paint(peer), visible(text)), self.color)
            }
            Event::Action { from, text, .. } => {
                (format!("{time}* {} {}", self.paint(from), visible(text)), false)
            }
            _ => (client_line(e), false),
        }
    }

    /// This user's own line as it is sent.
    fn own(&self, text: &str) -> String {
        format!("[{}] {}: {}", clock(now_ms()), self.paint(&self.me), visible(text))
    }
}

/// Whether `text` mentions `name` as a word (any case).
fn mentions(text: &str, name: &str) -> bool {
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    text.match_indices(&name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn ask_name() -> Result<String, String> {
    loop {
        print!("name: ");
        let _ = io::stdout().flush();
        let mut line = String::new();
        if io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("no name given".into());
        }
        let line = line.trim_end_matches(['\n', '\r']).to_string();
        match check_name(&line) {
            Ok(()) => return Ok(line),
            Err(e) => println!("{e}; try again"),
        }
    }
}

enum Login {
    /// Logged in; with the events that arrived together with the login (history lines …).
    Ok(Box<Connection>, Vec<ClientEvent>),
    Refused(String),
    Unreachable,
    Interrupted,
}

fn login(server: SocketAddr, name: &str, signals: &Signals) -> Result<Login, String> {
    let mut conn = match Connection::open(server, name) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(Login::Refused(e.to_string())),
        Err(e) => return Err(e.to_string()),
    };
    loop {
        let wait = conn.wait_hint();
        let ready = wait_readable(&[conn.socket(), signals], Some(wait)).map_err(|e| e.to_string())?;
        if ready.contains(&1)
            && signals.try_wait().map_err(|e| e.to_string())?.is_some_and(|i| i.signal != term::SIGWINCH)
        {
            return Ok(Login::Interrupted);
        }
        conn.poll();
        let mut events = conn.client.take_events().into_iter();
        while let Some(e) = events.next() {
            match e {
                ClientEvent::Connected => return Ok(Login::Ok(Box::new(conn), events.collect())),
                ClientEvent::Closed(CloseReason::Refused(r)) => return Ok(Login::Refused(r)),
                ClientEvent::Closed(_) => return Ok(Login::Unreachable),
                _ => {}
            }
        }
    }
}

/// The exit code for how the session ended (`interrupted`: the user pressed Ctrl-C).
fn exit_code(why: &CloseReason, interrupted: bool) -> i32 {
    match why {
        CloseReason::Goodbye | CloseReason::QuitUnanswered if interrupted => 130,
        CloseReason::Goodbye | CloseReason::QuitUnanswered => 0,
        CloseReason::Unreachable => 1,
        CloseReason::Refused(_) => 2,
        CloseReason::Kicked => 3,
        CloseReason::Shutdown => 4,
    }
}

/// Plain line mode: input lines in order, events one per line, end of input quits.
fn chat_lines(conn: &mut Connection, signals: &Signals, listen: bool) -> Result<i32, String> {
    let mut pending = Vec::new();
    let mut interrupted = false;
    let mut buf = [0u8; 4096];
    let mut stdin_open = true;
    let mut out = io::stdout().lock();
    loop {
        let wait = conn.wait_hint();
        let stdin = io::stdin();
        let mut sources: Vec<&dyn AsFd> = vec![conn.socket(), signals];
        if stdin_open {
            sources.push(&stdin);
        }
        let ready = wait_readable(&sources, Some(wait)).map_err(|e| e.to_string())?;
        if ready.contains(&1)
            && signals.try_wait().map_err(|e| e.to_string())?.is_some_and(|i| i.signal != term::SIGWINCH)
        {
            interrupted = true;
            let _ = conn.client.input("/quit", Instant::now());
        }
        if ready.contains(&2) {
            match term::read_stdin(&mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    if !pending.is_empty() {
                        pending.push(b'\n');
                    }
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                let line =
                    String::from_utf8_lossy(&line[..line.len() - 1]).trim_end_matches('\r').to_string();
                if line.is_empty() {
                    continue;
                }
                if let Err(e) = conn.client.input(&line, Instant::now()) {
                    let _ = writeln!(out, "error: {e}");
                }
            }
            if !stdin_open && !listen && !conn.client.is_closed() {
                let _ = conn.client.input("/quit", Instant::now());
            }
        }
        conn.poll();
        for e in conn.client.take_events() {
            // The own line is shown when typed; its acceptance needs no line of its own.
            if matches!(e, ClientEvent::Accepted(_)) {
                continue;
            }
            let _ = writeln!(out, "{}", client_line(&e));
            if let ClientEvent::Closed(why) = &e {
                let _ = out.flush();
                return Ok(exit_code(why, interrupted));
            }
        }
        let _ = out.flush();
    }
}

/// Terminal mode: raw input with the line editor ([`editor::Editor`]); arriving events are
/// printed above the line being typed, which is then redrawn (also when the terminal is
/// resized). A line the session refuses at once goes back into the editor, with the reason.
fn chat_tty(conn: &mut Connection, signals: &Signals, style: &Style) -> Result<i32, String> {
    let raw = term::RawMode::enable().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut ed = Editor::new("> ");
    let mut width = term::terminal_width().unwrap_or(80);
    let mut names: Vec<String> = Vec::new();
    // Lines sent and not yet accepted, by request id: a line the server refuses comes back.
    let mut unconfirmed: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut buf = [0u8; 4096];
    let mut out = io::stdout().lock();
    let _ = write!(out, "{}{}", editor::BRACKETED_PASTE_ON, ed.clear_and_render(width));
    let _ = out.flush();
    let mut interrupted = false;
    let code = loop {
        let mut wait = conn.wait_hint();
        if ed.pending_escape() {
            // A lone Escape: if nothing follows soon, it was only that.
            wait = wait.min(ESCAPE_WAIT);
        }
        let stdin = io::stdin();
        let ready =
            wait_readable(&[conn.socket(), signals, &stdin], Some(wait)).map_err(|e| e.to_string())?;
        if ready.is_empty() && ed.pending_escape() {
            ed.cancel_escape();
        }
        if ready.contains(&1) {
            while let Some(info) = signals.try_wait().map_err(|e| e.to_string())? {
                if info.signal == term::SIGWINCH {
                    width = term::terminal_width().unwrap_or(width);
                    let _ = write!(out, "{}", ed.clear_and_render(width));
                } else {
                    interrupted = true;
                    let _ = conn.client.input("/quit", Instant::now());
                }
            }
        }
        if ready.contains(&2) {
            let n = term::read_stdin(&mut buf).unwrap_or(0);
            if n == 0 {
                let _ = conn.client.input("/quit", Instant::now());
            }
            for action in ed.feed(&buf[..n]) {
                match action {
                    Action::Submit(line) if line.trim().is_empty() => {}
                    Action::Submit(line) => {
                        let sent = conn.client.input(&line, Instant::now());
                        if let Ok(Some(id)) = sent {
                            unconfirmed.insert(id, line.clone());
                        }
                        let shown = match sent {
                            // A chat line shows at once, with the time and this user's name.
                            Ok(_) if !line.starts_with('/') || line.starts_with("//") => {
                                style.own(line.strip_prefix('/').unwrap_or(&line))
                            }
                            Ok(_) => format!("> {}", visible(&line)),
                            // Refused here (too long, a bad command): back into the editor.
                            Err(e) => {
                                ed.set_line(&line);
                                format!("> {}\r\nerror: {e}", visible(&line))
                            }
                        };
                        for l in shown.split("\r\n") {
                            let _ = write!(out, "{}", ed.print_above(l, width));
                        }
                    }
                    Action::Interrupt => {
                        interrupted = true;
                        let _ = conn.client.input("/quit", Instant::now());
                    }
                    Action::Eof => {
                        let _ = conn.client.input("/quit", Instant::now());
                    }
                    Action::ClearScreen => {
                        let _ = write!(out, "{}", ed.clear_screen(width));
                    }
                }
            }
            let _ = write!(out, "{}", ed.clear_and_render(width));
        }
        conn.poll();
        let mut closed = None;
        for e in conn.client.take_events() {
            match &e {
                ClientEvent::Accepted(id) => {
                    unconfirmed.remove(id);
                    continue;
                }
                ClientEvent::Room(Event::Refused { request, .. }) => {
                    // Back into the editor, unless something new is being typed there.
                    if let Some(line) = unconfirmed.remove(request)
                        && ed.line().is_empty()
                    {
                        ed.set_line(&line);
                    }
                }
                ClientEvent::Closed(why) => closed = Some(exit_code(why, interrupted)),
                ClientEvent::Room(ev) => track_names(&mut names, ev, &mut ed),
                _ => {}
            }
            let (line, bell) = style.line(&e);
            let _ = write!(out, "{}{}", ed.print_above(&line, width), if bell { "\x07" } else { "" });
        }
        let _ = out.flush();
        if let Some(code) = closed {
            break code;
        }
    };
    let _ = write!(out, "{}{}", ed.erase(width), editor::BRACKETED_PASTE_OFF);
    let _ = out.flush();
    drop(raw);
    Ok(code)
}

/// How long a lone Escape waits for the rest of a key sequence.
const ESCAPE_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Keeps the names Tab completes to: who is online, as the room reports it.
fn track_names(names: &mut Vec<String>, ev: &Event, ed: &mut Editor) {
    match ev {
        Event::Joined { name, .. } if !names.contains(name) => names.push(name.clone()),
        Event::Left { name, .. } => names.retain(|n| n != name),
        Event::Who { names: part, .. } => {
            for n in part {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        Event::Line { from, .. } | Event::Action { from, .. } if !names.contains(from) => {
            names.push(from.clone())
        }
        _ => return,
    }
    // Only names that are safe to put in the line (the server admits no others).
    ed.set_completions(names.iter().filter(|n| check_name(n).is_ok()).cloned().collect());
}
