use super::*;

use crate::client::{Client, ClientEvent, CloseReason};

/// Real clients and a room over a perfect, instant network in fake time. A client that does
/// not `read` still heartbeats and hears the answers, but every data datagram to it is lost.
struct Net {
    room: Room,
    clients: Vec<(SocketAddr, Client, bool)>,
    now: Instant,
    /// Bytes the room sent to each address.
    sent_to: HashMap<SocketAddr, usize>,
    /// A client whose datagrams are lost both ways.
    cut: Option<usize>,
}

fn addr(i: usize) -> SocketAddr {
    format!("127.0.0.1:{}", 1000 + i).parse().unwrap()
}

impl Net {
    fn new(cfg: Config) -> Net {
        Net {
            room: Room::new(cfg),
            clients: Vec::new(),
            now: Instant::now(),
            sent_to: HashMap::new(),
            cut: None,
        }
    }

    fn join(&mut self, name: &str, reads: bool) -> usize {
        let a = addr(self.clients.len());
        self.clients.push((a, Client::new(name, self.now).unwrap(), reads));
        let i = self.clients.len() - 1;
        for _ in 0..4 {
            self.step(Duration::ZERO);
        }
        i
    }

    /// What the room sends for one datagram from `from`.
    fn datagram(&mut self, from: SocketAddr, d: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        self.room.on_datagram(from, d, self.now, &mut |a, d| out.push((a, d.to_vec())));
        out
    }

    /// Lets `dt` pass, then delivers everything each way once.
    fn step(&mut self, dt: Duration) {
        self.now += dt;
        let now = self.now;
        let mut out = Vec::new();
        for (i, (addr, c, _)) in self.clients.iter_mut().enumerate() {
            c.on_tick(now);
            let out_of_reach = self.cut == Some(i);
            for d in c.take_output().into_iter().filter(|_| !out_of_reach) {
                self.room.on_datagram(*addr, &d, now, &mut |a, d| out.push((a, d.to_vec())));
            }
        }
        self.room.on_tick(now, &mut |a, d| out.push((a, d.to_vec())));
        for (to, d) in out {
            *self.sent_to.entry(to).or_insert(0) += d.len();
            let cut = self.cut.map(|i| self.clients[i].0);
            if let Some((_, c, reads)) = self.clients.iter_mut().find(|(a, _, _)| *a == to && cut != Some(to))
            {
                let data = matches!(protocol::decode(&d), Ok(ServerMsg::Data { .. }));
                if *reads || !data {
                    c.on_datagram(&d, now);
                }
            }
        }
    }

    fn events(&mut self, i: usize) -> Vec<ClientEvent> {
        self.clients[i].1.take_events()
    }
}

