//! The line editor of the terminal client: the line being typed, its history, name completion,
//! and the bytes that redraw it. A state machine without I/O: the caller reads the terminal,
//! hands the bytes to [`Editor::feed`], acts on the returned [`Action`]s and writes the strings
//! the editor returns.
//!
//! # Use from a raw-mode loop
//!
//! ```ignore
//! let mut ed = Editor::new("> ");
//! let mut width = term::terminal_width().unwrap_or(80);
//! write!(out, "{}", editor::BRACKETED_PASTE_ON)?;     // optional
//! write!(out, "{}", ed.clear_and_render(width))?;    // first draw, at the start of a fresh row
//! loop {
//!     // Poll stdin, the socket and Signals::block(&[SIGTERM, SIGINT, term::SIGWINCH]); read
//!     // every pending signal and look at its number: SIGWINCH is a resize, not a quit.
//!     // When ed.pending_escape(), wait at most ~50 ms, then call ed.cancel_escape().
//!     if winch { width = term::terminal_width().unwrap_or(80); write!(out, "{}", ed.clear_and_render(width))?; }
//!     for action in ed.feed(&bytes) {
//!         match action {
//!             Action::Submit(line) if line.is_empty() => {}
//!             Action::Submit(line) => { write!(out, "{}", ed.print_above(&own_line(&line), width))?; send(line) }
//!             Action::Eof | Action::Interrupt => leave(),
//!             Action::ClearScreen => write!(out, "{}", ed.clear_screen(width))?,
//!         }
//!     }
//!     write!(out, "{}", ed.clear_and_render(width))?;   // after every feed
//!     for message in arrivals { write!(out, "{}", ed.print_above(&visible(message), width))?; }
//!     out.flush()?;
//! }
//! write!(out, "{}{}", ed.erase(width), editor::BRACKETED_PASTE_OFF)?; // before leaving raw mode
//! ```
//!
//! Everything written to the terminal while the input area is shown must go through the editor
//! ([`Editor::print_above`]): it tracks how many rows the input area uses and where it left the
//! cursor, and its redraws start by moving up to the first input row and clearing to the end of
//! the screen (`ESC[J`), so no stale row is left behind — after Backspace over a wrapped line,
//! after a message arrives, and after a resize.
//!
//! # Layout
//!
//! The prompt and the line wrap over as many rows as they need (no horizontal scrolling), by
//! display width: Han, Hiragana, Katakana, Hangul, fullwidth forms, CJK punctuation
//! (U+3000–U+303F) and emoji are 2 columns, combining marks and zero-width characters 0 (see
//! [`char_width`]). A 2-column character that does not fit at the end of a row goes whole to the
//! next row, as terminals do. The rows are joined by the terminal's own wrapping, never by a
//! line break, so that terminals that re-wrap their contents on resize (tmux, VTE, kitty,
//! alacritty, iTerm2, Windows Terminal, konsole) treat the input as one line; the editor assumes
//! such a terminal when the width changes (see `Editor::set_terminal_reflows` for xterm and the
//! Linux console, which cut rows instead). Rows the cursor cannot reach cannot be cleared: an
//! input area taller than the screen leaves the rows that scrolled off in the scrollback, and
//! so does a narrowing in tmux, which keeps the cursor on its screen row and pushes what no
//! longer fits above it into the scrollback — with the input near the top of an almost empty
//! screen, that can be the first input rows, and tmux may join them to the row below when the
//! window widens again. With the input at the bottom of a full screen, as in a chat under way,
//! a resize leaves nothing behind.
//!
//! # Keys
//!
//! | key | does |
//! |---|---|
//! | printable text | inserted at the cursor (control characters and bidi overrides never are) |
//! | Enter (CR or LF; CR LF counts once) | [`Action::Submit`] of the line; pasted text submits each line in order |
//! | Left / Right, Ctrl-B / Ctrl-F | one character: a base character with its combining marks |
//! | Ctrl-Left / Ctrl-Right, Alt-Left / Alt-Right, Alt-b / Alt-f | one word (letters, digits, `_`) |
//! | Home / End, Ctrl-A / Ctrl-E | start / end of the line |
//! | Backspace (DEL or Ctrl-H) / Delete | the character before / under the cursor |
//! | Ctrl-D | the character under the cursor; [`Action::Eof`] on an empty line |
//! | Ctrl-W | the blank-delimited word before the cursor (kept for Ctrl-Y) |
//! | Alt-Backspace / Alt-d | the word before / after the cursor (kept for Ctrl-Y) |
//! | Ctrl-U / Ctrl-K | everything before / after the cursor (kept for Ctrl-Y) |
//! | Ctrl-Y | inserts the text deleted last by Ctrl-W/U/K, Alt-Backspace or Alt-d |
//! | Up / Down, Ctrl-P / Ctrl-N | the lines submitted in this session; below the newest is the line being typed, kept as it was (changes to a recalled line are dropped when moving on) |
//! | Tab | completes the word before the cursor from [`Editor::set_completions`] (below) |
//! | Ctrl-L | [`Action::ClearScreen`] |
//! | Ctrl-C | [`Action::Interrupt`] (the line is kept) |
//!
//! Tab: one match replaces the word by the match and a separator (`": "` at the start of the
//! line, as chat users address someone, `" "` elsewhere); several matches first extend the word
//! to their longest common prefix, and when there is nothing to extend each further Tab puts in
//! the next match (with its separator) in sorted order, and after the last one the word as it was
//! typed. Matching is by exact prefix (case-sensitive). Any other key ends the cycle.
//!
//! Escape sequences, UTF-8 characters and CR LF pairs may be split across `feed` calls. A lone
//! ESC waits for the next byte (Alt-x arrives as ESC x); [`Editor::cancel_escape`] drops it.
//! Bracketed paste (`ESC[200~ … ESC[201~`) is understood: inside it, Tab is a space and control
//! keys do nothing, and line breaks still submit each line.

