//! Chat workloads for `ci/bench`: fan-out throughput and latency, and many clients.

use chat_core::client::{Client, ClientEvent};
use chat_core::protocol::{Event, Request};
use chat_core::server::{self, Config};
use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// A server in a child process on an ephemeral loopback port, killed on drop.
pub struct BenchServer {
    /// Its address.
    pub addr: SocketAddr,
    proc: mp_core::Process,
}

impl BenchServer {
    /// Starts a server with no rate limit (the seed's server has none either).
    pub fn start(max_clients: usize) -> BenchServer {
        BenchServer::with_config(Config { max_clients, history: 0, ..Config::default() }.unlimited())
    }

    /// Starts a server with the settings `cfg`.
    ///
    /// # Examples
    ///
    /// ```
    /// use chat_core::server::Config;
    /// use mp_tests::chatbench::BenchServer;
    ///
    /// let srv = BenchServer::with_config(Config { max_clients: 10, ..Config::default() });
    /// assert!(srv.addr.ip().is_loopback());
    /// assert!(srv.rss_kib() > 0);
    /// ```
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound or the child cannot be spawned.
    pub fn with_config(cfg: Config) -> BenchServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = socket.local_addr().expect("addr");
        let proc = mp_core::Builder::new()
            .daemon(true)
            .spawn(move || server::serve(socket, cfg, None, None).map(drop))
            .expect("spawn server");
        BenchServer { addr, proc }
    }

    /// The server's resident set size, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.proc.pid())).unwrap_or_default();
        // After the command name come the state (field 3 of proc(5)) and then numbers: utime and
        // stime are fields 14 and 15, in clock ticks of 1/100 s.
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        Duration::from_millis((field(14) + field(15)) * 10)
    }

    /// The server's peak resident set size so far, in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proc.pid())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.join();
    }
}

/// One simulated user: a session and its socket.
pub struct Sim {
    /// The session.
    pub client: Client,
    socket: UdpSocket,
}

impl Sim {
    /// Starts logging in.
    pub fn new(server: SocketAddr, name: &str) -> Sim {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.connect(server).expect("connect");
        socket.set_nonblocking(true).expect("nonblocking");
        let client = Client::new(name, Instant::now()).expect("valid name");
        let mut s = Sim { client, socket };
        s.flush();
        s
    }

    /// The socket (to wait on several sims at once).
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    fn flush(&mut self) {
        for d in self.client.take_output() {
            let _ = self.socket.send(&d);
        }
    }

    /// Reads what is there, runs timers, sends; returns the events.
    pub fn pump(&mut self, now: Instant) -> Vec<ClientEvent> {
        let mut buf = [0u8; 2048];
        while let Ok(n) = self.socket.recv(&mut buf) {
            self.client.on_datagram(&buf[..n], now);
        }
        self.client.on_tick(now);
        self.flush();
        self.client.take_events()
    }
}

/// Logs in by hand on a connected socket, as a client without the session code would (the
/// cookie round trip, then the login); returns the session's `(token, tag)`.
///
/// # Panics
///
/// When the server refuses or does not answer within 10 s.
pub fn raw_login(socket: &UdpSocket, name: &str) -> (u64, u64) {
    use chat_core::protocol::{self, ServerMsg};
    let nonce = 0x5EED_0000_0000_0001;
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut cookie = None;
    let mut b = [0u8; 2048];
    loop {
        socket.send(&protocol::pad_login(name, nonce, cookie, None)).expect("send");
        let n = socket.recv(&mut b).expect("an answer to the login");
        match protocol::decode(&b[..n]) {
            Ok(ServerMsg::Retry { cookie: c, .. }) => cookie = Some(c),
            Ok(ServerMsg::LoginOk { token, tag, .. }) => {
                // Confirms the session, so that the server starts sending.
                let ack = protocol::encode(&chat_core::protocol::ClientMsg::Ack { token, ack: 0 });
                socket.send(&ack).expect("send");
                return (token, tag);
            }
            other => panic!("login as {name:?}: {other:?}"),
        }
    }
}

