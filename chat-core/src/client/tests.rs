//! The session state machine against a fake server.

use super::*;

/// A client logged in over a fake server; returns it with its token and tag.
fn online() -> (Client, u64, u64, Instant) {
    let now = Instant::now();
    let mut c = Client::new("ann", now).unwrap();
    let Ok(ClientMsg::Login { nonce, cookie: None, .. }) = protocol::decode(&c.take_output()[0]) else {
        panic!("a login first")
    };
    c.on_datagram(&protocol::encode(&ServerMsg::Retry { nonce, cookie: 42 }), now);
    let again = c.take_output();
    assert_eq!(again[0].len(), protocol::LOGIN_SIZE);
    assert!(matches!(protocol::decode(&again[0]), Ok(ClientMsg::Login { cookie: Some(42), .. })));
    c.on_datagram(
        &protocol::encode(&ServerMsg::LoginOk { nonce, token: 7, tag: 99, burst: 20, per_sec: 5 }),
        now,
    );
    assert!(c.is_online());
    assert!(
        matches!(protocol::decode(&c.take_output()[0]), Ok(ClientMsg::Ack { token: 7, .. })),
        "the LoginOk is confirmed at once"
    );
    assert_eq!(c.take_events(), [ClientEvent::Connected]);
    (c, 7, 99, now)
}

#[test]
fn datagrams_without_the_sessions_tag_are_dropped() {
    let (mut c, token, tag, now) = online();
    let forged = [
        ServerMsg::Data {
            tag: tag + 1,
            seq: 1,
            ack: 0,
            upto: 1,
            events: vec![Event::Admin { ts: 0, text: "server moving".into() }],
        },
        ServerMsg::Data { tag: 0, seq: 1, ack: 0, upto: 1, events: vec![Event::Kicked] },
        ServerMsg::UnknownSession { echo: protocol::echo_of(token) ^ 1 },
        ServerMsg::PathChallenge { tag: 1, challenge: 5 },
        ServerMsg::LoginRefused { nonce: 0, reason: "x".into(), retry_after_ms: 0 },
    ];
    for m in &forged {
        c.on_datagram(&protocol::encode(m), now);
    }
    assert!(c.take_events().is_empty());
    assert!(c.is_online());
    assert!(c.take_output().is_empty(), "no answer to any of them");
    // The real ones are taken.
    let line = Event::Line { ts: 0, from: "bob".into(), text: "hi".into(), history: false };
    c.on_datagram(
        &protocol::encode(&ServerMsg::Data { tag, seq: 1, ack: 0, upto: 1, events: vec![line.clone()] }),
        now,
    );
    assert_eq!(c.take_events(), [ClientEvent::Room(line)]);
    c.on_datagram(&protocol::encode(&ServerMsg::PathChallenge { tag, challenge: 5 }), now);
    c.on_datagram(&protocol::encode(&ServerMsg::PathChallenge { tag, challenge: 5 }), now);
    assert_eq!(c.take_events(), [ClientEvent::AddressChanged], "told once");
    assert!(
        c.take_output()
            .iter()
            .any(|d| matches!(protocol::decode(d), Ok(ClientMsg::PathResponse { token: 7, challenge: 5 })))
    );
    c.on_datagram(&protocol::encode(&ServerMsg::UnknownSession { echo: protocol::echo_of(token) }), now);
    assert_eq!(c.take_events()[0], ClientEvent::Reconnecting { retry_in: Duration::ZERO });
}

#[test]
fn a_reconnect_proves_the_name_with_the_old_token() {
    let (mut c, token, _, now) = online();
    c.on_tick(now + SERVER_SILENCE + Duration::from_millis(1));
    let logins: Vec<_> =
        c.take_output().iter().filter_map(|d| protocol::decode::<ClientMsg>(d).ok()).collect();
    assert!(
        logins.iter().any(|m| matches!(m, ClientMsg::Login { resume: Some(t), .. } if *t == token)),
        "{logins:?}"
    );
}

fn sent_requests(c: &mut Client) -> Vec<Request> {
    c.take_output()
        .iter()
        .filter_map(|d| match protocol::decode::<ClientMsg>(d) {
            Ok(ClientMsg::Data { reqs, .. }) => Some(reqs),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn commands_people_know() {
    let (mut c, _, _, now) = online();
    c.input("/help", now).unwrap();
    assert!(matches!(&c.take_events()[..], [ClientEvent::Notice(h)] if h.contains("/msg")));
    c.input("/who   ", now).unwrap();
    c.input("/me waves  at you", now).unwrap();
    c.input("/msg bob  hi there", now).unwrap();
    c.input("//etc/passwd", now).unwrap();
    c.input("quit is a word", now).unwrap();
    c.on_tick(now);
    assert_eq!(
        sent_requests(&mut c),
        [
            Request::Who,
            Request::Action("waves  at you".into()),
            Request::Private { to: "bob".into(), text: "hi there".into() },
            Request::Chat("/etc/passwd".into()),
            Request::Chat("quit is a word".into()),
        ]
    );
    for bad in ["/msg bob", "/me", "/nick ann2", "/frobnicate"] {
        let e = c.input(bad, now).unwrap_err();
        assert!(!e.is_empty(), "{bad}");
    }
    assert!(c.input("/frobnicate", now).unwrap_err().contains("/help"));
    c.input("/quit see you", now).unwrap();
    assert!(c.input("more", now).is_err(), "nothing after a quit");
    c.on_tick(now);
    assert_eq!(sent_requests(&mut c), [Request::Chat("see you".into()), Request::Quit]);
}

#[test]
fn a_pasted_burst_is_paced_within_the_servers_limit_and_the_quit_waits_its_turn() {
    let (mut c, _, _, t0) = online();
    for i in 0..40 {
        c.input(&format!("line {i}"), t0).unwrap();
    }
    c.input("/quit", t0).unwrap();
    let mut now = t0;
    let mut sent = Vec::new();
    // The server's bucket (20 at once, then 5 a second) never runs dry.
    let mut server_tokens = 20.0f64;
    while now < t0 + Duration::from_secs(20) {
        c.on_tick(now);
        for r in sent_requests(&mut c) {
            if r != Request::Quit {
                assert!(server_tokens >= 1.0, "request {} would be refused", sent.len());
                server_tokens -= 1.0;
            }
            sent.push(r);
        }
        // Acknowledge everything, as the server would.
        let d = protocol::encode(&ServerMsg::Ack { tag: c.tag, ack: u64::MAX, upto: 0 });
        c.on_datagram(&d, now);
        now += Duration::from_millis(10);
        server_tokens = (server_tokens + 0.05).min(20.0);
    }
    let want: Vec<Request> =
        (0..40).map(|i| Request::Chat(format!("line {i}"))).chain([Request::Quit]).collect();
    assert_eq!(sent, want, "all forty, in order, then the quit");
    assert!(now >= t0 + Duration::from_secs(4), "twenty at once, twenty at the rate");
}
