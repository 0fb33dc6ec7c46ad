//! What a name and a chat line may contain, and when two names are the same.
//!
//! A name is shown beside every line its owner writes, so it must not be able to pass for
//! someone else's: [`check_name`] refuses names with invisible, control or blank characters,
//! with brackets or colons that could fake a prefix (`[admin]`, `bob:`), names that read as a
//! reserved word (`admin`, `server`, `operator`, `system`), and names that mix Latin, Greek and
//! Cyrillic letters. Two names are the same name when their [`skeleton`]s are equal, so `Alice`,
//! `аlice` (Cyrillic а) and `ａｌｉｃｅ` (fullwidth) cannot be online together.
//!
//! [`check_text`] checks a chat line: not too long, and no control characters. Invisible and
//! bidirectional formatting characters are allowed in text (some scripts need them); every
//! front end shows them with [`crate::text::visible`].
//!
//! The character tables are small and hand-written (this crate has no Unicode data
//! dependency): the scripts that share look-alike letters (Latin, Greek, Cyrillic) and the
//! look-alikes themselves, after Unicode Technical Standard #39 (`confusables.txt`), which is
//! the reference for extending them.

use crate::protocol::{MAX_NAME, MAX_TEXT, MAX_TEXT_CHARS};
use crate::text::is_hidden;
use std::fmt;

/// Names nobody may take, compared by [`skeleton`] (so `ADMIN` and `Аdmin` are taken too).
pub const RESERVED: [&str; 4] = ["admin", "server", "operator", "system"];

/// An alphabet whose letters look like another's (see [`NameError::MixedScripts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Script {
    /// Latin letters, including accented, fullwidth and mathematical ones.
    Latin,
    /// Greek letters.
    Greek,
    /// Cyrillic letters.
    Cyrillic,
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Script::Latin => "Latin",
            Script::Greek => "Greek",
            Script::Cyrillic => "Cyrillic",
        })
    }
}

/// Why a name cannot be used. The [`Display`](fmt::Display) says why in words, and names an
/// offending character by its code point (`U+200B`), never by the character itself when that
/// could be invisible.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// No characters.
    Empty,
    /// More than [`MAX_NAME`] characters.
    TooLong {
        /// How many characters the name has.
        chars: usize,
    },
    /// A control character: C0 (including TAB, CR, LF), DEL or C1.
    Control(char),
    /// A space or another blank character ([`char::is_whitespace`]).
    Whitespace(char),
    /// A character that is drawn as nothing or changes how the text around it is drawn: a
    /// format character (bidi marks, zero-width characters, soft hyphen, word joiner, BOM,
    /// tags …), a filler (Hangul fillers, the blank Braille pattern) or a variation selector.
    Invisible(char),
    /// A combining mark from the diacritics blocks (U+0300–U+036F and its supplements): the
    /// same accented letter can be written precomposed (`é`) or combined (`e` + U+0301), and
    /// the two would be different names that look the same; combining marks can also be
    /// stacked to draw over other lines.
    CombiningMark(char),
    /// A private-use or non-character code point: it has no agreed look.
    NoAgreedLook(char),
    /// A bracket, colon or `@` (ASCII or a look-alike), which could make the name look like a
    /// prefix (`[admin]`, `bob:`, `@ann`).
    Punctuation(char),
    /// The name reads as one of the [`RESERVED`] names.
    Reserved(&'static str),
    /// Letters of two alphabets that share look-alike letters (in [`Script`] order).
    MixedScripts(Script, Script),
}

impl NameError {
    /// Whether the name is refused because it reads as a [`RESERVED`] name.
    pub fn is_reserved(&self) -> bool {
        matches!(self, NameError::Reserved(_))
    }
}

/// `U+XXXX`, the way the messages name a character.
struct CodePoint(char);