/// Logs in by hand as `name` with the attempt number `nonce` on a connected socket: sends the
/// login without a cookie, answers the server's `Retry` with the cookie, and returns the
/// server's final answer (`LoginOk` or `LoginRefused`; the session is not confirmed). Other
/// datagrams that arrive meanwhile (of an earlier session on the socket, answers to other
/// attempts) are skipped. The socket is left blocking, with a read timeout.
///
/// # Examples
///
/// ```
/// use chat_core::protocol::ServerMsg;
/// use mp_tests::chatbench::{BenchServer, login_answer};
/// use std::net::UdpSocket;
///
/// let srv = BenchServer::start(10);
/// let socket = |_| {
///     let s = UdpSocket::bind("127.0.0.1:0").unwrap();
///     s.connect(srv.addr).unwrap();
///     s
/// };
/// let (a, b) = (socket(()), socket(()));
/// assert!(matches!(login_answer(&a, "ann", 1), ServerMsg::LoginOk { nonce: 1, .. }));
/// assert!(matches!(login_answer(&b, "ANN", 2), ServerMsg::LoginRefused { nonce: 2, .. }));
/// ```
///
/// # Panics
///
/// When no final answer arrives within 10 s.
pub fn login_answer(socket: &UdpSocket, name: &str, nonce: u64) -> chat_core::protocol::ServerMsg {
    use chat_core::protocol::{self, ServerMsg};
    socket.set_nonblocking(false).expect("blocking");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut cookie = None;
    let mut b = [0u8; 2048];
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no answer to the login as {name:?} within 10 s");
        // Sent again every 500 ms until answered (a datagram may be lost on a busy machine).
        if now >= next_send {
            socket.send(&protocol::pad_login(name, nonce, cookie, None)).expect("send");
            next_send = now + Duration::from_millis(500);
        }
        let wait =
            next_send.min(deadline).saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait)).expect("timeout");
        let Ok(n) = socket.recv(&mut b) else { continue };
        match protocol::decode(&b[..n]) {
            Ok(ServerMsg::Retry { nonce: got, cookie: c }) if got == nonce && cookie != Some(c) => {
                cookie = Some(c);
                next_send = Instant::now();
            }
            Ok(m @ (ServerMsg::LoginOk { nonce: got, .. } | ServerMsg::LoginRefused { nonce: got, .. }))
                if got == nonce =>
            {
                return m;
            }
            _ => {}
        }
    }
}

/// A UDP relay on loopback between clients and a server, with a fresh upstream socket per
/// client (so that the server sees each client at its own address). It loses nothing; a test
/// can make it send datagrams to a client "from the server" ([`inject`](Self::inject)) and
/// give a client a new upstream address mid-session ([`rebind`](Self::rebind)), as a NAT
/// that forgets a mapping does.
///
/// # Examples
///
/// ```
/// use mp_tests::chatbench::{BenchServer, Relay, Sim, login_all};
///
/// let srv = BenchServer::start(10);
/// let relay = Relay::start(srv.addr);
/// let mut sim = Sim::new(relay.addr, "ann");
/// login_all(std::slice::from_mut(&mut sim));
/// let client = sim.socket().local_addr().unwrap();
/// let upstream = relay.rebind(client).expect("the relay has seen ann");
/// assert_ne!(relay.rebind(client), Some(upstream), "a new port each time");
/// assert_eq!(relay.rebind("127.0.0.1:9".parse().unwrap()), None);
/// ```
pub struct Relay {
    /// Where clients send to: the server's address, as they see it.
    pub addr: SocketAddr,
    front: std::sync::Arc<UdpSocket>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    rebinds: std::sync::mpsc::Sender<(SocketAddr, std::sync::mpsc::Sender<Option<SocketAddr>>)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Starts relaying to `server`.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start(server: SocketAddr) -> Relay {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, mpsc};
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind"));
        front.set_nonblocking(true).expect("nonblocking");
        let addr = front.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let (rebinds, requests) = mpsc::channel::<(SocketAddr, mpsc::Sender<Option<SocketAddr>>)>();
        let (front2, stop2) = (Arc::clone(&front), Arc::clone(&stop));
        let upstream = move || {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.connect(server).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            s
        };
        let thread = std::thread::spawn(move || {
            // (client, its upstream socket)
            let mut up: Vec<(SocketAddr, UdpSocket)> = Vec::new();
            let mut buf = vec![0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                while let Ok((client, reply)) = requests.try_recv() {
                    let fresh = up.iter_mut().find(|(c, _)| *c == client).map(|(_, s)| {
                        *s = upstream();
                        s.local_addr().expect("addr")
                    });
                    let _ = reply.send(fresh);
                }
                let mut fds: Vec<&dyn AsFd> = vec![&*front2];
                fds.extend(up.iter().map(|(_, s)| s as &dyn AsFd));
                let ready =
                    mp_core::mp_ipc::wait_readable(&fds, Some(Duration::from_millis(2))).unwrap_or_default();
                for i in ready {
                    if i == 0 {
                        while let Ok((n, from)) = front2.recv_from(&mut buf) {
                            let k = match up.iter().position(|(c, _)| *c == from) {
                                Some(k) => k,
                                None => {
                                    up.push((from, upstream()));
                                    up.len() - 1
                                }
                            };
                            let _ = up[k].1.send(&buf[..n]);
                        }
                    } else {
                        let (client, s) = &up[i - 1];
                        while let Ok(n) = s.recv(&mut buf) {
                            let _ = front2.send_to(&buf[..n], *client);
                        }
                    }
                }
            }
        });
        Relay { addr, front, stop, rebinds, thread: Some(thread) }
    }

    /// Sends `datagram` to `client` from the relay's address, which the client takes for the
    /// server's.
    ///
    /// # Errors
    ///
    /// The socket's send error.
    pub fn inject(&self, client: SocketAddr, datagram: &[u8]) -> std::io::Result<()> {
        self.front.send_to(datagram, client).map(drop)
    }

    /// Gives `client` a new upstream socket (a new source port towards the server) and
    /// returns its address; `None` when the relay has not seen `client` yet.
    ///
    /// # Panics
    ///
    /// When the relay's thread does not answer within 5 s.
    pub fn rebind(&self, client: SocketAddr) -> Option<SocketAddr> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.rebinds.send((client, reply)).expect("the relay thread is running");
        answer.recv_timeout(Duration::from_secs(5)).expect("the relay thread answers")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Logs `sims` in; panics if that takes more than a minute.
