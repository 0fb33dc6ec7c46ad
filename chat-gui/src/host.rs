//! "Host a room here": a room on this machine, as `chat-cli --host` starts one, and the
//! addresses others type to reach it.

pub use chat_core::server::HostedRoom;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// Where "Host a room here" listens for the address typed in the form: a loopback or
/// unspecified address means "this machine", and the room is opened to the network on that
/// port (`0.0.0.0:PORT`), since a room only this machine can reach has nobody to talk to;
/// any other address is bound as typed.
pub fn bind_address(typed: SocketAddr) -> SocketAddr {
    if typed.ip().is_loopback() || typed.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), typed.port())
    } else {
        typed
    }
}

/// Where this machine's own client joins a room bound at `bound` (the loopback address for a
/// room on every interface).
pub fn join_address(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port())
    } else {
        bound
    }
}

/// The addresses others type to reach a room bound at `bound`: this machine's LAN addresses
/// for a room on every interface (the loopback address when there is none), else `bound`.
pub fn addresses_for_others(bound: SocketAddr) -> Vec<SocketAddr> {
    if !bound.ip().is_unspecified() {
        return vec![bound];
    }
    let mut ips = lan_addresses();
    if ips.is_empty() {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    ips.into_iter().map(|ip| SocketAddr::new(ip, bound.port())).collect()
}

/// This machine's IPv4 addresses other than loopback: the local host routes in
/// `/proc/net/fib_trie` (Linux), else the address the default route leaves from (a UDP socket
/// `connect`ed to a documentation address sends nothing, but picks the source address).
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut ips =
        std::fs::read_to_string("/proc/net/fib_trie").map(|t| parse_fib_trie(&t)).unwrap_or_default();
    if ips.is_empty()
        && let Some(ip) = default_route_address()
    {
        ips.push(ip);
    }
    ips
}

fn default_route_address() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The `/32 host LOCAL` entries of a `fib_trie` listing, loopback left out, each once.
fn parse_fib_trie(text: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(ip) = line.strip_prefix("|-- ") {
            last = ip.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last.take()
            && !ip.is_loopback()
            && !out.contains(&IpAddr::V4(ip))
        {
            out.push(IpAddr::V4(ip));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_trie_local_host_routes_are_the_lan_addresses() {
        let text = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
                    |-- 127.0.0.1\n              /32 host LOCAL\n\
                    |-- 192.168.1.20\n              /32 host LOCAL\n\
                    |-- 192.168.1.255\n              /32 link BROADCAST\n\
                    Local:\n |-- 192.168.1.20\n              /32 host LOCAL\n";
        assert_eq!(parse_fib_trie(text), vec!["192.168.1.20".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_loopback_address_hosts_on_every_interface_and_joins_on_loopback() {
        let bound = bind_address("127.0.0.1:8888".parse().unwrap());
        assert_eq!(bound, "0.0.0.0:8888".parse().unwrap());
        assert_eq!(join_address(bound), "127.0.0.1:8888".parse().unwrap());
        let lan = "10.0.0.5:8888".parse().unwrap();
        assert_eq!(bind_address(lan), lan);
        assert_eq!(addresses_for_others(lan), vec![lan]);
        assert!(addresses_for_others(bound).iter().all(|a| a.port() == 8888 && !a.ip().is_unspecified()));
    }
}