impl fmt::Display for CodePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X}", self.0 as u32)
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NameError::Empty => write!(f, "the name is empty"),
            NameError::TooLong { chars } => {
                write!(f, "the name has {chars} characters; at most {MAX_NAME} are allowed")
            }
            NameError::Control(c) => write!(
                f,
                "the name contains a control character ({}); control characters are not allowed",
                CodePoint(c)
            ),
            NameError::Whitespace(' ') => {
                write!(f, "the name contains a space; names cannot contain spaces or other blanks")
            }
            NameError::Whitespace(c) => write!(
                f,
                "the name contains a blank character ({}); names cannot contain spaces or other blanks",
                CodePoint(c)
            ),
            NameError::Invisible(c) => write!(
                f,
                "the name contains an invisible or formatting character ({}); \
                 every character of a name must be visible",
                CodePoint(c)
            ),
            NameError::CombiningMark(c) => write!(
                f,
                "the name contains a combining mark ({}); write accented letters as one character (é)",
                CodePoint(c)
            ),
            NameError::NoAgreedLook(c) => write!(
                f,
                "the name contains {}, a private-use or non-character code point with no agreed look",
                CodePoint(c)
            ),
            NameError::Punctuation(c) => write!(
                f,
                "the name contains “{c}” ({}); brackets, colons and @ are not allowed in names, \
                 so that no name can pass for a prefix such as [admin] or bob:",
                CodePoint(c)
            ),
            NameError::Reserved(r) => write!(f, "the name reads as “{r}”, which is reserved"),
            NameError::MixedScripts(a, b) => {
                write!(f, "the name mixes {a} and {b} letters; use the letters of one alphabet")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a user name.
///
/// A name has 1 to [`MAX_NAME`] characters; none of them a control character, a space or
/// other blank, an invisible or formatting character, a combining diacritic, a private-use
/// character, a bracket, a colon or `@`; it does not read as a [`RESERVED`] name (compared by
/// [`skeleton`]); and its letters are not a mix of Latin, Greek and Cyrillic. Digits and other
/// punctuation go with any letters, and so do Han, Kana and Hangul (`Tom张`, `小明2024`).
///
/// # Examples
///
/// ```
/// use chat_core::names::{NameError, Script, check_name};
///
/// assert!(check_name("小明2024").is_ok());
/// assert_eq!(check_name("ali\u{200b}ce"), Err(NameError::Invisible('\u{200b}')));
/// assert_eq!(check_name("аlice"), Err(NameError::MixedScripts(Script::Latin, Script::Cyrillic)));
/// assert_eq!(check_name("ADMIN"), Err(NameError::Reserved("admin")));
/// assert_eq!(check_name("ann smith").unwrap_err().to_string(),
///     "the name contains a space; names cannot contain spaces or other blanks");
/// ```
///
/// # Errors
///
/// The first problem found, as a [`NameError`].
pub fn check_name(name: &str) -> Result<(), NameError> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(NameError::Empty);
    }
    if chars > MAX_NAME {
        return Err(NameError::TooLong { chars });
    }
    let mut script: Option<Script> = None;
    for c in name.chars() {
        if c.is_control() {
            return Err(NameError::Control(c));
        }
        if c.is_whitespace() {
            return Err(NameError::Whitespace(c));
        }
        if is_hidden(c) || is_variation_selector(c) {
            return Err(NameError::Invisible(c));
        }
        if is_combining_diacritic(c) {
            return Err(NameError::CombiningMark(c));
        }
        if is_private_or_noncharacter(c) {
            return Err(NameError::NoAgreedLook(c));
        }
        if is_prefix_punctuation(c) {
            return Err(NameError::Punctuation(c));
        }
        if let Some(s) = script_of(c) {
            match script {
                Some(first) if first != s => {
                    // Reported after the reserved-name check, which says more.
                    let (a, b) = if first < s { (first, s) } else { (s, first) };
                    return Err(reserved(name).unwrap_or(NameError::MixedScripts(a, b)));
                }
                _ => script = Some(s),
            }
        }
    }
    match reserved(name) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn reserved(name: &str) -> Option<NameError> {
    let key = skeleton(name);
    RESERVED.iter().find(|r| skeleton(r) == key).map(|r| NameError::Reserved(r))
}

