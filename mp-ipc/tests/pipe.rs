//! Pipes across real processes: typed and raw messages, timeouts, closed and dead peers, bad input.

mod common;
use common::{LONG, join_ok, serial};
use mp_ipc::{Bytes, Pipe, RecvError, SendError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
struct Job {
    id: u32,
    name: String,
    weights: Vec<f64>,
}

#[test]
fn duplex_round_trip_with_a_child() {
    let _serial = serial();
    let (mut parent, mut child_end) = Pipe::duplex().unwrap();
    let child = mp_core::spawn(move || {
        // The child also holds a copy of `parent`, so it counts messages instead of waiting for
        // the end of the stream.
        for _ in 0..100 {
            let job: Job = child_end.recv().unwrap();
            let reply = (job.id, job.weights.iter().sum::<f64>());
            child_end.send(&reply).unwrap();
        }
    })
    .unwrap();
    for id in 0..100 {
        let job = Job { id, name: format!("job {id}"), weights: vec![id as f64; 3] };
        parent.send(&job).unwrap();
        assert_eq!(parent.recv::<(u32, f64)>().unwrap(), (id, 3.0 * id as f64));
    }
    drop(parent);
    assert!(join_ok(&child, LONG).success());
}

#[test]
fn simplex_carries_every_size_up_to_many_megabytes() {
    let _serial = serial();
    let (mut rx, tx) = Pipe::simplex().unwrap();
    let sizes = [0usize, 1, 3, 4, 5, 4095, 4096, 65535, 65536, 65537, 1 << 20, (8 << 20) + 3];
    let child = mp_core::spawn(move || {
        for &n in &sizes {
            let v: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            tx.send_bytes(&v).unwrap();
        }
    })
    .unwrap();
    for &n in &sizes {
        let got = rx.recv_bytes_timeout(LONG).unwrap();
        assert_eq!(got.len(), n);
        assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "size {n}");
    }
    assert!(rx.recv_bytes().unwrap_err().is_disconnected());
    assert!(join_ok(&child, LONG).success());
}

#[test]
fn timeouts_expire_and_zero_and_huge_timeouts_work() {
    let _serial = serial();
    let (mut a, b) = Pipe::duplex().unwrap();
    let t = Instant::now();
    assert!(a.recv_timeout::<u32>(Duration::from_millis(50)).unwrap_err().is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(a.recv_timeout::<u32>(Duration::ZERO).unwrap_err().is_timeout());
    assert!(a.try_recv::<u32>().unwrap_err().is_empty());
    assert!(a.recv_deadline::<u32>(Instant::now()).unwrap_err().is_timeout());
    assert!(!a.poll(Duration::from_millis(10)).unwrap());
    b.send(&7u32).unwrap();
    // Duration::MAX cannot be a deadline: it means "no limit".
    assert_eq!(a.recv_timeout::<u32>(Duration::MAX).unwrap(), 7);
    b.send(&8u32).unwrap();
    assert!(a.poll(Duration::MAX).unwrap());
    assert_eq!(a.try_recv::<u32>().unwrap(), 8);
}

#[test]
fn a_message_arriving_during_a_timed_wait_is_received() {
    let _serial = serial();
    let (mut a, b) = Pipe::duplex().unwrap();
    let child = mp_core::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        b.send(&"late").unwrap();
    })
    .unwrap();
    assert_eq!(a.recv_timeout::<String>(LONG).unwrap(), "late");
    join_ok(&child, LONG);
}

#[test]
fn a_partial_frame_survives_a_timeout() {
    let _serial = serial();
    let (mut a, b) = Pipe::duplex().unwrap();
    // Write half a frame by hand, time out, then the rest: nothing is lost.
    // SAFETY: duplicating our own descriptor into a File we own.
    let mut raw = unsafe { std::fs::File::from_raw_fd(libc::dup(b.as_raw_fd())) };
    let frame = {
        let payload = postcard::to_allocvec(&"hello there").unwrap();
        let mut f = (payload.len() as u32).to_le_bytes().to_vec();
        f.extend(payload);
        f
    };
    raw.write_all(&frame[..6]).unwrap();
    assert!(a.recv_timeout::<String>(Duration::from_millis(20)).unwrap_err().is_timeout());
    raw.write_all(&frame[6..]).unwrap();
    assert_eq!(a.recv_timeout::<String>(LONG).unwrap(), "hello there");
}

