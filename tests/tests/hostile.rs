//! The chat over a hostile network: a lossy, duplicating, reordering proxy between real clients
//! and a real server; malformed datagrams; replays from another address.

use chat_core::client::ClientEvent;
use chat_core::protocol::{self, ClientMsg, Event, Request};
use chat_core::server::{Config, HostedRoom};
use mp_tests::chatbench::{Sim, login_all, raw_login};
use mp_tests::testutil::{Rng, udp_drops};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn open_room() -> HostedRoom {
    let cfg = Config { history: 0, timeout: Duration::from_secs(60), ..Config::default() }.unlimited();
    HostedRoom::start("127.0.0.1:0".parse().unwrap(), cfg).expect("room")
}

/// Counts of what the proxy did.
#[derive(Default)]
struct ProxyStats {
    forwarded: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    delayed: AtomicU64,
}

/// A UDP proxy on loopback: one upstream socket per client, so that the server sees each
/// client at its own address. Loses, duplicates and delays (reorders) datagrams both ways.
struct Proxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<ProxyStats>,
    /// Client → server datagrams, for replays.
    captured: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(server: SocketAddr, loss: u64, dup: u64, reorder: u64, seed: u64) -> Proxy {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        front.set_nonblocking(true).unwrap();
        let addr = front.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ProxyStats::default());
        let captured = Arc::new(Mutex::new(Vec::new()));
        let (stop2, stats2, captured2) = (stop.clone(), stats.clone(), captured.clone());
        let thread = std::thread::spawn(move || {
            let mut rng = Rng(seed | 1);
            let mut up: Vec<(SocketAddr, UdpSocket)> = Vec::new();
            let mut by_client: HashMap<SocketAddr, usize> = HashMap::new();
            // (due, upstream index or None for "to client", destination, bytes)
            let mut held: VecDeque<(Instant, Option<usize>, SocketAddr, Vec<u8>)> = VecDeque::new();
            let mut buf = vec![0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                let mut fds: Vec<&dyn AsFd> = vec![&front];
                fds.extend(up.iter().map(|(_, s)| s as &dyn AsFd));
                let ready =
                    mp_core::mp_ipc::wait_readable(&fds, Some(Duration::from_millis(2))).unwrap_or_default();
                let now = Instant::now();
                let mut incoming: Vec<(Option<usize>, SocketAddr, Vec<u8>)> = Vec::new();
                for i in ready {
                    if i == 0 {
                        while let Ok((n, from)) = front.recv_from(&mut buf) {
                            let k = *by_client.entry(from).or_insert_with(|| {
                                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                                s.connect(server).unwrap();
                                s.set_nonblocking(true).unwrap();
                                up.push((from, s));
                                up.len() - 1
                            });
                            captured2.lock().unwrap().push(buf[..n].to_vec());
                            incoming.push((Some(k), server, buf[..n].to_vec()));
                        }
                    } else {
                        let (client, s) = &up[i - 1];
                        while let Ok(n) = s.recv(&mut buf) {
                            incoming.push((None, *client, buf[..n].to_vec()));
                        }
                    }
                }
                for (via, to, d) in incoming {
                    if rng.percent(loss) {
                        stats2.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let copies = if rng.percent(dup) {
                        stats2.duplicated.fetch_add(1, Ordering::Relaxed);
                        2
                    } else {
                        1
                    };
                    for _ in 0..copies {
                        let delay = if rng.percent(reorder) {
                            stats2.delayed.fetch_add(1, Ordering::Relaxed);
                            Duration::from_millis(1 + rng.next_u64() % 30)
                        } else {
                            Duration::ZERO
                        };
                        held.push_back((now + delay, via, to, d.clone()));
                    }
                }
                let now = Instant::now();
                let mut keep = VecDeque::new();
                for (due, via, to, d) in held.drain(..) {
                    if due > now {
                        keep.push_back((due, via, to, d));
                        continue;
                    }
                    stats2.forwarded.fetch_add(1, Ordering::Relaxed);
                    match via {
                        Some(k) => {
                            let _ = up[k].1.send(&d);
                        }
                        None => {
                            let _ = front.send_to(&d, to);
                        }
                    }
                }
                held = keep;
            }
        });
        Proxy { addr, stop, stats, captured, thread: Some(thread) }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Drives `sims` until `done` holds or the deadline passes; collects each one's chat lines.
fn drive(
    sims: &mut [Sim],
    lines: &mut [Vec<String>],
    limit: Duration,
    done: impl Fn(&[Vec<String>]) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        let fds: Vec<&dyn AsFd> = sims.iter().map(|s| s.socket() as &dyn AsFd).collect();
        let _ = mp_core::mp_ipc::wait_readable(&fds, Some(Duration::from_millis(5)));
        let now = Instant::now();
        for (i, s) in sims.iter_mut().enumerate() {
            for e in s.pump(now) {
                if let ClientEvent::Room(Event::Line { from, text, .. }) = e {
                    lines[i].push(format!("{from}:{text}"));
                }
            }
        }
        if done(lines) {
            return;
        }
        assert!(Instant::now() < deadline, "not all lines arrived within {limit:?}");
    }
}

