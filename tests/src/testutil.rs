//! Small helpers for the tests in `tests/tests/`.

/// A binary of the workspace (`chat-server`, `chat-cli`), built once per test process in the
/// profile the tests run in.
///
/// # Panics
///
/// When the build fails.
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "chat-core", "-p", "chat-cli", "--bins"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the chat binaries failed");
    });
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let exe = std::env::current_exe().expect("test exe");
    exe.parent().and_then(|d| d.parent()).expect("target dir").join(name)
}

/// Open descriptors of this process.
pub fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Children of this process, zombies included.
pub fn count_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter(|stat| {
                    stat.rsplit(')').next().unwrap_or("").split_whitespace().nth(1) == Some(me.as_str())
                })
                .count()
        })
        .unwrap_or(0)
}

/// A seeded xorshift generator: reproducible "random" choices in tests.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `p` percent.
    pub fn percent(&mut self, p: u64) -> bool {
        self.next_u64() % 100 < p
    }
}

/// Datagrams the kernel dropped at the IPv4 UDP socket bound to `addr` because its receive
/// buffer was full (the `drops` column of `/proc/net/udp`); 0 when no such socket is found.
pub fn udp_drops(addr: std::net::SocketAddr) -> u64 {
    let std::net::SocketAddr::V4(v4) = addr else { return 0 };
    // The kernel prints the address as the hex of its in-memory (network order) word.
    let local = format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port());
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&local.as_str()))
        .and_then(|f| f.last().and_then(|d| d.parse().ok()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_drops_finds_the_socket_and_counts() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        mp_core::mp_ipc::set_recv_buffer(&rx, 4096).unwrap();
        let addr = rx.local_addr().unwrap();
        assert_eq!(udp_drops(addr), 0);
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..200 {
            tx.send_to(&[0u8; 1000], addr).unwrap();
        }
        assert!(udp_drops(addr) > 100, "{}", udp_drops(addr));
    }
}