/// Turns on bracketed paste (the terminal then marks pasted text); write it after entering raw
/// mode.
pub const BRACKETED_PASTE_ON: &str = "\x1b[?2004h";
/// Turns bracketed paste off again; write it before leaving raw mode.
pub const BRACKETED_PASTE_OFF: &str = "\x1b[?2004l";

/// Lines kept for Up/Down.
const HISTORY_LIMIT: usize = 1000;

/// What the caller has to do after [`Editor::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Enter: the line (possibly empty). The editor's line is empty again and the line is in
    /// the history; the old input is still on screen until the next redraw or `print_above`.
    Submit(String),
    /// Ctrl-D on an empty line: end of input.
    Eof,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-L: clear the screen and redraw the input at the top ([`Editor::clear_screen`]).
    ClearScreen,
}

/// The line being typed, its history and completion, and what the screen shows of it.
///
/// The cursor is a character index into the line that is never inside a character cluster (a
/// base character and its combining marks).
#[derive(Debug)]
pub struct Editor {
    prompt: Vec<char>,
    line: Vec<char>,
    cursor: usize,
    keys: KeyParser,
    /// The last byte was CR, so an LF right after it is the same line break.
    after_cr: bool,
    in_paste: bool,
    history: Vec<String>,
    /// Index into `history`; `history.len()` is the line being typed.
    history_pos: usize,
    /// The line being typed, kept while a history line is shown.
    draft: Vec<char>,
    killed: Vec<char>,
    completions: Vec<String>,
    cycle: Option<Cycle>,
    shown: Option<Shown>,
    reflows: bool,
}

/// A Tab cycle through several matches.
#[derive(Debug)]
struct Cycle {
    /// Where the completed word starts.
    start: usize,
    /// How many characters the current choice occupies from `start`.
    len: usize,
    matches: Vec<String>,
    /// The next choice: an index into `matches`, or `matches.len()` for `original`.
    next: usize,
    original: Vec<char>,
}

