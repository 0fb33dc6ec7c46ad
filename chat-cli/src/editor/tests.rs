//! The editor's tests, with a small virtual terminal to check what its output leaves on screen.

use super::*;

const LEFT: &[u8] = b"\x1b[D";
const RIGHT: &[u8] = b"\x1b[C";
const UP: &[u8] = b"\x1b[A";
const DOWN: &[u8] = b"\x1b[B";
const BACKSPACE: &[u8] = b"\x7f";

/// An editor with `keys` fed to it.
fn typed(keys: &[&[u8]]) -> (Editor, Vec<Action>) {
    let mut ed = Editor::new("> ");
    let mut actions = Vec::new();
    for k in keys {
        actions.extend(ed.feed(k));
    }
    (ed, actions)
}

fn line_of(keys: &[&[u8]]) -> String {
    typed(keys).0.line()
}

fn submit(line: &str) -> Action {
    Action::Submit(line.to_string())
}

// ---- editing -------------------------------------------------------------------------

#[test]
fn enter_submits_the_line_and_empties_it() {
    let (ed, actions) = typed(&[b"fix the typo", b"\r"]);
    assert_eq!(actions, [submit("fix the typo")]);
    assert_eq!(ed.line(), "");
    assert_eq!(ed.cursor(), 0);
}

#[test]
fn left_home_and_end_put_typed_text_where_it_was_meant() {
    // The case from the report: type, go left, go home, type.
    let keys: &[&[u8]] =
        &[b"fix the typo", LEFT, LEFT, LEFT, LEFT, b"big ", b"\x1b[1~", b"please ", b"\x1b[4~", b"!"];
    let (_, actions) = typed(&[keys, &[b"\r"]].concat());
    assert_eq!(actions, [submit("please fix the big typo!")]);
}

#[test]
fn right_moves_back_towards_the_end() {
    assert_eq!(line_of(&[b"acd", LEFT, LEFT, LEFT, RIGHT, b"b", RIGHT, RIGHT, RIGHT, b"e"]), "abcde");
}

#[test]
fn every_form_of_home_and_end_is_understood() {
    for home in [&b"\x1b[H"[..], b"\x1b[1~", b"\x1b[7~", b"\x1bOH", b"\x01"] {
        assert_eq!(line_of(&[b"bc", home, b"a"]), "abc", "home {home:?}");
    }
    for end in [&b"\x1b[F"[..], b"\x1b[4~", b"\x1b[8~", b"\x1bOF", b"\x05"] {
        assert_eq!(line_of(&[b"ab", b"\x01", end, b"c"]), "abc", "end {end:?}");
    }
}

#[test]
fn application_mode_arrows_and_ctrl_b_f_move_too() {
    assert_eq!(line_of(&[b"ac", b"\x1bOD", b"b"]), "abc");
    assert_eq!(line_of(&[b"ac", b"\x02", b"b", b"\x02\x02\x06", b"_"]), "a_bc");
}

#[test]
fn backspace_and_delete_in_the_middle_of_the_line() {
    assert_eq!(line_of(&[b"abXcd", LEFT, LEFT, BACKSPACE]), "abcd");
    assert_eq!(line_of(&[b"abXcd", LEFT, LEFT, LEFT, b"\x1b[3~"]), "abcd");
    assert_eq!(line_of(&[b"abXcd", LEFT, LEFT, b"\x08"]), "abcd");
    // At the ends they do nothing.
    assert_eq!(line_of(&[b"ab", b"\x01", BACKSPACE, b"\x05", b"\x1b[3~"]), "ab");
}

#[test]
fn ctrl_d_deletes_under_the_cursor_and_ends_input_only_on_an_empty_line() {
    let (ed, actions) = typed(&[b"abc", LEFT, LEFT, b"\x04"]);
    assert_eq!((ed.line().as_str(), actions.as_slice()), ("ac", &[][..]));
    let (_, actions) = typed(&[b"\x04"]);
    assert_eq!(actions, [Action::Eof]);
}

#[test]
fn ctrl_c_interrupts_and_ctrl_l_asks_for_a_clear_screen() {
    let (ed, actions) = typed(&[b"abc\x03\x0c"]);
    assert_eq!(actions, [Action::Interrupt, Action::ClearScreen]);
    assert_eq!(ed.line(), "abc");
}