#[test]
fn ten_clients_over_a_lossy_duplicating_reordering_network() {
    const CLIENTS: usize = 10;
    const LINES: usize = 200;
    let room = open_room();
    let proxy = Proxy::start(room.addr(), 10, 5, 10, 0xC0FFEE);
    let mut sims: Vec<Sim> = (0..CLIENTS).map(|i| Sim::new(proxy.addr, &format!("c{i}"))).collect();
    login_all(&mut sims);
    let t = Instant::now();
    // Everyone sends, interleaved.
    for k in 0..LINES {
        for (i, s) in sims.iter_mut().enumerate() {
            s.client.request(Request::Chat(format!("line {k} from {i}")), Instant::now()).unwrap();
        }
    }
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); CLIENTS];
    // Late joiners' "joined" events are not lines; every client expects everyone else's lines.
    let want = (CLIENTS - 1) * LINES;
    drive(&mut sims, &mut lines, Duration::from_secs(120), |l| l.iter().all(|v| v.len() >= want));
    for (i, v) in lines.iter().enumerate() {
        let mut sorted = v.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), v.len(), "client {i} got a line twice");
        assert_eq!(v.len(), want, "client {i}");
        assert!(v.iter().all(|l| !l.starts_with(&format!("c{i}:"))), "no own lines back");
    }
    // One order: any two clients see the lines of the others in the same order.
    for a in 0..CLIENTS {
        for b in a + 1..CLIENTS {
            let keep = |l: &&String| !l.starts_with(&format!("c{a}:")) && !l.starts_with(&format!("c{b}:"));
            let va: Vec<&String> = lines[a].iter().filter(keep).collect();
            let vb: Vec<&String> = lines[b].iter().filter(keep).collect();
            assert_eq!(va, vb, "clients {a} and {b} disagree on the order");
        }
    }
    let s = &proxy.stats;
    eprintln!(
        "lossy network: {CLIENTS} clients x {LINES} lines, {} deliveries checked in {:?}; proxy forwarded {}, dropped {}, duplicated {}, delayed {}",
        CLIENTS * want,
        t.elapsed(),
        s.forwarded.load(Ordering::Relaxed),
        s.dropped.load(Ordering::Relaxed),
        s.duplicated.load(Ordering::Relaxed),
        s.delayed.load(Ordering::Relaxed)
    );
}