pub fn login_all(sims: &mut [Sim]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut online = vec![false; sims.len()];
    while online.iter().any(|o| !o) {
        assert!(Instant::now() < deadline, "login took too long");
        wait_any(sims, Duration::from_millis(20));
        let now = Instant::now();
        for (i, s) in sims.iter_mut().enumerate() {
            for e in s.pump(now) {
                if e == ClientEvent::Connected {
                    online[i] = true;
                }
            }
        }
    }
}

/// Waits up to `timeout` for datagrams, then pumps the sims that have some (all of them when
/// `all`, so that their timers run): returns `(index, event)` pairs.
fn pump_ready(sims: &mut [Sim], timeout: Duration, all: bool) -> Vec<(usize, ClientEvent)> {
    let ready: Vec<usize> = if all {
        (0..sims.len()).collect()
    } else {
        let fds: Vec<&dyn AsFd> = sims.iter().map(|s| &s.socket as &dyn AsFd).collect();
        mp_core::mp_ipc::wait_readable(&fds, Some(timeout)).unwrap_or_default()
    };
    let now = Instant::now();
    let mut out = Vec::new();
    for i in ready {
        out.extend(sims[i].pump(now).into_iter().map(|e| (i, e)));
    }
    out
}

fn wait_any(sims: &[Sim], timeout: Duration) {
    for chunk in sims.chunks(1000) {
        let fds: Vec<&dyn AsFd> = chunk.iter().map(|s| &s.socket as &dyn AsFd).collect();
        if !mp_core::mp_ipc::wait_readable(&fds, Some(timeout)).unwrap_or_default().is_empty() {
            return;
        }
    }
}

/// Parses "line N" back to N.
fn line_no(e: &ClientEvent) -> Option<usize> {
    match e {
        ClientEvent::Room(Event::Line { text, .. }) => {
            text.strip_prefix("line ").and_then(|n| n.parse().ok())
        }
        _ => None,
    }
}