fn lines(events: &[ClientEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Room(Event::Line { text, .. } | Event::Admin { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn joined(events: &[ClientEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Room(Event::Joined { name, .. }) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn join_notices_wait_briefly_for_company_lines_do_not() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    net.events(ann);
    for i in 0..5 {
        net.join(&format!("u{i}"), true);
    }
    let early = net.events(ann);
    assert!(joined(&early).is_empty(), "{early:?}");
    net.step(PRESENCE_DELAY);
    net.step(Duration::ZERO);
    assert_eq!(joined(&net.events(ann)).len(), 5);
    // A join followed by a line: both at once, in order.
    let bob = net.join("bob", true);
    net.clients[bob].1.request(Request::Chat("hi".into()), net.now).unwrap();
    net.step(Duration::ZERO);
    net.step(Duration::ZERO);
    let got = net.events(ann);
    assert!(matches!(&got[0], ClientEvent::Room(Event::Joined { name, .. }) if name == "bob"), "{got:?}");
    assert_eq!(lines(&got), ["hi"]);
}

#[test]
fn private_events_keep_their_place_after_a_long_backlog() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    let n = WINDOW * 3;
    for i in 0..n {
        assert!(matches!(net.room.on_admin(AdminCmd::Say(format!("a{i}")), net.now), AdminReply::Done(_)));
    }
    assert!(matches!(net.room.on_admin(AdminCmd::Kick("ann".into()), net.now), AdminReply::Done(_)));
    let mut got = Vec::new();
    for _ in 0..100 {
        net.step(Duration::from_millis(1));
        got.extend(net.events(ann));
        assert!(net.room.sessions.values().all(|s| s.outbox.unacked() <= WINDOW as u64));
    }
    assert_eq!(lines(&got), (0..n).map(|i| format!("a{i}")).collect::<Vec<_>>());
    assert_eq!(got.last(), Some(&ClientEvent::Closed(CloseReason::Kicked)));
    net.step(SWEEP_EVERY);
    assert!(net.room.sessions.is_empty());
    assert_eq!(net.room.log.len(), 0, "nobody needs the log any more");
}

#[test]
fn the_log_is_shared_and_a_reader_of_nothing_is_dropped_when_too_far_behind() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    let deaf = net.join("deaf", false);
    net.events(ann);
    // 900 bytes: 300 characters of three bytes each, the longest line.
    let line = "你".repeat(300);
    let mut said = 0u64;
    while net.room.sessions.len() == 2 {
        net.room.on_admin(AdminCmd::Say(line.clone()), net.now);
        said += 1;
        net.step(Duration::from_millis(1));
        // The deaf client's window is full; the rest of its backlog is the room's one copy.
        let deaf_s = net.room.sessions.values().find(|s| s.name == "deaf");
        assert!(deaf_s.is_none_or(|s| s.outbox.unacked() <= WINDOW as u64));
        assert!(net.room.log.bytes_from(net.room.log.start) <= MAX_BEHIND_BYTES + 2 * 1024 * 1024);
        assert!(said < 20_000, "the deaf client was never dropped");
    }
    let size = encode_event(&Event::Admin { ts: now_ms(), text: line.clone() }).len() as u64;
    assert!(said * size >= MAX_BEHIND_BYTES, "dropped after {said} lines of {size} bytes");
    net.step(PRESENCE_DELAY);
    net.step(Duration::ZERO);
    let got = net.events(ann);
    let about_deaf = |e: &&ClientEvent| match e {
        ClientEvent::Room(Event::Joined { name, .. }) => name == "deaf",
        ClientEvent::Room(Event::Left { name, reason, .. }) => {
            name == "deaf" && *reason == LeftReason::TimedOut
        }
        _ => false,
    };
    let deaf_events: Vec<_> = got.iter().filter(about_deaf).collect();
    assert_eq!(deaf_events.len(), 2, "joined once, dropped once: {deaf_events:?} of {}", got.len());
    assert!(net.clients[deaf].1.is_online(), "it heartbeated all along");
    net.step(SWEEP_EVERY);
    assert!(net.room.log.len() < 10, "{} entries kept", net.room.log.len());
}

#[test]
fn a_thousand_joins_cost_one_log_entry_each_not_one_per_user() {
    let mut net = Net::new(Config { max_clients: 2000, ..Config::default() }.unlimited());
    for i in 0..1000 {
        net.join(&format!("u{i}"), true);
    }
    for _ in 0..5 {
        net.step(PRESENCE_DELAY);
    }
    assert_eq!(net.room.users().len(), 1000);
    assert!(net.room.sessions.values().all(|s| s.outbox.is_idle() && s.cursor == net.room.log.end()));
    // Every user saw every later join exactly once.
    for i in [0, 500, 998] {
        assert_eq!(joined(&net.events(i)).len(), 999 - i, "u{i}");
    }
    net.step(SWEEP_EVERY);
    assert_eq!(net.room.log.len(), 0);
}

/// A login padded as a client pads it.
fn login(name: &str, nonce: u64, cookie: Option<u64>, resume: Option<u64>) -> Vec<u8> {
    protocol::pad_login(name, nonce, cookie, resume)
}

#[test]
fn an_unverified_login_gets_one_smaller_answer_and_nothing_is_kept() {
    let mut net = Net::new(Config { history: 50, ..Config::default() });
    let ann = net.join("ann", true);
    for i in 0..50 {
        net.clients[ann].1.request(Request::Chat(format!("{i} {}", "你".repeat(290))), net.now).unwrap();
        net.step(Duration::from_millis(300));
    }
    let victim = addr(77);
    let d = login("spoof", 5, None, None);
    let answers = net.datagram(victim, &d);
    assert_eq!(answers.len(), 1);
    assert!(answers[0].1.len() <= d.len(), "{} bytes for {}", answers[0].1.len(), d.len());
    assert!(matches!(protocol::decode(&answers[0].1), Ok(ServerMsg::Retry { nonce: 5, .. })));
    // A wrong cookie is no better.
    assert!(matches!(
        protocol::decode(&net.datagram(victim, &login("spoof", 5, Some(12345), None))[0].1),
        Ok(ServerMsg::Retry { .. })
    ));
    assert_eq!(net.room.sessions.len(), 1);
    for _ in 0..100 {
        net.step(Duration::from_millis(100));
    }
    assert_eq!(net.sent_to.get(&victim), None, "nothing else went to the victim");
    // An unpadded login is not answered at all.
    let short = protocol::encode(&ClientMsg::Login {
        name: "x".into(),
        nonce: 1,
        cookie: None,
        resume: None,
        pad: Vec::new(),
    });
    assert!(net.datagram(victim, &short).is_empty());
}

#[test]
fn a_verified_session_is_sent_at_most_three_times_its_bytes_until_it_answers() {
    let mut net = Net::new(Config { history: 50, ..Config::default() });
    let ann = net.join("ann", true);
    for i in 0..50 {
        net.clients[ann].1.request(Request::Chat(format!("{i} {}", "你".repeat(290))), net.now).unwrap();
        net.step(Duration::from_millis(300));
    }
    // An attacker that receives at its own address, but never acknowledges.
    let me = addr(80);
    let first = net.datagram(me, &login("mallory", 9, None, None));
    let Ok(ServerMsg::Retry { cookie, .. }) = protocol::decode(&first[0].1) else { panic!() };
    let mut received = 2 * LOGIN_SIZE;
    let ok = net.datagram(me, &login("mallory", 9, Some(cookie), None));
    assert!(matches!(protocol::decode(&ok[0].1), Ok(ServerMsg::LoginOk { .. })));
    let mut sent: usize = first.iter().chain(&ok).map(|(_, d)| d.len()).sum();
    for _ in 0..100 {
        net.step(Duration::from_millis(100));
    }
    sent += net.sent_to.get(&me).copied().unwrap_or(0);
    assert!(sent <= 3 * received, "{sent} bytes sent for {received}");
    // Its login again (the LoginOk lost): answered again, within the same limit.
    let again = net.datagram(me, &login("mallory", 9, Some(cookie), None));
    received += LOGIN_SIZE;
    sent += again.iter().map(|(_, d)| d.len()).sum::<usize>();
    assert_eq!(again.len(), 1);
    assert!(sent <= 3 * received);
}

#[test]
fn names_are_unique_by_skeleton_and_a_held_name_needs_its_token() {
    let mut net = Net::new(Config::default());
    net.join("alice", true);
    for (i, name) in ["Alice", "ALICE", "ａｌｉｃｅ"].iter().enumerate() {
        let c = net.join(name, true);
        let got = net.events(c);
        assert!(
            got.iter()
                .any(|e| matches!(e, ClientEvent::Closed(CloseReason::Refused(r)) if r.contains("alice"))),
            "{i} {name}: {got:?}"
        );
    }
    // A forged login with alice's name from alice's own address (no token) is refused.
    let (a, _, _) = net.clients[0];
    let first = net.datagram(a, &login("alice", 3, None, None));
    let Ok(ServerMsg::Retry { cookie, .. }) = protocol::decode(&first[0].1) else { panic!() };
    let refused = net.datagram(a, &login("alice", 3, Some(cookie), Some(12345)));
    assert!(matches!(protocol::decode(&refused[0].1), Ok(ServerMsg::LoginRefused { .. })), "{refused:?}");
    assert!(net.clients[0].1.is_online());
    assert_eq!(net.room.users(), ["alice"]);
    assert!(matches!(net.room.on_admin(AdminCmd::Kick("ALICE".into()), net.now), AdminReply::Done(_)));
}

#[test]
fn a_reconnecting_client_takes_its_name_back_and_the_others_see_nothing() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    let bob = net.join("bob", true);
    net.step(PRESENCE_QUIET);
    net.step(Duration::ZERO);
    net.events(ann);
    // Bob's client loses the server for longer than it waits (but less than the server does).
    net.cut = Some(bob);
    for _ in 0..55 {
        net.step(Duration::from_millis(100));
    }
    net.cut = None;
    for _ in 0..4 {
        net.step(Duration::from_secs(1));
    }
    assert!(net.events(bob).contains(&ClientEvent::Reconnected));
    assert_eq!(net.room.users(), ["ann", "bob"]);
    net.clients[bob].1.request(Request::Chat("back".into()), net.now).unwrap();
    net.step(Duration::ZERO);
    net.step(Duration::ZERO);
    let got = net.events(ann);
    assert_eq!(lines(&got), ["back"]);
    assert!(
        !got.iter().any(|e| matches!(e, ClientEvent::Room(Event::Joined { .. } | Event::Left { .. }))),
        "{got:?}"
    );
}

#[test]
fn a_new_address_with_a_valid_token_moves_the_session_after_a_challenge() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    let bob = net.join("bob", true);
    net.step(PRESENCE_QUIET);
    net.events(ann);
    // Bob's NAT gives him a new port.
    net.clients[bob].0 = addr(50);
    net.clients[bob].1.request(Request::Chat("after the move".into()), net.now).unwrap();
    for _ in 0..6 {
        net.step(Duration::from_millis(200));
    }
    assert_eq!(lines(&net.events(ann)), ["after the move"]);
    assert_eq!(net.room.stats().migrations, 1);
    assert_eq!(net.room.by_addr.get(&addr(50)).copied(), net.room.names.get("bob").copied());
    assert!(net.events(bob).iter().all(|e| !matches!(e, ClientEvent::Reconnecting { .. })));
}

#[test]
fn a_replayed_datagram_from_elsewhere_earns_only_a_challenge_there() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    let token = net.room.names["ann"];
    let d = protocol::encode(&ClientMsg::Data { token, seq: 1, ack: 0, reqs: vec![Request::Quit] });
    let out = net.datagram(addr(66), &d);
    assert_eq!(out.len(), 1);
    assert!(out[0].1.len() <= 3 * d.len());
    assert!(matches!(protocol::decode(&out[0].1), Ok(ServerMsg::PathChallenge { .. })));
    assert!(net.datagram(addr(66), &d).is_empty(), "not again at once");
    // A wrong answer does nothing.
    net.datagram(addr(66), &protocol::encode(&ClientMsg::PathResponse { token, challenge: 1 }));
    net.step(Duration::from_secs(1));
    assert!(net.clients[ann].1.is_online());
    assert_eq!(net.room.users(), ["ann"]);
}

