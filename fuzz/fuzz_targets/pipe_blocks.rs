//! Byte vectors through a pipe, received typed (`Vec<u8>`, `Bytes`: the block fast path, which
//! reads a large one straight into the vector it returns; `String`; `recv_bytes_into`; a frame
//! begun by one and finished by another) and raw (`recv_bytes`) from two copies of the same
//! stream: the typed value must be exactly what postcard decodes from the raw payload, and both
//! must fail alike. The input is a script of frames, so that frames larger
//! than libFuzzer's inputs (up to 512 KiB) are tried, with lengths that lie.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mp_core::mp_ipc::{Bytes, Pipe, RecvError};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};

/// The largest message either reader accepts.
const MAX: usize = 1 << 19;

fuzz_target!(|script: &[u8]| {
    // A reader that stops early closes its end under a writer: EPIPE, not a fatal SIGPIPE
    // (libFuzzer's `main` does not ignore it as Rust's does).
    static IGNORE_SIGPIPE: std::sync::Once = std::sync::Once::new();
    IGNORE_SIGPIPE.call_once(ignore_sigpipe);
    let stream = build(script);
    let (mut raw, raw_tx) = Pipe::duplex().unwrap();
    let (mut typed, typed_tx) = Pipe::duplex().unwrap();
    raw.set_max_message_size(MAX);
    typed.set_max_message_size(MAX);
    let writers: Vec<_> = [raw_tx, typed_tx]
        .into_iter()
        .map(|tx| {
            let stream = stream.clone();
            std::thread::spawn(move || {
                // SAFETY: a new descriptor for our own socket, owned by the File.
                let mut file = unsafe { std::fs::File::from_raw_fd(libc_dup(tx.as_raw_fd())) };
                drop(tx);
                // The reader may stop early (a length over the limit): a failed write is fine.
                let _ = file.write_all(&stream);
            })
        })
        .collect();
    let mut into = vec![0u8; MAX];
    for i in 0.. {
        let payload = raw.recv_bytes();
        // The typed side takes each frame another way; the odd ones are first tried without
        // waiting as a byte vector, so that a frame may be begun as one (its length prefix set
        // apart) and finished by another kind of receive.
        let early = if i % 2 == 1 { Some(typed.try_recv::<Vec<u8>>()) } else { None };
        // Whether the receive that answered was the one for a `String`.
        let as_text = i % 4 == 3 && matches!(early, None | Some(Err(RecvError::Empty)));
        let got: Result<Got, RecvError> = match early {
            Some(Ok(v)) => Ok(Got::Vector(v)),
            Some(Err(e)) if !matches!(e, RecvError::Empty) => Err(e),
            _ => match i % 4 {
                0 => typed.recv::<Vec<u8>>().map(Got::Vector),
                1 => typed.recv_bytes_into(&mut into).map(|n| Got::Raw(into[..n].to_vec())),
                2 => typed.recv::<Bytes>().map(|b| Got::Vector(b.into_inner())),
                _ => typed.recv::<String>().map(Got::Text),
            },
        };
        match payload {
            Ok(p) => match got {
                Ok(Got::Raw(r)) => assert!(r == p, "frame {i}: the raw bytes differ"),
                Ok(Got::Vector(v)) => {
                    let want = postcard::take_from_bytes::<Vec<u8>>(&p);
                    assert!(matches!(want, Ok((ref w, [])) if *w == v), "frame {i}: the vector differs");
                }
                Ok(Got::Text(t)) => {
                    let want = postcard::take_from_bytes::<String>(&p);
                    assert!(matches!(want, Ok((ref w, [])) if *w == t), "frame {i}: the string differs");
                }
                Err(RecvError::Decode(_)) => {
                    let vector = matches!(postcard::take_from_bytes::<Vec<u8>>(&p), Ok((_, [])));
                    let text = matches!(postcard::take_from_bytes::<String>(&p), Ok((_, [])));
                    let refused = if as_text { !text } else { !vector };
                    assert!(refused, "frame {i}: postcard decodes what the receive refused");
                }
                Err(e) => panic!("frame {i}: the raw receive got {} bytes, the typed one {e}", p.len()),
            },
            Err(e) => {
                let g = got.expect_err("the raw receive failed, the typed one did not");
                assert_eq!(std::mem::discriminant(&e), std::mem::discriminant(&g), "{e} / {g}");
                break;
            }
        }
    }
    // Both readers stop at the same frame; closing them ends any write still blocked.
    drop(raw);
    drop(typed);
    for w in writers {
        w.join().unwrap();
    }
});

/// What the typed side received.
#[derive(Debug)]
enum Got {
    Vector(Vec<u8>),
    Raw(Vec<u8>),
    Text(String),
}

/// The byte stream a script describes: each step is an opcode byte and its operands.
fn build(script: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = script;
    let take = |n: usize, s: &mut &[u8]| -> Vec<u8> {
        let n = n.min(s.len());
        let (a, b) = s.split_at(n);
        *s = b;
        a.to_vec()
    };
    while let Some((&op, rest)) = s.split_first() {
        s = rest;
        match op % 5 {
            // A block of up to 512 KiB: a length prefix (sometimes lying), then patterned bytes.
            0 | 1 => {
                let p = take(3, &mut s);
                let len = (u32::from(*p.first().unwrap_or(&0)) << 11
                    | u32::from(*p.get(1).unwrap_or(&0)) << 3) as usize;
                let lie = *p.get(2).unwrap_or(&0);
                let mut body = varint(len);
                match lie % 8 {
                    // Not the shortest form: a zero group added on top.
                    1 => {
                        let last = body.len() - 1;
                        body[last] |= 0x80;
                        body.push(0);
                    }
                    // The prefix says one more or one less than what follows.
                    2 => body = varint(len + 1),
                    3 => body = varint(len.saturating_sub(1)),
                    _ => {}
                }
                body.extend((0..len).map(|i| (i as u8) ^ lie));
                if lie % 8 == 4 {
                    body.push(0); // a byte after the vector: not one block
                }
                out.extend_from_slice(&(body.len() as u32).to_le_bytes());
                out.extend_from_slice(&body);
            }
            // Raw bytes as they are (headers, garbage, a frame cut short).
            2 | 3 => {
                let n = take(1, &mut s).first().copied().unwrap_or(0) as usize;
                out.extend(take(n, &mut s));
            }
            // A frame header claiming `n` bytes, then whatever follows in the script.
            _ => {
                let p = take(3, &mut s);
                let n = p.iter().fold(0u32, |a, &b| a << 8 | u32::from(b));
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
    }
    out
}

fn varint(mut n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    while n >= 0x80 {
        v.push(n as u8 | 0x80);
        n >>= 7;
    }
    v.push(n as u8);
    v
}

fn ignore_sigpipe() {
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_IGN: usize = 1;
    // SAFETY: setting a signal's disposition to "ignore" installs no handler code.
    unsafe { signal(SIGPIPE, SIG_IGN) };
}

fn libc_dup(fd: i32) -> i32 {
    unsafe extern "C" {
        fn dup(fd: i32) -> i32;
    }
    // SAFETY: dup on a descriptor we own.
    unsafe { dup(fd) }
}
