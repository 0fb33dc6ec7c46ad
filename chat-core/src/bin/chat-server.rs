//! `chat-server`: the chat room. The network loop runs in a child process; this process reads
//! the operator's console (admin lines and `/list`, `/kick NAME`, `/shutdown`) and passes them
//! over an `mp-ipc` pipe. `SIGTERM`/`SIGINT` shut down cleanly.

use chat_core::server::{self, AdminCmd, AdminReply, Config};
use chat_core::text::visible;
use mp_core::mp_ipc::signal::{
    Signals,
    consts::{SIGINT, SIGTERM},
};
use mp_core::mp_ipc::{Pipe, wait_readable};
use std::io::{BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

const USAGE: &str =
    "usage: chat-server [--bind ADDR:PORT] [--history N] [--timeout SECS] [--max-clients N] [--max-per-ip N]

Runs the chat room (default 127.0.0.1:8888; use --bind 0.0.0.0:8888 for a LAN).
  --history N       lines of history a newcomer receives (default 50)
  --timeout SECS    a silent client is removed after this long (default 10)
  --max-clients N   users at once (default 1024)
  --max-per-ip N    users at once from one IP address (default 16)
Type a line to send it to everyone as [admin]; /list shows who is online,
/kick NAME removes a user, /stats shows the counters, /shutdown stops the server.";

struct Args {
    bind: SocketAddr,
    cfg: Config,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args { bind: "127.0.0.1:8888".parse().expect("valid"), cfg: Config::default() };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().ok_or_else(|| format!("{a} needs {what}"));
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("chat-server {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "--bind" => {
                let v = value("ADDR:PORT")?;
                args.bind =
                    v.parse().map_err(|_| format!("--bind: {v:?} is not an address like 127.0.0.1:8888"))?;
            }
            "--history" => {
                let v = value("a number")?;
                args.cfg.history = v.parse().map_err(|_| format!("--history: {v:?} is not a number"))?;
            }
            "--timeout" => {
                let v = value("seconds")?;
                let s: f64 = v.parse().map_err(|_| format!("--timeout: {v:?} is not a number of seconds"))?;
                if !(s > 0.0 && s < 86_400.0) {
                    return Err(format!("--timeout: {s} is out of range (0 to 86400 s)"));
                }
                args.cfg.timeout = Duration::from_secs_f64(s);
            }
            "--max-clients" => {
                let v = value("a number")?;
                args.cfg.max_clients =
                    v.parse().map_err(|_| format!("--max-clients: {v:?} is not a number"))?;
            }
            "--max-per-ip" => {
                let v = value("a number")?;
                args.cfg.max_per_ip = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--max-per-ip: {v:?} is not a number of users (1 or more)")),
                };
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

fn main() {
    match run() {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("chat-server: {e}");
            std::process::exit(if e.starts_with("usage") || e.contains("argument") || e.starts_with("--") {
                2
            } else {
                1
            });
        }
    }
}

fn run() -> Result<(), String> {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return Ok(()),
        Err(e) => return Err(format!("{e}\n{USAGE}")),
    };
    // Blocked before the fork, so that both processes receive them only through signalfd.
    let signals = Signals::block(&[SIGTERM, SIGINT]).map_err(|e| format!("cannot block signals: {e}"))?;
    let socket = UdpSocket::bind(args.bind).map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    println!("chat-server listening on {local} (type /list, /kick NAME, /shutdown, or a line for everyone)");
    let _ = std::io::stdout().flush();

    let (mut console, net_end) = Pipe::duplex().map_err(|e| e.to_string())?;
    let cfg = args.cfg;
    let child = mp_core::Builder::new()
        .name("chat-network")
        .daemon(true)
        .spawn(move || -> Result<(), String> {
            let signals = Signals::block(&[SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
            let stats = server::serve(socket, cfg, Some(net_end), Some(&signals)).map_err(|e| e.to_string())?;
            eprintln!(
                "chat-server: stopped ({} events sent, {} malformed datagrams dropped, {} rejected, {} rate-limited)",
                stats.delivered, stats.malformed, stats.rejected, stats.rate_limited
            );
            Ok(())
        })
        .map_err(|e| format!("cannot start the network process: {e}"))?;

    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut lines = stdin.lock().lines();
    let mut shutting_down = false;
    loop {
        let mut sources: Vec<&dyn AsFd> = vec![&console, &signals];
        let stdin_fd = std::io::stdin();
        if stdin_open && !shutting_down {
            sources.push(&stdin_fd);
        }
        let ready = if console.has_buffered() {
            vec![0]
        } else {
            wait_readable(&sources, None).map_err(|e| e.to_string())?
        };
        for i in ready {
            match i {
                0 => match console.recv::<AdminReply>() {
                    // Names and reasons come from the network: shown, never obeyed by the terminal.
                    Ok(AdminReply::Done(what)) => println!("{}", visible(&what)),
                    Ok(AdminReply::Users(u)) if u.is_empty() => println!("nobody is online"),
                    Ok(AdminReply::Users(u)) => {
                        let names: Vec<_> = u.iter().map(|n| visible(n)).collect();
                        println!("online ({}): {}", u.len(), names.join(", "))
                    }
                    Ok(AdminReply::Error(e)) => println!("error: {}", visible(&e)),
                    Ok(AdminReply::Stats(s)) => println!(
                        "{} events sent, {} malformed datagrams dropped, {} rejected, {} requests rate-limited, \
                         {} logins sent a cookie, {} logins refused, {} sessions moved address",
                        s.delivered,
                        s.malformed,
                        s.rejected,
                        s.rate_limited,
                        s.retries,
                        s.refused_logins,
                        s.migrations
                    ),
                    Err(_) => {
                        // The network process has ended.
                        let status = child.join().map_err(|e| e.to_string())?;
                        return if status.success() {
                            Ok(())
                        } else {
                            Err(format!("network process ended: {status}"))
                        };
                    }
                },
                1 => {
                    if signals.try_wait().map_err(|e| e.to_string())?.is_some() && !shutting_down {
                        shutting_down = true;
                        let _ = console.send(&AdminCmd::Shutdown);
                    }
                }
                _ => match lines.next() {
                    Some(Ok(line)) => {
                        let line = line.trim_end_matches('\r');
                        let cmd = match line.trim() {
                            "" => continue,
                            "/list" => AdminCmd::List,
                            "/stats" => AdminCmd::Stats,
                            "/shutdown" => {
                                shutting_down = true;
                                AdminCmd::Shutdown
                            }
                            l if l.starts_with("/kick ") => {
                                AdminCmd::Kick(l["/kick ".len()..].trim().to_string())
                            }
                            l if l.starts_with('/') => {
                                println!(
                                    "unknown command {l:?}: use /list, /kick NAME, /stats, /shutdown, or text"
                                );
                                continue;
                            }
                            _ => AdminCmd::Say(line.to_string()),
                        };
                        let _ = console.send(&cmd);
                    }
                    // End of the console: keep serving.
                    _ => stdin_open = false,
                },
            }
        }
    }
}
