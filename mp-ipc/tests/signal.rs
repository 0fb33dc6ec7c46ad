//! Waiting for signals without a handler.

mod common;
use common::{LONG, join_ok, serial};
use mp_ipc::signal::{Signals, consts::*};
use std::time::{Duration, Instant};

#[test]
fn sigterm_from_another_process_is_received_with_its_sender() {
    let _s = serial();
    // Signals are per thread here: block in a child that has one thread.
    let child = mp_core::spawn(|| {
        let signals = Signals::block(&[SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
        if !signals.contains(SIGTERM) || signals.contains(SIGUSR1) {
            return Err("wrong set".into());
        }
        let t = Instant::now();
        if signals.wait_timeout(Duration::from_millis(30)).map_err(|e| e.to_string())?.is_some() {
            return Err("spurious signal".into());
        }
        if t.elapsed() < Duration::from_millis(30) {
            return Err("timed out early".into());
        }
        let got = signals.wait_timeout(LONG).map_err(|e| e.to_string())?.ok_or("no signal")?;
        let parent = mp_core::parent_process().ok_or("no parent")?;
        if got.signal != SIGTERM || got.sender != parent.pid.as_raw() {
            return Err(format!("{got:?}"));
        }
        Ok(())
    })
    .unwrap();
    // Give the child time to block; until then SIGTERM would kill it, so retry on that.
    std::thread::sleep(Duration::from_millis(200));
    child.terminate().unwrap();
    let s = join_ok(&child, LONG);
    assert!(s.success(), "{s}");
}

#[test]
fn try_wait_and_bad_signals() {
    let _s = serial();
    let child = mp_core::spawn(|| {
        let signals = Signals::block(&[SIGUSR2]).map_err(|e| e.to_string())?;
        if signals.try_wait().map_err(|e| e.to_string())?.is_some() {
            return Err("nothing was pending".into());
        }
        signals.raise(SIGUSR2).map_err(|e| e.to_string())?;
        match signals.try_wait().map_err(|e| e.to_string())? {
            Some(s) if s.signal == SIGUSR2 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap();
    assert!(join_ok(&child, LONG).success());
    assert_eq!(Signals::block(&[SIGKILL]).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(Signals::block(&[0]).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(Signals::block(&[999]).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}
