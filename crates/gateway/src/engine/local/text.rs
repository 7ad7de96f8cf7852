//! Makes request text plain text for eSpeak NG.
//!
//! eSpeak is run without `-m`, so SSML and other `<...>` tags are not interpreted. Its
//! command-line program does, however, always read `[[...]]` as raw phoneme mnemonics
//! (`[[h@loU]]` is spoken as phonemes, `[[[x]]]` as nothing); a space is put between
//! consecutive `[` so brackets are read as text. Control characters other than line
//! breaks and tabs are replaced by spaces.

/// The text to feed eSpeak on stdin for one spoken segment.
pub(crate) fn plain_text(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 8);
    let mut previous = None;
    for c in segment.chars() {
        let c = if c.is_control() && !matches!(c, '\n' | '\t') {
            ' '
        } else {
            c
        };
        if c == '[' && previous == Some('[') {
            out.push(' ');
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in [
            "Hello, world.",
            "-v --version starts with a dash",
            "<speak>tags</speak> & [single] brackets ]]",
            "multi\nline\ttext é ✓",
        ] {
            assert_eq!(plain_text(text), text);
        }
    }

    #[test]
    fn phoneme_brackets_are_broken_up() {
        assert_eq!(plain_text("say [[h@loU]] now"), "say [ [h@loU]] now");
        assert_eq!(plain_text("[[[x]]]"), "[ [ [x]]]");
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(plain_text("a\u{1}5S b\u{0}c\r\n"), "a 5S b c \n");
    }
}
