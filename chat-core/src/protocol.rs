//! The wire protocol: one postcard-encoded message per UDP datagram, the protocol version first.
//!
//! Decoding uses `take_from_bytes` and refuses trailing bytes; anything that does not decode is
//! dropped by the caller and counted.
//!
//! # Handshake and session binding
//!
//! 1. The client sends [`ClientMsg::Login`] without a cookie, padded to [`LOGIN_SIZE`] bytes.
//! 2. The server answers with [`ServerMsg::Retry`] carrying a stateless cookie (a keyed hash of
//!    the client's address, the attempt's nonce and the time). The answer is smaller than the
//!    request, and the server keeps nothing: a spoofed login costs the victim fewer bytes than
//!    it cost the attacker.
//! 3. The client sends the login again with the cookie; only now does the server look at the
//!    name, and answer [`ServerMsg::LoginOk`] (a session `token` for the client to put on every
//!    datagram, a session `tag` the server puts on every datagram it sends) or
//!    [`ServerMsg::LoginRefused`].
//!
//! Every later server datagram carries the session's `tag`; the client drops any datagram
//! without it. A client whose server went quiet logs in again with `resume` set to its old
//! token: that proves it owns the name, so the server hands the name over instead of refusing
//! it as taken. A datagram with a valid token from a new address (NAT rebinding) makes the
//! server send a [`ServerMsg::PathChallenge`] there; the session moves once the new address
//! echoes it ([`ClientMsg::PathResponse`]).

use serde::{Deserialize, Serialize};

/// Protocol version, the first byte of every datagram.
pub const VERSION: u8 = 2;
/// Largest datagram either side sends.
pub const MAX_DATAGRAM: usize = 1200;
/// Bytes of messages (events or requests) per datagram: the datagram limit less the
/// message's own fields.
pub const BATCH_BUDGET: usize = MAX_DATAGRAM - 40;
/// Requests per datagram at most; the server drops a datagram with more.
pub const MAX_REQUESTS: usize = 32;
/// Longest chat text, in characters as people count them (Unicode scalar values: `你` is one,
/// `é` is one). 300 Chinese characters take 900 bytes, which fits a datagram with the longest
/// name.
pub const MAX_TEXT_CHARS: usize = 300;
/// Largest chat text, in bytes of UTF-8: the datagram's own bound, which only text of
/// four-byte characters (emoji) reaches before [`MAX_TEXT_CHARS`].
pub const MAX_TEXT: usize = 1000;
/// Longest name, in characters.
pub const MAX_NAME: usize = 32;
/// A login datagram is padded to this many bytes; the server ignores shorter ones, so that
/// nothing it answers to an address it has not verified is larger than what it received.
pub const LOGIN_SIZE: usize = 256;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Ask to join as `name`. Sent again until answered; `nonce` ties answers to this attempt.
    Login {
        /// The wanted name.
        name: String,
        /// Random, per attempt.
        nonce: u64,
        /// The cookie from the server's [`ServerMsg::Retry`] (none on the first try).
        cookie: Option<u64>,
        /// The token of this client's previous session, when it logs in again after losing
        /// the server: proof that the name is its own.
        resume: Option<u64>,
        /// Zeros, so that the datagram is [`LOGIN_SIZE`] bytes long (see [`pad_login`]).
        pad: Vec<u8>,
    },
    /// Reliable requests with consecutive sequence numbers from `seq`, with the client's
    /// cumulative acknowledgement of server data.
    Data {
        /// Session token from `LoginOk`.
        token: u64,
        /// Sequence number of the first request (numbers start at 1).
        seq: u64,
        /// Every server message up to this sequence number has arrived.
        ack: u64,
        /// The requests, numbered `seq`, `seq + 1`, … (at most [`MAX_REQUESTS`]).
        reqs: Vec<Request>,
    },
    /// Acknowledgement only; also the heartbeat.
    Ack {
        /// Session token.
        token: u64,
        /// Cumulative acknowledgement.
        ack: u64,
    },
    /// The answer to a [`ServerMsg::PathChallenge`], from the address it reached.
    PathResponse {
        /// Session token.
        token: u64,
        /// The challenge, echoed.
        challenge: u64,
    },
}