/// Fan-out: one sender, `n` listeners, `m` lines with at most `window` lines not yet seen by
/// every listener. Returns deliveries per second. With `pace` set, sends one line every `pace`
/// and also returns the per-delivery latencies.
pub fn fanout(n: usize, m: usize, window: usize, pace: Option<Duration>) -> (f64, Vec<Duration>) {
    let srv = BenchServer::start(n + 10);
    let mut sender = Sim::new(srv.addr, "sender");
    let mut listeners: Vec<Sim> = (0..n).map(|i| Sim::new(srv.addr, &format!("l{i}"))).collect();
    login_all(std::slice::from_mut(&mut sender));
    login_all(&mut listeners);
    let mut seen = vec![0usize; n];
    let mut sent_at: Vec<Instant> = Vec::with_capacity(m);
    let mut latencies = Vec::new();
    let mut delivered = 0usize;
    let t0 = Instant::now();
    let mut last_delivery = t0;
    let mut next_send = t0;
    let mut last_tick_all = t0;
    while delivered < n * m {
        let now = Instant::now();
        let min_seen = seen.iter().copied().min().unwrap_or(0);
        while sent_at.len() < m
            && sent_at.len() < min_seen.saturating_add(window)
            && pace.is_none_or(|_| now >= next_send)
        {
            let i = sent_at.len();
            sender.client.request(Request::Chat(format!("line {i}")), now).expect("send");
            sent_at.push(now);
            if let Some(p) = pace {
                next_send += p;
            }
        }
        sender.pump(now);
        let fds: Vec<&dyn AsFd> = listeners.iter().map(|s| &s.socket as &dyn AsFd).collect();
        let mut ready =
            mp_core::mp_ipc::wait_readable(&fds, Some(Duration::from_millis(1))).unwrap_or_default();
        let now = Instant::now();
        // Every 5 ms, every listener runs its timers (acknowledgements); otherwise only those
        // with datagrams waiting are touched.
        if now.duration_since(last_tick_all) >= Duration::from_millis(5) {
            ready = (0..n).collect();
            last_tick_all = now;
        }
        for i in ready {
            for e in listeners[i].pump(now) {
                if let Some(k) = line_no(&e) {
                    seen[i] = k + 1;
                    delivered += 1;
                    last_delivery = now;
                    if pace.is_some() {
                        latencies.push(now.saturating_duration_since(sent_at[k]));
                    }
                }
            }
        }
        if now.duration_since(last_delivery) > Duration::from_secs(10) {
            eprintln!("fanout: stalled at {delivered} of {} deliveries", n * m);
            break;
        }
    }
    let rate = delivered as f64 / last_delivery.duration_since(t0).as_secs_f64();
    (rate, latencies)
}

/// What [`many_clients`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Many {
    /// Users logged in.
    pub clients: usize,
    /// Time to log them all in (a hundred at a time, the others reading all along).
    pub login: Duration,
    /// Join notices the users received during the logins (each user sees every later join).
    pub join_notices: u64,
    /// Sessions the server lost and the client logged in again (0 in a healthy run).
    pub reconnects: u64,
    /// Server RSS once the logins settled, KiB.
    pub rss_kib: u64,
    /// The server's CPU use while everyone is logged in and idle (heartbeats only), in cores.
    pub idle_cpu: f64,
    /// The server's peak RSS over the whole run, KiB.
    pub peak_kib: u64,
    /// Time for one line to reach every other user.
    pub one_line: Duration,
    /// Deliveries per second for a burst of lines from one user to all the others.
    pub burst_rate: f64,
}

/// Raises this process's open-file limit to at least `n`.
///
/// # Panics
///
/// When the hard limit is lower (raise it with `ulimit -Hn` as root).
fn raise_fd_limit(n: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid rlimit to fill in.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0, "getrlimit");
    if lim.rlim_cur < n {
        assert!(lim.rlim_max >= n, "{n} open files are needed; the hard limit is {}", lim.rlim_max);
        lim.rlim_cur = n;
        // SAFETY: `lim` is a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0, "setrlimit");
    }
}

/// Pumps every sim (after waiting up to `wait` for any datagram) until `done` says so or
/// `limit` passes; `on` sees every event. Returns whether `done` was reached.
fn pump_until(
    sims: &mut [Sim],
    limit: Duration,
    mut on: impl FnMut(usize, &ClientEvent),
    mut done: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        wait_any(sims, Duration::from_millis(1));
        for (i, e) in pump_ready(sims, Duration::ZERO, true) {
            on(i, &e);
        }
    }
    true
}

