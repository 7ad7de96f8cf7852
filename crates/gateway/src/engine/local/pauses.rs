//! Pause markers: `<#x#>` in the text asks for x seconds of silence (0.01 ≤ x ≤ 99.99).
//!
//! The text is split into spoken segments and pauses; the engine speaks each segment
//! separately and joins them with real silence, so no markup ever reaches eSpeak. A
//! marker is `<#`, decimal digits with an optional `.` and fraction, `#>`; anything else
//! that looks similar (`<#abc#>`, `<#0#>`, `<#120#>`) is left as ordinary text.

/// Shortest pause a marker may ask for, in milliseconds.
const MIN_PAUSE_MS: u32 = 10;
/// Longest pause a marker may ask for, in milliseconds.
const MAX_PAUSE_MS: u32 = 99_990;

/// A piece of the request text, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text to speak; never empty nor only whitespace.
    Speech(&'a str),
    /// Silence of this many milliseconds.
    Pause(u32),
}

/// Splits `text` on pause markers. Whitespace-only stretches between markers are dropped.
pub(crate) fn split_pauses(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut segment_start = 0;
    let mut search_from = 0;
    while let Some(offset) = text[search_from..].find("<#") {
        let marker_start = search_from + offset;
        match parse_marker(&text[marker_start..]) {
            Some((pause_ms, marker_len)) => {
                push_speech(&mut pieces, &text[segment_start..marker_start]);
                pieces.push(Piece::Pause(pause_ms));
                segment_start = marker_start + marker_len;
                search_from = segment_start;
            }
            None => search_from = marker_start + 2,
        }
    }
    push_speech(&mut pieces, &text[segment_start..]);
    pieces
}

fn push_speech<'a>(pieces: &mut Vec<Piece<'a>>, segment: &'a str) {
    if !segment.trim().is_empty() {
        pieces.push(Piece::Speech(segment));
    }
}

/// Parses a marker at the start of `input` (which starts with `<#`): its pause in
/// milliseconds and its length in bytes.
fn parse_marker(input: &str) -> Option<(u32, usize)> {
    let body = input.strip_prefix("<#")?;
    let end = body.find("#>")?;
    let number = &body[..end];
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let all_digits =
        |s: &str| !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let seconds: f64 = number.parse().ok()?;
    let pause_ms = (seconds * 1000.0).round();
    if !(f64::from(MIN_PAUSE_MS)..=f64::from(MAX_PAUSE_MS)).contains(&pause_ms) {
        return None;
    }
    Some((pause_ms as u32, 2 + end + 2))
}

#[cfg(test)]
mod tests {
    use super::Piece::{Pause, Speech};
    use super::*;

    #[test]
    fn text_without_markers_is_one_segment() {
        assert_eq!(split_pauses("Hello, world."), vec![Speech("Hello, world.")]);
        assert_eq!(split_pauses(""), vec![]);
        assert_eq!(split_pauses("  \n"), vec![]);
    }

    #[test]
    fn markers_become_pauses() {
        assert_eq!(
            split_pauses("Hello<#0.5#> world <#1#>again."),
            vec![
                Speech("Hello"),
                Pause(500),
                Speech(" world "),
                Pause(1000),
                Speech("again.")
            ]
        );
    }

    #[test]
    fn leading_trailing_and_adjacent_markers() {
        assert_eq!(
            split_pauses("<#0.25#>Hi<#1.5#> <#2#>"),
            vec![Pause(250), Speech("Hi"), Pause(1500), Pause(2000)]
        );
        assert_eq!(split_pauses("<#99.99#>"), vec![Pause(99_990)]);
        assert_eq!(
            split_pauses("a<#0.01#>b"),
            vec![Speech("a"), Pause(10), Speech("b")]
        );
    }

    #[test]
    fn fractions_are_rounded_to_milliseconds() {
        assert_eq!(split_pauses("<#0.0125#>"), vec![Pause(13)]);
        assert_eq!(split_pauses("<#3.14159#>"), vec![Pause(3142)]);
    }

    #[test]
    fn malformed_or_out_of_range_markers_stay_text() {
        for text in [
            "a <#abc#> b",
            "a <#0#> b",
            "a <#0.001#> b",
            "a <#100#> b",
            "a <#-1#> b",
            "a <#1.#> b",
            "a <#.5#> b",
            "a <# 1 #> b",
            "a <#1e1#> b",
            "a <#1#",
            "a <#",
            "a #> b",
        ] {
            assert_eq!(split_pauses(text), vec![Speech(text)], "{text}");
        }
    }

    #[test]
    fn a_malformed_marker_does_not_hide_a_later_one() {
        assert_eq!(
            split_pauses("x <#y <#1#>z"),
            vec![Speech("x <#y "), Pause(1000), Speech("z")]
        );
        assert_eq!(split_pauses("<#<#2#>"), vec![Speech("<#"), Pause(2000)]);
    }

    #[test]
    fn multibyte_text_around_markers() {
        assert_eq!(
            split_pauses("héllo <#1#>wörld ✓"),
            vec![Speech("héllo "), Pause(1000), Speech("wörld ✓")]
        );
    }
}
