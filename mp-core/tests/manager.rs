//! The `Manager` across real processes: shared dicts, lists and namespaces, its lock, proxies
//! after a fork and across threads, and a clear error (never a hang) once the server is gone.

mod common;
use common::{count_children, count_fds, within};
use mp_core::Manager;
use mp_core::manager::ManagerError;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

/// One test at a time: a child forked by one test would otherwise inherit (for its lifetime)
/// the listening socket another test's `Manager::start` had open at that moment, and that
/// manager's socket would then accept connections after its server died.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const LIMIT: Duration = Duration::from_secs(60);

type Res<T = ()> = Result<T, ManagerError>;

#[test]
fn a_dict_updated_by_4_processes_x_1000_increments_under_the_manager_lock_ends_at_4000() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let counts = manager.dict::<String, u64>().unwrap();
        let lock = manager.lock().unwrap();
        counts.set("n", &0).unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                let (counts, lock) = (counts.clone(), lock.clone());
                mp_core::spawn(move || -> Res {
                    for _ in 0..1000 {
                        let _held = lock.acquire()?;
                        let n = counts.get("n")?.expect("set before the fork");
                        counts.set("n", &(n + 1))?;
                    }
                    Ok(())
                })
                .unwrap()
            })
            .collect();
        for c in children {
            assert!(c.join().unwrap().success());
        }
        assert_eq!(counts.get("n").unwrap(), Some(4000));
    });
}

#[test]
fn update_with_from_4_processes_loses_no_increment() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let counts = manager.dict::<u8, u64>().unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                let counts = counts.clone();
                mp_core::spawn(move || -> Res {
                    for _ in 0..500 {
                        counts.update_with(&7, |n| n.unwrap_or(0) + 1)?;
                    }
                    Ok(())
                })
                .unwrap()
            })
            .collect();
        for c in children {
            assert!(c.join().unwrap().success());
        }
        assert_eq!(counts.get(&7).unwrap(), Some(2000));
    });
}

#[test]
fn every_proxy_fails_with_gone_after_shutdown() {
    let _serial = serial();
    within(LIMIT, || {
        let mut manager = Manager::start().unwrap();
        let d = manager.dict::<u32, u32>().unwrap();
        let l = manager.list::<u32>().unwrap();
        let ns = manager.namespace().unwrap();
        let lock = manager.lock().unwrap();
        d.set(&1, &1).unwrap();
        manager.shutdown().unwrap();
        let t = Instant::now();
        assert!(d.get(&1).unwrap_err().is_gone());
        assert!(d.set(&1, &2).unwrap_err().is_gone());
        assert!(l.push(&1).unwrap_err().is_gone());
        assert!(ns.get::<u32>("x").unwrap_err().is_gone());
        assert!(lock.acquire().unwrap_err().is_gone());
        assert!(manager.dict::<u8, u8>().unwrap_err().is_gone());
        let err = d.len().unwrap_err();
        assert_eq!(err.to_string(), "the manager process has shut down or died");
        assert!(t.elapsed() < Duration::from_secs(5), "a failed call took {:?}", t.elapsed());
        manager.shutdown().unwrap(); // twice is fine
    });
}

