//! Text to speak: Unicode rules and MiniMax pause markers (`<#0.5#>`).
//!
//! Text is not "sanitised" as HTML: markers like `<#0.5#>` are legitimate input and the text
//! never reaches an HTML page.

use unicode_normalization::UnicodeNormalization;

use super::unicode::CONTROL;

/// Longest text accepted, in characters (Unicode scalar values), as sent and after NFC.
pub const MAX_TEXT_CHARS: usize = 5000;

/// The rules of [`SpeechText::parse`] a pattern can state, for the API document: no control
/// character but newline, tab, and a carriage return before a newline; a letter or digit
/// somewhere. (A pause marker's bounds, and that the letter or digit must lie outside one,
/// are said in words.)
pub fn text_pattern() -> String {
    let allowed = format!("[^{CONTROL}]|[\\t\\n]|\\r\\n");
    format!("^(?:{allowed})*[\\p{{Alpha}}\\p{{N}}](?:{allowed})*$")
}

/// A piece of text between pause markers, or a pause.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment<'a> {
    /// Words to speak.
    Speech(&'a str),
    /// Silence, in milliseconds.
    Pause(u64),
}

/// Text that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechText {
    text: String,
    chars: usize,
    pause_ms: u64,
}

impl SpeechText {
    /// Validates and NFC-normalises `raw`. The error names the rule broken.
    pub fn parse(raw: &str) -> Result<SpeechText, String> {
        // Counted as sent too, as the API document's `maxLength` counts: NFC can shorten a
        // text (decomposed accents), and the bound must not depend on how it was written.
        let sent = raw.chars().count();
        if sent > MAX_TEXT_CHARS {
            return Err(format!(
                "must be at most {MAX_TEXT_CHARS} characters (got {sent})"
            ));
        }
        // Windows line ends are ordinary newlines, not a control character worth refusing.
        let text: String = raw.replace("\r\n", "\n").nfc().collect();
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && *c != '\n' && *c != '\t')
        {
            return Err(format!(
                "must not contain control characters (found U+{:04X}); only newline and tab are allowed",
                c as u32
            ));
        }
        let chars = text.chars().count();
        if chars == 0 {
            return Err("must not be empty".into());
        }
        if chars > MAX_TEXT_CHARS {
            return Err(format!(
                "must be at most {MAX_TEXT_CHARS} characters (got {chars})"
            ));
        }
        let mut pause_ms = 0;
        let mut speakable = false;
        for segment in segments(&text) {
            match segment? {
                Segment::Pause(ms) => pause_ms += ms,
                Segment::Speech(s) => speakable |= s.chars().any(char::is_alphanumeric),
            }
        }
        if !speakable {
            return Err("must contain at least one letter or digit to speak".into());
        }
        Ok(SpeechText {
            text,
            chars,
            pause_ms,
        })
    }

    /// The normalised text, markers in place.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Length in characters, as billed and reported (`text_length`).
    pub fn chars(&self) -> usize {
        self.chars
    }

    /// Sum of the explicit pauses.
    pub fn pause_ms(&self) -> u64 {
        self.pause_ms
    }

    /// Characters outside pause markers, each letter, space or common punctuation mark
    /// counting 1 and anything an engine spells out as words (digits, symbols, emoji)
    /// counting `spelled_out`.
    pub fn spoken_weight(&self, spelled_out: u64) -> u64 {
        segments(&self.text)
            .filter_map(|s| match s {
                Ok(Segment::Speech(s)) => {
                    Some(s.chars().map(|c| char_weight(c, spelled_out)).sum::<u64>())
                }
                _ => None,
            })
            .sum()
    }
}

fn char_weight(c: char, spelled_out: u64) -> u64 {
    let plain = c.is_alphabetic()
        || c.is_whitespace()
        || matches!(
            c,
            '.' | ','
                | ';'
                | ':'
                | '!'
                | '?'
                | '\''
                | '"'
                | '-'
                | '('
                | ')'
                | '’'
                | '‘'
                | '“'
                | '”'
                | '—'
                | '–'
        );
    if plain {
        1
    } else {
        spelled_out
    }
}

