//! Socket settings that `std::net` does not offer.

use crate::sys;
use std::io;
use std::os::fd::AsFd;

/// Asks for a receive buffer of `bytes` on a socket (`SO_RCVBUF`): a UDP server with many
/// clients needs room for the datagrams that arrive while it is busy sending, or the kernel
/// drops them. Returns the size the kernel reports afterwards: it doubles the request for its
/// own bookkeeping, and caps it at `net.core.rmem_max` for processes without `CAP_NET_ADMIN`.
///
/// # Errors
///
/// The `setsockopt(2)` error (`ENOTSOCK` for a descriptor that is not a socket).
///
/// # Examples
///
/// ```
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let granted = mp_ipc::set_recv_buffer(&socket, 1 << 20)?;
/// assert!(granted >= 4096);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_recv_buffer(socket: &impl AsFd, bytes: usize) -> io::Result<usize> {
    sys::fd::set_socket_buffer(socket.as_fd(), true, bytes)
}

/// Asks for a send buffer of `bytes` on a socket (`SO_SNDBUF`); as [`set_recv_buffer`], with
/// `net.core.wmem_max` as the cap.
///
/// # Errors
///
/// The `setsockopt(2)` error.
pub fn set_send_buffer(socket: &impl AsFd, bytes: usize) -> io::Result<usize> {
    sys::fd::set_socket_buffer(socket.as_fd(), false, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_grow_and_a_pipe_is_refused() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let small = set_recv_buffer(&socket, 4096).unwrap();
        let big = set_recv_buffer(&socket, 256 * 1024).unwrap();
        assert!(big > small, "{small} -> {big}");
        assert!(set_send_buffer(&socket, 64 * 1024).unwrap() >= 64 * 1024);
        let (r, _w) = crate::Pipe::simplex().unwrap();
        let err = set_recv_buffer(&r, 4096).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