/// Calls `op` until it fails (the kill takes a moment to land), then returns the error.
fn first_error<T>(mut op: impl FnMut() -> Res<T>) -> ManagerError {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match op() {
            Err(e) => return e,
            Ok(_) => assert!(Instant::now() < deadline, "the proxy kept working after the kill"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn sigkill(pid: mp_core::Pid) {
    // SAFETY: kill(2) with a pid we started and still hold the handle of; no memory involved.
    assert_eq!(unsafe { libc::kill(pid.as_raw(), libc::SIGKILL) }, 0);
}

#[test]
fn proxies_fail_with_gone_after_the_server_is_sigkilled() {
    let _serial = serial();
    within(LIMIT, || {
        let mut manager = Manager::start().unwrap();
        let d = manager.dict::<u32, u32>().unwrap();
        let l = manager.list::<String>().unwrap();
        d.set(&1, &1).unwrap(); // leaves a pooled connection to the server
        sigkill(manager.pid());
        let t = Instant::now();
        assert!(first_error(|| d.get(&1)).is_gone()); // on the pooled connection
        assert!(d.get(&1).unwrap_err().is_gone()); // connecting afresh
        assert!(l.push("x").unwrap_err().is_gone());
        assert!(manager.namespace().unwrap_err().is_gone());
        assert!(t.elapsed() < Duration::from_secs(10));
        let address = manager.address().to_path_buf();
        manager.shutdown().unwrap();
        assert!(!address.exists());
    });
}

#[test]
fn a_blocked_lock_acquire_ends_with_gone_when_the_server_dies() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let lock = manager.lock().unwrap();
        let held = lock.acquire().unwrap();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || lock.acquire().map(drop))
        };
        std::thread::sleep(Duration::from_millis(50));
        sigkill(manager.pid());
        assert!(waiter.join().unwrap().unwrap_err().is_gone());
        drop(held); // releasing on a dead server is quiet
    });
}

#[test]
fn a_server_that_stops_answering_gives_a_timeout() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::builder().timeout(Duration::from_millis(200)).start().unwrap();
        let d = manager.dict::<u8, u8>().unwrap();
        d.set(&1, &1).unwrap();
        // SAFETY: kill(2) on our own server process.
        assert_eq!(unsafe { libc::kill(manager.pid().as_raw(), libc::SIGSTOP) }, 0);
        // The signal lands asynchronously: wait until the kernel shows the server stopped.
        let stat = format!("/proc/{}/stat", manager.pid());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&stat).unwrap().rsplit(')').next().unwrap().split_whitespace().next()
            != Some("T")
        {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(1));
        }
        let t = Instant::now();
        let err = d.get(&1).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(t.elapsed() < Duration::from_secs(10));
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(manager.pid().as_raw(), libc::SIGCONT) }, 0);
        assert_eq!(d.get(&1).unwrap(), Some(1)); // a fresh connection: the late reply is not read
    });
}

#[test]
fn a_lock_held_by_a_process_that_dies_is_released() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let lock = manager.lock().unwrap();
        let (mut ready_rd, ready_wr) = std::io::pipe().unwrap();
        let holder = {
            let lock = lock.clone();
            mp_core::spawn(move || {
                let _held = lock.acquire().unwrap();
                let mut wr = ready_wr;
                std::io::Write::write_all(&mut wr, b"x").unwrap();
                std::thread::sleep(Duration::from_secs(60));
            })
            .unwrap()
        };
        std::io::Read::read_exact(&mut ready_rd, &mut [0u8]).unwrap();
        assert!(lock.try_acquire().unwrap().is_none());
        holder.kill().unwrap();
        holder.join().unwrap();
        let got = lock.acquire_timeout(Duration::from_secs(10)).unwrap();
        assert!(got.is_some(), "the dead holder's lock was not released");
    });
}

