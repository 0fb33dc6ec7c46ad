//! Key decoding: bytes from a terminal in raw mode (escape sequences and UTF-8 split anywhere
//! across reads) into keys.

/// Parameter bytes kept of one escape sequence; longer ones are read to their end and ignored.
const CSI_LIMIT: usize = 16;

/// A key, as decoded from terminal input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    Char(char),
    /// A C0 control byte or DEL.
    Control(u8),
    Up,
    Down,
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    Delete,
    KillWordBack,
    KillWordForward,
    PasteStart,
    PasteEnd,
    /// A complete sequence with no meaning here.
    Ignored,
}

/// Where the decoder is inside a multi-byte key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    #[default]
    Ground,
    /// After ESC.
    Escape,
    /// After ESC [: parameter bytes collect in `KeyParser::csi`.
    Csi,
    /// After ESC O.
    Ss3,
}

/// Decodes terminal input bytes into keys, across any split of the input.
#[derive(Debug, Default)]
pub(super) struct KeyParser {
    state: KeyState,
    csi: Vec<u8>,
    /// The bytes of an unfinished UTF-8 character.
    utf8: Vec<u8>,
}

impl KeyParser {
    pub(super) fn pending_escape(&self) -> bool {
        self.state != KeyState::Ground
    }

    pub(super) fn cancel_escape(&mut self) {
        self.state = KeyState::Ground;
        self.csi.clear();
    }

    /// Takes one byte; returns the key it completes.
    pub(super) fn push(&mut self, b: u8) -> Option<Key> {
        match self.state {
            KeyState::Ground => self.ground(b),
            KeyState::Escape => match b {
                b'[' => {
                    self.state = KeyState::Csi;
                    None
                }
                b'O' => {
                    self.state = KeyState::Ss3;
                    None
                }
                0x1b => None,
                0x7f | 0x08 => self.done(Key::KillWordBack),
                b'b' | b'B' => self.done(Key::WordLeft),
                b'f' | b'F' => self.done(Key::WordRight),
                b'd' | b'D' => self.done(Key::KillWordForward),
                0x20..=0x7e => self.done(Key::Ignored),
                // Not a sequence: the ESC was the Escape key.
                _ => {
                    self.state = KeyState::Ground;
                    self.ground(b)
                }
            },
            KeyState::Csi => match b {
                0x20..=0x3f => {
                    if self.csi.len() < CSI_LIMIT {
                        self.csi.push(b);
                    }
                    None
                }
                0x40..=0x7e => {
                    let key = csi_key(&self.csi, b);
                    self.csi.clear();
                    self.done(key)
                }
                _ => {
                    self.cancel_escape();
                    self.push(b)
                }
            },
            KeyState::Ss3 => match b {
                0x40..=0x7e => self.done(match b {
                    b'A' => Key::Up,
                    b'B' => Key::Down,
                    b'C' => Key::Right,
                    b'D' => Key::Left,
                    b'H' => Key::Home,
                    b'F' => Key::End,
                    b'c' => Key::WordRight,
                    b'd' => Key::WordLeft,
                    _ => Key::Ignored,
                }),
                _ => {
                    self.state = KeyState::Ground;
                    self.push(b)
                }
            },
        }
    }

    pub(super) fn done(&mut self, key: Key) -> Option<Key> {
        self.state = KeyState::Ground;
        Some(key)
    }

    pub(super) fn ground(&mut self, b: u8) -> Option<Key> {
        if b >= 0x80 {
            if !self.utf8.is_empty() && !(0x80..0xc0).contains(&b) {
                self.utf8.clear();
            }
            self.utf8.push(b);
            return match std::str::from_utf8(&self.utf8) {
                Ok(s) => {
                    let c = s.chars().next();
                    self.utf8.clear();
                    c.map(Key::Char)
                }
                Err(e) if e.error_len().is_some() => {
                    self.utf8.clear();
                    None
                }
                Err(_) => None,
            };
        }
        // An ASCII byte ends an unfinished UTF-8 character, which is dropped.
        self.utf8.clear();
        match b {
            0x1b => {
                self.state = KeyState::Escape;
                None
            }
            0x00..=0x1f | 0x7f => Some(Key::Control(b)),
            _ => Some(Key::Char(char::from(b))),
        }
    }
}

/// The key of `ESC [ params final`.
fn csi_key(params: &[u8], last: u8) -> Key {
    let params = std::str::from_utf8(params).unwrap_or("");
    let mut numbers = params.split(';').map(|p| p.parse::<u32>().unwrap_or(0));
    let first = numbers.next().unwrap_or(0);
    // xterm modifiers: 1 + (1 shift, 2 alt, 4 ctrl).
    let by_word = numbers.next().is_some_and(|m| m > 1 && (m - 1) & 6 != 0);
    match (last, first) {
        (b'A', _) => Key::Up,
        (b'B', _) => Key::Down,
        (b'C', _) if by_word => Key::WordRight,
        (b'D', _) if by_word => Key::WordLeft,
        (b'C', _) => Key::Right,
        (b'D', _) => Key::Left,
        (b'H', _) => Key::Home,
        (b'F', _) => Key::End,
        (b'~', 1 | 7) => Key::Home,
        (b'~', 4 | 8) => Key::End,
        (b'~', 3) => Key::Delete,
        (b'~', 200) => Key::PasteStart,
        (b'~', 201) => Key::PasteEnd,
        _ => Key::Ignored,
    }
}