#[test]
fn malformed_datagrams_are_dropped_and_counted_while_the_chat_goes_on() {
    let mut room = open_room();
    let server = room.addr();
    let mut sims: Vec<Sim> = (0..3).map(|i| Sim::new(server, &format!("m{i}"))).collect();
    login_all(&mut sims);
    // Real datagrams to mutate: what a client sends.
    let real: Vec<Vec<u8>> = vec![
        protocol::encode(&ClientMsg::Data {
            token: 1,
            seq: 1,
            ack: 0,
            reqs: vec![Request::Chat("hello".into())],
        }),
        protocol::encode(&ClientMsg::Ack { token: 2, ack: 7 }),
        protocol::encode(&ClientMsg::Data {
            token: 3,
            seq: 9,
            ack: 4,
            reqs: vec![Request::Quit, Request::Who],
        }),
    ];
    let before = room.stats().unwrap();
    let drops_before = udp_drops(server);
    let junk_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    junk_socket.set_nonblocking(true).unwrap();
    let mut rng = Rng(0xBADC0DE);
    let mut sent = 0u64;
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); 3];
    let mut k = 0;
    while sent < 100_000 {
        let d = match rng.next_u64() % 3 {
            0 => (0..rng.next_u64() % 1300).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>(),
            1 => {
                let r = &real[(rng.next_u64() % 3) as usize];
                r[..(rng.next_u64() as usize % r.len())].to_vec()
            }
            _ => {
                let mut r = real[(rng.next_u64() % 3) as usize].clone();
                let bit = rng.next_u64() as usize % (r.len() * 8);
                r[bit / 8] ^= 1 << (bit % 8);
                r
            }
        };
        // A well-formed login from the junk socket would be a real (new) user, not junk.
        if matches!(protocol::decode::<ClientMsg>(&d), Ok(ClientMsg::Login { .. })) {
            continue;
        }
        if junk_socket.send_to(&d, server).is_ok() {
            sent += 1;
        }
        if sent.is_multiple_of(1000) {
            // Keep chatting meanwhile, and keep the receive buffers drained.
            for (i, s) in sims.iter_mut().enumerate() {
                if k < 20 {
                    s.client.request(Request::Chat(format!("during {k} from {i}")), Instant::now()).unwrap();
                }
            }
            k += 1;
            let mut b = [0u8; 2048];
            while junk_socket.recv_from(&mut b).is_ok() {}
            drive(&mut sims, &mut lines, Duration::from_secs(60), |_| true);
            std::thread::sleep(Duration::from_millis(1));
        } else if sent.is_multiple_of(250) {
            // Paced, so that the server's receive buffer rarely overflows on a busy machine.
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    drive(&mut sims, &mut lines, Duration::from_secs(60), |l| l.iter().all(|v| v.len() >= 2 * 20));
    for v in &lines {
        assert_eq!(v.len(), 40, "every line of the two others, once");
    }
    // The server is alive and counted every junk datagram that reached it: on loopback nothing
    // is lost except what the kernel drops at a full receive buffer, which it counts too.
    let after = room.stats().unwrap();
    let counted = (after.malformed - before.malformed) + (after.rejected - before.rejected);
    let kernel_drops = udp_drops(server) - drops_before;
    eprintln!(
        "malformed: sent {sent}, counted {counted} (malformed {}, rejected {}), dropped by the kernel {kernel_drops}",
        after.malformed - before.malformed,
        after.rejected - before.rejected
    );
    assert!(counted <= sent);
    // The kernel's drops may include some of the clients' own datagrams as well.
    assert!(
        counted + kernel_drops >= sent,
        "{} junk datagrams unaccounted for",
        sent - counted - kernel_drops
    );
    assert!(counted >= sent * 9 / 10, "counted {counted} of {sent}");
}

#[test]
fn datagrams_replayed_from_another_address_have_no_effect() {
    let mut room = open_room();
    let proxy = Proxy::start(room.addr(), 0, 0, 0, 1);
    let mut sims: Vec<Sim> = (0..2).map(|i| Sim::new(proxy.addr, &format!("r{i}"))).collect();
    login_all(&mut sims);
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); 2];
    for k in 0..5 {
        sims[0].client.request(Request::Chat(format!("once {k}")), Instant::now()).unwrap();
    }
    drive(&mut sims, &mut lines, Duration::from_secs(30), |l| l[1].len() >= 5);
    // A quit, captured too (sent by a third user who then really leaves).
    let mut leaver = Sim::new(proxy.addr, "leaver");
    login_all(std::slice::from_mut(&mut leaver));
    leaver.client.request(Request::Quit, Instant::now()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !leaver.client.is_closed() && Instant::now() < deadline {
        leaver.pump(Instant::now());
        std::thread::sleep(Duration::from_millis(5));
    }
    let captured = proxy.captured.lock().unwrap().clone();
    let before = room.stats().unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut replayed = 0;
    for d in &captured {
        if !matches!(protocol::decode::<ClientMsg>(d), Ok(ClientMsg::Login { .. })) {
            other.send_to(d, room.addr()).unwrap();
            replayed += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    drive(&mut sims, &mut lines, Duration::from_secs(5), |_| true);
    let after = room.stats().unwrap();
    assert_eq!(after.rejected - before.rejected, replayed, "every replayed datagram was rejected");
    assert_eq!(lines[1].len(), 5, "no chat line twice: {:?}", lines[1]);
    // r0 is still in the room: its replayed datagrams did not make it quit.
    sims[1].client.request(Request::Chat("still here?".into()), Instant::now()).unwrap();
    drive(&mut sims, &mut lines, Duration::from_secs(30), |l| {
        l[0].iter().any(|x| x.ends_with("still here?"))
    });
    eprintln!("replay: {replayed} captured datagrams replayed from another address, all rejected");
}

#[test]
fn a_flooding_client_is_limited_and_the_others_lines_arrive_within_a_second() {
    // The default rate limit per user (a burst of 20 lines, then 5 per second). Everyone here
    // shares 127.0.0.1, so the limit per address is lifted: it would throttle ann and bob too.
    let cfg = Config { ip_burst: 1e12, ip_rate: 1e12, ..Config::default() };
    let mut room = HostedRoom::start("127.0.0.1:0".parse().unwrap(), cfg).expect("room");
    let server = room.addr();
    let mut sims: Vec<Sim> = ["ann", "bob"].iter().map(|n| Sim::new(server, n)).collect();
    login_all(&mut sims);
    // The flooder logs in by hand, then sends numbered chat requests as fast as it can, ten to
    // a datagram, never reading or acknowledging anything.
    let flooder = UdpSocket::bind("127.0.0.1:0").unwrap();
    flooder.connect(server).unwrap();
    let (token, _) = raw_login(&flooder, "flood");
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seq = 1u64;
            let mut datagrams = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let reqs: Vec<Request> =
                    (0..10).map(|i| Request::Chat(format!("flood {}", seq + i))).collect();
                let d = protocol::encode(&ClientMsg::Data { token, seq, ack: 0, reqs });
                if flooder.send(&d).is_ok() {
                    seq += 10;
                    datagrams += 1;
                }
            }
            (seq - 1, datagrams)
        })
    };
    // Meanwhile ann and bob take turns: one line every 50 ms for 3 s, each timed to arrival.
    let t0 = Instant::now();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut worst = Duration::ZERO;
    let mut arrived = 0;
    let mut flood_lines = 0;
    let mut k = 0;
    let mut next = t0;
    while k < 60 || arrived < 60 {
        assert!(t0.elapsed() < Duration::from_secs(30), "lines lost: {arrived} of 60 arrived");
        let now = Instant::now();
        if k < 60 && now >= next {
            let text = format!("turn {k}");
            sims[k % 2].client.request(Request::Chat(text.clone()), now).unwrap();
            sent_at.insert(text, now);
            k += 1;
            next += Duration::from_millis(50);
        }
        let fds: Vec<&dyn AsFd> = sims.iter().map(|s| s.socket() as &dyn AsFd).collect();
        let _ = mp_core::mp_ipc::wait_readable(&fds, Some(Duration::from_millis(2)));
        let now = Instant::now();
        for s in sims.iter_mut() {
            for e in s.pump(now) {
                if let ClientEvent::Room(Event::Line { from, text, .. }) = e {
                    if from == "flood" {
                        flood_lines += 1;
                    } else if let Some(t) = sent_at.get(&text) {
                        worst = worst.max(now - *t);
                        arrived += 1;
                    }
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (requests, datagrams) = flood.join().unwrap();
    let elapsed = t0.elapsed().as_secs_f64();
    let stats = room.stats().unwrap();
    eprintln!(
        "flood: {requests} requests in {datagrams} datagrams over {elapsed:.1} s; {} refused; ann and bob \
         saw {flood_lines} flood lines; their own 60 lines each arrived, the slowest after {worst:?}",
        stats.rate_limited
    );
    assert!(worst < Duration::from_secs(1), "a line took {worst:?}");
    // Both of them see at most the burst plus the rate over the time, of the flooder's lines.
    let allowed = 2 * (20 + (5.0 * (elapsed + 1.0)) as u64);
    assert!(flood_lines <= allowed, "{flood_lines} flood lines passed (at most {allowed})");
    assert!(stats.rate_limited > 1000, "the flood was hardly a flood: {}", stats.rate_limited);
}
