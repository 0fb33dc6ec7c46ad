//! The pipe frame decoder: arbitrary bytes written to one end of a pipe, read as messages at
//! the other: errors, never a panic or an allocation of a claimed size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mp_core::mp_ipc::{Pipe, RecvError};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};

fuzz_target!(|data: &[u8]| {
    let (mut a, b) = Pipe::duplex().unwrap();
    a.set_max_message_size(1 << 16);
    // SAFETY: a new descriptor for our own socket, owned by the File.
    let mut raw = unsafe { std::fs::File::from_raw_fd(libc_dup(b.as_raw_fd())) };
    let _ = raw.write_all(&data[..data.len().min(100_000)]);
    drop(raw);
    drop(b);
    for _ in 0..1000 {
        match a.try_recv::<(u32, String, Vec<u8>)>() {
            Ok(_) | Err(RecvError::Decode(_)) => {}
            Err(_) => break,
        }
    }
});

fn libc_dup(fd: i32) -> i32 {
    unsafe extern "C" {
        fn dup(fd: i32) -> i32;
    }
    // SAFETY: dup on a descriptor we own.
    unsafe { dup(fd) }
}