/// What the last render put on the screen.
#[derive(Debug)]
struct Shown {
    /// The prompt and the line as written.
    text: Vec<char>,
    /// The cursor as a character index into `text`.
    cursor: usize,
    width: usize,
    /// The row of the cursor, counted from the first input row.
    cursor_row: usize,
}

impl Editor {
    /// An empty line after `prompt` (plain text: control characters in it are dropped).
    pub fn new(prompt: &str) -> Editor {
        Editor {
            prompt: prompt.chars().filter(|&c| !is_control(c)).collect(),
            line: Vec::new(),
            cursor: 0,
            keys: KeyParser::default(),
            after_cr: false,
            in_paste: false,
            history: Vec::new(),
            history_pos: 0,
            draft: Vec::new(),
            killed: Vec::new(),
            completions: Vec::new(),
            cycle: None,
            shown: None,
            reflows: true,
        }
    }

    /// The line being typed.
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// The cursor as a character index into [`line`](Self::line).
    #[cfg(test)]
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the line being typed (control characters are dropped) and puts the cursor at
    /// its end; for example to give back a line the server refused.
    pub fn set_line(&mut self, text: &str) {
        self.line = text.chars().filter(|&c| !is_control(c)).collect();
        self.cursor = self.line.len();
        self.cycle = None;
    }

    /// The words Tab completes (names online); duplicates and order do not matter.
    pub fn set_completions(&mut self, words: Vec<String>) {
        self.completions = words;
        self.cycle = None;
    }