#[test]
fn dict_operations_one_by_one() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<String, i64>().unwrap();
        assert!(d.is_empty().unwrap());
        assert_eq!(d.get("a").unwrap(), None);
        d.set("a", &1).unwrap();
        d.set("b", &2).unwrap();
        assert_eq!(d.insert("a", &10).unwrap(), Some(1));
        assert_eq!(d.get("a").unwrap(), Some(10));
        assert!(d.contains_key("b").unwrap());
        assert!(!d.contains_key("c").unwrap());
        assert_eq!(d.len().unwrap(), 2);
        assert_eq!(d.get_or_default("zzz").unwrap(), 0);
        assert_eq!(d.setdefault("c", &3).unwrap(), 3);
        assert_eq!(d.setdefault("c", &4).unwrap(), 3);
        d.update([("d".to_string(), 4), ("a".to_string(), 11)]).unwrap();
        assert_eq!(d.keys().unwrap(), ["a", "b", "c", "d"]); // insertion order, as Python keeps
        assert_eq!(d.values().unwrap(), [11, 2, 3, 4]);
        let items = d.items().unwrap();
        assert_eq!(items.iter().map(|(_, v)| v).sum::<i64>(), 20);
        assert_eq!(items[0], ("a".to_string(), 11));
        assert_eq!(d.remove("b").unwrap(), Some(2));
        assert_eq!(d.remove("b").unwrap(), None);
        assert!(d.delete("c").unwrap());
        assert!(!d.delete("c").unwrap());
        assert_eq!(d.update_with("a", |v| v.unwrap_or(0) * 2).unwrap(), 22);
        assert_eq!(d.update_with("new", |v| v.unwrap_or(5)).unwrap(), 5);
        assert_eq!(d.keys().unwrap(), ["a", "d", "new"]);
        d.clear().unwrap();
        assert_eq!(d.len().unwrap(), 0);
        assert!(d.items().unwrap().is_empty());
    });
}

#[test]
fn list_operations_one_by_one() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let l = manager.list::<u32>().unwrap();
        assert!(l.is_empty().unwrap());
        assert_eq!(l.pop().unwrap(), None);
        l.push(&1).unwrap();
        l.extend([2, 3, 4]).unwrap();
        assert_eq!(l.len().unwrap(), 4);
        assert_eq!(l.get(3).unwrap(), Some(4));
        assert_eq!(l.get(4).unwrap(), None);
        l.set(0, &10).unwrap();
        l.insert(1, &15).unwrap();
        l.insert(5, &99).unwrap(); // at the length: appends
        assert_eq!(l.to_vec().unwrap(), [10, 15, 2, 3, 4, 99]);
        assert_eq!(l.remove(2).unwrap(), 2);
        assert_eq!(l.pop().unwrap(), Some(99));
        assert!(matches!(l.set(9, &0), Err(ManagerError::IndexOutOfRange { index: 9, len: 4 })));
        assert!(matches!(l.insert(6, &0), Err(ManagerError::IndexOutOfRange { index: 6, len: 4 })));
        assert!(matches!(l.remove(4), Err(ManagerError::IndexOutOfRange { index: 4, len: 4 })));
        assert_eq!(l.to_vec().unwrap().into_iter().sum::<u32>(), 10 + 15 + 3 + 4);
        l.clear().unwrap();
        assert_eq!(l.len().unwrap(), 0);
    });
}

#[test]
fn namespace_operations_one_by_one() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let ns = manager.namespace().unwrap();
        assert!(ns.names().unwrap().is_empty());
        ns.set("epoch", &1u32).unwrap();
        ns.set("name", "run-7").unwrap();
        ns.set("shape", &vec![3u16, 224, 224]).unwrap();
        assert_eq!(ns.get::<u32>("epoch").unwrap(), Some(1));
        assert_eq!(ns.get::<String>("name").unwrap().as_deref(), Some("run-7"));
        assert_eq!(ns.get::<Vec<u16>>("shape").unwrap(), Some(vec![3, 224, 224]));
        assert_eq!(ns.get::<u32>("missing").unwrap(), None);
        ns.set("epoch", &2u32).unwrap();
        assert_eq!(ns.names().unwrap(), ["epoch", "name", "shape"]);
        assert!(ns.delete("name").unwrap());
        assert!(!ns.delete("name").unwrap());
        assert_eq!(ns.names().unwrap(), ["epoch", "shape"]);
        // Read as the wrong type: a decode error, not garbage or a panic.
        let err = ns.get::<String>("shape").unwrap_err();
        assert!(matches!(err, ManagerError::Codec(_)), "{err:?}");
    });
}