/// Splits text into speech and pauses. A marker is `<#x#>` with x a decimal number of seconds
/// (at most two decimals); a well-formed marker outside 0.01..=99.99 is an error.
pub fn segments(text: &str) -> impl Iterator<Item = Result<Segment<'_>, String>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut search_from = 0;
        while let Some(start) = rest[search_from..].find("<#").map(|i| i + search_from) {
            if let Some((ms, len)) = parse_marker(&rest[start..]) {
                if start > 0 {
                    let speech = &rest[..start];
                    rest = &rest[start..];
                    return Some(Ok(Segment::Speech(speech)));
                }
                rest = &rest[len..];
                return Some(ms.map(Segment::Pause));
            }
            search_from = start + 2;
        }
        let speech = rest;
        rest = "";
        Some(Ok(Segment::Speech(speech)))
    })
}

/// Parses a marker at the start of `s`: `Some((Ok(ms) or Err, byte length))` when `s` starts
/// with something shaped like a marker.
fn parse_marker(s: &str) -> Option<(Result<u64, String>, usize)> {
    let inner_start = 2;
    let end = s[inner_start..].find("#>")? + inner_start;
    let number = &s[inner_start..end];
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let shaped = !whole.is_empty()
        && whole.len() <= 3
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(number.contains('.') && frac.is_empty());
    if !shaped {
        return None;
    }
    let len = end + 2;
    if frac.len() > 2 {
        return Some((
            Err(format!(
                "pause marker <#{number}#> may have at most two decimals"
            )),
            len,
        ));
    }
    let whole: u64 = whole.parse().ok()?;
    let frac_ms: u64 = format!("{frac:0<2}").parse::<u64>().ok()? * 10;
    let ms = whole * 1000 + frac_ms;
    if !(10..=99_990).contains(&ms) {
        return Some((
            Err(format!(
                "pause marker <#{number}#> must be between 0.01 and 99.99 seconds"
            )),
            len,
        ));
    }
    Some((Ok(ms), len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_text_and_counts_characters() {
        let t = SpeechText::parse("Hello, wörld").unwrap();
        assert_eq!(t.chars(), 12);
        assert_eq!(t.pause_ms(), 0);
    }

    #[test]
    fn normalises_to_nfc() {
        let t = SpeechText::parse("e\u{0301}t\u{e9}").unwrap();
        assert_eq!(t.as_str(), "\u{e9}t\u{e9}");
        assert_eq!(t.chars(), 3);
    }

    #[test]
    fn refuses_control_characters_but_keeps_newline_and_tab() {
        assert!(SpeechText::parse("a\u{7}b").is_err());
        assert!(SpeechText::parse("a\u{0}b").is_err());
        assert!(SpeechText::parse("a\nb\tc").is_ok());
        assert!(SpeechText::parse("a\r\nb").is_ok());
    }

    #[test]
    fn length_limits() {
        assert!(SpeechText::parse("").is_err());
        assert!(SpeechText::parse(&"a".repeat(5000)).is_ok());
        assert!(SpeechText::parse(&"a".repeat(5001)).is_err());
        assert!(SpeechText::parse("   ").is_err());
    }

    #[test]
    fn pause_markers_are_kept_and_summed() {
        let t = SpeechText::parse("Hello<#0.5#>world<#1#>again<#1.25#>x").unwrap();
        assert_eq!(t.as_str(), "Hello<#0.5#>world<#1#>again<#1.25#>x");
        assert_eq!(t.pause_ms(), 2750);
        assert_eq!(t.spoken_weight(8), 16);
    }

    #[test]
    fn bad_markers_are_refused_and_lookalikes_are_text() {
        assert!(SpeechText::parse("a<#100#>b").is_err());
        assert!(SpeechText::parse("a<#0#>b").is_err());
        assert!(SpeechText::parse("a<#0.001#>b").is_err());
        let t = SpeechText::parse("a <#abc#> b <# c").unwrap();
        assert_eq!(t.pause_ms(), 0);
    }

    #[test]
    fn segments_split_speech_and_pauses() {
        let s: Vec<_> = segments("a<#0.5#>b").map(Result::unwrap).collect();
        assert_eq!(
            s,
            vec![
                Segment::Speech("a"),
                Segment::Pause(500),
                Segment::Speech("b")
            ]
        );
    }
}
