//! The room driven through whole sessions: logins, lines, private lines, `/who`, quits, acks
//! (right, stale, ahead, lost), kicks, admin lines, shutdown and time passing, in any order.
//! Nothing panics, every datagram the server sends decodes and fits the limit, and the room's
//! user list always matches the logins and removals it saw.
#![no_main]

use chat_core::protocol::{ClientMsg, MAX_DATAGRAM, Request, ServerMsg, decode, encode};
use chat_core::server::{AdminCmd, Config, Room};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const USERS: u8 = 6;

fuzz_target!(|data: &[u8]| {
    let cfg = Config { history: 3, max_clients: 4, burst: 3.0, ..Config::default() };
    let mut room = Room::new(cfg);
    let mut now = Instant::now();
    let addr =
        |u: u8| -> SocketAddr { format!("127.0.0.1:{}", 5000 + u16::from(u % USERS)).parse().unwrap() };
    let mut tokens: HashMap<SocketAddr, u64> = HashMap::new();
    // Per user: the next request number, and the highest event number seen.
    let mut seqs: HashMap<SocketAddr, u64> = HashMap::new();
    let mut seen: HashMap<SocketAddr, u64> = HashMap::new();
    for op in data.chunks(3) {
        let [kind, u, arg] = *op else { break };
        let a = addr(u);
        let token = tokens.get(&a).copied().unwrap_or(0);
        let mut request = |r: Request| {
            let seq = seqs.entry(a).or_insert(1);
            let msg =
                ClientMsg::Data { token, seq: *seq, ack: seen.get(&a).copied().unwrap_or(0), reqs: vec![r] };
            *seq += 1;
            encode(&msg)
        };
        match kind % 12 {
            0 => room.on_datagram(
                a,
                &encode(&ClientMsg::Login { name: format!("u{}", u % USERS), nonce: 7 }),
                now,
            ),
            1 => room.on_datagram(a, &request(Request::Chat("x".repeat(usize::from(arg) * 4))), now),
            2 => room.on_datagram(
                a,
                &request(Request::Private { to: format!("u{}", arg % USERS), text: "p".into() }),
                now,
            ),
            3 => room.on_datagram(a, &request(Request::Who), now),
            4 => room.on_datagram(a, &request(Request::Quit), now),
            5 => {
                // An acknowledgement: of what arrived, or a stale or impossible one.
                let ack = match arg % 3 {
                    0 => seen.get(&a).copied().unwrap_or(0),
                    1 => u64::from(arg),
                    _ => u64::MAX - u64::from(arg),
                };
                room.on_datagram(a, &encode(&ClientMsg::Ack { token, ack }), now);
            }
            6 => {
                room.on_admin(AdminCmd::Say(format!("admin {arg}")), now);
            }
            7 => {
                room.on_admin(AdminCmd::Kick(format!("u{}", arg % USERS)), now);
            }
            8 => now += Duration::from_millis(u64::from(arg) * 10),
            9 => now += Duration::from_secs(u64::from(arg % 16)),
            10 if arg == 255 => {
                room.on_admin(AdminCmd::Shutdown, now);
            }
            _ => {}
        }
        room.on_tick(now);
        for (to, d) in room.take_output() {
            assert!(d.len() <= MAX_DATAGRAM, "a datagram of {} bytes", d.len());
            match decode::<ServerMsg>(&d).expect("the server sends only valid datagrams") {
                ServerMsg::LoginOk { token, .. } => {
                    if tokens.insert(to, token) != Some(token) {
                        seqs.insert(to, 1);
                        seen.insert(to, 0);
                    }
                }
                ServerMsg::Data { seq, events, .. } => {
                    // In order only, as a client would acknowledge.
                    let have = seen.entry(to).or_insert(0);
                    if seq <= *have + 1 {
                        *have = (*have).max(seq + events.len() as u64 - 1);
                    }
                }
                _ => {}
            }
        }
        assert!(room.users().len() <= 4);
    }
});