#[test]
fn word_motions_by_ctrl_arrows_alt_arrows_and_alt_b_f() {
    for (left, right) in [
        (&b"\x1b[1;5D"[..], &b"\x1b[1;5C"[..]),
        (b"\x1b[1;3D", b"\x1b[1;3C"),
        (b"\x1bb", b"\x1bf"),
        (b"\x1bOd", b"\x1bOc"),
    ] {
        // foo bar, baz: two words left is before "bar"; then one word right is after "bar".
        let keys: &[&[u8]] = &[b"foo bar, baz", left, left, b"[", right, b"]"];
        assert_eq!(line_of(keys), "foo [bar], baz", "{left:?} {right:?}");
    }
    assert_eq!(line_of(&[b"  foo", b"\x1bb", b"\x1bb", b"x"]), "x  foo");
    assert_eq!(line_of(&[b"foo  ", b"\x01", b"\x1bf", b"\x1bf", b"x"]), "foo  x");
}

#[test]
fn ctrl_w_deletes_the_blank_delimited_word_before_the_cursor() {
    assert_eq!(line_of(&[b"see http://x.y/z  ", b"\x17"]), "see ");
    assert_eq!(line_of(&[b"one two three", b"\x1bb", b"\x17"]), "one three");
    assert_eq!(line_of(&[b"one", b"\x17\x17"]), "");
}

#[test]
fn alt_backspace_and_alt_d_delete_words_of_letters() {
    assert_eq!(line_of(&[b"see http://x.y/zed", b"\x1b\x7f"]), "see http://x.y/");
    assert_eq!(line_of(&[b"one two three", b"\x01", b"\x1bd"]), " two three");
}

#[test]
fn ctrl_u_and_ctrl_k_delete_to_the_ends_and_ctrl_y_puts_it_back() {
    assert_eq!(line_of(&[b"hello world", b"\x1bb", b"\x15"]), "world");
    assert_eq!(line_of(&[b"hello world", b"\x1bb", b"\x0b"]), "hello ");
    assert_eq!(line_of(&[b"hello world", b"\x1bb", b"\x0b", b"\x01", b"\x19"]), "worldhello ");
}

#[test]
fn up_and_down_walk_the_history_and_keep_the_draft() {
    let (mut ed, _) = typed(&[b"first\r", b"second\r", b"draft"]);
    ed.feed(UP);
    assert_eq!(ed.line(), "second");
    assert_eq!(ed.cursor(), 6);
    ed.feed(UP);
    assert_eq!(ed.line(), "first");
    ed.feed(UP);
    assert_eq!(ed.line(), "first", "the oldest line stays");
    ed.feed(DOWN);
    assert_eq!(ed.line(), "second");
    ed.feed(DOWN);
    assert_eq!(ed.line(), "draft", "the line being typed comes back");
    ed.feed(DOWN);
    assert_eq!(ed.line(), "draft");
    ed.feed(b"\x10\x10\x0e");
    assert_eq!(ed.line(), "second", "Ctrl-P and Ctrl-N");
}

#[test]
fn a_recalled_line_is_edited_and_sent_as_a_new_line() {
    let (mut ed, _) = typed(&[b"hello wrld\r"]);
    let actions = ed.feed(&[UP, LEFT, LEFT, LEFT, b"o", b"\r"].concat());
    assert_eq!(actions, [submit("hello world")]);
    assert_eq!(ed.history(), ["hello wrld", "hello world"]);
}

#[test]
fn empty_and_repeated_lines_are_not_kept_in_the_history() {
    let (ed, actions) = typed(&[b"a\r\ra\rb\r"]);
    assert_eq!(actions, [submit("a"), submit(""), submit("a"), submit("b")]);
    assert_eq!(ed.history(), ["a", "b"]);
}

fn with_names(names: &[&str]) -> Editor {
    let mut ed = Editor::new("> ");
    ed.set_completions(names.iter().map(|n| n.to_string()).collect());
    ed
}

#[test]
fn tab_completes_a_single_match_with_a_separator() {
    let mut ed = with_names(&["alice", "bob"]);
    ed.feed(b"al\t");
    assert_eq!(ed.line(), "alice: ");
    ed.feed(b"hi, see b\t");
    assert_eq!(ed.line(), "alice: hi, see bob ");
    let mut ed = with_names(&["alice"]);
    ed.feed(b"/msg a\t");
    assert_eq!(ed.line(), "/msg alice ");
}

#[test]
fn tab_extends_to_the_common_prefix_then_cycles_through_the_matches() {
    let mut ed = with_names(&["annabel", "anna", "bob", "anna"]);
    ed.feed(b"a\t");
    assert_eq!(ed.line(), "anna", "the common prefix first");
    let mut seen = Vec::new();
    for _ in 0..4 {
        ed.feed(b"\t");
        seen.push(ed.line());
    }
    assert_eq!(seen, ["anna: ", "annabel: ", "anna", "anna: "]);
    ed.feed(b"x");
    assert_eq!(ed.line(), "anna: x", "typing ends the cycle");
}

#[test]
fn tab_completes_in_the_middle_of_the_line() {
    let mut ed = with_names(&["carol"]);
    ed.feed(&[b"ask c today", LEFT, LEFT, LEFT, LEFT, LEFT, LEFT, b"\t"].concat());
    assert_eq!(ed.line(), "ask carol  today");
    assert_eq!(ed.cursor(), 10);
}

