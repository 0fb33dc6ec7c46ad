//! Many clients on one server, in the test profile: every join notice reaches every later user
//! exactly once, a line and a burst reach everyone, and the server's memory stays small. The
//! 10,000-client figures come from `ci/bench` (release build).

use mp_tests::chatbench::many_clients;
use std::time::Duration;

#[test]
fn two_thousand_clients_get_every_notice_and_line_once_in_little_memory() {
    // many_clients panics on a lost session, a duplicate or missing notice, or a line or burst
    // that does not reach everyone within its deadline.
    let m = many_clients(2000);
    eprintln!("{m:?}");
    assert_eq!(m.join_notices, 2000 * 1999 / 2);
    assert_eq!(m.reconnects, 0);
    assert!(m.peak_kib < 64 * 1024, "server peak RSS {} KiB", m.peak_kib);
    assert!(m.one_line < Duration::from_secs(30), "{:?}", m.one_line);
}
