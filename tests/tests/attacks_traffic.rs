//! Attacks on the chat's traffic, one test each, against real server processes on loopback:
//! a `Who` flood, forged server datagrams, NAT rebinding, and terminal escapes in chat text.
//!
//! Every loop runs against a deadline, so a hang fails the test instead of stalling it.

use chat_core::client::ClientEvent;
use chat_core::protocol::{self, ClientMsg, Event, MAX_REQUESTS, Request, ServerMsg};
use chat_core::server::Config;
use chat_core::text::visible;
use mp_tests::attack::*;
use mp_tests::chatbench::{BenchServer, Relay, Sim, login_all, raw_login};
use mp_tests::testutil::Rng;
use std::time::{Duration, Instant};

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

/// Forged server datagrams: each of them, with tags and nonces the attacker guessed.
fn forgeries(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |what: String, m: ServerMsg| out.push((what, protocol::encode(&m)));
    let ts = protocol::now_ms();
    let admin = Event::Admin { ts, text: "the room has moved: log in at evil.example".into() };
    let line = Event::Line { ts, from: "other".into(), text: "forged line".into(), history: false };
    for seq in 1..=5u64 {
        for tag in [0, 1, rng.next_u64(), rng.next_u64()] {
            let data = |events: Vec<Event>| ServerMsg::Data { tag, seq, ack: seq, upto: seq, events };
            add(format!("admin line, seq {seq}, tag {tag:#x}"), data(vec![admin.clone()]));
            add(format!("kicked, seq {seq}, tag {tag:#x}"), data(vec![Event::Kicked]));
            add(format!("shutdown, seq {seq}, tag {tag:#x}"), data(vec![Event::Shutdown]));
            add(format!("chat line, seq {seq}, tag {tag:#x}"), data(vec![line.clone()]));
            add(format!("ack {seq}, tag {tag:#x}"), ServerMsg::Ack { tag, ack: seq, upto: seq });
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
        add(
            "login refused".into(),
            ServerMsg::LoginRefused { nonce, reason: "forged".into(), retry_after_ms: 0 },
        );
        let (token, tag) = (rng.next_u64(), rng.next_u64());
        add("login ok".into(), ServerMsg::LoginOk { nonce, token, tag, burst: 20, per_sec: 5 });
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
                // The server taking the victim's own line is expected.
                (0, ClientEvent::Accepted(_)) => {}
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
    let mut notices = 0;
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
                (0, ClientEvent::AddressChanged) => notices += 1,
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
    assert_eq!(notices, 2, "the moved client is told once per move");
    assert!(mover.client.is_online());
    assert!(stats.migrations >= 2, "the session moved {} times (2 rebindings)", stats.migrations);
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
                Event::Refused { reason, .. } => Some(reason.clone()),
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
