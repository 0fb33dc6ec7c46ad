//! How text from the network is shown, and how events read as text, the same in every front end.
//!
//! Text from the network is data, never terminal control: every front end shows a name, a line,
//! a reason or a list that came from the network through [`visible`] (the event formatters here
//! already do). [`visible`] writes control characters in caret notation (`^[` for ESC) and
//! invisible or direction-changing characters as `\u{202e}`, so that a line can neither drive
//! the terminal (clear the screen, set the title, write the clipboard) nor hide or reorder what
//! it says.

use crate::client::{ClientEvent, CloseReason};
use crate::protocol::{Event, LeftReason};
use std::borrow::Cow;

/// Text as it may be shown: control characters in caret notation, invisible and bidirectional
/// formatting characters as `\u{…}` escapes; everything else unchanged. Borrowed when nothing
/// needs changing (the common case does not allocate).
///
/// - C0 controls and DEL: `^@` … `^_`, `^?` (ESC is `^[`, CR `^M`, LF `^J`, TAB `^I`).
/// - C1 controls (U+0080–U+009F), format characters (general category Cf: bidi embeddings,
///   overrides and isolates, zero-width characters, the soft hyphen, word joiner, BOM, tags …),
///   line and paragraph separators, and characters drawn as nothing (Hangul fillers, the blank
///   Braille pattern, Mongolian variation selectors, Khmer inherent vowels, the combining
///   grapheme joiner): `\u{202e}`, as [`char::escape_unicode`] writes them.
/// - Left alone: variation selectors U+FE00–U+FE0F (emoji presentation), and a zero-width
///   joiner between two emoji (it joins them into one, as in 👩‍💻).
///
/// # Examples
///
/// ```
/// use chat_core::text::visible;
/// use std::borrow::Cow;
///
/// assert_eq!(visible("\u{1b}[2Jgone"), "^[[2Jgone");
/// assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
/// assert!(matches!(visible("你好，世界"), Cow::Borrowed(_)));
/// ```
pub fn visible(s: &str) -> Cow<'_, str> {
    let Some(first) = s.char_indices().find(|&(i, c)| escaped(s, i, c)).map(|(i, _)| i) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for (i, c) in s[first..].char_indices() {
        let i = first + i;
        if !escaped(s, i, c) {
            out.push(c);
        } else if (c as u32) < 0x20 {
            out.push('^');
            out.push(char::from(c as u8 + 0x40));
        } else if c == '\u{7f}' {
            out.push_str("^?");
        } else {
            out.extend(c.escape_unicode());
        }
    }
    Cow::Owned(out)
}

/// Whether `c`, at byte `i` of `s`, is shown escaped by [`visible`].
fn escaped(s: &str, i: usize, c: char) -> bool {
    if c.is_control() {
        return true;
    }
    if (c as u32) < 0xA0 {
        return false;
    }
    if c == ZWJ {
        return !joins_emoji(s, i);
    }
    is_hidden(c)
}

const ZWJ: char = '\u{200D}';

/// Whether the zero-width joiner at byte `i` of `s` sits between two emoji.
fn joins_emoji(s: &str, i: usize) -> bool {
    let before = s[..i].chars().next_back();
    let after = s[i + ZWJ.len_utf8()..].chars().next();
    matches!(before, Some(c) if is_pictograph(c) || c == '\u{FE0F}')
        && matches!(after, Some(c) if is_pictograph(c))
}

/// Emoji and other pictographs (a superset of the blocks that hold Extended_Pictographic).
fn is_pictograph(c: char) -> bool {
    matches!(c,
        '\u{A9}' | '\u{AE}' | '\u{203C}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
        | '\u{2190}'..='\u{21FF}' | '\u{2300}'..='\u{23FF}' | '\u{24C2}' | '\u{25A0}'..='\u{27BF}'
        | '\u{2900}'..='\u{297F}' | '\u{2B00}'..='\u{2BFF}' | '\u{3030}' | '\u{303D}' | '\u{3297}'
        | '\u{3299}' | '\u{1F000}'..='\u{1FAFF}')
}