    /// The lines submitted so far, oldest first (empty lines and repeats of the line before are
    /// not kept; at most 1000).
    #[cfg(test)]
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Whether the terminal re-wraps its rows when its width changes (true, the default, for
    /// tmux and most terminals; false for xterm and the Linux console). It decides which row the
    /// cursor is on after a resize, and so how far up a redraw starts.
    #[cfg(test)]
    pub fn set_terminal_reflows(&mut self, reflows: bool) {
        self.reflows = reflows;
    }

    /// Whether the input ended inside an escape sequence (or with a lone ESC, the Escape key),
    /// which the next bytes may complete.
    pub fn pending_escape(&self) -> bool {
        self.keys.pending_escape()
    }

    /// Drops an unfinished escape sequence; call it when no byte followed
    /// [`pending_escape`](Self::pending_escape) for a while (say 50 ms), so that Escape and
    /// then `b` is not taken for Alt-b.
    pub fn cancel_escape(&mut self) {
        self.keys.cancel_escape();
    }

    /// Takes bytes read from the terminal: edits the line and returns what the caller has to
    /// do, in order. Redraw after it ([`clear_and_render`](Self::clear_and_render)).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            if b == b'\n' && after_cr {
                continue;
            }
            if let Some(key) = self.keys.push(b) {
                self.key(key, &mut actions);
            }
        }
        actions
    }

    fn key(&mut self, key: Key, actions: &mut Vec<Action>) {
        if key != Key::Control(b'\t') {
            self.cycle = None;
        }
        if self.in_paste {
            match key {
                Key::Char(c) => self.insert(&[c]),
                Key::Control(b'\t') => self.insert(&[' ']),
                Key::Control(b'\r' | b'\n') => actions.push(self.submit()),
                Key::PasteEnd => self.in_paste = false,
                _ => {}
            }
            return;
        }
        match key {
            Key::Char(c) => self.insert(&[c]),
            Key::Control(b) => self.control(b, actions),
            Key::Left => self.cursor = self.prev_boundary(self.cursor),
            Key::Right => self.cursor = self.next_boundary(self.cursor),
            Key::WordLeft => self.cursor = self.word_start_before(self.cursor),
            Key::WordRight => self.cursor = self.word_end_after(self.cursor),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.line.len(),
            Key::Up => self.history_step(-1),
            Key::Down => self.history_step(1),
            Key::Delete => self.delete_forward(),
            Key::KillWordBack => self.kill(self.word_start_before(self.cursor), self.cursor),
            Key::KillWordForward => self.kill(self.cursor, self.word_end_after(self.cursor)),
            Key::PasteStart => self.in_paste = true,
            Key::PasteEnd | Key::Ignored => {}
        }
    }

    fn control(&mut self, b: u8, actions: &mut Vec<Action>) {
        match b {
            0x01 => self.cursor = 0,
            0x02 => self.cursor = self.prev_boundary(self.cursor),
            0x03 => actions.push(Action::Interrupt),
            0x04 if self.line.is_empty() => actions.push(Action::Eof),
            0x04 => self.delete_forward(),
            0x05 => self.cursor = self.line.len(),
            0x06 => self.cursor = self.next_boundary(self.cursor),
            0x08 | 0x7f => {
                let from = self.prev_boundary(self.cursor);
                self.line.drain(from..self.cursor);
                self.cursor = from;
            }
            b'\t' => self.complete(),
            b'\r' | b'\n' => actions.push(self.submit()),
            0x0b => self.kill(self.cursor, self.line.len()),
            0x0c => actions.push(Action::ClearScreen),
            0x0e => self.history_step(1),
            0x10 => self.history_step(-1),
            0x15 => self.kill(0, self.cursor),
            0x17 => {
                let mut from = self.cursor;
                while from > 0 && self.line[from - 1].is_whitespace() {
                    from -= 1;
                }
                while from > 0 && !self.line[from - 1].is_whitespace() {
                    from -= 1;
                }
                self.kill(from, self.cursor);
            }
            0x19 => {
                let killed = self.killed.clone();
                self.insert(&killed);
            }
            _ => {}
        }
    }

    /// Inserts at the cursor, leaving the cursor after the text (and after any marks the text
    /// made part of its cluster).
    fn insert(&mut self, text: &[char]) {
        let text: Vec<char> = text.iter().copied().filter(|&c| !is_control(c)).collect();
        let n = text.len();
        self.line.splice(self.cursor..self.cursor, text);
        self.cursor += n;
        while !self.is_boundary(self.cursor) {
            self.cursor += 1;
        }
    }

    fn submit(&mut self) -> Action {
        let line: String = self.line.drain(..).collect();
        self.cursor = 0;
        self.draft.clear();
        if !line.is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == HISTORY_LIMIT {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        self.history_pos = self.history.len();
        Action::Submit(line)
    }

    fn delete_forward(&mut self) {
        let to = self.next_boundary(self.cursor);
        self.line.drain(self.cursor..to);
    }

    /// Deletes `from..to`, keeping it for Ctrl-Y; the cursor goes to `from`.
    fn kill(&mut self, from: usize, to: usize) {
        if from < to {
            self.killed = self.line.drain(from..to).collect();
            self.cursor = from;
        }
    }

    fn history_step(&mut self, step: isize) {
        let Some(pos) = self.history_pos.checked_add_signed(step) else { return };
        if pos > self.history.len() {
            return;
        }
        if self.history_pos == self.history.len() {
            self.draft = std::mem::take(&mut self.line);
        }
        self.history_pos = pos;
        self.line = match self.history.get(pos) {
            Some(l) => l.chars().collect(),
            None => std::mem::take(&mut self.draft),
        };
        self.cursor = self.line.len();
    }

    fn complete(&mut self) {
        if let Some(cycle) = &mut self.cycle {
            let choice: Vec<char> = match cycle.matches.get(cycle.next) {
                Some(m) => with_separator(m, cycle.start),
                None => cycle.original.clone(),
            };
            let (start, len) = (cycle.start, cycle.len);
            cycle.next = (cycle.next + 1) % (cycle.matches.len() + 1);
            cycle.len = choice.len();
            self.line.splice(start..start + len, choice.iter().copied());
            self.cursor = start + choice.len();
            return;
        }
        let mut start = self.cursor;
        while start > 0 && !self.line[start - 1].is_whitespace() {
            start -= 1;
        }
        let word: String = self.line[start..self.cursor].iter().collect();
        let mut matches: Vec<String> = self
            .completions
            .iter()
            .filter(|c| c.starts_with(&word) && !c.is_empty() && !c.chars().any(is_control))
            .cloned()
            .collect();
        matches.sort();
        matches.dedup();
        let replacement: Vec<char> = match matches.as_slice() {
            [] => return,
            [only] => with_separator(only, start),
            [first, rest @ ..] => {
                let mut common: Vec<char> = first.chars().collect();
                for m in rest {
                    let n = common.iter().zip(m.chars()).take_while(|(a, b)| **a == *b).count();
                    common.truncate(n);
                }
                if common.len() > word.chars().count() {
                    common
                } else {
                    let choice = with_separator(first, start);
                    self.cycle = Some(Cycle {
                        start,
                        len: choice.len(),
                        matches,
                        next: 1,
                        original: word.chars().collect(),
                    });
                    choice
                }
            }
        };
        self.line.splice(start..self.cursor, replacement.iter().copied());
        self.cursor = start + replacement.len();
    }

    /// Whether a cursor at `i` would sit between two character clusters.
    fn is_boundary(&self, i: usize) -> bool {
        i == 0 || i >= self.line.len() || (char_width(self.line[i]) != 0 && self.line[i - 1] != '\u{200d}')
    }

    fn prev_boundary(&self, mut i: usize) -> usize {
        while i > 0 {
            i -= 1;
            if self.is_boundary(i) {
                break;
            }
        }
        i
    }

    fn next_boundary(&self, mut i: usize) -> usize {
        while i < self.line.len() {
            i += 1;
            if self.is_boundary(i) {
                break;
            }
        }
        i
    }

    fn is_word(&self, i: usize) -> bool {
        let c = self.line[i];
        c.is_alphanumeric() || c == '_' || char_width(c) == 0
    }

    /// The start of the word before `i` (skipping what is not a word first).
    fn word_start_before(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_word(i - 1) {
            i -= 1;
        }
        while i > 0 && self.is_word(i - 1) {
            i -= 1;
        }
        i
    }

    /// The end of the word after `i` (skipping what is not a word first).
    fn word_end_after(&self, mut i: usize) -> usize {
        while i < self.line.len() && !self.is_word(i) {
            i += 1;
        }
        while i < self.line.len() && self.is_word(i) {
            i += 1;
        }
        i
    }

    /// The prompt and the line, as written to the terminal.
    fn text(&self) -> Vec<char> {
        let mut text = self.prompt.clone();
        text.extend_from_slice(&self.line);
        text
    }

    /// The bytes that draw the prompt and the line from the start of the first input row (the
    /// caller has put the cursor there; the rows are blank or cleared by the caller) at `width`
    /// columns (0 counts as 80), and leave the cursor at its place in the line.
    #[cfg(test)]
    pub fn render(&self, width: u16) -> String {
        self.render_text(usable(width)).0
    }

    fn render_text(&self, width: usize) -> (String, Shown) {
        let text = self.text();
        let cursor = self.prompt.len() + self.cursor;
        let mut out: String = text.iter().collect();
        let (end_row, end_col) = end_position(&text, width);
        let (mut last_row, mut last_col) = (end_row, end_col);
        if end_col >= width {
            // The terminal waits at the last column to wrap: a space makes it go to the next
            // row (a wrap, not a line break, so the rows stay one line for a re-wrapping
            // terminal), then it is taken back.
            out.push_str(" \r\x1b[K");
            (last_row, last_col) = (end_row + 1, 0);
        }
        let (row, col) = cursor_position(&text, cursor, width);
        if (row, col) != (last_row, last_col) {
            if last_row > row {
                out.push_str(&format!("\x1b[{}A", last_row - row));
            }
            out.push('\r');
            if col > 0 {
                out.push_str(&format!("\x1b[{col}C"));
            }
        }
        (out, Shown { text, cursor, width, cursor_row: row })
    }

    /// Draws the input anew: moves from where the last draw left the cursor up to the first
    /// input row, clears to the end of the screen and draws the prompt and the line. Call it
    /// after every [`feed`](Self::feed) and when the terminal width changed (`SIGWINCH`).
    pub fn clear_and_render(&mut self, width: u16) -> String {
        let width = usable(width);
        let mut out = self.clear_input_area(width);
        self.render_recorded(width, &mut out);
        out
    }

    /// Prints `line` above the input: clears the input area, writes the line (a `\n` in it
    /// starts a new row) and a line break, and draws the input again below it. `line` is
    /// written as it is (colours may be in it), so text from the network must be made safe to
    /// show before.
    pub fn print_above(&mut self, line: &str, width: u16) -> String {
        let width = usable(width);
        let mut out = self.clear_input_area(width);
        for part in line.strip_suffix('\n').unwrap_or(line).split('\n') {
            out.push_str(part);
            out.push_str("\r\n");
        }
        self.render_recorded(width, &mut out);
        out
    }

    /// For Ctrl-L ([`Action::ClearScreen`]): clears the whole screen and draws the input at the
    /// top.
    pub fn clear_screen(&mut self, width: u16) -> String {
        let mut out = String::from("\x1b[H\x1b[J");
        self.render_recorded(usable(width), &mut out);
        out
    }

    /// Takes the input area off the screen, leaving the cursor at the start of its first row;
    /// for leaving raw mode, or before writing what does not go through the editor.
    pub fn erase(&mut self, width: u16) -> String {
        let out = self.clear_input_area(usable(width));
        self.shown = None;
        out
    }

    fn render_recorded(&mut self, width: usize, out: &mut String) {
        let (text, shown) = self.render_text(width);
        out.push_str(&text);
        self.shown = Some(shown);
    }

    /// The bytes that move the cursor from where the last draw left it to the start of the
    /// first input row, now that the terminal is `width` columns wide, and clear from there to
    /// the end of the screen.
    ///
    /// The first row is cleared on its own (`ESC[K`) and the rows below from the start of the
    /// next row (`ESC[J` between saving and restoring the cursor; at the bottom row, moving
    /// down does nothing and the cleared row is cleared again): tmux takes `ESC[J` at the top
    /// left corner for a whole-screen clear and moves the screen into its scrollback first,
    /// from where a later widening of the window brings the rows back.
    fn clear_input_area(&self, width: usize) -> String {
        let row = match &self.shown {
            None => 0,
            // A re-wrapping terminal moved the cursor along with the text it was in.
            Some(s) if s.width != width && self.reflows => cursor_position(&s.text, s.cursor, width).0,
            Some(s) => s.cursor_row,
        };
        let up = if row > 0 { format!("\x1b[{row}A") } else { String::new() };
        format!("{up}\r\x1b[K\x1b7\x1b[B\r\x1b[J\x1b8")
    }
}

