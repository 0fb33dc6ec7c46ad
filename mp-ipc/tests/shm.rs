//! Shared values, arrays and named shared memory.

mod common;
use common::{LONG, join_ok, leftovers, serial};
use mp_ipc::{Array, SharedMemory, Value};
use std::io::ErrorKind;
use std::os::fd::AsFd;

#[test]
fn value_and_array_are_shared_with_children() {
    let _s = serial();
    let v = Value::new(1.5f64).unwrap();
    let a = Array::from_elem(0u32, 100).unwrap();
    let kids: Vec<_> = (0..4u32)
        .map(|k| {
            let (v, a) = (&v, &a);
            mp_core::spawn(move || {
                for i in (k as usize..100).step_by(4) {
                    a.set(i, i as u32 * 10);
                }
                *v.lock().unwrap() += 1.0;
            })
            .unwrap()
        })
        .collect();
    for k in &kids {
        assert!(join_ok(k, LONG).success());
    }
    assert_eq!(v.get(), 5.5);
    assert_eq!(a.to_vec(), (0..100).map(|i| i * 10).collect::<Vec<u32>>());
    assert_eq!(a.get(100), None);
    assert!(!a.set(100, 1));
    assert_eq!(format!("{:?}", Value::new(3u8).unwrap()), "Value(3)");
}

#[test]
fn value_lock_reports_a_dead_holder() {
    let _s = serial();
    let v = Value::new([0u64; 4]).unwrap();
    let child = mp_core::spawn(|| {
        let mut g = v.lock().unwrap();
        g[0] = 1;
        std::process::exit(0) // dies holding the lock
    })
    .unwrap();
    join_ok(&child, LONG);
    let g = v.lock().expect_err("owner died").into_inner();
    assert_eq!(g[0], 1);
    drop(g);
    assert!(v.lock().is_ok());
}

#[test]
fn named_shared_memory_between_processes_and_cleanup() {
    let _s = serial();
    let name = format!("/mp-test-shm-{}", std::process::id());
    let shm = SharedMemory::create(&name, 10_000).unwrap();
    assert_eq!(shm.len(), 10_000);
    assert_eq!(shm.name(), name);
    assert!(SharedMemory::create(&name, 10).unwrap_err().kind() == std::io::ErrorKind::AlreadyExists);
    let meta = std::fs::metadata(format!("/dev/shm{name}")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let child_name = name.clone();
    let child = mp_core::spawn(move || {
        // Open by name, as an unrelated process would.
        let other = SharedMemory::open(&child_name).map_err(|e| e.to_string())?;
        other.write_at(9_990, b"from child").map_err(|e| e.to_string())
    })
    .unwrap();
    assert!(join_ok(&child, LONG).success());
    let mut buf = [0u8; 10];
    shm.read_at(9_990, &mut buf).unwrap();
    assert_eq!(&buf, b"from child");
    assert!(shm.read_at(9_995, &mut buf).is_err());
    assert!(shm.write_at(usize::MAX, b"x").is_err());
    drop(shm);
    assert!(leftovers("/dev/shm", &format!("mp-test-shm-{}", std::process::id())).is_empty());
}

#[test]
fn shared_memory_persist_and_bad_names() {
    let _s = serial();
    let name = format!("/mp-test-persist-{}", std::process::id());
    let mut shm = SharedMemory::create(&name, 64).unwrap();
    shm.persist();
    drop(shm);
    assert!(SharedMemory::open(&name).is_ok());
    SharedMemory::unlink(&name).unwrap();
    assert_eq!(SharedMemory::open(&name).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    for bad in ["noslash", "/", "/a/b", "/nul\0"] {
        assert_eq!(
            SharedMemory::create(bad, 1).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput,
            "{bad:?}"
        );
    }
    assert!(SharedMemory::create("/mp-test-zero", 0).is_err());
}

#[test]
fn shared_memory_shrunk_by_another_handle_gives_errors_not_sigbus() {
    let _s = serial();
    let name = format!("/mp-test-shrunk-{}", std::process::id());
    let page = 4096;
    let shm = SharedMemory::create(&name, 3 * page).unwrap();
    shm.write_at(0, b"first page").unwrap();
    // Another handle, as another process would open it, shrinks the object to one page.
    let other = SharedMemory::open(&name).unwrap();
    let resize = |len| std::fs::File::from(other.as_fd().try_clone_to_owned().unwrap()).set_len(len).unwrap();
    resize(page as u64);

    let mut buf = [0u8; 10];
    shm.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"first page", "the part still inside the object reads as before");
    shm.write_at(page - 10, b"still fine").unwrap();
    let mut across = vec![0u8; 2 * page];
    let e = shm.read_at(page / 2, &mut across).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "the shared memory object was truncated by another process ({page} bytes now, access needs {})",
            page / 2 + 2 * page
        )
    );
    let e = shm.write_at(2 * page, b"gone").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");

    // Down to nothing: every access fails, none crashes, and a refused write does not grow the
    // object back.
    resize(0);
    assert_eq!(shm.read_at(0, &mut buf).unwrap_err().kind(), ErrorKind::UnexpectedEof);
    assert_eq!(shm.write_at(0, b"x").unwrap_err().kind(), ErrorKind::UnexpectedEof);
    assert_eq!(shm.len(), 3 * page, "the handle keeps the length it mapped");
    assert_eq!(std::fs::metadata(format!("/dev/shm{name}")).unwrap().len(), 0);
    // Range checks still come first; once grown back, the object works again.
    assert_eq!(shm.read_at(3 * page, &mut buf).unwrap_err().kind(), ErrorKind::InvalidInput);
    resize(3 * page as u64);
    shm.write_at(3 * page - 4, b"back").unwrap();
    let mut tail = [0u8; 4];
    other.read_at(3 * page - 4, &mut tail).unwrap();
    assert_eq!(&tail, b"back");
}
