//! Attacks on the chat from the network, one test each, against real server processes on
//! loopback: look-alike names, spoofed logins aimed at a victim, a `Who` flood, one socket
//! trying to take every slot, forged server datagrams, NAT rebinding, flapping logins, and
//! terminal escapes in chat text.
//!
//! Every loop runs against a deadline, so a hang fails the test instead of stalling it.

use chat_core::client::{Client, ClientEvent, CloseReason};
use chat_core::protocol::{self, ClientMsg, Event, LOGIN_SIZE, MAX_REQUESTS, Request, ServerMsg};
use chat_core::server::{AdminCmd, AdminReply, Config, HostedRoom, PRESENCE_QUIET};
use chat_core::text::visible;
use mp_tests::chatbench::{BenchServer, Relay, Sim, login_all, login_answer, raw_login};
use mp_tests::testutil::Rng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

fn start_room(cfg: Config) -> HostedRoom {
    HostedRoom::start("127.0.0.1:0".parse().unwrap(), cfg).expect("room")
}

/// A socket on `local` (an address in 127.0.0.0/8, port 0), connected to `server`.
fn socket_to(server: SocketAddr, local: &str) -> UdpSocket {
    let s = UdpSocket::bind(local).expect("bind");
    s.connect(server).expect("connect");
    s
}

