//! Display width of characters in a terminal, and the characters never inserted.

/// Characters never put into the line nor written: C0 and C1 controls, DEL, and the bidi
/// embeddings, overrides and isolates (which would reorder what the terminal shows).
pub fn is_control(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How many terminal columns `c` takes: 0 for combining marks, zero-width characters and
/// variation selectors (and controls, which are never shown), 2 for East Asian wide and
/// fullwidth characters and emoji, 1 for the rest.
///
/// The tables are the common cases, not all of Unicode: combining marks of other scripts
/// (Devanagari, Thai, Hebrew points …) count 1, and so do the emoji outside the blocks below.
pub fn char_width(c: char) -> usize {
    if is_control(c) {
        return 0;
    }
    match u32::from(c) {
        0x0300..=0x036f // combining diacritical marks
        | 0x1160..=0x11ff // Hangul medial vowels and final consonants (join the syllable)
        | 0x1ab0..=0x1aff // combining diacritical marks extended
        | 0x1dc0..=0x1dff // combining diacritical marks supplement
        | 0x200b..=0x200f // zero-width space, joiners, direction marks
        | 0x2060..=0x2064 // word joiner, invisible operators
        | 0x20d0..=0x20ff // combining marks for symbols
        | 0xfe00..=0xfe0f // variation selectors
        | 0xfe20..=0xfe2f // combining half marks
        | 0xfeff // zero-width no-break space
        | 0xe0100..=0xe01ef => 0, // variation selectors supplement
        0x1100..=0x115f // Hangul initial consonants
        | 0x2e80..=0x303f // CJK radicals, Kangxi, ideographic description, CJK punctuation
        | 0x3041..=0x33ff // Hiragana, Katakana, Bopomofo, Hangul compatibility jamo, CJK compatibility
        | 0x3400..=0x4dbf // CJK extension A
        | 0x4e00..=0x9fff // CJK unified ideographs
        | 0xa000..=0xa4cf // Yi
        | 0xa960..=0xa97f // Hangul jamo extended A
        | 0xac00..=0xd7a3 // Hangul syllables
        | 0xf900..=0xfaff // CJK compatibility ideographs
        | 0xfe10..=0xfe19 // vertical forms
        | 0xfe30..=0xfe6f // CJK compatibility forms, small form variants
        | 0xff00..=0xff60 // fullwidth forms
        | 0xffe0..=0xffe6 // fullwidth signs
        | 0x1f300..=0x1f64f // pictographs, emoticons
        | 0x1f680..=0x1f6ff // transport and map symbols
        | 0x1f7e0..=0x1f7eb // coloured circles and squares
        | 0x1f900..=0x1f9ff // supplemental pictographs
        | 0x1fa70..=0x1faff // pictographs extended A
        | 0x20000..=0x2fffd // CJK extensions B–F, compatibility supplement
        | 0x30000..=0x3fffd => 2, // CJK extension G and after
        _ => 1,
    }
}

/// The display width of `s` in columns.
#[cfg(test)]
pub fn str_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}
