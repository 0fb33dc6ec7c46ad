//! The wire protocol: one postcard-encoded message per UDP datagram, the protocol version first.
//!
//! Decoding uses `take_from_bytes` and refuses trailing bytes; anything that does not decode is
//! dropped by the caller and counted.

use serde::{Deserialize, Serialize};

/// Protocol version, the first byte of every datagram.
pub const VERSION: u8 = 1;
/// Largest datagram either side sends.
pub const MAX_DATAGRAM: usize = 1200;
/// Bytes of messages (events or requests) per datagram: the datagram limit less the
/// message's own fields.
pub(crate) const BATCH_BUDGET: usize = MAX_DATAGRAM - 40;
/// Largest chat text, in bytes of UTF-8.
pub const MAX_TEXT: usize = 1000;
/// Longest name, in characters.
pub const MAX_NAME: usize = 32;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Ask to join as `name`. Sent again until answered; `nonce` ties answers to this attempt.
    Login {
        /// The wanted name.
        name: String,
        /// Random, per attempt.
        nonce: u64,
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
        /// The requests, numbered `seq`, `seq + 1`, …
        reqs: Vec<Request>,
    },
    /// Acknowledgement only; also the heartbeat.
    Ack {
        /// Session token.
        token: u64,
        /// Cumulative acknowledgement.
        ack: u64,
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
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// Login accepted.
    LoginOk {
        /// The attempt's nonce.
        nonce: u64,
        /// Token for every later datagram.
        token: u64,
    },
    /// Login refused, with the reason in words.
    LoginRefused {
        /// The attempt's nonce.
        nonce: u64,
        /// Why.
        reason: String,
    },
    /// Reliable events with consecutive sequence numbers from `seq` (as many as fit one
    /// datagram), with the server's cumulative acknowledgement of client requests.
    Data {
        /// Sequence number of the first event (numbers start at 1).
        seq: u64,
        /// Every client request up to this number has arrived.
        ack: u64,
        /// The events, numbered `seq`, `seq + 1`, …
        events: Vec<Event>,
    },
    /// Acknowledgement only.
    Ack {
        /// Cumulative acknowledgement.
        ack: u64,
    },
    /// The token is unknown (the server restarted or removed the session): log in again.
    UnknownSession,
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
    },
    /// The answer to `Quit`: the seed's special flag; the session is over.
    Goodbye,
    /// The operator removed this user.
    Kicked,
    /// The server is shutting down.
    Shutdown,
}

/// Encodes `msg` behind the version byte.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Encoding into a Vec only fails for types serde cannot express; ours always can.
    postcard::to_extend(msg, vec![VERSION]).unwrap_or_default()
}

/// Why a datagram was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Empty, or another protocol version.
    Version,
    /// Not a valid message.
    Malformed,
    /// A valid message followed by extra bytes.
    Trailing,
    /// Larger than [`MAX_DATAGRAM`].
    TooLarge,
}

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
        _ => Err(DecodeError::Version),
    }
}

/// Checks a user name: 1-32 characters, printable, no leading or trailing space.
///
/// # Errors
///
/// The reason, in words.
pub fn check_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 {
        return Err("the name is empty".into());
    }
    if n > MAX_NAME {
        return Err(format!("the name has {n} characters; at most {MAX_NAME} are allowed"));
    }
    if name.chars().any(char::is_control) {
        return Err("the name contains a control character".into());
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err("the name starts or ends with a space".into());
    }
    Ok(())
}

/// Checks chat text: at most [`MAX_TEXT`] bytes.
///
/// # Errors
///
/// The reason, in words.
pub fn check_text(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT {
        return Err(format!("the line is {} bytes long; at most {MAX_TEXT} are allowed", text.len()));
    }
    Ok(())
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
            ClientMsg::Login { name: "ann".into(), nonce: 7 },
            ClientMsg::Data { token: 1, seq: 2, ack: 3, reqs: vec![Request::Chat("hi".into())] },
            ClientMsg::Data {
                token: 1,
                seq: 2,
                ack: 3,
                reqs: vec![Request::Private { to: "b".into(), text: "x".into() }],
            },
            ClientMsg::Data { token: 1, seq: 2, ack: 3, reqs: vec![Request::Who, Request::Chat("a".into())] },
            ClientMsg::Data { token: 1, seq: 2, ack: 3, reqs: vec![Request::Quit] },
            ClientMsg::Ack { token: 1, ack: 9 },
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
            Event::Refused { reason: "r".into() },
            Event::Goodbye,
            Event::Kicked,
            Event::Shutdown,
        ];
        for e in events {
            let m = ServerMsg::Data { seq: 1, ack: 0, events: vec![e] };
            assert_eq!(decode::<ServerMsg>(&encode(&m)).unwrap(), m);
        }
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
        let m = ServerMsg::Data { seq: u64::MAX, ack: u64::MAX, events: vec![line] };
        assert!(encode(&m).len() <= MAX_DATAGRAM, "{}", encode(&m).len());
        let m = ServerMsg::Data {
            seq: u64::MAX,
            ack: u64::MAX,
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
        assert_eq!(decode::<ClientMsg>(&[]), Err(DecodeError::Version));
        assert_eq!(decode::<ClientMsg>(&[2, 0]), Err(DecodeError::Version));
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

    #[test]
    fn names_and_text_are_checked() {
        assert!(check_name("ann").is_ok());
        assert!(check_name(&"x".repeat(32)).is_ok());
        assert!(check_name(&"é".repeat(32)).is_ok());
        for bad in ["", " ann", "ann ", "a\nb", "a\u{7}"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(33)).unwrap_err().contains("33"));
        assert!(check_text(&"x".repeat(1000)).is_ok());
        assert!(check_text(&"x".repeat(1001)).unwrap_err().contains("1001"));
    }
}
