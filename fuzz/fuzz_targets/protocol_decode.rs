//! The chat protocol decoder on arbitrary bytes: never panics; what decodes re-encodes to the
//! same bytes.
#![no_main]

use chat_core::protocol::{ClientMsg, ServerMsg, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode::<ClientMsg>(data) {
        assert_eq!(decode::<ClientMsg>(&encode(&m)).ok(), Some(m));
    }
    if let Ok(m) = decode::<ServerMsg>(data) {
        assert_eq!(decode::<ServerMsg>(&encode(&m)).ok(), Some(m));
    }
});