#[test]
fn fast_relogins_show_the_state_not_every_change() {
    let mut net = Net::new(Config::default().unlimited());
    let ann = net.join("ann", true);
    net.step(PRESENCE_QUIET);
    net.events(ann);
    for _ in 0..30 {
        let c = net.join("flap", true);
        net.clients[c].1.request(Request::Quit, net.now).unwrap();
        for _ in 0..3 {
            net.step(Duration::from_millis(100));
        }
    }
    for _ in 0..2 {
        net.step(PRESENCE_QUIET);
    }
    let got = net.events(ann);
    let presence =
        got.iter().filter(|e| matches!(e, ClientEvent::Room(Event::Joined { .. } | Event::Left { .. })));
    let n = presence.count();
    assert!(n <= 4, "{n} notices for 30 logins and quits");
    assert!(
        matches!(
            got.iter()
                .rev()
                .find(|e| matches!(e, ClientEvent::Room(Event::Joined { .. } | Event::Left { .. }))),
            Some(ClientEvent::Room(Event::Left { .. }))
        ),
        "the last notice says flap is gone"
    );
}

#[test]
fn who_answers_one_at_a_time_and_queues_are_capped_when_filled() {
    let mut net = Net::new(Config::default().unlimited());
    let ann = net.join("ann", false);
    for i in 0..40 {
        net.join(&format!("{i}{}", "x".repeat(30)), true);
    }
    let token = net.room.names["ann"];
    for k in 0..200u64 {
        let reqs = vec![Request::Who; MAX_REQUESTS];
        let d = protocol::encode(&ClientMsg::Data { token, seq: 1 + k * MAX_REQUESTS as u64, ack: 0, reqs });
        net.datagram(addr(ann), &d);
        let s = &net.room.sessions[&token];
        assert!(s.private.len() <= 8, "{} answers queued", s.private.len());
    }
    let too_many = protocol::encode(&ClientMsg::Data {
        token,
        seq: 1,
        ack: 0,
        reqs: vec![Request::Who; MAX_REQUESTS + 1],
    });
    let before = net.room.stats().malformed;
    net.datagram(addr(ann), &too_many);
    assert_eq!(net.room.stats().malformed, before + 1);
}