#[test]
fn peer_closing_gives_disconnected_also_mid_frame() {
    let _serial = serial();
    let (mut a, b) = Pipe::duplex().unwrap();
    drop(b);
    assert!(a.recv::<u8>().unwrap_err().is_disconnected());
    assert!(a.send(&1u8).unwrap_err().is_disconnected());

    let (mut a, b) = Pipe::duplex().unwrap();
    // SAFETY: duplicating our own descriptor into a File we own.
    let mut raw = unsafe { std::fs::File::from_raw_fd(libc::dup(b.as_raw_fd())) };
    raw.write_all(&100u32.to_le_bytes()).unwrap();
    raw.write_all(&[1, 2, 3]).unwrap();
    drop(raw);
    drop(b);
    assert!(a.recv_bytes().unwrap_err().is_disconnected());
}

#[test]
fn peer_dying_gives_disconnected() {
    let _serial = serial();
    let (mut a, b) = Pipe::duplex().unwrap();
    let child = mp_core::spawn(move || {
        b.send(&1u32).unwrap();
        std::thread::sleep(LONG);
    })
    .unwrap();
    assert_eq!(a.recv::<u32>().unwrap(), 1);
    child.kill().unwrap();
    join_ok(&child, LONG);
    assert!(a.recv_timeout::<u32>(LONG).unwrap_err().is_disconnected());

    // A writer whose reader died.
    let (rx, tx) = Pipe::simplex().unwrap();
    let reader = mp_core::spawn(move || drop(rx)).unwrap();
    join_ok(&reader, LONG);
    let e = tx.send_bytes(b"anyone?").unwrap_err();
    assert!(e.is_disconnected(), "{e}");
}

