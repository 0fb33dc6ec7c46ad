//! Attacks on the way into the chat, one test each, against real server processes on
//! loopback: look-alike names, spoofed logins aimed at a victim, one socket or one address
//! trying to take every slot, and flapping logins.
//!
//! Every loop runs against a deadline, so a hang fails the test instead of stalling it.

use chat_core::client::{Client, ClientEvent, CloseReason};
use chat_core::protocol::{self, ClientMsg, Event, LOGIN_SIZE, Request, ServerMsg};
use chat_core::server::{AdminCmd, AdminReply, Config, PRESENCE_QUIET};
use chat_core::text::visible;
use mp_tests::attack::*;
use mp_tests::chatbench::{Sim, login_answer};
use mp_tests::testutil::Rng;
use std::collections::{HashMap, HashSet};
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

#[test]
fn look_alike_reserved_and_invisible_names_are_refused_with_a_reason() {
    // Logins are not rate-limited here, so that every refusal is about the name.
    let cfg = Config { login_burst: 1e6, login_rate: 1e6, ..Config::default() };
    let mut room = start_room(cfg);
    let server = room.addr();
    let mut alice = Sim::new(server, "alice");
    log_in(&mut alice).expect("alice logs in");
    let before = room.stats().unwrap();
    let refused = [
        "Alice",
        "ALICE",
        "\u{430}lice",
        "ａｌｉｃｅ",
        "alice\u{200B}",
        "\u{3164}",
        "\u{2800}",
        "al\u{00AD}ice",
        "admin",
        "[admin]",
        "Server",
        "bob\u{1b}[2J",
    ];
    let mut by_server_only = 0;
    for (i, name) in refused.iter().enumerate() {
        let reason = match Client::new(name, Instant::now()) {
            // The client would log in: the server must refuse.
            Ok(_) => {
                let mut sim = Sim::new(server, name);
                match log_in(&mut sim) {
                    Err(CloseReason::Refused(reason)) => reason,
                    other => panic!("{name:?} was not refused by the server: {other:?}"),
                }
            }
            // The client refuses it itself; a hand-made login proves the server does too.
            Err(local) => {
                assert!(!local.is_empty(), "{name:?}: the client refused it without a reason");
                by_server_only += 1;
                let socket = socket_to(server, "127.0.0.1:0");
                match login_answer(&socket, name, 0xA77A_0000 + i as u64) {
                    ServerMsg::LoginRefused { reason, .. } => reason,
                    other => panic!("{name:?} sent by hand was not refused by the server: {other:?}"),
                }
            }
        };
        eprintln!("name {name:?} refused: {}", visible(&reason));
        assert!(!reason.trim().is_empty(), "{name:?} was refused without a reason");
        assert!(!reason.contains("too many"), "{name:?} was refused for another reason: {reason}");
    }
    let after = room.stats().unwrap();
    assert_eq!(
        after.refused_logins - before.refused_logins,
        refused.len() as u64,
        "every look-alike, reserved or invisible name refused by the server"
    );
    let mut accepted = Vec::new();
    for name in ["小明", "Ольга"] {
        let mut sim = Sim::new(server, name);
        log_in(&mut sim).unwrap_or_else(|why| panic!("{name:?} was refused: {why:?}"));
        accepted.push(sim);
    }
    let mut online = users(&mut room);
    online.sort();
    let mut want = vec!["alice".to_string(), "小明".to_string(), "Ольга".to_string()];
    want.sort();
    assert_eq!(online, want);
    eprintln!(
        "names: {} refused ({by_server_only} of them sent by hand, as the client refuses them itself), 2 accepted",
        refused.len()
    );
}