#[test]
fn over_long_and_control_texts_are_refused_on_arrival_even_out_of_order() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    let bob = net.join("bob", true);
    net.step(PRESENCE_QUIET);
    net.events(bob);
    let token = net.room.names["ann"];
    let long = "x".repeat(crate::protocol::MAX_TEXT_CHARS + 1);
    // Request 2 arrives first and is kept only as its refusal.
    for (seq, text) in [(2, long.clone()), (1, "\u{1b}[2J".to_string())] {
        let d = protocol::encode(&ClientMsg::Data { token, seq, ack: 0, reqs: vec![Request::Chat(text)] });
        net.datagram(addr(ann), &d);
    }
    assert!(net.room.sessions[&token].private.len() >= 2);
    net.step(Duration::ZERO);
    net.step(Duration::ZERO);
    assert!(lines(&net.events(bob)).is_empty());
    let got = net.events(ann);
    let refused = got.iter().filter(|e| matches!(e, ClientEvent::Room(Event::Refused { .. }))).count();
    assert_eq!(refused, 2, "{got:?}");
}

#[test]
fn sessions_per_address_are_capped_and_one_socket_holds_one_session() {
    let mut net = Net::new(Config { max_per_ip: 3, ..Config::default() });
    for i in 0..3 {
        net.join(&format!("u{i}"), true);
    }
    let c = net.join("u3", true);
    let got = net.events(c);
    assert!(
        got.iter().any(
            |e| matches!(e, ClientEvent::Closed(CloseReason::Refused(r)) if r.contains("too many users"))
        ),
        "{got:?}"
    );
    // One socket, another name: refused too.
    let (a, _, _) = net.clients[0];
    let first = net.datagram(a, &login("other", 8, None, None));
    let Ok(ServerMsg::Retry { cookie, .. }) = protocol::decode(&first[0].1) else { panic!() };
    let refused = net.datagram(a, &login("other", 8, Some(cookie), None));
    assert!(
        matches!(protocol::decode(&refused[0].1), Ok(ServerMsg::LoginRefused { reason, .. }) if reason.contains("already"))
    );
}