#[test]
fn corrupt_length_prefix_is_an_error_without_allocating_it() {
    let _serial = serial();
    let (mut a, b) = Pipe::duplex().unwrap();
    // SAFETY: duplicating our own descriptor into a File we own.
    let mut raw = unsafe { std::fs::File::from_raw_fd(libc::dup(b.as_raw_fd())) };
    raw.write_all(&u32::MAX.to_le_bytes()).unwrap();
    match a.recv_bytes() {
        Err(RecvError::TooLarge { len, max }) => {
            assert_eq!(len, u32::MAX as u64);
            assert_eq!(max, 64 << 20);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn configurable_maximum_applies_to_both_sides() {
    let _serial = serial();
    let (a, mut b) = Pipe::duplex().unwrap();
    b.set_max_message_size(10);
    assert!(matches!(b.send_bytes(&[0; 11]), Err(SendError::TooLarge { len: 11, max: 10 })));
    a.send_bytes(&[0; 11]).unwrap();
    assert!(matches!(b.recv_bytes(), Err(RecvError::TooLarge { len: 11, max: 10 })));
    assert_eq!(a.max_message_size(), 64 << 20);
}

#[test]
fn decoding_the_wrong_type_is_a_clear_error() {
    let _serial = serial();
    let (mut a, b) = Pipe::duplex().unwrap();
    b.send(&Job { id: 1, name: "x".into(), weights: vec![] }).unwrap();
    let e = a.recv::<u8>().unwrap_err();
    assert!(matches!(e, RecvError::Decode(_)), "{e:?}");
    assert!(e.to_string().contains("could not decode"), "{e}");
    b.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    assert!(matches!(a.recv::<String>(), Err(RecvError::Decode(_))));
    // The stream stays in step: the next message is fine.
    b.send(&5u8).unwrap();
    assert_eq!(a.recv::<u8>().unwrap(), 5);
}

#[test]
fn many_small_messages_keep_their_order_and_boundaries() {
    let _serial = serial();
    let (mut rx, tx) = Pipe::simplex().unwrap();
    let child = mp_core::spawn(move || {
        for i in 0..50_000u32 {
            tx.send(&(i, i.to_string())).unwrap();
        }
    })
    .unwrap();
    for i in 0..50_000u32 {
        assert_eq!(rx.recv::<(u32, String)>().unwrap(), (i, i.to_string()));
    }
    join_ok(&child, LONG);
}

#[test]
fn wait_readable_sees_the_ready_source() {
    let _serial = serial();
    let (a, _a2) = Pipe::duplex().unwrap();
    let (b, b2) = Pipe::duplex().unwrap();
    let child = mp_core::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        b2.send(&1u8).unwrap();
    })
    .unwrap();
    let ready = mp_ipc::wait_readable(&[&a, &b], Some(LONG)).unwrap();
    assert_eq!(ready, [1]);
    assert!(mp_ipc::wait_readable(&[&a], Some(Duration::from_millis(10))).unwrap().is_empty());
    join_ok(&child, LONG);
}

#[test]
fn descriptors_are_close_on_exec() {
    let _serial = serial();
    let (a, b) = Pipe::duplex().unwrap();
    let (r, w) = Pipe::simplex().unwrap();
    for fd in [a.as_raw_fd(), b.as_raw_fd(), r.as_raw_fd(), w.as_raw_fd()] {
        // SAFETY: F_GETFD on our own open descriptor.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC, "fd {fd}");
    }
}

#[test]
fn recv_bytes_into_fills_the_callers_buffer_from_another_process() {
    let _s = serial();
    let (mut rx, tx) = Pipe::simplex().unwrap();
    let sizes = [0usize, 1, 100, 64 << 10, (1 << 20) + 7];
    let child = mp_core::spawn(move || {
        for &n in &sizes {
            let v: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            tx.send_bytes(&v).unwrap();
        }
        tx.send_bytes(&[7u8; 10]).unwrap();
    })
    .unwrap();
    let mut buf = vec![0xAAu8; 2 << 20];
    for n in sizes {
        let got = rx.recv_bytes_into_timeout(&mut buf, LONG).unwrap();
        assert_eq!(got, n);
        assert!(buf[..n].iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "{n} bytes intact");
    }
    // Too long for the buffer: consumed, handed back whole, the buffer untouched.
    let mut small = [0u8; 4];
    match rx.recv_bytes_into_deadline(&mut small, Instant::now() + LONG) {
        Err(RecvError::BufferTooShort { message }) => assert_eq!(message, [7u8; 10]),
        other => panic!("{other:?}"),
    }
    assert_eq!(small, [0; 4]);
    assert!(join_ok(&child, LONG).success());
    assert!(rx.recv_bytes_into(&mut buf).unwrap_err().is_disconnected());
}

#[test]
fn recv_bytes_into_has_every_waiting_form() {
    let (mut a, b) = Pipe::duplex().unwrap();
    let mut buf = [0u8; 16];
    assert!(a.try_recv_bytes_into(&mut buf).unwrap_err().is_empty());
    let t = Instant::now();
    assert!(a.recv_bytes_into_timeout(&mut buf, Duration::from_millis(30)).unwrap_err().is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert!(a.recv_bytes_deadline(Instant::now()).unwrap_err().is_timeout());
    b.send_bytes(b"abc").unwrap();
    b.send_bytes(b"de").unwrap();
    assert_eq!(a.try_recv_bytes_into(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(a.recv_bytes_deadline(Instant::now() + LONG).unwrap(), b"de");
}

#[test]
fn bytes_travel_as_one_block_and_decode_as_a_vec() {
    let _s = serial();
    let (mut rx, tx) = Pipe::simplex().unwrap();
    let data: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 7 % 256) as u8).collect();
    let expect = data.clone();
    let child = mp_core::spawn(move || {
        tx.send(&(1u32, Bytes(data.clone()))).unwrap();
        tx.send(&Bytes(data)).unwrap();
    })
    .unwrap();
    let (n, got): (u32, Bytes) = rx.recv_timeout(LONG).unwrap();
    assert_eq!(n, 1);
    assert!(got.0 == expect);
    // The same wire format as a `Vec<u8>`.
    let as_vec: Vec<u8> = rx.recv_timeout(LONG).unwrap();
    assert!(as_vec == expect);
    assert!(join_ok(&child, LONG).success());
}