/// The key two names are compared by: names with the same skeleton look alike, and only one
/// of them may be online at a time.
///
/// The steps, after the skeleton of Unicode Technical Standard #39 (whose `confusables.txt`
/// is the reference for the tables), with case folded as well:
///
/// 1. Fullwidth ASCII (U+FF01–U+FF5E) becomes ASCII; mathematical and letterlike Latin
///    letters and digits (`𝐚`, `𝖺`, `ℓ`, `𝟏`) become plain ones.
/// 2. Cyrillic and Greek letters that look like Latin ones become those (lowercase):
///    Cyrillic `а е к о р с у х і ј ѕ ԁ ԛ ԝ һ ӏ ү` and the capitals that look Latin
///    (`А В Е К М Н О Р С Т У Х І Ј Ѕ Ԛ Ԝ Һ Ӏ Ү`; `В` → `b`, `Н` → `h`); Greek
///    `α γ ι κ ν ο ρ τ υ χ ϲ ϳ` and the capitals `Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ Ϲ Ϳ`; a few Latin
///    variants too (`ı`, `ɑ`, `ɡ`, `ǀ`). The Kelvin and Ångström signs become `k` and `å` by
///    lowercasing.
/// 3. Everything is lowercased ([`char::to_lowercase`]).
/// 4. Digits and letters drawn alike become one: `0` → `o`; `1`, `l`, `i`, `|` → `l` (`I`
///    and `l` look the same in many fonts, and `I` folds to `i`); then `rn` → `m`.
///
/// Han, Kana, Hangul and other letters without look-alikes in the table stay as they are.
///
/// # Examples
///
/// ```
/// use chat_core::names::skeleton;
///
/// assert_eq!(skeleton("Alice"), skeleton("аlice")); // Cyrillic а
/// assert_eq!(skeleton("Alice"), skeleton("ａｌｉｃｅ"));
/// assert_eq!(skeleton("Alice"), skeleton("a1ice"));
/// assert_eq!(skeleton("小明"), "小明");
/// assert_ne!(skeleton("你好"), skeleton("你们"));
/// ```
pub fn skeleton(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = plain_latin(c);
        match look_alike(c) {
            Some(l) => out.push(fold(l)),
            None => out.extend(c.to_lowercase().map(|l| fold(look_alike(l).unwrap_or(l)))),
        }
    }
    if out.contains("rn") { out.replace("rn", "m") } else { out }
}

/// Step 4 of [`skeleton`]: one of each group of characters drawn alike.
fn fold(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | 'i' | '|' => 'l',
        c => c,
    }
}

/// Step 1 of [`skeleton`]: fullwidth, mathematical and letterlike forms of ASCII letters and
/// digits, as the plain letter or digit.
fn plain_latin(c: char) -> char {
    let u = c as u32;
    let letter = |i: u32| char::from(if i < 26 { b'A' + i as u8 } else { b'a' + (i - 26) as u8 });
    match u {
        0xFF01..=0xFF5E => char::from_u32(u - 0xFEE0).unwrap_or(c),
        // Mathematical Alphanumeric Symbols: 13 alphabets of A–Z a–z, then digits in 5 styles.
        0x1D400..=0x1D6A3 => letter((u - 0x1D400) % 52),
        0x1D7CE..=0x1D7FF => char::from(b'0' + ((u - 0x1D7CE) % 10) as u8),
        _ => match c {
            // Letterlike symbols (some fill the gaps of the mathematical alphabets).
            'ℊ' => 'g',
            'ℋ' | 'ℌ' | 'ℍ' | 'ℎ' => 'h',
            'ℐ' | 'ℑ' | 'ℹ' => 'i',
            'ℒ' | 'ℓ' => 'l',
            'ℕ' => 'n',
            'ℙ' => 'p',
            'ℚ' => 'q',
            'ℛ' | 'ℜ' | 'ℝ' => 'r',
            'ℤ' | 'ℨ' => 'z',
            'ℬ' => 'b',
            'ℭ' => 'c',
            'ℯ' | 'ℰ' => 'e',
            'ℱ' => 'f',
            'ℳ' => 'm',
            'ℴ' => 'o',
            c => c,
        },
    }
}