#[test]
fn tab_without_a_match_changes_nothing() {
    let mut ed = with_names(&["alice"]);
    ed.feed(b"zed\t");
    assert_eq!(ed.line(), "zed");
    let mut ed = with_names(&[]);
    ed.feed(b"\t");
    assert_eq!(ed.line(), "");
}

#[test]
fn escape_sequences_split_byte_by_byte_are_still_keys() {
    let keys = [
        &b"fix the typo"[..],
        b"\x1b[D",
        b"\x1b[1;5D",
        b"\x1bOH",
        b"\x1b[3~",
        b"F",
        b"\x1b[4~",
        b"\x1bb",
        b"\x1b\x7f",
        b"\x1b[8~",
        b"!",
    ]
    .concat();
    let mut ed = Editor::new("> ");
    for &b in &keys {
        ed.feed(&[b]);
    }
    assert_eq!(ed.line(), "Fix typo!");
    assert!(!ed.pending_escape());
    ed.feed(b"\x1b[1;");
    assert!(ed.pending_escape());
    ed.feed(b"5D");
    assert!(!ed.pending_escape());
    assert_eq!(ed.cursor(), 4);
}

#[test]
fn a_cancelled_escape_does_not_turn_the_next_key_into_alt() {
    let mut ed = Editor::new("> ");
    ed.feed(b"ab\x1b");
    ed.cancel_escape();
    ed.feed(b"b");
    assert_eq!(ed.line(), "abb");
}

#[test]
fn utf8_split_across_feeds_is_one_character() {
    let text = "é你🙂";
    let mut ed = Editor::new("> ");
    for b in text.bytes() {
        ed.feed(&[b]);
    }
    assert_eq!(ed.line(), text);
    ed.feed(BACKSPACE);
    assert_eq!(ed.line(), "é你");
}

#[test]
fn invalid_utf8_is_dropped_and_decoding_recovers() {
    assert_eq!(line_of(&[b"a\xffb", b"\xe4\xbd", b"c", b"\xe4\xbd\xa0"]), "abc你");
}

#[test]
fn control_bytes_and_unknown_sequences_insert_nothing() {
    let keys: &[&[u8]] = &[b"a\x00\x07\x1b[24~\x1b[99;9z\x1bx\x1b[?1;2cb", "\u{202e}c\u{85}".as_bytes()];
    let (ed, actions) = typed(keys);
    assert_eq!(ed.line(), "abc");
    assert!(actions.is_empty());
}

#[test]
fn an_overlong_escape_sequence_is_read_to_its_end() {
    let mut keys = b"a\x1b[".to_vec();
    keys.extend(std::iter::repeat_n(b'1', 500));
    keys.extend(b"~b");
    assert_eq!(line_of(&[&keys]), "ab");
}

#[test]
fn cjk_text_moves_by_character() {
    let mut ed = Editor::new("> ");
    ed.feed("你好，世界".as_bytes());
    ed.feed(&[LEFT, LEFT].concat());
    assert_eq!(ed.cursor(), 3);
    ed.feed("大".as_bytes());
    assert_eq!(ed.line(), "你好，大世界");
    ed.feed(&[b"\x01", RIGHT, b"\x1b[3~"].concat());
    assert_eq!(ed.line(), "你，大世界");
    ed.feed(b"\x01\x1bf");
    assert_eq!(ed.cursor(), 1, "，is not a letter: the first word is 你");
    ed.feed(b"\x1bf");
    assert_eq!(ed.cursor(), 5);
    assert_eq!(str_width("你好，世界"), 10);
}

#[test]
fn combining_marks_move_and_delete_with_their_base() {
    // "café" with a combining acute, then "x".
    let mut ed = Editor::new("> ");
    ed.feed("cafe\u{301}x".as_bytes());
    ed.feed(&[LEFT, LEFT].concat());
    assert_eq!(ed.cursor(), 3, "one Left over x, one over e + mark");
    ed.feed(b"\x1b[3~");
    assert_eq!(ed.line(), "cafx");
    ed.feed("e\u{301}".as_bytes());
    ed.feed(b"\x05");
    ed.feed(&[LEFT, BACKSPACE].concat());
    assert_eq!(ed.line(), "cafx");
    assert_eq!(str_width("cafe\u{301}"), 4);
    // A mark typed at the cursor joins the character before it.
    let mut ed = Editor::new("> ");
    ed.feed(&[b"ex", LEFT].concat());
    ed.feed("\u{308}".as_bytes());
    assert_eq!((ed.line().as_str(), ed.cursor()), ("e\u{308}x", 2));
}

