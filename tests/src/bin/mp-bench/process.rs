//! The start-method rows: a fork-server child's start + join beside a forked child's (the
//! `spawn` row), and beside Python's `forkserver` and `spawn` start methods.

use crate::ROUNDS;
use mp_tests::bench::{Better, Row, median_pair, us_per};

fn empty(_: ()) {}

/// Start + join of an empty fork-server child, against `mp_core::spawn` (fork) of an empty
/// closure in the same run. Two rows from one measurement: beside Python's `forkserver`, and
/// beside Python's `spawn` (the start method that, like ours, gives a child none of the
/// caller's threads, locks or descriptors).
pub fn forkserver_join(scale: f64) -> Vec<Row> {
    let n = ((400.0 * scale) as usize).max(10);
    mp_core::forkserver::start().expect("fork server");
    let (served, forked) = median_pair(
        ROUNDS,
        || {
            us_per(n, || {
                let p = mp_core::forkserver::spawn(empty, ()).expect("spawn");
                assert!(p.join().expect("join").success());
            })
        },
        || {
            us_per(n, || {
                let p = mp_core::spawn(|| ()).expect("spawn");
                assert!(p.join().expect("join").success());
            })
        },
    );
    vec![
        Row {
            key: "forkserver_join_us",
            what: "process start + join via the fork server (empty fn); raw column: fork from this process as it is by now (larger than at the first row)",
            unit: "us/process",
            better: Better::Lower,
            ours: served,
            raw: Some(forked),
            target: "<= 2x the first row's fork",
        },
        Row {
            key: "spawn_method_join_us",
            what: "fork-server start + join beside Python's `spawn` start method",
            unit: "us/process",
            better: Better::Lower,
            ours: served,
            raw: None,
            target: "(Python's clean-child method)",
        },
    ]
}
