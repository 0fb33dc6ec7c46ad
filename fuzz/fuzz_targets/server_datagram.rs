//! The server's datagram handler: arbitrary datagrams from arbitrary addresses, interleaved
//! with a real login (cookie round trip included), never panic; every one that does not decode
//! or breaks a protocol limit is counted; nothing the server sends to an address that has not
//! logged in is larger than what that address sent (three times, for a path challenge).
#![no_main]

use chat_core::protocol::{
    self, ClientMsg, DecodeError, LOGIN_SIZE, MAX_REQUESTS, ServerMsg, decode, pad_login,
};
use chat_core::server::{Config, Room};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let mut room = Room::new(Config::default());
    let now = Instant::now();
    let user: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut out: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    room.on_datagram(user, &pad_login("ann", 1, None, None), now, &mut |a, d| out.push((a, d.to_vec())));
    let Some(Ok(ServerMsg::Retry { cookie, .. })) = out.pop().map(|(_, d)| decode(&d)) else {
        panic!("no cookie")
    };
    room.on_datagram(user, &pad_login("ann", 1, Some(cookie), None), now, &mut |a, d| {
        out.push((a, d.to_vec()))
    });
    assert!(matches!(out.pop().map(|(_, d)| decode(&d)), Some(Ok(ServerMsg::LoginOk { .. }))));
    let mut malformed = 0;
    // Bytes each address sent, and was sent, while not logged in.
    let mut got: HashMap<SocketAddr, usize> = HashMap::new();
    let mut gave: HashMap<SocketAddr, usize> = HashMap::new();
    // The input is a sequence of datagrams: a length byte, a port byte, then the bytes.
    let mut rest = data;
    let mut t = now;
    while let [len, port, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (d, next) = tail.split_at(n);
        let from: SocketAddr = format!("127.0.0.1:{}", 4001 + u16::from(*port % 4)).parse().unwrap();
        match decode::<ClientMsg>(d) {
            Err(DecodeError::Version(Some(1))) => {}
            Err(_) => malformed += 1,
            Ok(ClientMsg::Login { .. }) if d.len() < LOGIN_SIZE => malformed += 1,
            Ok(ClientMsg::Data { reqs, .. }) if reqs.len() > MAX_REQUESTS => malformed += 1,
            Ok(_) => {}
        }
        *got.entry(from).or_insert(0) += d.len();
        let mut send = |a: SocketAddr, d: &[u8]| {
            assert!(d.len() <= protocol::MAX_DATAGRAM);
            *gave.entry(a).or_insert(0) += d.len();
        };
        room.on_datagram(from, d, t, &mut send);
        t += Duration::from_millis(u64::from(*port));
        room.on_tick(t, &mut send);
        rest = next;
    }
    assert_eq!(room.stats().malformed, malformed);
    for (a, sent) in gave {
        if a != user {
            assert!(sent <= 3 * got.get(&a).copied().unwrap_or(0), "{sent} bytes to {a}");
        }
    }
});