#[test]
fn widths_of_sample_characters() {
    let cases = [
        ('a', 1),
        ('é', 1),
        ('你', 2),
        ('ひ', 2),
        ('カ', 2),
        ('한', 2),
        ('Ａ', 2),
        ('　', 2),
        ('。', 2),
        ('🙂', 2),
        ('🦀', 2),
        ('\u{301}', 0),
        ('\u{20d7}', 0),
        ('\u{200b}', 0),
        ('\u{fe0f}', 0),
        ('\u{1b}', 0),
        ('→', 1),
    ];
    for (c, w) in cases {
        assert_eq!(char_width(c), w, "{c:?}");
    }
}

#[test]
fn pasted_lines_are_submitted_in_order() {
    let (ed, actions) = typed(&[b"one\rtwo\nthree\r\nfour\r", b"\nfive"]);
    assert_eq!(actions, [submit("one"), submit("two"), submit("three"), submit("four")]);
    assert_eq!(ed.line(), "five");
}

#[test]
fn forty_pasted_lines_give_forty_submits() {
    let paste: String = (1..=40).map(|i| format!("line {i}\r")).collect();
    let (_, actions) = typed(&[paste.as_bytes()]);
    let want: Vec<Action> = (1..=40).map(|i| submit(&format!("line {i}"))).collect();
    assert_eq!(actions, want);
}

#[test]
fn bracketed_paste_takes_tabs_as_spaces_and_control_keys_as_nothing() {
    let mut ed = with_names(&["alice"]);
    let actions = ed.feed(b"> \x1b[200~a\tb\x03\x7f\rsecond al\x1b[201~\t");
    assert_eq!(actions, [submit("> a b")]);
    assert_eq!(ed.line(), "second alice ", "Tab completes again after the paste");
}

#[test]
fn set_line_gives_a_line_back_to_edit() {
    let mut ed = Editor::new("> ");
    ed.set_line("refused\tline");
    assert_eq!((ed.line().as_str(), ed.cursor()), ("refusedline", 11));
}

// ---- a terminal to draw on -----------------------------------------------------------

/// The cell right of a wide character.
const RIGHT_HALF: &str = "\u{1}";

/// A minimal terminal: auto-wrap (with the wait at the last column), wide characters,
/// combining marks, scrolling, optional re-wrapping on resize, tmux's scrollback on a clear
/// from the top left corner, and the sequences the editor writes. Any other control or
/// sequence fails the test.
struct Vt {
    width: usize,
    height: usize,
    /// Cells: "" blank, [`RIGHT_HALF`] the right half of a wide character, "\0" the column
    /// a wide character skipped when it wrapped; otherwise a character and its marks.
    rows: Vec<Vec<String>>,
    /// Whether the row continues on the next (the terminal wrapped there).
    wrapped: Vec<bool>,
    row: usize,
    col: usize,
    /// At the last column, waiting to wrap.
    pending: bool,
    /// Rows scrolled off the top, oldest first.
    scrollback: Vec<String>,
    /// The cursor saved by `ESC 7`.
    saved: (usize, usize, bool),
}

impl Vt {
    fn new(width: usize, height: usize) -> Vt {
        Vt {
            width,
            height,
            rows: vec![vec![String::new(); width]; height],
            wrapped: vec![false; height],
            row: 0,
            col: 0,
            pending: false,
            scrollback: Vec::new(),
            saved: (0, 0, false),
        }
    }