/// What a logged-in user asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// A line for everyone.
    Chat(String),
    /// A line for one user.
    Private {
        /// Recipient's name.
        to: String,
        /// The text.
        text: String,
    },
    /// Who is online?
    Who,
    /// Leave (the seed's `quit`).
    Quit,
    /// An action for everyone (`/me waves` shows as `* ann waves`).
    Action(String),
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// Prove that you receive at your address: send the login again with this cookie.
    Retry {
        /// The attempt's nonce.
        nonce: u64,
        /// The cookie to send back.
        cookie: u64,
    },
    /// Login accepted.
    LoginOk {
        /// The attempt's nonce.
        nonce: u64,
        /// Token for every later client datagram.
        token: u64,
        /// Carried by every later server datagram of this session.
        tag: u64,
        /// The server's rate limit for this session: requests in a burst…
        burst: u32,
        /// …then this many per second (the client paces its requests to stay within it).
        per_sec: u32,
    },
    /// Login refused, with the reason in words.
    LoginRefused {
        /// The attempt's nonce.
        nonce: u64,
        /// Why.
        reason: String,
        /// For a passing condition (a rate limit, a full room), when to try again, in
        /// milliseconds; 0 when trying again would not help (a taken or invalid name).
        retry_after_ms: u32,
    },
    /// Reliable events with consecutive sequence numbers from `seq` (as many as fit one
    /// datagram), with the server's cumulative acknowledgement of client requests.
    Data {
        /// The session's tag.
        tag: u64,
        /// Sequence number of the first event (numbers start at 1).
        seq: u64,
        /// Every client request up to this number has arrived and been answered: a refusal
        /// of any of them is among the events up to `upto`.
        ack: u64,
        /// The number of the last event the server has taken for this session so far.
        upto: u64,
        /// The events, numbered `seq`, `seq + 1`, …
        events: Vec<Event>,
    },
    /// Acknowledgement only.
    Ack {
        /// The session's tag.
        tag: u64,
        /// Cumulative acknowledgement, as in [`ServerMsg::Data`].
        ack: u64,
        /// As in [`ServerMsg::Data`].
        upto: u64,
    },
    /// The token is unknown (the server restarted or removed the session): log in again.
    UnknownSession {
        /// [`echo_of`] the token the client sent: proof that this answers its datagram.
        echo: u32,
    },
    /// A datagram of this session came from a new address: echo `challenge` from there.
    PathChallenge {
        /// The session's tag.
        tag: u64,
        /// Random.
        challenge: u64,
    },
}

/// Why a user left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeftReason {
    /// Typed `quit`.
    Quit,
    /// Heartbeats stopped.
    TimedOut,
    /// Removed by the operator.
    Kicked,
}

/// Something that happened in the room, in the server's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// `from: text`. `history` marks lines replayed to a user who just joined.
    Line {
        /// Server time, milliseconds since the Unix epoch.
        ts: u64,
        /// Sender.
        from: String,
        /// Text.
        text: String,
        /// Replayed from before this user joined.
        history: bool,
    },
    /// A private line, to or from `peer` (one name only, so that the longest line with the
    /// longest name still fits a datagram).
    Private {
        /// Server time.
        ts: u64,
        /// The other user: the sender for a line received, the recipient for the echo of one sent.
        peer: String,
        /// `true` on the sender's own copy.
        sent: bool,
        /// Text.
        text: String,
    },
    /// `name joined`.
    Joined {
        /// Server time.
        ts: u64,
        /// Who.
        name: String,
    },
    /// `name left`.
    Left {
        /// Server time.
        ts: u64,
        /// Who.
        name: String,
        /// Why.
        reason: LeftReason,
    },
    /// `[admin] text`, from the server's console.
    Admin {
        /// Server time.
        ts: u64,
        /// Text.
        text: String,
    },
    /// Answer to `Who` (several events when the list is long; `last` on the final one).
    Who {
        /// Names.
        names: Vec<String>,
        /// The final part of the list.
        last: bool,
    },
    /// A request was refused (too long, rate limited, unknown recipient …).
    Refused {
        /// Why, in words.
        reason: String,
        /// The refused request's sequence number (0 when the refusal is about no one
        /// request). The client session turns it into its own request id.
        request: u64,
    },
    /// The answer to `Quit`: the seed's special flag; the session is over.
    Goodbye,
    /// The operator removed this user.
    Kicked,
    /// The server is shutting down.
    Shutdown,
    /// `* from text` (`/me`). `history` as for [`Event::Line`].
    Action {
        /// Server time.
        ts: u64,
        /// Who.
        from: String,
        /// What they do.
        text: String,
        /// Replayed from before this user joined.
        history: bool,
    },
}