#[test]
fn a_spoofed_login_gets_at_most_as_many_bytes_as_it_sent() {
    let mut room = start_room(Config::default());
    let server = room.addr();
    // A room with a long history: what a server that trusted the login's address would send.
    for i in 0..50 {
        let text = format!("history {i:02} {}", "好".repeat(280));
        assert!(matches!(room.ask(&AdminCmd::Say(text)).unwrap(), AdminReply::Done(_)));
    }
    let before = room.stats().unwrap();
    // The victim's socket stands for the address the attacker forges: every login "from" it
    // is answered there.
    let victim = socket_to(server, "127.0.0.1:0");
    victim.set_nonblocking(true).unwrap();
    let _ = mp_core::mp_ipc::set_recv_buffer(&victim, 1 << 20);
    let mut sent = 0usize;
    let mut received = 0usize;
    let mut kinds: HashMap<&'static str, usize> = HashMap::new();
    let mut drain = |received: &mut usize| {
        let mut b = [0u8; 2048];
        while let Ok(n) = victim.recv(&mut b) {
            *received += n;
            let kind = match protocol::decode::<ServerMsg>(&b[..n]) {
                Ok(ServerMsg::Retry { .. }) => "Retry",
                Ok(ServerMsg::LoginOk { .. }) => "LoginOk",
                Ok(ServerMsg::LoginRefused { .. }) => "LoginRefused",
                Ok(ServerMsg::Data { .. }) => "Data",
                Ok(_) => "other",
                Err(_) => "undecodable",
            };
            *kinds.entry(kind).or_default() += 1;
        }
    };
    let mut rng = Rng(0x5B00F);
    let send = |d: &[u8], sent: &mut usize| {
        assert_eq!(d.len(), LOGIN_SIZE);
        victim.send(d).expect("send");
        *sent += d.len();
    };
    // No cookie.
    for i in 0..200u64 {
        send(&protocol::pad_login(&format!("victim{i}"), 1_000 + i, None, None), &mut sent);
        drain(&mut received);
    }
    // A guessed cookie.
    for i in 0..200u64 {
        send(&protocol::pad_login(&format!("victim{i}"), 2_000 + i, Some(rng.next_u64()), None), &mut sent);
        drain(&mut received);
    }
    // A real cookie, made for the attacker's own address and replayed "from" the victim's.
    let attacker = socket_to(server, "127.0.0.1:0");
    attacker.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 2048];
    for i in 0..20u64 {
        let nonce = 3_000 + i;
        attacker.send(&protocol::pad_login("victim", nonce, None, None)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let cookie = loop {
            assert!(Instant::now() < deadline, "no Retry for the attacker's login");
            let Ok(n) = attacker.recv(&mut b) else { continue };
            if let Ok(ServerMsg::Retry { nonce: got, cookie }) = protocol::decode(&b[..n])
                && got == nonce
            {
                break cookie;
            }
        };
        send(&protocol::pad_login("victim", nonce, Some(cookie), None), &mut sent);
        drain(&mut received);
    }
    // Whatever the server sends the victim within 3 s.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
        drain(&mut received);
    }
    let after = room.stats().unwrap();
    let ratio = received as f64 / sent as f64;
    eprintln!(
        "spoofed logins: the victim was sent {received} bytes for {sent} bytes of logins (ratio {ratio:.3}); \
         datagrams by kind {kinds:?}; server retries +{}",
        after.retries - before.retries
    );
    assert!(received <= sent, "amplification: {received} bytes answered to {sent} bytes sent");
    assert_eq!(kinds.get("Retry").copied().unwrap_or(0), 420, "one Retry per login, nothing else: {kinds:?}");
    assert_eq!(kinds.len(), 1, "only Retry answers: {kinds:?}");
    assert!(users(&mut room).is_empty(), "no session was opened for an unverified address");
}