    fn write(&mut self, s: &str) {
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    self.col = 0;
                    self.pending = false;
                }
                '\n' => {
                    self.line_feed();
                    self.pending = false;
                }
                '\x1b' => {
                    match chars.next() {
                        Some('7') => {
                            self.saved = (self.row, self.col, self.pending);
                            continue;
                        }
                        Some('8') => {
                            (self.row, self.col, self.pending) = self.saved;
                            continue;
                        }
                        next => assert_eq!(next, Some('['), "only CSI, DECSC and DECRC in {s:?}"),
                    }
                    let mut param = String::new();
                    while let Some(&p) = chars.peek()
                        && p.is_ascii_digit()
                    {
                        param.push(p);
                        chars.next();
                    }
                    let n: usize = param.parse().unwrap_or(0);
                    let count = n.max(1);
                    match chars.next() {
                        Some('A') => self.row = self.row.saturating_sub(count),
                        Some('B') => self.row = (self.row + count).min(self.height - 1),
                        Some('C') => self.col = (self.col + count).min(self.width - 1),
                        Some('D') => self.col = self.col.saturating_sub(count),
                        Some('G') => self.col = (count - 1).min(self.width - 1),
                        Some('H') if param.is_empty() => (self.row, self.col) = (0, 0),
                        Some('K') if n == 0 => self.clear_row_from(self.row, self.col),
                        Some('J') if n == 0 && (self.row, self.col) == (0, 0) => {
                            // As tmux does: the screen goes to the scrollback first.
                            let screen = self.screen();
                            self.scrollback.extend(screen);
                            for r in 0..self.height {
                                self.clear_row_from(r, 0);
                            }
                        }
                        Some('J') if n == 0 => {
                            self.clear_row_from(self.row, self.col);
                            for r in self.row + 1..self.height {
                                self.clear_row_from(r, 0);
                            }
                        }
                        other => panic!("unexpected sequence ESC[{param}{other:?} in {s:?}"),
                    }
                    self.pending = false;
                }
                c if is_control(c) => panic!("control character {c:?} written in {s:?}"),
                c => self.print(c),
            }
        }
    }

    fn print(&mut self, c: char) {
        let w = char_width(c);
        if w == 0 {
            let mut col = if self.pending { self.col } else { self.col.saturating_sub(1) };
            while col > 0 && self.rows[self.row][col] == RIGHT_HALF {
                col -= 1;
            }
            self.rows[self.row][col].push(c);
            return;
        }
        if self.pending {
            self.wrap();
        }
        if w == 2 && self.col + 2 > self.width {
            self.rows[self.row][self.col] = "\0".to_string();
            self.wrap();
        }
        self.put(self.col, c.to_string());
        if w == 2 {
            self.put(self.col + 1, RIGHT_HALF.to_string());
        }
        self.col += w;
        if self.col >= self.width {
            self.col = self.width - 1;
            self.pending = true;
        }
    }

    /// Writes a cell, blanking the other half of a wide character it overwrites.
    fn put(&mut self, col: usize, cell: String) {
        let row = &mut self.rows[self.row];
        if row[col] == RIGHT_HALF && col > 0 {
            row[col - 1] = String::new();
        }
        if col + 1 < row.len() && row[col + 1] == RIGHT_HALF {
            row[col + 1] = String::new();
        }
        row[col] = cell;
    }

    fn wrap(&mut self) {
        self.wrapped[self.row] = true;
        self.col = 0;
        self.pending = false;
        self.line_feed();
    }

    fn line_feed(&mut self) {
        if self.row + 1 < self.height {
            self.row += 1;
        } else {
            let top = self.rows.remove(0);
            self.wrapped.remove(0);
            self.scrollback.push(row_text(&top));
            self.rows.push(vec![String::new(); self.width]);
            self.wrapped.push(false);
        }
    }

    fn clear_row_from(&mut self, row: usize, col: usize) {
        if col > 0 && self.rows[row][col] == RIGHT_HALF {
            self.rows[row][col - 1] = String::new();
        }
        for cell in &mut self.rows[row][col..] {
            *cell = String::new();
        }
        self.wrapped[row] = false;
    }

    /// The screen as text: rows without trailing blanks, without the blank rows at the
    /// bottom.
    fn screen(&self) -> Vec<String> {
        let mut rows: Vec<String> = self.rows.iter().map(|r| row_text(r)).collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        rows
    }

    fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// A new width: rows cut or padded (as xterm does), or re-wrapped (as tmux does).
    fn resize(&mut self, width: usize, reflow: bool) {
        if reflow {
            self.reflow(width);
        } else {
            for row in &mut self.rows {
                row.resize(width, String::new());
                if row.last().is_some_and(|c| char_width_of_cell(c) == 2) {
                    *row.last_mut().expect("a cell") = String::new();
                }
            }
            self.col = self.col.min(width - 1);
        }
        self.width = width;
        self.pending = false;
    }

    fn reflow(&mut self, width: usize) {
        // Join the wrapped rows into lines, noting where the cursor is in its line.
        let mut lines: Vec<(Vec<String>, Option<usize>)> = Vec::new();
        let mut cells: Vec<String> = Vec::new();
        let mut cursor_at = None;
        for r in 0..self.height {
            let row: Vec<String> = self.rows[r].iter().filter(|c| *c != "\0").cloned().collect();
            if r == self.row {
                let before = self.col + usize::from(self.pending);
                let pads = self.rows[r][..before].iter().filter(|c| *c == "\0").count();
                cursor_at = Some(cells.len() + before - pads);
            }
            cells.extend(row);
            if !self.wrapped[r] || r + 1 == self.height {
                let keep = cursor_at.unwrap_or(0);
                while cells.len() > keep && cells.last().is_some_and(|c| c.is_empty()) {
                    cells.pop();
                }
                lines.push((std::mem::take(&mut cells), cursor_at.take()));
            }
        }
        // Wrap them again at the new width.
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut wrapped = Vec::new();
        let mut cursor = (0, 0);
        let blank_row = vec![String::new(); width];
        for (cells, cursor_at) in lines {
            let mut row: Vec<String> = Vec::new();
            let mut places = Vec::new();
            let mut i = 0;
            while i < cells.len() {
                let wide = cells.get(i + 1).is_some_and(|c| c == RIGHT_HALF);
                let w = if wide { 2 } else { 1 };
                if row.len() + w > width {
                    row.resize(width, "\0".to_string());
                    rows.push(std::mem::take(&mut row));
                    wrapped.push(true);
                }
                places.push((rows.len(), row.len()));
                row.push(cells[i].clone());
                if wide {
                    places.push((rows.len(), row.len()));
                    row.push(RIGHT_HALF.to_string());
                }
                i += w;
            }
            if let Some(at) = cursor_at {
                if at < places.len() {
                    cursor = places[at];
                } else {
                    if row.len() + (at - places.len()) >= width {
                        row.resize(width, String::new());
                        rows.push(std::mem::take(&mut row));
                        wrapped.push(true);
                    }
                    cursor = (rows.len(), row.len() + at - places.len());
                }
            }
            row.resize(width, String::new());
            rows.push(row);
            wrapped.push(false);
        }
        // Keep the height: drop blank rows below the cursor, then rows from the top.
        while rows.len() > self.height && rows.len() - 1 > cursor.0 && rows.last() == Some(&blank_row) {
            rows.pop();
            wrapped.pop();
        }
        while rows.len() > self.height {
            self.scrollback.push(row_text(&rows.remove(0)));
            wrapped.remove(0);
            cursor.0 -= 1;
        }
        rows.resize(self.height, blank_row);
        wrapped.resize(self.height, false);
        (self.rows, self.wrapped) = (rows, wrapped);
        (self.row, self.col) = (cursor.0, cursor.1.min(width - 1));
    }
}

