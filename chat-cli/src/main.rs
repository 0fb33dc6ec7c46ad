//! `chat-cli`: the terminal client of the chat room.
//!
//! In a terminal it asks for a name (again when refused), and keeps the line being typed intact
//! while messages arrive (raw mode, redrawn with ANSI codes, restored on every exit). With stdin
//! not a terminal, `--name` is required, each input line is sent in order, end of input quits,
//! and events print one per line. Exit codes: 0 clean quit, 1 unreachable server, 2 name refused
//! or bad arguments.

mod term;

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
    let signals = Signals::block(&[SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
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
        if ready.contains(&1) && signals.try_wait().map_err(|e| e.to_string())?.is_some() {
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
        if ready.contains(&1) && signals.try_wait().map_err(|e| e.to_string())?.is_some() {
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

/// Terminal mode: raw input with a line editor; arriving events are printed above the line
/// being typed, which is then redrawn.
fn chat_tty(conn: &mut Connection, signals: &Signals, style: &Style) -> Result<i32, String> {
    let raw = term::RawMode::enable().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut input = String::new();
    let mut utf8 = Vec::new();
    let mut buf = [0u8; 1024];
    let mut out = io::stdout().lock();
    let mut interrupted = false;
    let redraw = |out: &mut io::StdoutLock<'_>, input: &str| {
        let _ = write!(out, "\r\x1b[K> {input}");
        let _ = out.flush();
    };
    redraw(&mut out, &input);
    let code = loop {
        let wait = conn.wait_hint();
        let stdin = io::stdin();
        let ready =
            wait_readable(&[conn.socket(), signals, &stdin], Some(wait)).map_err(|e| e.to_string())?;
        if ready.contains(&1) && signals.try_wait().map_err(|e| e.to_string())?.is_some() {
            interrupted = true;
            let _ = conn.client.input("/quit", Instant::now());
        }
        if ready.contains(&2) {
            let n = term::read_stdin(&mut buf).unwrap_or(0);
            if n == 0 {
                let _ = conn.client.input("/quit", Instant::now());
            }
            for &b in &buf[..n] {
                match b {
                    // Ctrl-C, or Ctrl-D on an empty line: leave.
                    3 => {
                        interrupted = true;
                        let _ = conn.client.input("/quit", Instant::now());
                    }
                    4 if input.is_empty() => {
                        let _ = conn.client.input("/quit", Instant::now());
                    }
                    b'\r' | b'\n' => {
                        let line = std::mem::take(&mut input);
                        if line.is_empty() {
                            continue;
                        }
                        match conn.client.input(&line, Instant::now()) {
                            // A chat line shows at once, with the time and this user's name.
                            Ok(_) if !line.starts_with('/') || line.starts_with("//") => {
                                let text = line.strip_prefix('/').unwrap_or(&line);
                                let _ = write!(out, "\r\x1b[K{}\r\n", style.own(text));
                            }
                            Ok(_) => {
                                let _ = write!(out, "\r\x1b[K> {}\r\n", visible(&line));
                            }
                            Err(e) => {
                                let _ = write!(out, "\r\x1b[K> {}\r\n\x1b[Kerror: {e}\r\n", visible(&line));
                            }
                        }
                    }
                    // Backspace / Delete.
                    8 | 127 => {
                        input.pop();
                    }
                    // Ctrl-U: clear the line.
                    21 => input.clear(),
                    b if b < 32 => {}
                    b => {
                        utf8.push(b);
                        match std::str::from_utf8(&utf8) {
                            Ok(s) => {
                                input.push_str(s);
                                utf8.clear();
                            }
                            Err(e) if e.error_len().is_some() => utf8.clear(),
                            Err(_) => {}
                        }
                    }
                }
            }
            redraw(&mut out, &input);
        }
        conn.poll();
        let events = conn.client.take_events();
        if !events.is_empty() {
            for e in events.iter().filter(|e| !matches!(e, ClientEvent::Accepted(_))) {
                let (line, bell) = style.line(e);
                let _ = write!(out, "\r\x1b[K{line}{}\r\n", if bell { "\x07" } else { "" });
            }
            if let Some(ClientEvent::Closed(why)) =
                events.iter().find(|e| matches!(e, ClientEvent::Closed(_)))
            {
                break exit_code(why, interrupted);
            }
            redraw(&mut out, &input);
        }
    };
    let _ = write!(out, "\r\x1b[K");
    let _ = out.flush();
    drop(raw);
    Ok(code)
}
