//! `chat-server`: the chat room. The network loop runs in a child process; this process reads
//! the operator's console (admin lines and `/list`, `/kick NAME`, `/stats`, `/shutdown`,
//! `/help`), passes them over an `mp-ipc` pipe, and prints the room's activity log (joins,
//! leaves, kicks and lines, in local time; `--quiet` turns it off). `SIGTERM`/`SIGINT` shut down
//! cleanly.

use chat_core::protocol::now_ms;
use chat_core::server::{self, AdminCmd, AdminReply, Config};
use chat_core::text::{clock, visible};
use mp_core::mp_ipc::signal::{
    Signals,
    consts::{SIGINT, SIGTERM},
};
use mp_core::mp_ipc::{Pipe, wait_readable};
use std::io::{BufRead, IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

const USAGE: &str = "usage: chat-server [--bind ADDR:PORT] [--history N] [--timeout SECS] [--max-clients N]
                   [--max-per-ip N] [--quiet]

Runs the chat room.
  --bind ADDR:PORT  where to listen (default 127.0.0.1:8888; 0.0.0.0:8888 for a LAN)
  --history N       lines of history a newcomer receives (default 50; 0 for none)
  --timeout SECS    a silent client is removed after this long (default 10; more than 0,
                    less than 86400)
  --max-clients N   users at once (default 1024)
  --max-per-ip N    users at once from one IP address (default 16)
  --quiet           no activity log on the console (joins, leaves, kicks and lines)
Each user may send 20 requests at once, then 5 a second; each IP address 100, then 25 a second.
On the console: a line goes to everyone as [admin]; /help lists the commands.";

const HELP: &str = "commands: /list (who is online), /kick NAME (remove a user), /stats (counters), \
/shutdown (tell everyone and stop), /help; any other line goes to everyone as [admin]";

struct Args {
    bind: SocketAddr,
    cfg: Config,
    quiet: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args =
        Args { bind: "127.0.0.1:8888".parse().expect("valid"), cfg: Config::default(), quiet: false };
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
                    return Err(format!("--timeout: {v} s; it must be more than 0 and less than 86400"));
                }
                args.cfg.timeout = Duration::from_secs_f64(s);
            }
            "--max-clients" => {
                let v = value("a number")?;
                args.cfg.max_clients =
                    v.parse().map_err(|_| format!("--max-clients: {v:?} is not a number"))?;
            }
            "--quiet" => args.quiet = true,
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
        Err(e) => return Err(format!("{e}; try --help")),
    };
    // Blocked before the fork, so that both processes receive them only through signalfd.
    let signals = Signals::block(&[SIGTERM, SIGINT]).map_err(|e| format!("cannot block signals: {e}"))?;
    let socket = UdpSocket::bind(args.bind).map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    println!("chat-server listening on {local} (/help lists the console's commands)");
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
    if !args.quiet {
        let _ = console.send(&AdminCmd::Watch(true));
    }
    let tty = std::io::stdin().is_terminal();
    let prompt = || {
        if tty {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
    };

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
                0 => {
                    match console.recv::<AdminReply>() {
                        // Names and reasons come from the network: shown, never obeyed by the terminal.
                        Ok(AdminReply::Activity(lines)) => {
                            let now = clock(now_ms());
                            // The prompt, if any, gives way to the log and comes back after it.
                            print!("{}", if tty { "\r\x1b[K" } else { "" });
                            for l in lines {
                                println!("[{now}] {}", visible(&l));
                            }
                            prompt();
                            continue;
                        }
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
                            if tty {
                                println!();
                            }
                            // The network process has ended.
                            let status = child.join().map_err(|e| e.to_string())?;
                            return if status.success() {
                                Ok(())
                            } else {
                                Err(format!("network process ended: {status}"))
                            };
                        }
                    }
                    prompt();
                }
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
                            "/list" | "/who" => AdminCmd::List,
                            "/help" | "/?" => {
                                println!("{HELP}");
                                prompt();
                                continue;
                            }
                            "/stats" => AdminCmd::Stats,
                            "/shutdown" => {
                                shutting_down = true;
                                AdminCmd::Shutdown
                            }
                            l if l.starts_with("/kick ") => {
                                AdminCmd::Kick(l["/kick ".len()..].trim().to_string())
                            }
                            "/kick" => {
                                println!("usage: /kick NAME");
                                prompt();
                                continue;
                            }
                            l if l.starts_with('/') && !l.starts_with("//") => {
                                println!(
                                    "unknown command {l:?}; /help lists the commands (//TEXT sends /TEXT)"
                                );
                                prompt();
                                continue;
                            }
                            l if l.starts_with("//") => AdminCmd::Say(l[1..].to_string()),
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