/// Step 2 of [`skeleton`]: the Latin letter (lowercase) a Cyrillic, Greek or Latin-variant
/// letter looks like. From UTS #39 `confusables.txt`, the letters that look the same in common
/// fonts.
fn look_alike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic.
        'а' | 'А' => 'a',
        'В' => 'b',
        'е' | 'Е' => 'e',
        'к' | 'К' => 'k',
        'М' => 'm',
        'Н' | 'һ' | 'Һ' => 'h',
        'о' | 'О' => 'o',
        'р' | 'Р' => 'p',
        'с' | 'С' => 'c',
        'Т' => 't',
        'у' | 'У' | 'ү' | 'Ү' => 'y',
        'х' | 'Х' => 'x',
        'і' | 'І' | 'ӏ' | 'Ӏ' => 'l',
        'ј' | 'Ј' => 'j',
        'ѕ' | 'Ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' | 'Ԛ' => 'q',
        'ԝ' | 'Ԝ' => 'w',
        // Greek.
        'α' | 'Α' => 'a',
        'Β' => 'b',
        'Ε' => 'e',
        'Ζ' => 'z',
        'Η' => 'h',
        'ι' | 'Ι' => 'l',
        'κ' | 'Κ' => 'k',
        'Μ' => 'm',
        'ν' | 'Ν' => 'n',
        'ο' | 'Ο' => 'o',
        'ρ' | 'Ρ' => 'p',
        'τ' | 'Τ' => 't',
        'υ' => 'u',
        'Υ' | 'γ' => 'y',
        'χ' | 'Χ' => 'x',
        'ϲ' | 'Ϲ' => 'c',
        'ϳ' | 'Ϳ' => 'j',
        // Latin variants.
        'ı' | 'ǀ' => 'l',
        'ɑ' => 'a',
        'ɡ' => 'g',
        _ => return None,
    })
}

/// The alphabet of a letter, for the alphabets that share look-alikes; `None` for every other
/// character (digits, punctuation, Han, Kana, Hangul, Arabic …).
fn script_of(c: char) -> Option<Script> {
    if !c.is_alphabetic() {
        return None;
    }
    let u = c as u32;
    match u {
        0x41..=0x5A
        | 0x61..=0x7A
        | 0xAA
        | 0xBA
        | 0xC0..=0x24F
        | 0x250..=0x2AF
        | 0x1D00..=0x1D25
        | 0x1D2C..=0x1D5C
        | 0x1D62..=0x1D65
        | 0x1D6B..=0x1D77
        | 0x1D79..=0x1DBE
        | 0x1E00..=0x1EFF
        | 0x2071
        | 0x207F
        | 0x2090..=0x209C
        | 0x2102..=0x2125
        | 0x2127..=0x2134
        | 0x2139
        | 0x2160..=0x2188
        | 0x2C60..=0x2C7F
        | 0xA722..=0xA7FF
        | 0xAB30..=0xAB5A
        | 0xAB5C..=0xAB64
        | 0xFB00..=0xFB06
        | 0xFF21..=0xFF3A
        | 0xFF41..=0xFF5A
        | 0x1D400..=0x1D6A3 => Some(Script::Latin),
        0x370..=0x3FF
        | 0x1D26..=0x1D2A
        | 0x1D5D..=0x1D61
        | 0x1D66..=0x1D6A
        | 0x1DBF
        | 0x1F00..=0x1FFF
        | 0x2126
        | 0xAB65
        | 0x1D6A8..=0x1D7C9 => Some(Script::Greek),
        0x400..=0x52F | 0x1C80..=0x1C88 | 0x1D2B | 0x1D78 | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => {
            Some(Script::Cyrillic)
        }
        _ => None,
    }
}