#[test]
fn one_socket_cannot_take_every_slot() {
    const NAMES: u64 = 1024;
    const CHUNK: u64 = 64;
    let mut room = start_room(Config::default());
    let server = room.addr();
    let before = room.stats().unwrap();
    // The attacker is at 127.0.0.2 and the real user below at 127.0.0.1 (all of 127.0.0.0/8
    // is loopback): another host on the LAN, with its own limits per address.
    let attacker = socket_to(server, "127.0.0.2:0");
    attacker.set_nonblocking(true).unwrap();
    let _ = mp_core::mp_ipc::set_recv_buffer(&attacker, 1 << 20);
    let mut tokens: HashSet<u64> = HashSet::new();
    let mut reasons: HashMap<String, u64> = HashMap::new();
    let t_attack = Instant::now();
    let mut b = [0u8; 2048];
    for first in (0..NAMES).step_by(CHUNK as usize) {
        // nonce -> (name, cookie, answered)
        let mut attempts: HashMap<u64, (String, Option<u64>, bool)> =
            (first..first + CHUNK).map(|i| (0x5107_0000 + i, (format!("slot{i}"), None, false))).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut resend = Instant::now();
        while attempts.values().any(|a| !a.2) {
            assert!(Instant::now() < deadline, "the server stopped answering logins");
            // Sent again every second until answered (a datagram may be lost on a busy machine).
            if Instant::now() >= resend {
                for (&nonce, (name, cookie, answered)) in &attempts {
                    if !*answered {
                        attacker.send(&protocol::pad_login(name, nonce, *cookie, None)).expect("send");
                    }
                }
                resend = Instant::now() + Duration::from_secs(1);
            }
            let _ =
                mp_core::mp_ipc::wait_readable(&[&attacker as &dyn AsFd], Some(Duration::from_millis(20)));
            while let Ok(n) = attacker.recv(&mut b) {
                match protocol::decode::<ServerMsg>(&b[..n]) {
                    Ok(ServerMsg::Retry { nonce, cookie }) => {
                        if let Some((name, c, false)) = attempts.get_mut(&nonce)
                            && *c != Some(cookie)
                        {
                            *c = Some(cookie);
                            attacker.send(&protocol::pad_login(name, nonce, *c, None)).expect("send");
                        }
                    }
                    Ok(ServerMsg::LoginOk { nonce, token, .. }) => {
                        if let Some(a) = attempts.get_mut(&nonce) {
                            a.2 = true;
                            tokens.insert(token);
                        }
                    }
                    Ok(ServerMsg::LoginRefused { nonce, reason, .. }) => {
                        if let Some(a) = attempts.get_mut(&nonce)
                            && !a.2
                        {
                            a.2 = true;
                            let kind: String = reason.split(['"', '(']).next().unwrap_or("").trim().into();
                            *reasons.entry(kind).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let attack = t_attack.elapsed();
    let refused: u64 = reasons.values().sum();
    eprintln!(
        "one socket, {NAMES} names in {attack:?}: {} sessions, {refused} refused: {reasons:?}",
        tokens.len()
    );
    assert_eq!(tokens.len(), 1, "one socket got {} sessions", tokens.len());
    assert_eq!(refused, NAMES - 1);
    let after = room.stats().unwrap();
    assert!(
        after.refused_logins - before.refused_logins >= NAMES - 1,
        "the server counted {} refused logins",
        after.refused_logins - before.refused_logins
    );
    // A real user still gets in, at once. (After a second: should the two addresses share a
    // slot of the server's table of rate limits, its login bucket has refilled by then.)
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let mut user = Sim::new(server, "latecomer");
    log_in(&mut user).unwrap_or_else(|why| panic!("the real user was refused: {why:?}"));
    let took = t.elapsed();
    eprintln!("one socket: afterwards a real user logged in in {took:?}");
    assert!(took < Duration::from_secs(2), "the real user's login took {took:?}");
    assert!(users(&mut room).contains(&"latecomer".to_string()));
}

#[test]
fn many_sockets_on_one_address_get_at_most_max_per_ip_sessions() {
    const SOCKETS: u64 = 40;
    let cfg = Config::default();
    let max = cfg.max_per_ip;
    let mut room = start_room(cfg);
    let server = room.addr();
    let mut ok = 0;
    let mut refused = Vec::new();
    // Each socket is a new port on 127.0.0.3: one host, many addresses.
    let sockets: Vec<UdpSocket> = (0..SOCKETS).map(|_| socket_to(server, "127.0.0.3:0")).collect();
    for (i, s) in sockets.iter().enumerate() {
        match login_answer(s, &format!("port{i}"), 0x9000 + i as u64) {
            ServerMsg::LoginOk { .. } => ok += 1,
            ServerMsg::LoginRefused { reason, .. } => refused.push(reason),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    let at_cap = refused.iter().filter(|r| r.contains("too many users from")).count();
    eprintln!(
        "one address, {SOCKETS} sockets: {ok} sessions, {} refused ({at_cap} at the per-address cap)",
        refused.len()
    );
    assert_eq!(ok, max, "sessions from one address");
    assert_eq!(ok + refused.len(), SOCKETS as usize);
    let mut user = Sim::new(server, "neighbour");
    log_in(&mut user).unwrap_or_else(|why| panic!("a user at another address was refused: {why:?}"));
    assert_eq!(users(&mut room).len(), max + 1);
}

#[test]
fn fast_relogins_from_one_socket_are_coalesced() {
    const FLAPS: u64 = 40;
    let cfg = Config { login_burst: 1e6, login_rate: 1e6, ..Config::default() };
    let room = start_room(cfg);
    let mut observer = Sim::new(room.addr(), "observer");
    log_in(&mut observer).expect("observer logs in");
    let mut notices: Vec<(Duration, &'static str)> = Vec::new();
    let t0 = Instant::now();
    let watch = |observer: &mut Sim, notices: &mut Vec<(Duration, &'static str)>, wait: Duration| {
        for (_, e) in pump_all(&mut [observer], wait) {
            match e {
                ClientEvent::Room(Event::Joined { name, .. }) if name == "flap" => {
                    notices.push((t0.elapsed(), "joined"))
                }
                ClientEvent::Room(Event::Left { name, .. }) if name == "flap" => {
                    notices.push((t0.elapsed(), "left"))
                }
                _ => {}
            }
        }
    };
    let flap = socket_to(room.addr(), "127.0.0.1:0");
    let mut goodbyes = 0;
    for i in 0..FLAPS {
        let (token, tag) = match login_answer(&flap, "flap", 0xF1A9_0000 + i) {
            ServerMsg::LoginOk { token, tag, .. } => (token, tag),
            other => panic!("login {i} of flap: {other:?}"),
        };
        let quit = ClientMsg::Data { token, seq: 1, ack: 0, reqs: vec![Request::Quit] };
        flap.send(&protocol::encode(&quit)).expect("send");
        let (events, last) =
            read_session(&flap, tag, Duration::from_millis(300), |e| e.contains(&Event::Goodbye));
        if events.contains(&Event::Goodbye) {
            goodbyes += 1;
            flap.send(&protocol::encode(&ClientMsg::Ack { token, ack: last })).expect("send");
        }
        watch(&mut observer, &mut notices, Duration::ZERO);
    }
    let flapped = t0.elapsed();
    // Past the quiet period, the name's state is shown as it is.
    let settled = Instant::now() + PRESENCE_QUIET + Duration::from_secs(2);
    while Instant::now() < settled {
        watch(&mut observer, &mut notices, Duration::from_millis(20));
    }
    eprintln!(
        "flapping: {FLAPS} logins and quits in {flapped:?} ({goodbyes} goodbyes); the observer saw {notices:?}"
    );
    assert!(goodbyes >= FLAPS / 2, "only {goodbyes} quits were answered");
    assert!(!notices.is_empty(), "the observer saw nothing of flap");
    assert!(notices.len() <= 6, "{} join/leave notices of flap: {notices:?}", notices.len());
    assert!(notices.windows(2).all(|w| w[0].1 != w[1].1), "two notices in a row say the same: {notices:?}");
    assert_eq!(notices.last().map(|n| n.1), Some("left"), "flap is gone, and shown gone: {notices:?}");
}
