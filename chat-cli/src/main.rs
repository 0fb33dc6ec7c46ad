//! `chat-cli`: the terminal client of the chat room.
//!
//! In a terminal it asks for a name (again when refused), and keeps the line being typed intact
//! while messages arrive (raw mode, redrawn with ANSI codes, restored on every exit). With stdin
//! not a terminal, `--name` is required, each input line is sent in order, end of input quits,
//! and events print one per line. Exit codes: 0 clean quit, 1 unreachable server, 2 name refused
//! or bad arguments.

mod term;

use chat_core::client::{ClientEvent, CloseReason, Connection};
use chat_core::names::check_name;
use chat_core::server::{Config, HostedRoom};
use chat_core::text::{client_line, visible};
use mp_core::mp_ipc::signal::{
    Signals,
    consts::{SIGINT, SIGTERM},
};
use mp_core::mp_ipc::wait_readable;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Instant;

const USAGE: &str = "usage: chat-cli [--server ADDR:PORT] [--name NAME] [--host]

Joins the chat room at ADDR:PORT (default 127.0.0.1:8888).
  --name NAME   log in as NAME (asked for in a terminal; required otherwise)
  --host        start a room on this machine first (as chat-server would), then join it
In the room: type a line to send it; /who lists who is online; /msg NAME TEXT
sends privately; quit (or end of input, or Ctrl-C) leaves.
Exit codes: 0 clean quit, 1 unreachable server, 2 name refused or bad arguments.";

struct Args {
    server: SocketAddr,
    name: Option<String>,
    host: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args { server: "127.0.0.1:8888".parse().expect("valid"), name: None, host: false };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("chat-cli {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "--server" => {
                let v = it.next().ok_or("--server needs ADDR:PORT")?;
                args.server = v
                    .parse()
                    .map_err(|_| format!("--server: {v:?} is not an address like 127.0.0.1:8888"))?;
            }
            "--name" => args.name = Some(it.next().ok_or("--name needs a name")?),
            "--host" => args.host = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
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
            eprintln!("chat-cli: {e}\n{USAGE}");
            return Ok(2);
        }
    };
    let tty = term::stdin_is_tty();
    if !tty && args.name.is_none() {
        eprintln!("chat-cli: --name is required when standard input is not a terminal");
        return Ok(2);
    }
    let signals = Signals::block(&[SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
    let _room = if args.host { host(args.server)? } else { None };

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
        match login(args.server, &n, &signals)? {
            Login::Ok(c, early) => break (c, early),
            Login::Refused(reason) => {
                // The server's words: shown, never interpreted by the terminal.
                eprintln!("login refused: {}", visible(&reason));
                if !tty {
                    return Ok(2);
                }
            }
            Login::Unreachable => {
                eprintln!("chat-cli: no chat server answers at {}", args.server);
                return Ok(1);
            }
            Login::Interrupted => return Ok(0),
        }
    };
    println!("joined as {} (type quit to leave)", visible(conn.client.name()));
    for e in &early {
        println!("{}", client_line(e));
    }
    let code = if tty { chat_tty(&mut conn, &signals)? } else { chat_lines(&mut conn, &signals)? };
    Ok(code)
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

/// The exit code for how the session ended.
fn exit_code(why: &CloseReason) -> i32 {
    match why {
        CloseReason::Unreachable => 1,
        CloseReason::Refused(_) => 2,
        _ => 0,
    }
}

/// Plain line mode: input lines in order, events one per line, end of input quits.
fn chat_lines(conn: &mut Connection, signals: &Signals) -> Result<i32, String> {
    let mut pending = Vec::new();
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
            let _ = conn.client.input("quit", Instant::now());
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
            if !stdin_open && !conn.client.is_closed() {
                let _ = conn.client.input("quit", Instant::now());
            }
        }
        conn.poll();
        for e in conn.client.take_events() {
            let _ = writeln!(out, "{}", client_line(&e));
            if let ClientEvent::Closed(why) = &e {
                let _ = out.flush();
                return Ok(exit_code(why));
            }
        }
        let _ = out.flush();
    }
}

/// Terminal mode: raw input with a line editor; arriving events are printed above the line
/// being typed, which is then redrawn.
fn chat_tty(conn: &mut Connection, signals: &Signals) -> Result<i32, String> {
    let raw = term::RawMode::enable().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut input = String::new();
    let mut utf8 = Vec::new();
    let mut buf = [0u8; 1024];
    let mut out = io::stdout().lock();
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
            let _ = conn.client.input("quit", Instant::now());
        }
        if ready.contains(&2) {
            let n = term::read_stdin(&mut buf).unwrap_or(0);
            if n == 0 {
                let _ = conn.client.input("quit", Instant::now());
            }
            for &b in &buf[..n] {
                match b {
                    // Ctrl-C, or Ctrl-D on an empty line: leave.
                    3 => {
                        let _ = conn.client.input("quit", Instant::now());
                    }
                    4 if input.is_empty() => {
                        let _ = conn.client.input("quit", Instant::now());
                    }
                    b'\r' | b'\n' => {
                        let line = std::mem::take(&mut input);
                        // The sent line stays on screen as typed (also when it came in one read,
                        // pasted, before any redraw showed it).
                        let _ = write!(out, "\r\x1b[K> {line}\r\n");
                        if !line.is_empty()
                            && let Err(e) = conn.client.input(&line, Instant::now())
                        {
                            let _ = write!(out, "\r\x1b[Kerror: {e}\r\n");
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
            for e in &events {
                let _ = write!(out, "\r\x1b[K{}\r\n", client_line(e));
            }
            if let Some(ClientEvent::Closed(why)) =
                events.iter().find(|e| matches!(e, ClientEvent::Closed(_)))
            {
                break exit_code(why);
            }
            redraw(&mut out, &input);
        }
    };
    let _ = write!(out, "\r\x1b[K");
    let _ = out.flush();
    drop(raw);
    Ok(code)
}