/// Characters that are drawn as nothing, or that change how the text around them is drawn:
/// every format character (general category Cf, Unicode 15.1), the line and paragraph
/// separators, and the letters and marks that fonts draw blank. [`visible`] escapes them (the
/// zero-width joiner between emoji excepted), [`crate::names::check_name`] refuses them.
pub(crate) fn is_hidden(c: char) -> bool {
    matches!(c,
        // Soft hyphen; combining grapheme joiner.
        '\u{AD}' | '\u{34F}'
        // Arabic number signs, letter mark; Syriac abbreviation mark; Arabic pound/piastre
        // marks, disputed end of ayah.
        | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' | '\u{890}'..='\u{891}' | '\u{8E2}'
        // Hangul choseong and jungseong fillers.
        | '\u{115F}'..='\u{1160}'
        // Khmer inherent vowels; Mongolian free variation selectors and vowel separator.
        | '\u{17B4}'..='\u{17B5}' | '\u{180B}'..='\u{180F}'
        // Zero width space, non-joiner, joiner; left-to-right and right-to-left marks.
        | '\u{200B}'..='\u{200F}'
        // Line and paragraph separators; bidi embeddings and overrides.
        | '\u{2028}'..='\u{202E}'
        // Word joiner, invisible operators, bidi isolates, deprecated format characters.
        | '\u{2060}'..='\u{206F}'
        // Braille pattern blank; Hangul filler; byte order mark; halfwidth Hangul filler;
        // interlinear annotation characters.
        | '\u{2800}' | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
        // Kaithi number signs; Egyptian hieroglyph format controls; shorthand format controls;
        // musical symbol beams and phrasing; tags.
        | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
}

/// `HH:MM:SS` in local time (the `TZ` setting, else the system's zone) of a server timestamp
/// in milliseconds since the Unix epoch.
///
/// # Examples
///
/// ```
/// // 2026-11-27 16:12:05 UTC.
/// let t = chat_core::text::clock(1_795_795_925_000);
/// assert_eq!(t.len(), 8);
/// assert!(t.ends_with(":12:05"));
/// ```
pub fn clock(ts_ms: u64) -> String {
    let s = ts_ms / 1000;
    let local = local_seconds(s);
    format!("{:02}:{:02}:{:02}", (local / 3600) % 24, (local / 60) % 60, local % 60)
}

/// `secs` since the epoch shifted by the local zone's offset at that moment (`localtime_r(3)`),
/// or unshifted (UTC) when the zone cannot be had.
fn local_seconds(secs: u64) -> u64 {
    let Ok(t) = libc::time_t::try_from(secs) else { return secs };
    // SAFETY: an all-zero tm is valid storage for localtime_r to fill.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the reentrant variant.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return secs;
    }
    secs.saturating_add_signed(tm.tm_gmtoff)
}

/// One line for a room event, without the time. Every name, text and reason in it went
/// through [`visible`].
///
/// # Examples
///
/// ```
/// use chat_core::protocol::Event;
/// use chat_core::text::event_line;
///
/// let e = Event::Line { ts: 0, from: "bob".into(), text: "\u{1b}]0;pwned\u{7}hi".into(), history: false };
/// assert_eq!(event_line(&e), "bob: ^[]0;pwned^Ghi");
/// ```
pub fn event_line(e: &Event) -> String {
    let v = visible;
    match e {
        Event::Line { from, text, .. } => format!("{}: {}", v(from), v(text)),
        Event::Private { peer, sent: false, text, .. } => {
            format!("[private from {}] {}", v(peer), v(text))
        }
        Event::Private { peer, sent: true, text, .. } => format!("[private to {}] {}", v(peer), v(text)),
        Event::Joined { name, .. } => format!("{} joined", v(name)),
        Event::Left { name, reason: LeftReason::Quit, .. } => format!("{} left", v(name)),
        Event::Left { name, reason: LeftReason::TimedOut, .. } => format!("{} left (timed out)", v(name)),
        Event::Left { name, reason: LeftReason::Kicked, .. } => format!("{} left (kicked)", v(name)),
        Event::Admin { text, .. } => format!("[admin] {}", v(text)),
        Event::Who { names, .. } => {
            format!("online: {}", names.iter().map(|n| v(n)).collect::<Vec<_>>().join(", "))
        }
        Event::Refused { reason, .. } => format!("refused: {}", v(reason)),
        Event::Goodbye => "goodbye".into(),
        Event::Kicked => "you were removed by the operator".into(),
        Event::Shutdown => "the server is shutting down".into(),
        Event::Action { from, text, .. } => format!("* {} {}", v(from), v(text)),
    }
}

/// The server timestamp of an event, if it has one.
pub fn event_ts(e: &Event) -> Option<u64> {
    match e {
        Event::Line { ts, .. }
        | Event::Private { ts, .. }
        | Event::Joined { ts, .. }
        | Event::Left { ts, .. }
        | Event::Admin { ts, .. }
        | Event::Action { ts, .. } => Some(*ts),
        _ => None,
    }
}