/// Encodes `msg` behind the version byte.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Encoding into a Vec only fails for types serde cannot express; ours always can.
    postcard::to_extend(msg, vec![VERSION]).unwrap_or_default()
}

/// Encodes a login padded to [`LOGIN_SIZE`] bytes.
pub fn pad_login(name: &str, nonce: u64, cookie: Option<u64>, resume: Option<u64>) -> Vec<u8> {
    let mut msg = ClientMsg::Login { name: name.to_string(), nonce, cookie, resume, pad: Vec::new() };
    let bare = encode(&msg).len();
    if bare < LOGIN_SIZE {
        // The pad's own length prefix grows from one byte to two at 128.
        let mut n = LOGIN_SIZE - bare;
        if n > 127 {
            n -= 1;
        }
        if let ClientMsg::Login { pad, .. } = &mut msg {
            *pad = vec![0; n];
        }
    }
    encode(&msg)
}

/// The value a server puts on [`ServerMsg::UnknownSession`] for a datagram that carried
/// `token`: a fixed mixing of it (the SplitMix64 finaliser), so that a client can tell the
/// answer from a guess without the server knowing the session.
pub fn echo_of(token: u64) -> u32 {
    let mut z = token ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

/// Why a datagram was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Empty, or another protocol version (the byte found).
    Version(Option<u8>),
    /// Not a valid message.
    Malformed,
    /// A valid message followed by extra bytes.
    Trailing,
    /// Larger than [`MAX_DATAGRAM`].
    TooLarge,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Version(None) => write!(f, "an empty datagram"),
            DecodeError::Version(Some(v)) => write!(f, "protocol version {v} (this is version {VERSION})"),
            DecodeError::Malformed => write!(f, "not a valid message"),
            DecodeError::Trailing => write!(f, "a valid message followed by extra bytes"),
            DecodeError::TooLarge => write!(f, "larger than {MAX_DATAGRAM} bytes"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one datagram.
///
/// # Errors
///
/// See [`DecodeError`].
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge);
    }
    match bytes.split_first() {
        Some((&VERSION, rest)) => match postcard::take_from_bytes::<T>(rest) {
            Ok((v, [])) => Ok(v),
            Ok(_) => Err(DecodeError::Trailing),
            Err(_) => Err(DecodeError::Malformed),
        },
        Some((&v, _)) => Err(DecodeError::Version(Some(v))),
        None => Err(DecodeError::Version(None)),
    }
}

/// The login of a version-1 client: `[1, 0, name, nonce]`. Returns the nonce, so that the
/// server can tell such a client to upgrade.
pub fn old_login_nonce(bytes: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    enum V1 {
        Login { _name: String, nonce: u64 },
    }
    match bytes.split_first() {
        Some((&1, rest)) => match postcard::take_from_bytes::<V1>(rest) {
            Ok((V1::Login { nonce, .. }, [])) => Some(nonce),
            _ => None,
        },
        _ => None,
    }
}

