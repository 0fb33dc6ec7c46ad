//! The `Manager` row: a dict get+set round trip from one client process, beside Python's
//! `multiprocessing.Manager().dict()`.

use crate::ROUNDS;
use mp_tests::bench::{Better, Row, median, us_per};

/// Microseconds per `d[k] = i; d[k]` (two requests, two replies) on a manager dict of `u64`s.
pub fn manager_dict(scale: f64) -> Row {
    let n = ((20_000.0 * scale) as usize).max(200);
    let manager = mp_core::Manager::start().unwrap();
    let d = manager.dict::<u64, u64>().unwrap();
    let mut i = 0u64;
    let ours = median(ROUNDS, || {
        us_per(n, || {
            i += 1;
            d.set(&(i % 64), &i).unwrap();
            assert_eq!(d.get(&(i % 64)).unwrap(), Some(i));
        })
    });
    Row {
        key: "manager_dict_get_set_us",
        what: "Manager dict get+set round trip (d[k] = v; d[k]), one client process",
        unit: "us",
        better: Better::Lower,
        ours,
        raw: None,
        target: "<= 0.5x Python",
    }
}
