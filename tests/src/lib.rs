//! End-to-end tests and the benchmark harness for the workspace. The tests live in `tests/`;
//! `ci/bench` runs the `mp-bench` binary.

pub mod attack;
pub mod bench;
pub mod chatbench;
pub mod testutil;