/// `clients` users logged in to one server, every one a real [`Client`] on its own socket,
/// all in this process. Logs them in, lets the join notices settle, then times one line to
/// everyone and a burst of lines.
///
/// # Panics
///
/// If the open-file limit is too low, or a phase takes minutes.
pub fn many_clients(clients: usize) -> Many {
    raise_fd_limit(clients as u64 + 100);
    let srv = BenchServer::start(clients + 10);
    let t_login = Instant::now();
    // Counters the event callbacks and the stop conditions both look at.
    let join_notices = Cell::new(0u64);
    let reconnects = Cell::new(0u64);
    let count_joins = |e: &ClientEvent| match e {
        ClientEvent::Room(Event::Joined { .. }) => join_notices.set(join_notices.get() + 1),
        ClientEvent::Reconnected => reconnects.set(reconnects.get() + 1),
        _ => {}
    };
    // A hundred at a time while every client already in keeps reading and acknowledging (as
    // real clients, each in its own process, would).
    let mut sims: Vec<Sim> = Vec::with_capacity(clients);
    let deadline = Instant::now() + Duration::from_secs(600);
    while sims.len() < clients {
        let first = sims.len();
        for i in first..(first + 100).min(clients) {
            sims.push(Sim::new(srv.addr, &format!("u{i}")));
        }
        let mut online = vec![false; sims.len() - first];
        let mut last_all = Instant::now();
        while online.iter().any(|o| !o) {
            assert!(Instant::now() < deadline, "login took too long");
            let all = last_all.elapsed() >= Duration::from_millis(50);
            if all {
                last_all = Instant::now();
            }
            for (i, e) in pump_ready(&mut sims, Duration::from_millis(5), all) {
                if e == ClientEvent::Connected && i >= first {
                    online[i - first] = true;
                }
                count_joins(&e);
            }
        }
    }
    // Every user sees the joins after its own: n(n-1)/2 notices in all.
    let expected = (clients as u64) * (clients as u64 - 1) / 2;
    let settled = pump_until(
        &mut sims,
        Duration::from_secs(120),
        |_, e| count_joins(e),
        || join_notices.get() >= expected,
    );
    assert!(settled, "only {} of {expected} join notices arrived", join_notices.get());
    assert_eq!(reconnects.get(), 0, "sessions were lost during the logins");
    assert_eq!(join_notices.get(), expected, "a join notice came twice");
    let login = t_login.elapsed();
    // Idle for 3 s (heartbeats only): the server's periodic heap trim runs, and its CPU use
    // with everyone logged in and nobody talking is measured.
    let cpu0 = srv.cpu_time();
    let idle0 = Instant::now();
    pump_until(&mut sims, Duration::from_secs(3), |_, _| {}, || false);
    let idle_cpu = (srv.cpu_time() - cpu0).as_secs_f64() / idle0.elapsed().as_secs_f64();
    let rss_kib = srv.rss_kib();

    let t0 = Instant::now();
    sims[0].client.request(Request::Chat("line 0".into()), t0).expect("send");
    let mut got = vec![0usize; clients];
    got[0] = usize::MAX;
    let missing = Cell::new(clients - 1);
    let on_line = |i: usize, e: &ClientEvent| {
        if line_no(e).is_some() && got[i] != usize::MAX {
            got[i] += 1;
            if got[i] == 1 {
                missing.set(missing.get() - 1);
            }
        }
    };
    let everywhere = pump_until(&mut sims, Duration::from_secs(60), on_line, || missing.get() == 0);
    assert!(everywhere, "line 0 did not reach {} users", missing.get());
    let one_line = t0.elapsed();

    let burst = 20;
    let t1 = Instant::now();
    for k in 1..=burst {
        sims[0].client.request(Request::Chat(format!("line {k}")), t1).expect("send");
    }
    let complete = Cell::new(0usize);
    let on_burst = |i: usize, e: &ClientEvent| {
        if line_no(e).is_some() && i != 0 {
            got[i] += 1;
            if got[i] == burst + 1 {
                complete.set(complete.get() + 1);
            }
        }
    };
    let all_got = pump_until(&mut sims, Duration::from_secs(60), on_burst, || complete.get() == clients - 1);
    assert!(all_got, "the burst reached only {} users", complete.get());
    let burst_rate = (burst * (clients - 1)) as f64 / t1.elapsed().as_secs_f64();
    Many {
        clients,
        login,
        join_notices: join_notices.get(),
        reconnects: reconnects.get(),
        idle_cpu,
        rss_kib,
        peak_kib: srv.peak_kib(),
        one_line,
        burst_rate,
    }
}