fn users(room: &mut HostedRoom) -> Vec<String> {
    match room.ask(&AdminCmd::List).expect("the room answers") {
        AdminReply::Users(u) => u,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Waits up to `wait` for a datagram at any of `sims`, then pumps them all (so that their
/// timers run): the events, with the index of the sim that saw each.
fn pump_all(sims: &mut [&mut Sim], wait: Duration) -> Vec<(usize, ClientEvent)> {
    let fds: Vec<&dyn AsFd> = sims.iter().map(|s| s.socket() as &dyn AsFd).collect();
    let _ = mp_core::mp_ipc::wait_readable(&fds, Some(wait));
    let now = Instant::now();
    let mut out = Vec::new();
    for (i, s) in sims.iter_mut().enumerate() {
        out.extend(s.pump(now).into_iter().map(|e| (i, e)));
    }
    out
}

/// Pumps a whole vector of sims (see [`pump_all`]).
fn pump_every(sims: &mut [Sim], wait: Duration) -> Vec<(usize, ClientEvent)> {
    let mut all: Vec<&mut Sim> = sims.iter_mut().collect();
    pump_all(&mut all, wait)
}

/// Pumps `sim` until its login is answered (within 10 s): `Ok` when logged in, the reason
/// otherwise.
fn log_in(sim: &mut Sim) -> Result<(), CloseReason> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no answer to the login of {:?} within 10 s", sim.client.name());
        for (_, e) in pump_all(&mut [&mut *sim], Duration::from_millis(20)) {
            match e {
                ClientEvent::Connected => return Ok(()),
                ClientEvent::Closed(why) => return Err(why),
                _ => {}
            }
        }
    }
}

/// Reads the server's datagrams for a raw session with `tag` on `socket` until `done` holds
/// for the events so far (in sequence order, each once) or `limit` passes. Returns the events
/// and the highest sequence number up to which all arrived (for an acknowledgement). Leaves
/// the socket non-blocking.
fn read_session(
    socket: &UdpSocket,
    tag: u64,
    limit: Duration,
    done: impl Fn(&[Event]) -> bool,
) -> (Vec<Event>, u64) {
    let deadline = Instant::now() + limit;
    let mut got = Received::default();
    socket.set_nonblocking(true).expect("nonblocking");
    loop {
        got.read(socket, tag);
        let contiguous = got.contiguous();
        let events: Vec<Event> = got.events.range(..=contiguous).map(|(_, e)| e.clone()).collect();
        let left = deadline.saturating_duration_since(Instant::now());
        if done(&events) || left.is_zero() {
            return (events, contiguous);
        }
        let _ =
            mp_core::mp_ipc::wait_readable(&[socket as &dyn AsFd], Some(left.min(Duration::from_millis(50))));
    }
}

/// What a raw session was sent: bytes, and its events by sequence number.
#[derive(Default)]
struct Received {
    bytes: usize,
    events: BTreeMap<u64, Event>,
}

impl Received {
    /// Reads what is waiting at the non-blocking `socket` for the session with `tag`.
    fn read(&mut self, socket: &UdpSocket, tag: u64) {
        let mut b = [0u8; 2048];
        while let Ok(n) = socket.recv(&mut b) {
            self.bytes += n;
            if let Ok(ServerMsg::Data { tag: t, seq, events, .. }) = protocol::decode::<ServerMsg>(&b[..n])
                && t == tag
            {
                for (i, e) in events.into_iter().enumerate() {
                    self.events.insert(seq + i as u64, e);
                }
            }
        }
    }

    /// Every event up to this sequence number has arrived.
    fn contiguous(&self) -> u64 {
        (1..).take_while(|s| self.events.contains_key(s)).last().unwrap_or(0)
    }

    /// `Who` answers: parts, names listed, complete lists (parts with `last`), and the
    /// sequence number of the last part.
    fn who(&self) -> (usize, usize, usize, u64) {
        let mut out = (0, 0, 0, 0);
        for (&seq, e) in &self.events {
            if let Event::Who { names, last } = e {
                out = (out.0 + 1, out.1 + names.len(), out.2 + usize::from(*last), seq);
            }
        }
        out
    }
}

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
        let text = format!("history {i:02} {}", "h".repeat(900));
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

/// A name of 32 four-byte characters (CJK Extension B), different for each `i`.
fn long_name(i: u32) -> String {
    let name: String =
        (0..32).map(|k| char::from_u32(0x20000 + (i * 32 + k) % 0xA6D0).expect("a Han character")).collect();
    assert_eq!(name.len(), 128);
    name
}

#[test]
fn a_who_flood_keeps_the_server_small_and_answering() {
    const USERS: u32 = 300;
    const FLOOD: u64 = 200;
    const LIMIT_KIB: u64 = 64 * 1024;
    // One address fills the room, so the limits per address are lifted.
    let srv = BenchServer::with_config(Config { max_clients: 1100, ..Config::default() }.unlimited());
    let mut sims: Vec<Sim> = (0..USERS).map(|i| Sim::new(srv.addr, &long_name(i))).collect();
    login_all(&mut sims);
    let rss_before = srv.rss_kib();
    let flooder = socket_to(srv.addr, "127.0.0.1:0");
    let (token, tag) = raw_login(&flooder, "flooder");
    flooder.set_nonblocking(true).unwrap();
    let _ = mp_core::mp_ipc::set_recv_buffer(&flooder, 1 << 20);
    let mut got = Received::default();
    // Every datagram full of `Who`, never acknowledging an answer.
    for k in 0..FLOOD {
        let reqs = vec![Request::Who; MAX_REQUESTS];
        let seq = 1 + k * MAX_REQUESTS as u64;
        flooder.send(&protocol::encode(&ClientMsg::Data { token, seq, ack: 0, reqs })).expect("send");
        got.read(&flooder, tag);
        if k % 20 == 0 {
            pump_every(&mut sims, Duration::from_millis(1));
        }
    }
    // Let the server work through it, the users keeping their sessions alive.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        pump_every(&mut sims, Duration::from_millis(20));
        got.read(&flooder, tag);
    }
    let (rss, peak) = (srv.rss_kib(), srv.peak_kib());
    eprintln!(
        "who flood: {} Who requests in {FLOOD} datagrams against {USERS} users with 128-byte names; server RSS \
         {rss_before} KiB before, {rss} KiB after, peak {peak} KiB; the flooder was sent {} bytes, {} answer parts",
        FLOOD * MAX_REQUESTS as u64,
        got.bytes,
        got.who().0
    );
    assert!(got.who().0 > 0, "the flooder's requests were not answered at all");
    assert!(rss > 0, "the server's RSS could not be read");
    assert!(rss < LIMIT_KIB, "the server's RSS is {rss} KiB after the flood (limit {LIMIT_KIB} KiB)");
    assert!(peak < LIMIT_KIB, "the server's peak RSS was {peak} KiB (limit {LIMIT_KIB} KiB)");
    // The room still works: a line from one user reaches another within 5 s.
    let t = Instant::now();
    sims[0].client.request(Request::Chat("still answering".into()), t).unwrap();
    let mut arrived = None;
    while arrived.is_none() && t.elapsed() < Duration::from_secs(5) {
        for (i, e) in pump_every(&mut sims, Duration::from_millis(5)) {
            if let (1, ClientEvent::Room(Event::Line { text, .. })) = (i, e)
                && text == "still answering"
            {
                arrived = Some(t.elapsed());
            }
        }
    }
    eprintln!("who flood: a line reached another user after {arrived:?}");
    assert!(arrived.is_some(), "the line did not arrive within 5 s of the flood");
    // Now the flooder reads and acknowledges: its 6,400 requests were answered by one list of
    // everyone (a request made while an answer is on its way is answered by it), not by one
    // list each. A second list would follow within the quiet second after the first.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut quiet_until: Option<Instant> = None;
    while quiet_until.is_none_or(|q| Instant::now() < q) {
        assert!(Instant::now() < deadline, "the answer to Who did not complete: {:?}", got.who());
        got.read(&flooder, tag);
        let ack = got.contiguous();
        flooder.send(&protocol::encode(&ClientMsg::Ack { token, ack })).expect("send");
        let (_, _, lists, last_part) = got.who();
        if quiet_until.is_none() && lists >= 1 && ack >= last_part {
            quiet_until = Some(Instant::now() + Duration::from_secs(1));
        }
        pump_every(&mut sims, Duration::from_millis(20));
    }
    let (parts, names, lists, _) = got.who();
    eprintln!("who flood: acknowledged, the flooder got {lists} list(s) of {names} names in {parts} parts");
    assert_eq!(lists, 1, "{lists} lists answered the flood of Who");
    assert_eq!(names, USERS as usize + 1, "the list names everyone once");
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
                    Ok(ServerMsg::LoginRefused { nonce, reason }) => {
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

/// Forged server datagrams: each of them, with tags and nonces the attacker guessed.
fn forgeries(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |what: String, m: ServerMsg| out.push((what, protocol::encode(&m)));
    let ts = protocol::now_ms();
    let admin = Event::Admin { ts, text: "the room has moved: log in at evil.example".into() };
    let line = Event::Line { ts, from: "other".into(), text: "forged line".into(), history: false };
    for seq in 1..=5u64 {
        for tag in [0, 1, rng.next_u64(), rng.next_u64()] {
            let data = |events: Vec<Event>| ServerMsg::Data { tag, seq, ack: seq, events };
            add(format!("admin line, seq {seq}, tag {tag:#x}"), data(vec![admin.clone()]));
            add(format!("kicked, seq {seq}, tag {tag:#x}"), data(vec![Event::Kicked]));
            add(format!("shutdown, seq {seq}, tag {tag:#x}"), data(vec![Event::Shutdown]));
            add(format!("chat line, seq {seq}, tag {tag:#x}"), data(vec![line.clone()]));
            add(format!("ack {seq}, tag {tag:#x}"), ServerMsg::Ack { tag, ack: seq });
            add(
                format!("path challenge, tag {tag:#x}"),
                ServerMsg::PathChallenge { tag, challenge: rng.next_u64() },
            );
        }
    }
    for _ in 0..20 {
        add("unknown session".into(), ServerMsg::UnknownSession { echo: rng.next_u64() as u32 });
    }
    for _ in 0..5 {
        let nonce = rng.next_u64();
        add("login refused".into(), ServerMsg::LoginRefused { nonce, reason: "forged".into() });
        let (token, tag) = (rng.next_u64(), rng.next_u64());
        add("login ok".into(), ServerMsg::LoginOk { nonce, token, tag });
        add("retry".into(), ServerMsg::Retry { nonce, cookie: rng.next_u64() });
    }
    out
}

#[test]
fn forged_server_datagrams_change_nothing_at_the_client() {
    let room = start_room(Config { history: 0, ..Config::default() });
    let relay = Relay::start(room.addr());
    let mut victim = Sim::new(relay.addr, "victim");
    log_in(&mut victim).expect("victim logs in");
    let mut other = Sim::new(room.addr(), "other");
    log_in(&mut other).expect("other logs in");
    // The victim's session has real events (sequence numbers 1 and 2) before the forgeries.
    other.client.request(Request::Chat("before".into()), Instant::now()).unwrap();
    let mut victim_lines: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !victim_lines.contains(&"before".to_string()) {
        assert!(Instant::now() < deadline, "the first line did not reach the victim");
        for (i, e) in pump_all(&mut [&mut victim, &mut other], Duration::from_millis(10)) {
            if let (0, ClientEvent::Room(Event::Line { text, .. })) = (i, e) {
                victim_lines.push(text);
            }
        }
    }
    // Now the attacker's datagrams, "from the server's address", each followed by a pump.
    let target = victim.socket().local_addr().unwrap();
    let mut rng = Rng(0xF0_46ED);
    let forged = forgeries(&mut rng);
    let mut seen: Vec<(String, ClientEvent)> = Vec::new();
    for (what, d) in &forged {
        relay.inject(target, d).expect("inject");
        let until = Instant::now() + Duration::from_millis(5);
        while Instant::now() < until {
            for (i, e) in pump_all(&mut [&mut victim, &mut other], Duration::from_millis(1)) {
                if i == 0 {
                    seen.push((what.clone(), e));
                }
            }
        }
    }
    // And a while for anything they set off (a reconnect, a timer).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        for (i, e) in pump_all(&mut [&mut victim, &mut other], Duration::from_millis(10)) {
            if i == 0 {
                seen.push(("after the forgeries".into(), e));
            }
        }
    }
    eprintln!("forgeries: {} forged datagrams injected; the victim saw {seen:?}", forged.len());
    assert!(seen.is_empty(), "forged datagrams reached the victim's session: {seen:?}");
    assert!(victim.client.is_online(), "the victim is no longer online");
    // Real lines still arrive, each once, both ways.
    other.client.request(Request::Chat("after".into()), Instant::now()).unwrap();
    victim.client.request(Request::Chat("victim after".into()), Instant::now()).unwrap();
    let mut other_lines: Vec<String> = Vec::new();
    let mut events: Vec<ClientEvent> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut quiet_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        assert!(
            now < deadline,
            "the real lines did not arrive: victim {victim_lines:?}, other {other_lines:?}"
        );
        if quiet_until.is_some_and(|q| now >= q) {
            break;
        }
        for (i, e) in pump_all(&mut [&mut victim, &mut other], Duration::from_millis(10)) {
            match (i, e) {
                (0, ClientEvent::Room(Event::Line { text, .. })) => victim_lines.push(text),
                (1, ClientEvent::Room(Event::Line { text, .. })) => other_lines.push(text),
                (0, e) => events.push(e),
                _ => {}
            }
        }
        // Once both arrived, half a second more for any duplicate.
        if quiet_until.is_none() && victim_lines.len() >= 2 && !other_lines.is_empty() {
            quiet_until = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    assert_eq!(victim_lines, ["before", "after"], "the victim's lines, each once");
    assert_eq!(other_lines, ["victim after"], "the victim's own line reached the other user once");
    assert!(events.is_empty(), "the victim saw {events:?}");
}

#[test]
fn nat_rebinding_keeps_the_session_and_loses_nothing() {
    const LINES: usize = 60;
    let mut room = start_room(Config { history: 0, ..Config::default() }.unlimited());
    let relay = Relay::start(room.addr());
    let mut mover = Sim::new(relay.addr, "mover");
    log_in(&mut mover).expect("mover logs in");
    let mut listener = Sim::new(room.addr(), "listener");
    log_in(&mut listener).expect("listener logs in");
    let mover_addr = mover.socket().local_addr().unwrap();
    let mut got: Vec<String> = Vec::new();
    let mut mover_events: Vec<ClientEvent> = Vec::new();
    let mut ports = Vec::new();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(30);
    let mut next = t0;
    let mut k = 0;
    let mut done_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        assert!(now < deadline, "{} of {LINES} lines arrived: {got:?}", got.len());
        if done_at.is_some_and(|d| now >= d) {
            break;
        }
        if k < LINES && now >= next {
            // The NAT forgets the mapping twice: the mover's datagrams come from new ports.
            if k == 20 || k == 40 {
                ports.push(relay.rebind(mover_addr).expect("the relay knows the mover"));
            }
            mover.client.request(Request::Chat(format!("line {k}")), now).unwrap();
            k += 1;
            next += Duration::from_millis(20);
        }
        for (i, e) in pump_all(&mut [&mut mover, &mut listener], Duration::from_millis(2)) {
            match (i, e) {
                (1, ClientEvent::Room(Event::Line { from, text, .. })) if from == "mover" => got.push(text),
                (
                    0,
                    e
                    @ (ClientEvent::Reconnecting { .. } | ClientEvent::Reconnected | ClientEvent::Closed(_)),
                ) => mover_events.push(e),
                _ => {}
            }
        }
        // Once all arrived, half a second more for any duplicate.
        if done_at.is_none() && got.len() >= LINES {
            done_at = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    let stats = room.stats().unwrap();
    eprintln!(
        "NAT rebinding: {LINES} lines in {:?} across upstream ports {ports:?}; {} migrations",
        t0.elapsed(),
        stats.migrations
    );
    let want: Vec<String> = (0..LINES).map(|k| format!("line {k}")).collect();
    assert_eq!(got, want, "every line once, in order");
    assert!(mover_events.is_empty(), "the moved client saw {mover_events:?}");
    assert!(mover.client.is_online());
    assert!(stats.migrations >= 2, "the session moved {} times (2 rebindings)", stats.migrations);
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

#[test]
fn a_text_with_control_characters_is_refused_and_bidi_reaches_others_only_as_data() {
    let escape = "\u{1b}]0;pwned\u{7}";
    let cr = "line\rforged";
    let bidi = "\u{202e}abc";
    let room = start_room(Config::default());
    let mut reader = Sim::new(room.addr(), "reader");
    log_in(&mut reader).expect("reader logs in");
    let mut writer = Sim::new(room.addr(), "writer");
    log_in(&mut writer).expect("writer logs in");
    // The client refuses them itself.
    for bad in [escape, cr] {
        let err = writer.client.request(Request::Chat(bad.into()), Instant::now()).unwrap_err();
        assert!(err.contains("control"), "the client's reason for {bad:?}: {err}");
    }
    // The server refuses them too, from a client that sends them anyway.
    let raw = socket_to(room.addr(), "127.0.0.1:0");
    let (token, tag) = raw_login(&raw, "raw");
    let reqs = vec![
        Request::Chat(escape.into()),
        Request::Chat(cr.into()),
        Request::Chat("after the controls".into()),
    ];
    raw.send(&protocol::encode(&ClientMsg::Data { token, seq: 1, ack: 0, reqs })).expect("send");
    let refusals = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Refused { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    };
    let (events, _) = read_session(&raw, tag, Duration::from_secs(10), |e| refusals(e).len() >= 2);
    let reasons = refusals(&events);
    eprintln!("control characters: the server's reasons {reasons:?}");
    assert_eq!(reasons.len(), 2, "two refusals: {events:?}");
    for r in &reasons {
        assert!(r.contains("control"), "the server's reason: {r}");
    }
    writer.client.request(Request::Chat(bidi.into()), Instant::now()).unwrap();
    let mut lines: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut quiet_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        assert!(now < deadline, "the lines did not arrive: {lines:?}");
        if quiet_until.is_some_and(|q| now >= q) {
            break;
        }
        for (i, e) in pump_all(&mut [&mut reader, &mut writer], Duration::from_millis(10)) {
            if let (0, ClientEvent::Room(Event::Line { from, text, .. })) = (i, e) {
                lines.push((from, text));
            }
        }
        if quiet_until.is_none() && lines.len() >= 2 {
            quiet_until = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    lines.sort();
    assert_eq!(
        lines,
        [("raw".to_string(), "after the controls".to_string()), ("writer".to_string(), bidi.to_string())],
        "the reader got the valid lines only, each once"
    );
    assert!(lines.iter().all(|(_, t)| !t.chars().any(char::is_control)));
    let shown = visible(&lines[1].1);
    eprintln!("control characters: the bidi line arrives as {:?} and is shown as {shown}", lines[1].1);
    assert_eq!(shown, "\\u{202e}abc");
}