/// Variation selectors: invisible; in a name they would make two names that look the same.
fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Combining marks of the diacritics blocks (the combining grapheme joiner, U+034F, is
/// refused earlier as invisible).
fn is_combining_diacritic(c: char) -> bool {
    matches!(c,
        '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// Private-use characters and noncharacters.
fn is_private_or_noncharacter(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFDD0..=0xFDEF) || u & 0xFFFE == 0xFFFE
}

/// Brackets, colons and at signs, in ASCII and the forms that look like them (fullwidth,
/// CJK, small, mathematical, ornamental, modifier letters).
fn is_prefix_punctuation(c: char) -> bool {
    matches!(c,
        '[' | ']' | '{' | '}' | '(' | ')' | '<' | '>' | ':' | '@'
        // Fullwidth and halfwidth forms: （）：＜＞＠［］｛｝｟｠｢｣.
        | '\u{FF08}' | '\u{FF09}' | '\u{FF1A}' | '\u{FF1C}' | '\u{FF1E}' | '\u{FF20}' | '\u{FF3B}'
        | '\u{FF3D}' | '\u{FF5B}' | '\u{FF5D}' | '\u{FF5F}' | '\u{FF60}' | '\u{FF62}' | '\u{FF63}'
        // CJK brackets: 〈〉《》「」『』【】 and 〔〕〖〗〘〙〚〛.
        | '\u{3008}'..='\u{3011}' | '\u{3014}'..='\u{301B}'
        // Vertical and small forms: ︓ ︵–﹄ ﹕ ﹙–﹞ ﹤ ﹥ ﹫.
        | '\u{FE13}' | '\u{FE35}'..='\u{FE44}' | '\u{FE55}' | '\u{FE59}'..='\u{FE5E}' | '\u{FE64}'
        | '\u{FE65}' | '\u{FE6B}'
        // Modifier letters ˂ ˃ ː, Latin letter colon ꞉, Hebrew sof pasuq ׃, ratio ∶.
        | '\u{2C2}' | '\u{2C3}' | '\u{2D0}' | '\u{A789}' | '\u{5C3}' | '\u{2236}'
        // Single guillemets ‹ ›, square brackets with quill ⁅ ⁆, super- and subscript
        // parentheses, angle brackets 〈 〉, ornamental and mathematical brackets.
        | '\u{2039}' | '\u{203A}' | '\u{2045}' | '\u{2046}' | '\u{207D}' | '\u{207E}' | '\u{208D}'
        | '\u{208E}' | '\u{2329}' | '\u{232A}' | '\u{2768}'..='\u{2775}' | '\u{27E6}'..='\u{27EF}'
        | '\u{2983}'..='\u{2998}')
}

/// Why a chat line cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextError {
    /// More than [`MAX_TEXT_CHARS`] characters.
    TooLong {
        /// The line's length in characters.
        chars: usize,
    },
    /// Within [`MAX_TEXT_CHARS`] characters but more than [`MAX_TEXT`] bytes (emoji take four
    /// each).
    TooManyBytes {
        /// The line's length in bytes.
        bytes: usize,
    },
    /// A control character: C0 (including TAB, CR and LF: a line is one line), DEL or C1.
    Control(char),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TextError::TooLong { chars } => {
                write!(f, "the line has {chars} characters; at most {MAX_TEXT_CHARS} are allowed")
            }
            TextError::TooManyBytes { bytes } => write!(
                f,
                "the line takes {bytes} bytes (emoji take four each); at most {MAX_TEXT} are allowed"
            ),
            TextError::Control(c) => write!(
                f,
                "the line contains a control character ({}); control characters are not allowed",
                CodePoint(c)
            ),
        }
    }
}

impl std::error::Error for TextError {}