fn char_width_of_cell(cell: &str) -> usize {
    cell.chars().next().map_or(0, char_width)
}

fn row_text(row: &[String]) -> String {
    let text: String = row
        .iter()
        .map(|c| match c.as_str() {
            "" | "\0" => " ",
            RIGHT_HALF => "",
            c => c,
        })
        .collect();
    text.trim_end().to_string()
}

/// A chat screen: messages arrive above the editor, which is drawn after every input.
struct Session {
    ed: Editor,
    vt: Vt,
    width: u16,
    reflow: bool,
    /// Everything printed above the input, in order.
    printed: Vec<String>,
}

impl Session {
    fn new(width: u16, height: usize) -> Session {
        let mut s = Session {
            ed: Editor::new("> "),
            vt: Vt::new(usize::from(width), height),
            width,
            reflow: true,
            printed: Vec::new(),
        };
        let out = s.ed.clear_and_render(width);
        s.vt.write(&out);
        s
    }

    fn keys(&mut self, bytes: &[u8]) {
        for action in self.ed.feed(bytes) {
            if let Action::Submit(line) = action {
                self.arrive(&format!("> {line}"));
            }
        }
        let out = self.ed.clear_and_render(self.width);
        self.vt.write(&out);
    }

    fn arrive(&mut self, line: &str) {
        let out = self.ed.print_above(line, self.width);
        self.vt.write(&out);
        self.printed.push(line.to_string());
    }

    fn resize(&mut self, width: u16) {
        self.vt.resize(usize::from(width), self.reflow);
        self.width = width;
        let out = self.ed.clear_and_render(width);
        self.vt.write(&out);
    }

    /// The screen must show exactly the printed lines and the input, wrapped at the width
    /// as a terminal wraps them, with the cursor where the line's cursor is.
    fn check(&self) {
        let width = usize::from(self.width);
        let text = self.ed.text();
        let input: String = text.iter().collect();
        let rows = self.printed.iter().chain([&input]).map(|l| 2 * str_width(l) / width + 2);
        let mut fresh = Vt::new(width, rows.sum());
        for line in &self.printed {
            fresh.write(&format!("{line}\r\n"));
        }
        let mut all = self.vt.scrollback.clone();
        all.extend(self.vt.screen());
        let at = self.ed.prompt.len() + self.ed.cursor();
        let before: String = text[..at].iter().collect();
        let after: String = text[at..].iter().collect();
        fresh.write(&before);
        let mut cursor = fresh.cursor();
        if fresh.pending || text.get(at).is_some_and(|&c| char_width(c) == 2 && cursor.1 + 2 > width) {
            cursor = (cursor.0 + 1, 0);
        }
        fresh.write(&after);
        assert_eq!(all, fresh.screen(), "screen at width {width} for {:?}", self.ed.line());
        let first_screen_row = self.vt.scrollback.len();
        assert_eq!(
            (self.vt.row + first_screen_row, self.vt.col),
            cursor,
            "cursor at width {width} for {:?} at {}",
            self.ed.line(),
            self.ed.cursor()
        );
    }