#[test]
fn a_proxy_made_before_a_fork_works_in_the_child_and_in_the_parent_at_once() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<String, u32>().unwrap();
        let l = manager.list::<u32>().unwrap();
        d.set("parent", &0).unwrap(); // the parent's connection exists before the fork
        let child = {
            let (d, l) = (d.clone(), l.clone());
            mp_core::spawn(move || -> Res {
                for i in 0..500 {
                    d.set("child", &i)?;
                    l.push(&i)?;
                }
                Ok(())
            })
            .unwrap()
        };
        for i in 0..500 {
            d.set("parent", &i).unwrap();
            assert_eq!(d.get("parent").unwrap(), Some(i)); // never the child's reply
            l.push(&(1000 + i)).unwrap();
        }
        assert!(child.join().unwrap().success());
        assert_eq!(d.get("child").unwrap(), Some(499));
        let all = l.to_vec().unwrap();
        assert_eq!(all.len(), 1000);
        let from_child: Vec<u32> = all.iter().copied().filter(|&v| v < 1000).collect();
        assert_eq!(from_child, (0..500).collect::<Vec<_>>()); // in order, none lost
    });
}

#[test]
fn one_proxy_shared_by_8_threads() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<u32, u64>().unwrap();
        let lock = manager.lock().unwrap();
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let (d, lock) = (&d, &lock);
                s.spawn(move || {
                    for i in 0..200u64 {
                        d.set(&t, &i).unwrap();
                        assert_eq!(d.get(&t).unwrap(), Some(i)); // each thread sees its own write
                        d.update_with(&100, |n| n.unwrap_or(0) + 1).unwrap();
                        let _held = lock.acquire().unwrap();
                        let n = d.get_or_default(&200).unwrap();
                        d.set(&200, &(n + 1)).unwrap();
                    }
                });
            }
        });
        assert_eq!(d.get(&100).unwrap(), Some(1600));
        assert_eq!(d.get(&200).unwrap(), Some(1600));
    });
}

#[test]
fn chinese_strings_as_keys_and_values() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<String, String>().unwrap();
        d.set("北京", "首都").unwrap();
        d.set("上海", "直辖市").unwrap();
        let child = {
            let d = d.clone();
            mp_core::spawn(move || -> Res {
                let v = d.get("北京")?.unwrap_or_default();
                d.set("广州", &format!("{v}以南"))
            })
            .unwrap()
        };
        assert!(child.join().unwrap().success());
        assert_eq!(d.get("广州").unwrap().as_deref(), Some("首都以南"));
        assert_eq!(d.keys().unwrap(), ["北京", "上海", "广州"]);
        let l = manager.list::<String>().unwrap();
        l.push("你好，世界").unwrap();
        assert_eq!(l.to_vec().unwrap(), ["你好，世界"]);
        let ns = manager.namespace().unwrap();
        ns.set("状态", "完成").unwrap();
        assert_eq!(ns.names().unwrap(), ["状态"]);
        assert_eq!(ns.get::<String>("状态").unwrap().as_deref(), Some("完成"));
    });
}

#[test]
fn a_1_mib_value_round_trips_through_dict_list_and_a_child() {
    let _serial = serial();
    within(LIMIT, || {
        let manager = Manager::start().unwrap();
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let d = manager.dict::<u8, Vec<u8>>().unwrap();
        let l = manager.list::<String>().unwrap();
        d.set(&1, &big).unwrap();
        assert_eq!(d.get(&1).unwrap().as_ref(), Some(&big));
        let text = "字".repeat((1 << 20) / 3);
        l.push(&text).unwrap();
        let child = {
            let (d, big) = (d.clone(), big.clone());
            mp_core::spawn(move || -> Res {
                let got = d.get(&1)?.unwrap_or_default();
                assert_eq!(got, big);
                d.set(&2, &got.iter().rev().copied().collect::<Vec<u8>>())
            })
            .unwrap()
        };
        assert!(child.join().unwrap().success());
        let reversed = d.get(&2).unwrap().unwrap();
        assert!(reversed.iter().eq(big.iter().rev()));
        assert_eq!(l.get(0).unwrap().as_deref(), Some(text.as_str()));
    });
}

