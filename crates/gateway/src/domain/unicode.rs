//! Text that must name one thing one way: characters that show nothing, and the one form of a
//! text that looks the same in other forms (fullwidth letters, decomposed accents, case).

use unicode_normalization::UnicodeNormalization;

/// Characters that render as nothing (format characters, joiners, direction marks,
/// variation selectors, fillers), by code point range.
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Control characters (Unicode's `Cc`, what `char::is_control` finds), as the inside of a
/// pattern's character class.
pub const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";

/// White space that is not a control character (with [`CONTROL`], what `char::is_whitespace`
/// and `str::trim` find), as the inside of a pattern's character class.
pub const SPACE: &str = " \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/// The characters [`has_invisible`] finds in the Basic Multilingual Plane, as the inside of a
/// pattern's character class. (Patterns written with `\uXXXX` escapes, which every regex
/// dialect reading the API document takes, cannot name the few beyond it.)
pub fn invisible_class() -> String {
    INVISIBLE
        .iter()
        .filter(|&&(_, to)| to <= 0xFFFF)
        .map(|&(from, to)| format!("\\u{from:04X}-\\u{to:04X}"))
        .collect()
}

/// Whether `text` holds a character that shows nothing.
pub fn has_invisible(text: &str) -> bool {
    text.chars().any(|c| {
        let c = u32::from(c);
        INVISIBLE.iter().any(|&(from, to)| (from..=to).contains(&c))
    })
}

/// The one form of `text` that compares equal to every way of writing it: compatibility
/// forms folded (NFKC: fullwidth `ｅ` is `e`, a decomposed `é` is one character), then lower
/// case, then NFKC again (lower-casing can leave a text unnormalised).
pub fn folded(text: &str) -> String {
    let compatible: String = text.nfkc().collect();
    compatible.to_lowercase().nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_fold_to_one_form() {
        let plain = folded("émile@example.com");
        assert_eq!(folded("ÉMILE@EXAMPLE.COM"), plain);
        assert_eq!(folded("e\u{0301}mile@example.com"), plain);
        assert_eq!(folded("ｅｍｉｌｅ@example.com"), "emile@example.com");
    }

    #[test]
    fn invisible_characters_are_found() {
        assert!(has_invisible("em\u{200B}ile@example.com"));
        assert!(has_invisible("a\u{FEFF}b"));
        assert!(has_invisible("a\u{202E}b"));
        assert!(!has_invisible("émile@example.com"));
    }
}