/// Checks a chat line: at most [`MAX_TEXT_CHARS`] characters (and [`MAX_TEXT`] bytes), and no
/// control characters (C0 including
/// TAB, CR and LF, DEL, C1). Invisible and bidirectional formatting characters pass: front
/// ends show them visibly with [`crate::text::visible`].
///
/// # Examples
///
/// ```
/// use chat_core::names::{TextError, check_text};
///
/// assert!(check_text("你好，世界 \u{202e}").is_ok());
/// assert_eq!(check_text("\u{1b}[2J"), Err(TextError::Control('\u{1b}')));
/// assert_eq!(check_text(&"你".repeat(301)).unwrap_err().to_string(),
///     "the line has 301 characters; at most 300 are allowed");
/// assert!(check_text(&"你".repeat(300)).is_ok());
/// ```
///
/// # Errors
///
/// The first problem found, as a [`TextError`].
pub fn check_text(text: &str) -> Result<(), TextError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(TextError::TooLong { chars });
    }
    if text.len() > MAX_TEXT {
        return Err(TextError::TooManyBytes { bytes: text.len() });
    }
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(TextError::Control(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_deceive_are_refused_with_the_reason() {
        let bad: &[(&str, &str)] = &[
            ("alice\u{200B}", "invisible or formatting character (U+200B)"),
            ("\u{3164}", "invisible or formatting character (U+3164)"),
            ("\u{2800}", "invisible or formatting character (U+2800)"),
            ("al\u{00AD}ice", "invisible or formatting character (U+00AD)"),
            ("a\u{202E}b", "invisible or formatting character (U+202E)"),
            ("bob\u{FE0F}", "invisible or formatting character (U+FE0F)"),
            ("\u{115F}x", "invisible or formatting character (U+115F)"),
            ("x\u{034F}", "invisible or formatting character (U+034F)"),
            ("x\u{180E}", "invisible or formatting character (U+180E)"),
            ("x\u{E0041}", "invisible or formatting character (U+E0041)"),
            ("admin", "reads as “admin”, which is reserved"),
            ("Admin", "reads as “admin”, which is reserved"),
            ("ADMIN", "reads as “admin”, which is reserved"),
            ("Аdmin", "reads as “admin”, which is reserved"),
            ("ａｄｍｉｎ", "reads as “admin”, which is reserved"),
            ("server", "reads as “server”, which is reserved"),
            ("Operator", "reads as “operator”, which is reserved"),
            ("system", "reads as “system”, which is reserved"),
            ("SYSTEM", "reads as “system”, which is reserved"),
            ("[admin]", "contains “[” (U+005B); brackets, colons and @ are not allowed"),
            ("【admin】", "contains “【” (U+3010)"),
            ("（x）", "contains “（” (U+FF08)"),
            ("bob:", "contains “:” (U+003A)"),
            ("bob：", "contains “：” (U+FF1A)"),
            ("@ann", "contains “@” (U+0040)"),
            ("ann smith", "contains a space; names cannot contain spaces"),
            (" spaced", "contains a space"),
            ("ann\u{3000}smith", "contains a blank character (U+3000)"),
            ("ann\u{A0}smith", "contains a blank character (U+00A0)"),
            ("a\tb", "contains a control character (U+0009)"),
            ("a\u{1b}[2J", "contains a control character (U+001B)"),
            ("a\u{9b}b", "contains a control character (U+009B)"),
            ("a\u{7f}", "contains a control character (U+007F)"),
            ("аlice", "mixes Latin and Cyrillic letters"),
            ("alicе", "mixes Latin and Cyrillic letters"),
            ("bοb", "mixes Latin and Greek letters"),
            ("Σоφия", "mixes Greek and Cyrillic letters"),
            ("Jose\u{301}", "combining mark (U+0301)"),
            ("x\u{E000}", "U+E000, a private-use"),
            ("", "the name is empty"),
        ];
        for (name, why) in bad {
            match check_name(name) {
                Ok(()) => panic!("{name:?} was accepted"),
                Err(e) => assert!(e.to_string().contains(why), "{name:?}: {e} (wanted {why:?})"),
            }
        }
        let long = "x".repeat(MAX_NAME + 1);
        assert_eq!(check_name(&long), Err(NameError::TooLong { chars: 33 }));
        assert_eq!(
            check_name(&long).unwrap_err().to_string(),
            "the name has 33 characters; at most 32 are allowed"
        );
    }

    #[test]
    fn names_in_any_one_alphabet_and_with_cjk_are_accepted() {
        for name in [
            "alice",
            "小明",
            "小明2024",
            "Tom张",
            "José",
            "Ольга",
            "Σοφία",
            "さくら",
            "김민준",
            "o'neil",
            "x_y-z.1",
            "山田さくら",
            "カタカナ漢字",
            "Zoë",
            "Łukasz",
            "Nguyễn",
            "محمد",
            "😀",
            "ann-2",
            "administrator",
            "sysop",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name:?}");
        }
        assert_eq!(check_name(&"名".repeat(MAX_NAME)), Ok(()));
    }

    #[test]
    fn look_alike_names_have_the_same_skeleton() {
        let alice = skeleton("alice");
        for name in ["Alice", "ALICE", "аlice", "ａｌｉｃｅ", "a1ice", "AL1CE", "𝖺𝗅𝗂𝖼𝖾", "аlіcе", "a|ice"]
        {
            assert_eq!(skeleton(name), alice, "{name:?}");
        }
        assert_eq!(skeleton("ВОВ"), skeleton("BOB"));
        assert_eq!(skeleton("ΑΒΕ"), skeleton("abe"));
        assert_eq!(skeleton("rnary"), skeleton("mary"));
        assert_eq!(skeleton("b0b"), skeleton("bob"));
        assert_eq!(skeleton("\u{212A}elvin"), skeleton("kelvin")); // the Kelvin sign
    }

    #[test]
    fn different_names_keep_different_skeletons() {
        assert_ne!(skeleton("你好"), skeleton("你们"));
        assert_ne!(skeleton("ann"), skeleton("anne"));
        assert_ne!(skeleton("Ольга"), skeleton("Olga"));
        assert_ne!(skeleton("u2"), skeleton("u3"));
        for cjk in ["小明", "さくら", "김민준", "カタカナ"] {
            assert_eq!(skeleton(cjk), cjk);
        }
    }

    #[test]
    fn text_with_control_characters_or_too_long_is_refused() {
        for (text, c) in [
            ("a\tb", '\t'),
            ("a\rb", '\r'),
            ("a\nb", '\n'),
            ("\u{1b}]0;t\u{7}", '\u{1b}'),
            ("\u{7f}", '\u{7f}'),
            ("\u{85}", '\u{85}'),
        ] {
            assert_eq!(check_text(text), Err(TextError::Control(c)), "{text:?}");
        }
        assert_eq!(
            check_text("\u{1b}[2J").unwrap_err().to_string(),
            "the line contains a control character (U+001B); control characters are not allowed"
        );
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(check_text(&long), Err(TextError::TooLong { chars: MAX_TEXT_CHARS + 1 }));
        assert_eq!(check_text(&"x".repeat(MAX_TEXT_CHARS)), Ok(()));
        assert_eq!(check_text(&"你好，世界".repeat(MAX_TEXT_CHARS / 5)), Ok(()));
        let emoji = "\u{1F600}".repeat(251);
        assert_eq!(check_text(&emoji), Err(TextError::TooManyBytes { bytes: 1004 }));
    }

    #[test]
    fn text_with_invisible_or_bidi_characters_is_accepted() {
        for text in ["abc\u{202E}fed", "zero\u{200B}width", "你好，世界", "😀👩\u{200D}💻", "", "a b"]
        {
            assert_eq!(check_text(text), Ok(()), "{text:?}");
        }
    }
}