#[test]
fn the_socket_is_private_while_running_and_removed_after_shutdown() {
    let _serial = serial();
    within(LIMIT, || {
        let mut manager = Manager::start().unwrap();
        let socket = manager.address().to_path_buf();
        let dir = socket.parent().unwrap().to_path_buf();
        let dir_meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(dir_meta.permissions().mode() & 0o777, 0o700);
        // SAFETY: getuid(2) has no preconditions.
        let me = unsafe { libc::getuid() };
        assert_eq!(dir_meta.uid(), me);
        let sock_meta = std::fs::symlink_metadata(&socket).unwrap();
        assert_eq!(sock_meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(sock_meta.uid(), me);
        manager.shutdown().unwrap();
        assert!(!socket.exists());
        assert!(!dir.exists());
        // Dropping without shutdown cleans up too.
        let manager = Manager::start().unwrap();
        let dir = manager.address().parent().unwrap().to_path_buf();
        assert!(dir.exists());
        drop(manager);
        assert!(!dir.exists());
    });
}

#[test]
fn the_server_dies_with_the_process_that_started_the_manager() {
    let _serial = serial();
    within(LIMIT, || {
        let (mut rd, wr) = std::io::pipe().unwrap();
        let starter = mp_core::spawn(move || {
            let manager = Manager::start().unwrap();
            let mut wr = wr;
            std::io::Write::write_all(&mut wr, &manager.pid().as_raw().to_le_bytes()).unwrap();
            std::io::Write::write_all(&mut wr, manager.address().as_os_str().as_encoded_bytes()).unwrap();
            std::mem::forget(manager);
            // SAFETY: _exit(2) ends this child without running anything else.
            unsafe { libc::_exit(0) };
        })
        .unwrap();
        let mut pid = [0u8; 4];
        std::io::Read::read_exact(&mut rd, &mut pid).unwrap();
        let pid = i32::from_le_bytes(pid);
        assert!(starter.join().unwrap().success());
        let mut address = Vec::new();
        std::io::Read::read_to_end(&mut rd, &mut address).unwrap();
        let address = std::path::PathBuf::from(String::from_utf8(address).unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        // SAFETY: kill(pid, 0) only checks for existence; the pid is reaped by its (now dead)
        // parent's reaper, init, so it may name another process only after that.
        while unsafe { libc::kill(pid, 0) } == 0 {
            assert!(Instant::now() < deadline, "the manager's server outlived its creator");
            std::thread::sleep(Duration::from_millis(5));
        }
        // A creator that never shut its manager down leaves the socket behind: clean up here.
        std::fs::remove_file(&address).unwrap();
        std::fs::remove_dir(address.parent().unwrap()).unwrap();
    });
}

#[test]
fn proxies_are_send_sync_and_clone_and_the_manager_is_send_sync() {
    use mp_core::manager::{DictProxy, ListProxy, LockProxy, NamespaceProxy};
    fn proxy<T: Send + Sync + Clone>() {}
    fn shared<T: Send + Sync>() {}
    // `Rc` is neither Send nor Sync, but a proxy never holds a value of its type parameters.
    proxy::<DictProxy<String, std::rc::Rc<u8>>>();
    proxy::<ListProxy<std::rc::Rc<u8>>>();
    proxy::<NamespaceProxy>();
    proxy::<LockProxy>();
    shared::<Manager>();
}

#[test]
fn starting_and_shutting_down_managers_leaks_no_descriptor_and_no_child() {
    let _serial = serial();
    within(LIMIT, || {
        let (fds, children) = (count_fds(), count_children());
        for _ in 0..20 {
            let manager = Manager::start().unwrap();
            let d = manager.dict::<u8, u8>().unwrap();
            d.set(&1, &1).unwrap();
            drop(d);
            drop(manager);
        }
        assert_eq!(count_fds(), fds);
        assert_eq!(count_children(), children);
    });
}
