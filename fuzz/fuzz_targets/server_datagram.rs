//! The server's datagram handler: arbitrary datagrams from arbitrary addresses, interleaved
//! with a real login, never panic, and every one that does not decode is counted.
#![no_main]

use chat_core::protocol::{ClientMsg, decode, encode};
use chat_core::server::{Config, Room};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let mut room = Room::new(Config::default());
    let now = Instant::now();
    let user: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    room.on_datagram(user, &encode(&ClientMsg::Login { name: "ann".into(), nonce: 1 }), now);
    let mut malformed = 0;
    // The input is a sequence of datagrams: a length byte, a port byte, then the bytes.
    let mut rest = data;
    let mut t = now;
    while let [len, port, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (d, next) = tail.split_at(n);
        let from: SocketAddr = format!("127.0.0.1:{}", 4000 + u16::from(*port % 4)).parse().unwrap();
        if decode::<ClientMsg>(d).is_err() {
            malformed += 1;
        }
        room.on_datagram(from, d, t);
        t += Duration::from_millis(u64::from(*port));
        room.on_tick(t);
        let _ = room.take_output();
        rest = next;
    }
    assert_eq!(room.stats().malformed, malformed);
});
