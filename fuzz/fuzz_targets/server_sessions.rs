//! The room driven through whole sessions: logins (with and without the cookie round trip,
//! with right and wrong cookies and resume tokens), lines, private lines, `/who`, quits, acks
//! (right, stale, ahead, lost), address changes and path responses, kicks, admin lines,
//! shutdown and time passing, in any order. Nothing panics, every datagram the server sends
//! decodes, fits the limit and (past the login) carries the session's tag, and the room never
//! holds more users than allowed.
#![no_main]

use chat_core::protocol::{ClientMsg, MAX_DATAGRAM, Request, ServerMsg, decode, encode, pad_login};
use chat_core::server::{AdminCmd, Config, Room};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const USERS: u8 = 6;

#[derive(Default, Clone, Copy)]
struct User {
    token: u64,
    tag: u64,
    cookie: Option<u64>,
    challenge: u64,
    /// The next request number, and the highest event number seen.
    seq: u64,
    seen: u64,
}

fuzz_target!(|data: &[u8]| {
    let cfg = Config { history: 3, max_clients: 4, max_per_ip: 5, burst: 3.0, ..Config::default() };
    let mut room = Room::new(cfg);
    let mut now = Instant::now();
    let addr = |u: u8, moved: bool| -> SocketAddr {
        format!("127.0.0.{}:{}", 1 + u8::from(moved), 5000 + u16::from(u % USERS)).parse().unwrap()
    };
    let mut users: HashMap<u8, User> = HashMap::new();
    // Every tag each user's sessions were given (a leaving session still sends with its own).
    let mut tags: HashMap<u8, Vec<u64>> = HashMap::new();
    for op in data.chunks(3) {
        let [kind, u, arg] = *op else { break };
        let id = u % USERS;
        let moved = arg & 0x80 != 0 && kind % 16 >= 12;
        let a = addr(id, moved);
        let me = users.get(&id).copied().unwrap_or_default();
        let token = me.token;
        let mut request = |r: Request| {
            let e = users.entry(id).or_default();
            e.seq += 1;
            encode(&ClientMsg::Data { token, seq: e.seq, ack: e.seen, reqs: vec![r] })
        };
        let d = match kind % 16 {
            0 => Some(pad_login(&format!("u{id}"), 7, me.cookie, None)),
            1 => Some(pad_login(&format!("u{id}"), 7, Some(u64::from(arg)), Some(u64::from(arg)))),
            2 => Some(pad_login(&format!("u{id}"), 7, me.cookie, Some(token))),
            3 => Some(request(Request::Chat("x".repeat(usize::from(arg) * 4)))),
            4 => Some(request(Request::Private { to: format!("u{}", arg % USERS), text: "p".into() })),
            5 => Some(request(Request::Who)),
            6 => Some(request(Request::Quit)),
            7 => {
                // An acknowledgement: of what arrived, or a stale or impossible one.
                let ack = match arg % 3 {
                    0 => me.seen,
                    1 => u64::from(arg),
                    _ => u64::MAX - u64::from(arg),
                };
                Some(encode(&ClientMsg::Ack { token, ack }))
            }
            8 => {
                room.on_admin(AdminCmd::Say(format!("admin {arg}")), now);
                None
            }
            9 => {
                room.on_admin(AdminCmd::Kick(format!("U{}", arg % USERS)), now);
                None
            }
            10 => {
                now += Duration::from_millis(u64::from(arg) * 10);
                None
            }
            11 => {
                now += Duration::from_secs(u64::from(arg % 16));
                None
            }
            12 => Some(encode(&ClientMsg::Ack { token, ack: me.seen })),
            13 => Some(encode(&ClientMsg::PathResponse { token, challenge: me.challenge })),
            14 if arg == 255 => {
                room.on_admin(AdminCmd::Shutdown, now);
                None
            }
            _ => None,
        };
        let mut out: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        if let Some(d) = d {
            room.on_datagram(a, &d, now, &mut |to, d| out.push((to, d.to_vec())));
        }
        room.on_tick(now, &mut |to, d| out.push((to, d.to_vec())));
        for (to, d) in out {
            assert!(d.len() <= MAX_DATAGRAM, "a datagram of {} bytes", d.len());
            let port = to.port().wrapping_sub(5000) as u8;
            let e = users.entry(port).or_default();
            match decode::<ServerMsg>(&d).expect("the server sends only valid datagrams") {
                ServerMsg::Retry { cookie, .. } => e.cookie = Some(cookie),
                ServerMsg::LoginOk { token, tag, .. } => {
                    tags.entry(port).or_default().push(tag);
                    if e.token != token {
                        *e = User { token, tag, cookie: e.cookie, ..User::default() };
                    }
                }
                ServerMsg::Data { tag, seq, events, .. } => {
                    assert!(tags[&port].contains(&tag), "a datagram without a session's tag");
                    // In order only, as a client would acknowledge.
                    if seq <= e.seen + 1 {
                        e.seen = e.seen.max(seq + events.len() as u64 - 1);
                    }
                }
                ServerMsg::Ack { tag, .. } => assert!(tags[&port].contains(&tag)),
                ServerMsg::PathChallenge { tag, challenge } => {
                    assert!(tags[&port].contains(&tag));
                    e.challenge = challenge;
                }
                _ => {}
            }
        }
        assert!(room.users().len() <= 4);
    }
});