#[test]
fn an_old_client_is_told_to_upgrade_in_few_bytes() {
    let mut net = Net::new(Config::default());
    let v1_login = [1u8, 0, 3, b'a', b'n', b'n', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let out = net.datagram(addr(5), &v1_login);
    assert_eq!(out.len(), 1);
    assert!(out[0].1.len() <= 3 * v1_login.len());
    assert!(String::from_utf8_lossy(&out[0].1).contains("upgrade"));
}

#[test]
fn a_reconnect_refused_by_a_passing_limit_tries_again_later() {
    // Two logins, then one per 20 s from the address everyone here shares.
    let mut net = Net::new(Config { login_burst: 2.0, login_rate: 0.05, ..Config::default() });
    net.join("ann", true);
    let bob = net.join("bob", true);
    net.events(bob);
    net.cut = Some(bob);
    for _ in 0..55 {
        net.step(Duration::from_millis(100));
    }
    net.cut = None;
    let mut got = Vec::new();
    for _ in 0..300 {
        net.step(Duration::from_millis(100));
        got.extend(net.events(bob));
        if got.contains(&ClientEvent::Reconnected) {
            break;
        }
    }
    assert!(!got.iter().any(|e| matches!(e, ClientEvent::Closed(_))), "{got:?}");
    assert!(got.contains(&ClientEvent::Reconnected), "{got:?}");
    assert!(net.room.stats().refused_logins >= 1, "the limit did refuse it at first");
}

#[test]
fn a_request_is_either_accepted_or_refused_by_its_id_never_both() {
    let mut net = Net::new(Config::default());
    let ann = net.join("ann", true);
    net.join("bob", true);
    net.events(ann);
    let now = net.now;
    let c = &mut net.clients[ann].1;
    let to_nobody = c.input("/msg nobody hi", now).unwrap().unwrap();
    let hello = c.input("hello", now).unwrap().unwrap();
    let to_bob = c.input("/msg bob psst", now).unwrap().unwrap();
    let mut got = Vec::new();
    for _ in 0..10 {
        net.step(Duration::from_millis(30));
        got.extend(net.events(ann));
    }
    let accepted: Vec<u64> =
        got.iter().filter_map(|e| if let ClientEvent::Accepted(id) = e { Some(*id) } else { None }).collect();
    let refused: Vec<u64> = got
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Room(Event::Refused { request, .. }) => Some(*request),
            _ => None,
        })
        .collect();
    assert_eq!(refused, [to_nobody], "{got:?}");
    assert_eq!(accepted, [hello, to_bob], "{got:?}");
    // The refusal comes before any acknowledgement past it.
    let refused_at = got.iter().position(|e| matches!(e, ClientEvent::Room(Event::Refused { .. })));
    let first_accept = got.iter().position(|e| matches!(e, ClientEvent::Accepted(_)));
    assert!(refused_at < first_accept, "{got:?}");
}