/// A version-1 `LoginRefused { nonce, reason }`: what an old client understands.
pub fn old_login_refused(nonce: u64, reason: &str) -> Vec<u8> {
    let mut out = vec![1u8];
    varint(&mut out, 1);
    varint(&mut out, nonce);
    varint(&mut out, reason.len() as u64);
    out.extend_from_slice(reason.as_bytes());
    out
}

/// `ServerMsg::Data`'s variant index.
const DATA_VARIANT: u64 = 3;

/// Writes the start of a `ServerMsg::Data` datagram (version, variant, tag, first sequence
/// number, acknowledgement, event count) into `buf`, byte for byte what [`encode`] gives; the
/// caller appends the `n` events, each as [`encode_event`] gives it.
pub(crate) fn data_header(buf: &mut Vec<u8>, tag: u64, first: u64, ack: u64, upto: u64, n: u64) {
    buf.clear();
    buf.push(VERSION);
    varint(buf, DATA_VARIANT);
    varint(buf, tag);
    varint(buf, first);
    varint(buf, ack);
    varint(buf, upto);
    varint(buf, n);
}

/// Encodes one event as an element of `ServerMsg::Data`'s list.
pub(crate) fn encode_event(e: &Event) -> Vec<u8> {
    // Encoding into a Vec only fails for types serde cannot express; ours always can.
    postcard::to_allocvec(e).unwrap_or_default()
}

/// postcard's unsigned integer encoding (LEB128).
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Checks a user name (see [`crate::names::check_name`]).
///
/// # Errors
///
/// The reason, in words.
pub fn check_name(name: &str) -> Result<(), String> {
    crate::names::check_name(name).map_err(|e| e.to_string())
}