    fn rows(&self) -> Vec<String> {
        self.vt.screen()
    }
}

/// `n` characters that show where they came from: "abcdefghij" repeated.
fn letters(n: usize) -> String {
    "abcdefghij".chars().cycle().take(n).collect()
}

// ---- drawing -------------------------------------------------------------------------

#[test]
fn a_long_line_then_backspaces_leaves_no_stale_rows() {
    let mut s = Session::new(100, 24);
    s.arrive("earlier message");
    for c in letters(160).bytes() {
        s.keys(&[c]);
        s.check();
    }
    let full = format!("> {}", letters(160));
    assert_eq!(s.rows(), ["earlier message", &full[..100], &full[100..]]);
    for _ in 0..30 {
        s.keys(BACKSPACE);
        s.check();
    }
    let cut = format!("> {}", letters(130));
    assert_eq!(s.rows(), ["earlier message", &cut[..100], &cut[100..]]);
    for _ in 0..40 {
        s.keys(BACKSPACE);
    }
    s.check();
    assert_eq!(s.rows(), ["earlier message".to_string(), format!("> {}", letters(90))]);
}

#[test]
fn messages_arriving_above_a_wrapped_line_leave_no_stale_rows() {
    let mut s = Session::new(40, 24);
    s.keys(letters(100).as_bytes());
    for i in 0..5 {
        s.arrive(&format!("<bob> message {i}"));
        s.check();
        s.keys(&[LEFT, LEFT, LEFT].concat());
        s.check();
    }
    let input = format!("> {}", letters(100));
    let mut want: Vec<String> = (0..5).map(|i| format!("<bob> message {i}")).collect();
    want.extend([&input[..40], &input[40..80], &input[80..]].map(String::from));
    assert_eq!(s.rows(), want);
    assert_eq!(s.vt.cursor(), (7, 102 - 15 - 80));
}

#[test]
fn a_long_message_arriving_wraps_above_the_input() {
    let mut s = Session::new(40, 24);
    s.keys(letters(50).as_bytes());
    s.arrive(&format!("<bob> {}", "x".repeat(60)));
    s.check();
    s.arrive(&"y".repeat(40));
    s.check();
    assert_eq!(
        s.rows()[..4],
        [
            "<bob> ".to_string() + &"x".repeat(34),
            "x".repeat(26),
            "y".repeat(40),
            format!("> {}", letters(38))
        ]
    );
}

#[test]
fn a_submitted_wrapped_line_is_shown_once_and_the_input_is_empty() {
    let mut s = Session::new(40, 24);
    s.keys(letters(70).as_bytes());
    s.keys(b"\r");
    s.check();
    let sent = format!("> {}", letters(70));
    assert_eq!(s.rows(), [&sent[..40], &sent[40..], "> "].map(|r| r.trim_end().to_string()));
}

#[test]
fn a_width_change_on_a_rewrapping_terminal_leaves_no_stale_rows() {
    let mut s = Session::new(80, 24);
    s.arrive("hello");
    s.keys(letters(150).as_bytes());
    s.keys(&[LEFT; 20].concat());
    s.check();
    for w in [40, 80, 33, 100, 80] {
        s.resize(w);
        s.check();
    }
    s.arrive("after the resizes");
    s.check();
}

#[test]
fn a_width_change_on_a_cutting_terminal_leaves_no_stale_rows() {
    let mut s = Session::new(80, 24);
    s.reflow = false;
    s.ed.set_terminal_reflows(false);
    s.arrive("hello");
    s.keys(letters(150).as_bytes());
    s.keys(&[LEFT; 20].concat());
    for w in [40, 80, 33, 100, 80] {
        s.resize(w);
        s.check();
    }
}

#[test]
fn a_wide_character_that_does_not_fit_goes_whole_to_the_next_row() {
    let mut s = Session::new(10, 24);
    s.keys("abcdefg你好".as_bytes());
    s.check();
    assert_eq!(s.rows(), ["> abcdefg", "你好"]);
    s.keys(&[LEFT, LEFT].concat());
    assert_eq!(s.vt.cursor(), (1, 0), "before 你, on the second row");
    s.keys(BACKSPACE);
    s.check();
    assert_eq!(s.rows(), ["> abcdef你", "好"]);
}

#[test]
fn cjk_editing_draws_two_columns_per_character() {
    let mut s = Session::new(12, 24);
    s.keys("你好，世界".as_bytes());
    s.check();
    assert_eq!(s.rows(), ["> 你好，世界"]);
    s.keys(&[LEFT, LEFT, LEFT].concat());
    assert_eq!(s.vt.cursor(), (0, 6));
    s.keys("大家".as_bytes());
    s.check();
    assert_eq!(s.rows(), ["> 你好大家，", "世界"]);
    s.keys(&[b"\x05", BACKSPACE, BACKSPACE, BACKSPACE].concat());
    s.check();
    assert_eq!(s.rows(), ["> 你好大家"]);
}