/// One line for a client event (room events with their time); network text in it went
/// through [`visible`].
pub fn client_line(e: &ClientEvent) -> String {
    match e {
        ClientEvent::Connected => "connected".into(),
        ClientEvent::Reconnecting { retry_in } if retry_in.is_zero() => {
            "lost the server; reconnecting".into()
        }
        ClientEvent::Reconnecting { retry_in } => {
            format!("reconnecting (next try in {} s)", retry_in.as_secs())
        }
        ClientEvent::Reconnected => "reconnected".into(),
        ClientEvent::Notice(text) => text.clone(),
        ClientEvent::Accepted(_) => String::new(),
        ClientEvent::AddressChanged => "your network address changed; still connected".into(),
        ClientEvent::Room(ev) => match event_ts(ev) {
            Some(ts) => format!("[{}] {}", clock(ts), event_line(ev)),
            None => event_line(ev),
        },
        ClientEvent::Closed(why) => match why {
            CloseReason::Goodbye => "goodbye".into(),
            CloseReason::QuitUnanswered => "left (the server did not answer)".into(),
            CloseReason::Kicked => "you were removed by the operator".into(),
            CloseReason::Shutdown => "the server shut down".into(),
            CloseReason::Unreachable => "the server is unreachable".into(),
            CloseReason::Refused(r) => format!("login refused: {}", visible(r)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_shown_in_caret_notation() {
        assert_eq!(visible("\u{1b}[2J"), "^[[2J");
        assert_eq!(visible("\u{1b}]0;title\u{7}"), "^[]0;title^G");
        assert_eq!(visible("\u{1b}]52;c;cHduZWQ=\u{7}"), "^[]52;c;cHduZWQ=^G");
        assert_eq!(visible("a\rb"), "a^Mb");
        assert_eq!(visible("a\nb"), "a^Jb");
        assert_eq!(visible("a\tb"), "a^Ib");
        assert_eq!(visible("\0\u{1f}\u{7f}"), "^@^_^?");
    }

    #[test]
    fn c1_controls_and_invisible_characters_are_shown_as_escapes() {
        assert_eq!(visible("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(visible("\u{85}"), "\\u{85}");
        assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(visible("ali\u{200b}ce"), "ali\\u{200b}ce");
        assert_eq!(visible("\u{3164}"), "\\u{3164}");
        assert_eq!(visible("\u{2800}"), "\\u{2800}");
        assert_eq!(visible("x\u{2066}y\u{2069}"), "x\\u{2066}y\\u{2069}");
        assert_eq!(visible("so\u{ad}ft"), "so\\u{ad}ft");
        assert_eq!(visible("\u{feff}bom"), "\\u{feff}bom");
        assert_eq!(visible("line\u{2028}break"), "line\\u{2028}break");
        assert_eq!(visible("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(
            visible("\u{115f}\u{1160}\u{ffa0}\u{180e}\u{34f}"),
            "\\u{115f}\\u{1160}\\u{ffa0}\\u{180e}\\u{34f}"
        );
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in ["你好，世界", "hello, world", "José Ñandú", "Ольга", "😀👍🏽", "❤\u{fe0f}", "", "a ~ b"]
        {
            assert!(matches!(visible(s), Cow::Borrowed(b) if b == s), "{s:?}");
        }
    }

    #[test]
    fn a_zero_width_joiner_inside_an_emoji_is_kept_and_elsewhere_shown() {
        for s in ["👩\u{200d}💻", "🏳\u{fe0f}\u{200d}🌈", "❤\u{fe0f}\u{200d}🔥", "🏃\u{200d}♂\u{fe0f}"]
        {
            assert!(matches!(visible(s), Cow::Borrowed(_)), "{s:?}");
        }
        assert_eq!(visible("a\u{200d}b"), "a\\u{200d}b");
        assert_eq!(visible("👩\u{200d}"), "👩\\u{200d}");
        assert_eq!(visible("\u{200d}💻"), "\\u{200d}💻");
    }

    #[test]
    fn event_lines_show_network_text_visibly() {
        let e = Event::Line { ts: 0, from: "b\u{202e}ob".into(), text: "\u{1b}[2Jx".into(), history: false };
        assert_eq!(event_line(&e), "b\\u{202e}ob: ^[[2Jx");
        let e = Event::Who { names: vec!["ann".into(), "\u{1b}c".into()], last: true };
        assert_eq!(event_line(&e), "online: ann, ^[c");
        let e = Event::Refused { reason: "no\r\nuser".into(), request: 0 };
        assert_eq!(event_line(&e), "refused: no^M^Juser");
        let e = ClientEvent::Closed(CloseReason::Refused("taken\u{7}".into()));
        assert_eq!(client_line(&e), "login refused: taken^G");
        let e = ClientEvent::Room(Event::Joined { ts: 0, name: "x\u{9b}".into() });
        assert_eq!(client_line(&e), "[00:00:00] x\\u{9b} joined");
    }
}
