//! Text analysis for T2A: pause markers, invisible characters and the
//! character counts that drive duration and billing.

/// Facts about a request's `text`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextStats {
    /// Characters in the whole text.
    pub total_chars: usize,
    /// Characters excluding valid `<#x#>` pause markers (spoken + billed).
    pub spoken_chars: usize,
    /// Total pause requested by markers, in ms.
    pub pause_ms: u64,
    /// Letters and digits (incl. CJK), punctuation excluded.
    pub word_count: usize,
    /// Share of ASCII control characters other than `\t` and `\n`.
    pub invisible_ratio: f64,
}

/// Parses the body of a pause marker: 0.01–99.99 with at most two decimals.
/// Returns the pause in ms. Malformed markers are read as ordinary text
/// (whether MiniMax rejects them is unconfirmed).
fn pause_ms(inner: &str) -> Option<u64> {
    let (int, frac) = inner.split_once('.').unwrap_or((inner, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 2 || frac.len() > 2 || !digits(int) || !digits(frac) {
        return None;
    }
    if inner.ends_with('.') {
        return None;
    }
    let hundredths: u64 = int.parse::<u64>().ok()? * 100
        + match frac.len() {
            0 => 0,
            1 => frac.parse::<u64>().ok()? * 10,
            _ => frac.parse::<u64>().ok()?,
        };
    (1..=9999).contains(&hundredths).then_some(hundredths * 10)
}

/// Analyses `text`.
pub(crate) fn analyze(text: &str) -> TextStats {
    let mut total_chars = 0usize;
    let mut marker_chars = 0usize;
    let mut pause = 0u64;
    let mut word_count = 0usize;
    let mut invisible = 0usize;
    for c in text.chars() {
        total_chars += 1;
        if c.is_alphanumeric() {
            word_count += 1;
        }
        if c.is_ascii_control() && c != '\t' && c != '\n' {
            invisible += 1;
        }
    }
    let mut rest = text;
    while let Some(start) = rest.find("<#") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("#>") else {
            break;
        };
        let inner = &after[..end];
        if let Some(ms) = pause_ms(inner) {
            pause += ms;
            marker_chars += inner.chars().count() + 4;
            word_count -= inner.chars().filter(|c| c.is_alphanumeric()).count();
            rest = &after[end + 2..];
        } else {
            rest = after;
        }
    }
    let invisible_ratio = if total_chars == 0 {
        0.0
    } else {
        invisible as f64 / total_chars as f64
    };
    TextStats {
        total_chars,
        spoken_chars: total_chars - marker_chars,
        pause_ms: pause,
        word_count,
        invisible_ratio,
    }
}

/// Stable 64-bit FNV-1a of the text: the audio seed, so the same text always
/// gives the same audio across runs and platforms.
pub(crate) fn seed(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_markers_are_stripped_and_summed() {
        let s = analyze("Hello<#0.5#>world<#1#>!");
        assert_eq!(s.total_chars, 23);
        assert_eq!(s.spoken_chars, 11);
        assert_eq!(s.pause_ms, 1500);
        assert_eq!(s.word_count, 10);
        assert_eq!(s.invisible_ratio, 0.0);
    }

    #[test]
    fn malformed_markers_count_as_text() {
        for bad in ["a<#0#>b", "a<#100#>b", "a<#0.123#>b", "a<#x#>b", "a<#1.#>b"] {
            let s = analyze(bad);
            assert_eq!(s.pause_ms, 0, "{bad}");
            assert_eq!(s.spoken_chars, s.total_chars, "{bad}");
        }
        assert_eq!(analyze("a<#99.99#>b").pause_ms, 99_990);
        assert_eq!(analyze("a<#0.01#>b").pause_ms, 10);
    }

    #[test]
    fn invisible_ratio_ignores_tab_and_newline() {
        let s = analyze("ab\t\n\u{1}\u{7}cdefgh");
        assert_eq!(s.total_chars, 12);
        assert!((s.invisible_ratio - 2.0 / 12.0).abs() < 1e-9);
        assert_ne!(seed("a"), seed("b"));
    }
}