/// The word `m` followed by what separates it from the next: `": "` when it starts the line.
fn with_separator(m: &str, start: usize) -> Vec<char> {
    m.chars().chain(if start == 0 { ": " } else { " " }.chars()).collect()
}

/// The width to lay out for: 80 when the terminal did not say.
fn usable(width: u16) -> usize {
    if width == 0 { 80 } else { usize::from(width) }
}

/// Where the terminal's cursor is after writing `text` from column 0 at `width` columns: the
/// column may equal `width` (the terminal waits there to wrap).
fn end_position(text: &[char], width: usize) -> (usize, usize) {
    let (mut row, mut col) = (0, 0);
    for &c in text {
        let w = char_width(c);
        if w == 0 {
            continue;
        }
        if col > 0 && col + w > width {
            row += 1;
            col = 0;
        }
        col += w;
    }
    (row, col)
}

/// The (row, column) where the cursor shows before `text[index]` (or after the text): where
/// that character is drawn, which is on the next row when it does not fit.
fn cursor_position(text: &[char], index: usize, width: usize) -> (usize, usize) {
    let (row, col) = end_position(&text[..index], width);
    let next = text.get(index).map_or(1, |&c| char_width(c).max(1));
    if col > 0 && col + next > width { (row + 1, 0) } else { (row, col) }
}

mod keys;
mod width;

use keys::{Key, KeyParser};
#[cfg(test)]
pub use width::str_width;
pub use width::{char_width, is_control};

#[cfg(test)]
mod tests;