/// Checks chat text (see [`crate::names::check_text`]).
///
/// # Errors
///
/// The reason, in words.
pub fn check_text(text: &str) -> Result<(), String> {
    crate::names::check_text(text).map_err(|e| e.to_string())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let msgs = vec![
            ClientMsg::Login { name: "ann".into(), nonce: 7, cookie: Some(9), resume: None, pad: vec![0; 3] },
            ClientMsg::Data { token: 1, seq: 2, ack: 3, reqs: vec![Request::Chat("hi".into())] },
            ClientMsg::Data {
                token: 1,
                seq: 2,
                ack: 3,
                reqs: vec![Request::Private { to: "b".into(), text: "x".into() }],
            },
            ClientMsg::Data { token: 1, seq: 2, ack: 3, reqs: vec![Request::Who, Request::Chat("a".into())] },
            ClientMsg::Data {
                token: 1,
                seq: 2,
                ack: 3,
                reqs: vec![Request::Quit, Request::Action("x".into())],
            },
            ClientMsg::Ack { token: 1, ack: 9 },
            ClientMsg::PathResponse { token: 1, challenge: 2 },
        ];
        for m in msgs {
            assert_eq!(decode::<ClientMsg>(&encode(&m)).unwrap(), m);
        }
        let events = vec![
            Event::Line { ts: 1, from: "a".into(), text: "b".into(), history: true },
            Event::Private { ts: 1, peer: "a".into(), sent: true, text: "c".into() },
            Event::Joined { ts: 1, name: "a".into() },
            Event::Left { ts: 1, name: "a".into(), reason: LeftReason::TimedOut },
            Event::Admin { ts: 1, text: "x".into() },
            Event::Who { names: vec!["a".into()], last: true },
            Event::Refused { reason: "r".into(), request: 3 },
            Event::Goodbye,
            Event::Kicked,
            Event::Shutdown,
            Event::Action { ts: 1, from: "a".into(), text: "waves".into(), history: false },
        ];
        for e in events {
            let m = ServerMsg::Data { tag: 5, seq: 1, ack: 0, upto: 9, events: vec![e] };
            assert_eq!(decode::<ServerMsg>(&encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn the_data_header_is_the_encoding_of_data() {
        let events = vec![Event::Admin { ts: 1, text: "x".into() }, Event::Goodbye];
        let mut buf = Vec::new();
        data_header(&mut buf, u64::MAX, 300, 7, 301, 2);
        for e in &events {
            buf.extend(encode_event(e));
        }
        assert_eq!(buf, encode(&ServerMsg::Data { tag: u64::MAX, seq: 300, ack: 7, upto: 301, events }));
    }

    #[test]
    fn logins_are_padded_to_the_login_size() {
        for name in ["a", "ann", &"x".repeat(MAX_NAME), &"\u{1F600}".repeat(MAX_NAME)] {
            for (cookie, resume) in [(None, None), (Some(u64::MAX), Some(u64::MAX))] {
                let d = pad_login(name, u64::MAX, cookie, resume);
                assert_eq!(d.len(), LOGIN_SIZE, "{name:?}");
                assert!(matches!(decode::<ClientMsg>(&d), Ok(ClientMsg::Login { .. })));
            }
        }
    }

    #[test]
    fn every_answer_to_an_unverified_login_is_smaller_than_the_login() {
        let retry = encode(&ServerMsg::Retry { nonce: u64::MAX, cookie: u64::MAX });
        assert!(retry.len() < LOGIN_SIZE);
        let upgrade = old_login_refused(u64::MAX, "x");
        assert!(upgrade.len() < 16);
    }

    #[test]
    fn an_old_clients_login_is_recognised() {
        // Version 1: [1, Login = 0, name "ann", nonce 7].
        assert_eq!(old_login_nonce(&[1, 0, 3, b'a', b'n', b'n', 7]), Some(7));
        assert_eq!(old_login_nonce(&[1, 0, 3, b'a', b'n', b'n', 7, 0]), None);
        assert_eq!(old_login_nonce(&[2, 0, 3, b'a', b'n', b'n', 7]), None);
    }

    #[test]
    fn the_longest_line_fits_a_datagram() {
        let text = "é".repeat(MAX_TEXT / 2);
        let line = Event::Line {
            ts: u64::MAX,
            from: "\u{1F600}".repeat(MAX_NAME),
            text: text.clone(),
            history: true,
        };
        let m = ServerMsg::Data {
            tag: u64::MAX,
            seq: u64::MAX,
            ack: u64::MAX,
            upto: u64::MAX,
            events: vec![line],
        };
        assert!(encode(&m).len() <= MAX_DATAGRAM, "{}", encode(&m).len());
        let m = ServerMsg::Data {
            tag: u64::MAX,
            seq: u64::MAX,
            ack: u64::MAX,
            upto: u64::MAX,
            events: vec![Event::Private {
                ts: u64::MAX,
                peer: "\u{1F600}".repeat(MAX_NAME),
                sent: true,
                text,
            }],
        };
        assert!(encode(&m).len() <= MAX_DATAGRAM, "{}", encode(&m).len());
    }

    #[test]
    fn bad_datagrams_are_rejected_not_panicked_on() {
        assert_eq!(decode::<ClientMsg>(&[]), Err(DecodeError::Version(None)));
        assert_eq!(decode::<ClientMsg>(&[1, 0]), Err(DecodeError::Version(Some(1))));
        assert_eq!(decode::<ClientMsg>(&[VERSION, 200]), Err(DecodeError::Malformed));
        let mut ok = encode(&ClientMsg::Ack { token: 1, ack: 1 });
        ok.push(0);
        assert_eq!(decode::<ClientMsg>(&ok), Err(DecodeError::Trailing));
        assert_eq!(decode::<ClientMsg>(&vec![VERSION; 5000]), Err(DecodeError::TooLarge));
        // Every truncation and every single-bit flip of a real datagram: no panic.
        let real =
            encode(&ClientMsg::Data { token: 99, seq: 5, ack: 4, reqs: vec![Request::Chat("hello".into())] });
        for n in 0..real.len() {
            let _ = decode::<ClientMsg>(&real[..n]);
        }
        for i in 0..real.len() * 8 {
            let mut b = real.clone();
            b[i / 8] ^= 1 << (i % 8);
            let _ = decode::<ClientMsg>(&b);
        }
    }
}