#[test]
fn a_line_that_fills_the_row_exactly_puts_the_cursor_on_the_next_row() {
    let mut s = Session::new(20, 24);
    s.keys(letters(18).as_bytes());
    s.check();
    assert_eq!(s.vt.cursor(), (1, 0));
    s.keys(b"x");
    s.check();
    assert_eq!(s.rows(), [format!("> {}", letters(18)), "x".to_string()]);
    s.keys(&[BACKSPACE, BACKSPACE].concat());
    s.check();
    assert_eq!(s.vt.cursor(), (0, 19));
}

#[test]
fn combining_marks_take_no_column() {
    let mut s = Session::new(10, 24);
    s.keys("e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}".as_bytes());
    s.check();
    assert_eq!(s.rows(), ["> e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}"]);
    assert_eq!(s.vt.cursor(), (1, 0));
}

#[test]
fn input_at_the_bottom_of_the_screen_scrolls_cleanly() {
    let mut s = Session::new(30, 6);
    s.keys(letters(70).as_bytes());
    for i in 0..10 {
        s.arrive(&format!("message {i}"));
        s.check();
    }
    s.keys(&[BACKSPACE; 45].concat());
    s.check();
    s.resize(20);
    s.check();
}

#[test]
fn ctrl_l_draws_the_input_at_the_top_of_a_clear_screen() {
    let mut s = Session::new(30, 10);
    s.arrive("old");
    s.keys(letters(40).as_bytes());
    let actions = s.ed.feed(b"\x0c");
    assert_eq!(actions, [Action::ClearScreen]);
    let out = s.ed.clear_screen(30);
    s.vt.write(&out);
    let input = format!("> {}", letters(40));
    assert_eq!(s.rows(), [&input[..30], &input[30..]]);
    assert_eq!(s.vt.scrollback, ["old", &input[..30], &input[30..]], "kept in the scrollback");
    s.vt.scrollback.clear();
    s.printed.clear();
    s.check();
}

#[test]
fn erase_takes_the_input_off_the_screen() {
    let mut s = Session::new(30, 10);
    s.arrive("kept");
    s.keys(letters(70).as_bytes());
    s.keys(&[b"\x01", RIGHT].concat());
    let out = s.ed.erase(30);
    s.vt.write(&out);
    assert_eq!(s.rows(), ["kept"]);
    assert_eq!(s.vt.cursor(), (1, 0));
}

#[test]
fn render_alone_draws_from_the_first_row() {
    let mut ed = Editor::new("> ");
    ed.feed(&[b"abcdef", LEFT, LEFT].concat());
    assert_eq!(ed.render(80), "> abcdef\r\x1b[6C");
    // The line fills the row: the cursor is taken to the next row before it goes back up.
    assert_eq!(ed.render(4), "> abcdef \r\x1b[K\x1b[1A\r\x1b[2C");
    let mut vt = Vt::new(4, 5);
    vt.write(&ed.render(4));
    assert_eq!((vt.screen(), vt.cursor()), (vec!["> ab".into(), "cdef".into()], (1, 2)));
}

/// Random editing, arrivals and resizes; after each step the screen must be exactly what
/// was printed and the input.
fn random_session(reflow: bool, seed: u64) {
    let mut rng = seed;
    let mut next = move |n: u64| {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let widths = [30u16, 31, 37, 40, 61, 80];
    let mut s = Session::new(40, 30);
    s.reflow = reflow;
    s.ed.set_terminal_reflows(reflow);
    let inputs: [&[u8]; 14] = [
        b"a",
        b"bc ",
        "你".as_bytes(),
        "e\u{301}".as_bytes(),
        "🦀".as_bytes(),
        BACKSPACE,
        LEFT,
        RIGHT,
        b"\x01",
        b"\x05",
        b"\x17",
        b"\x1b[3~",
        UP,
        DOWN,
    ];
    for step in 0..300 {
        match next(20) {
            0 => s.arrive(&format!("msg {step}")),
            1 => s.resize(widths[next(widths.len() as u64) as usize]),
            2 if next(4) == 0 => {
                s.ed.feed(b"\r");
                s.arrive(&format!("sent {step}"));
            }
            _ => s.keys(inputs[next(inputs.len() as u64) as usize]),
        }
        s.check();
    }
}

#[test]
fn random_editing_on_a_rewrapping_terminal_always_shows_exactly_the_input() {
    for seed in 1..=10 {
        random_session(true, seed);
    }
}

#[test]
fn random_editing_on_a_cutting_terminal_always_shows_exactly_the_input() {
    for seed in 1..=10 {
        random_session(false, seed);
    }
}
