//! The chat rows: fan-out beside the seed's Python server, an unverified login's
//! amplification, and many clients on one server.

use crate::PY_EXTRA;
use mp_tests::bench::{Better, Row, median, thousands};
use std::time::Instant;

/// Runs the seed's Python chat server and its load generator with the same N and M; returns the
/// deliveries per second it reports.
fn python_chat(n: usize, m: usize) -> Option<f64> {
    let dir = ["../shared/anchors", "/work/shared/anchors"]
        .into_iter()
        .find(|d| std::path::Path::new(&format!("{d}/py_chat_seed.py")).exists())?;
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
        s.local_addr().ok()?.port()
    };
    let mut server = std::process::Command::new("python3")
        .arg(format!("{dir}/py_chat_seed.py"))
        .arg(port.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = std::process::Command::new("python3")
        .arg(format!("{dir}/py_chat_load.py"))
        .args([port.to_string(), n.to_string(), m.to_string()])
        .output()
        .ok();
    // The seed forks: stop its serving child too.
    let pid = server.id() as i32;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if ppid == Some(pid)
                && let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>()
            {
                // SAFETY: signalling the Python server's child.
                unsafe { libc::kill(child, libc::SIGKILL) };
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out?.stdout).to_string();
    text.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn chat_fanout(scale: f64) -> Vec<Row> {
    let n = 20;
    let m = ((20_000.0 * scale) as usize).max(500);
    let ours = median(3, || mp_tests::chatbench::fanout(n, m, 50, None).0);
    let python = python_chat(n, m);
    let half = ours / 2.0;
    let per_line = std::time::Duration::from_secs_f64(n as f64 / half);
    let (_, mut lat) = mp_tests::chatbench::fanout(n, (m / 4).max(200), usize::MAX, Some(per_line));
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let mut rows = vec![Row {
        key: "chat_fanout_deliveries_per_s",
        what: "Chat fan-out, 1 sender 20 listeners, reliable delivery (vs the seed's Python server)",
        unit: "deliveries/s",
        better: Better::Higher,
        ours,
        raw: None,
        target: ">= 3x Python",
    }];
    if let Some(py) = python {
        PY_EXTRA.with(|p| p.borrow_mut().push(("chat_fanout_deliveries_per_s".to_string(), py)));
    }
    rows.push(Row {
        key: "chat_p50_ms",
        what: "Chat delivery latency p50 at half that load",
        unit: "ms",
        better: Better::Lower,
        ours: pct(0.5),
        raw: None,
        target: "reported",
    });
    rows.push(Row {
        key: "chat_p99_ms",
        what: "Chat delivery latency p99 at half that load",
        unit: "ms",
        better: Better::Lower,
        ours: pct(0.99),
        raw: None,
        target: "reported",
    });
    rows
}

pub(crate) fn chat_many(scale: f64) -> Vec<Row> {
    let clients = std::env::var("MP_BENCH_CLIENTS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(if scale >= 0.5 { 10_000 } else { 500 });
    let m = mp_tests::chatbench::many_clients(clients);
    eprintln!(
        "chat_many: {} clients logged in in {:.1} s, {} join notices delivered ({:.0}/s)",
        m.clients,
        m.login.as_secs_f64(),
        m.join_notices,
        m.join_notices as f64 / m.login.as_secs_f64()
    );
    let n = thousands(&clients.to_string());
    let mib = |kib: u64| kib as f64 / 1024.0;
    let figures = [
        (
            "chat_many_rss_mib",
            format!("Chat server RSS, {n} clients logged in and idle"),
            "MiB",
            mib(m.rss_kib),
        ),
        (
            "chat_many_peak_mib",
            format!("Chat server peak RSS over the whole run ({n} clients)"),
            "MiB",
            mib(m.peak_kib),
        ),
        (
            "chat_many_login_s",
            format!("Log in {n} clients, every join announced to all (n(n-1)/2 notices)"),
            "s",
            m.login.as_secs_f64(),
        ),
        (
            "chat_many_idle_cpu",
            format!("Chat server CPU with {n} clients idle (heartbeats only)"),
            "cores",
            m.idle_cpu,
        ),
        (
            "chat_many_deliver_ms",
            format!("One line delivered to all {n} clients"),
            "ms",
            m.one_line.as_secs_f64() * 1e3,
        ),
        (
            "chat_many_burst_per_s",
            format!("20 lines from one client to all {n}"),
            "deliveries/s",
            m.burst_rate,
        ),
    ];
    figures
        .into_iter()
        .map(|(key, what, unit, ours)| Row {
            key,
            // The table lives as long as the program.
            what: Box::leak(what.into_boxed_str()),
            unit,
            better: if unit == "deliveries/s" { Better::Higher } else { Better::Lower },
            ours,
            raw: None,
            target: if key == "chat_many_rss_mib" { "< 64 MiB" } else { "reported" },
        })
        .collect()
}

/// Bytes a server sends to an address it has not verified, per byte received from there: a
/// room with 50 long lines of history (what a new user would be sent) gets 200 logins from a
/// socket that never answers the cookie, as a spoofed victim's address would.
pub(crate) fn chat_amplification(_scale: f64) -> Vec<Row> {
    use chat_core::protocol::pad_login;
    use chat_core::server::{AdminCmd, Config, HostedRoom};
    use std::net::UdpSocket;
    use std::time::Duration;
    let cfg = Config { history: 50, ..Config::default() }.unlimited();
    let mut room = HostedRoom::start("127.0.0.1:0".parse().expect("addr"), cfg).expect("room");
    for i in 0..50 {
        let _ = room.ask(&AdminCmd::Say(format!("{i} {}", "你".repeat(290))));
    }
    let victim = UdpSocket::bind("127.0.0.1:0").expect("bind");
    victim.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut sent = 0usize;
    for nonce in 0..200u64 {
        let d = pad_login("victim", nonce << 40, None, None);
        sent += victim.send_to(&d, room.addr()).expect("send");
    }
    let mut received = 0usize;
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match victim.recv(&mut buf) {
            Ok(n) => received += n,
            Err(_) => continue,
        }
    }
    vec![Row {
        key: "chat_login_amplification",
        what: "Unverified login: bytes sent per byte received (50 lines of history waiting)",
        unit: "x",
        better: Better::Lower,
        ours: received as f64 / sent as f64,
        raw: None,
        target: "<= 1",
    }]
}
