//! POSIX message queues.

mod common;
use common::{LONG, join_ok, leftovers, serial};
use mp_ipc::MessageQueue;
use std::time::{Duration, Instant};

#[test]
fn send_receive_priorities_timeouts_and_cleanup() {
    let _s = serial();
    let name = format!("/mp-test-mq-{}", std::process::id());
    let q = MessageQueue::create(&name, 4, 64).unwrap();
    let attrs = q.attributes().unwrap();
    assert_eq!((attrs.max_messages, attrs.message_size, attrs.current_messages), (4, 64, 0));
    let t = Instant::now();
    assert!(q.recv_timeout(Duration::from_millis(50)).unwrap().is_none());
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(q.try_recv().unwrap().is_none());

    let child_name = name.clone();
    let child = mp_core::spawn(move || {
        let q = MessageQueue::open(&child_name).map_err(|e| e.to_string())?;
        for (i, p) in [(1u8, 1), (2, 5), (3, 5), (4, 0)] {
            q.send(&[i], p).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })
    .unwrap();
    assert!(join_ok(&child, LONG).success());
    assert_eq!(q.attributes().unwrap().current_messages, 4);
    // Full: try and timed sends report it.
    assert!(!q.try_send(b"x", 0).unwrap());
    assert!(!q.send_timeout(b"x", 0, Duration::from_millis(20)).unwrap());
    let got: Vec<(Vec<u8>, u32)> = (0..4).map(|_| q.recv().unwrap()).collect();
    assert_eq!(got, [(vec![2], 5), (vec![3], 5), (vec![1], 1), (vec![4], 0)]);
    // Too large a message.
    assert_eq!(q.send(&[0; 65], 0).unwrap_err().raw_os_error(), Some(libc::EMSGSIZE));
    // /dev/mqueue shows the queues where the mqueue file system is mounted (ci/test mounts it).
    if let Ok(meta) = std::fs::metadata(format!("/dev/mqueue{name}")) {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    drop(q);
    assert_eq!(MessageQueue::open(&name).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    assert!(leftovers("/dev/mqueue", &format!("mp-test-mq-{}", std::process::id())).is_empty());
}

#[test]
fn limits_and_names_give_clear_errors() {
    let _s = serial();
    let name = format!("/mp-test-mq-lim-{}", std::process::id());
    // Past the unprivileged default limits (10 messages, 8 KiB) unless the machine raised them.
    let big = MessageQueue::create(&name, 1_000_000, 64);
    if let Err(e) = &big {
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    }
    drop(big);
    assert_eq!(MessageQueue::open("/mp-test-mq-missing").unwrap_err().kind(), std::io::ErrorKind::NotFound);
    assert_eq!(MessageQueue::create("bad", 1, 1).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}
