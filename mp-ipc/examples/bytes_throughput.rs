//! Quick throughput check: 1 MiB messages through a pipe as a typed `Vec<u8>` (serde sends it
//! byte by byte), as [`Bytes`] (one block), and as raw bytes (`send_bytes` + `recv_bytes` /
//! `recv_bytes_into`). One writer thread, the reader on the main thread.
//!
//! Run: `cargo run --release -p mp-ipc --example bytes_throughput [messages]`

use mp_ipc::{Bytes, Connection, Pipe};
use std::time::Instant;

const SIZE: usize = 1 << 20;

fn run(label: &str, n: usize, send: fn(&Connection, &Bytes), recv: fn(&mut Connection, &mut Vec<u8>)) {
    let (mut rx, tx) = Pipe::duplex().expect("socketpair");
    let data = Bytes((0..SIZE).map(|i| (i % 251) as u8).collect());
    let mut sink = vec![0u8; SIZE + 64];
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..n {
                send(&tx, &data);
            }
        });
        for _ in 0..n {
            recv(&mut rx, &mut sink);
        }
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{label:<34} {:>8.0} MB/s  ({:.1} ms per MiB)",
        (n * SIZE) as f64 / secs / 1e6,
        secs * 1e3 / n as f64
    );
}

fn main() {
    let n = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    println!("{n} messages of 1 MiB through a socketpair (Pipe::duplex)");
    for _ in 0..2 {
        run(
            "typed Vec<u8> (send/recv)",
            n,
            |tx, d| tx.send(&d.0).expect("send"),
            |rx, _| assert_eq!(rx.recv::<Vec<u8>>().expect("recv").len(), SIZE),
        );
        run(
            "Bytes (send/recv)",
            n,
            |tx, d| tx.send(d).expect("send"),
            |rx, _| assert_eq!(rx.recv::<Bytes>().expect("recv").len(), SIZE),
        );
        run(
            "raw send_bytes / recv_bytes",
            n,
            |tx, d| tx.send_bytes(&d.0).expect("send"),
            |rx, _| assert_eq!(rx.recv_bytes().expect("recv").len(), SIZE),
        );
        run(
            "raw send_bytes / recv_bytes_into",
            n,
            |tx, d| tx.send_bytes(&d.0).expect("send"),
            |rx, buf| assert_eq!(rx.recv_bytes_into(buf).expect("recv"), SIZE),
        );
    }
}
