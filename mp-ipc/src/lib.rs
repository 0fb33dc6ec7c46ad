//! placeholder (filled in by the IPC work)
#![deny(missing_docs)]

mod sys;

/// Low-level process calls for `mp-core`, which builds its process API on them. Not a stable
/// interface: use `mp_core::Process` and friends instead.
#[doc(hidden)]
pub mod __private {
    pub use crate::sys::cpu_count;
    pub use crate::sys::fd::poll_readable;
    pub use crate::sys::fd::{dup2, open_dev_null};
    pub use crate::sys::process::*;
}
