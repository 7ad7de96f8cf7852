//! A clause's eSpeak NG IPA, a sentence's phoneme string, and the voice's phoneme ids.
//!
//! Piper voices were trained on eSpeak NG's IPA with each clause's punctuation kept. The
//! `espeak-ng` program (a separate process: it is GPL-3.0 and stays out of this binary) drops
//! that punctuation, so each clause (`sentences.rs`) is phonemized on its own and its
//! terminator is put back after it.

use std::collections::HashMap;
use std::path::Path;

use tokio::time::Instant;
use unicode_normalization::UnicodeNormalization;

use crate::engine::local::{plain_text, run_espeak};
use crate::engine::EngineError;

/// eSpeak's IPA for one clause: its output lines joined by spaces, language-switch flags
/// such as `(en)` removed. The program is run as the eSpeak engine runs it (text on stdin,
/// killed at the deadline, output capped).
pub(crate) async fn phonemize_clause(
    program: &Path,
    espeak_voice: &str,
    clause: &str,
    deadline: Instant,
) -> Result<String, EngineError> {
    let args: Vec<String> = ["-q", "--ipa", "-b", "1", "-v", espeak_voice]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let input = format!("{}\n", plain_text(clause));
    let output = run_espeak(program, &args, &input, deadline).await?;
    Ok(clean_ipa(&String::from_utf8_lossy(&output)))
}

/// Joins eSpeak's lines and drops its language-switch flags (`(en)`, `(fr)`).
fn clean_ipa(output: &str) -> String {
    let mut joined = String::with_capacity(output.len());
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
    }
    let mut clean = String::with_capacity(joined.len());
    let mut in_flag = false;
    for c in joined.chars() {
        match c {
            '(' => in_flag = true,
            ')' if in_flag => in_flag = false,
            _ if !in_flag => clean.push(c),
            _ => {}
        }
    }
    clean
}

/// A sentence's phoneme string as Piper reads it: each clause's IPA, its terminator, and a
/// space after a terminator that does not end the sentence.
pub(crate) fn sentence_phonemes(clauses: &[(String, Option<char>)]) -> String {
    let mut phonemes = String::new();
    for (i, (ipa, terminator)) in clauses.iter().enumerate() {
        phonemes.push_str(ipa);
        if let Some(t) = terminator {
            phonemes.push(*t);
        }
        if i + 1 < clauses.len() {
            phonemes.push(' ');
        }
    }
    phonemes
}

/// A voice's `phoneme_id_map`, with the three symbols Piper frames every input with.
#[derive(Debug, Clone)]
pub(crate) struct PhonemeIds {
    map: HashMap<char, Vec<i64>>,
    pad: Vec<i64>,
    bos: Vec<i64>,
    eos: Vec<i64>,
}

impl PhonemeIds {
    /// From the voice file's map of one-character strings to ids. Fails naming what is missing.
    pub(crate) fn new(map: HashMap<String, Vec<i64>>) -> Result<PhonemeIds, String> {
        let mut by_char = HashMap::with_capacity(map.len());
        for (symbol, ids) in map {
            let mut chars = symbol.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    by_char.insert(c, ids);
                }
                _ => {
                    return Err(format!(
                        "phoneme_id_map key {symbol:?} is not one character"
                    ))
                }
            }
        }
        let take = |c: char| {
            by_char
                .get(&c)
                .cloned()
                .ok_or_else(|| format!("phoneme_id_map has no {c:?}"))
        };
        Ok(PhonemeIds {
            pad: take('_')?,
            bos: take('^')?,
            eos: take('$')?,
            map: by_char,
        })
    }

    /// The model's input: `^`, then every known phoneme (NFD code points) followed by `_`,
    /// then `$` — Piper's own framing. Unknown phonemes are skipped.
    pub(crate) fn ids(&self, phonemes: &str) -> Vec<i64> {
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 4);
        ids.extend(&self.bos);
        ids.extend(&self.pad);
        for c in phonemes.nfd() {
            if let Some(known) = self.map.get(&c) {
                ids.extend(known);
                ids.extend(&self.pad);
            }
        }
        ids.extend(&self.eos);
        ids
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn espeak_output_is_joined_and_language_flags_dropped() {
        assert_eq!(
            clean_ipa("mˈɪstɚ\nsmˈɪθ (fr)bɔ̃ʒˈuʁ(en)\n"),
            "mˈɪstɚ smˈɪθ bɔ̃ʒˈuʁ"
        );
    }

    #[test]
    fn sentence_phonemes_keep_terminators() {
        let clauses = vec![
            ("həlˈoʊ ðˈɛɹ".to_owned(), Some(',')),
            ("wˈɜːld".to_owned(), Some('.')),
        ];
        assert_eq!(sentence_phonemes(&clauses), "həlˈoʊ ðˈɛɹ, wˈɜːld.");
    }

    #[test]
    fn ids_are_framed_and_padded_like_piper() {
        let map: HashMap<String, Vec<i64>> = [("_", 0), ("^", 1), ("$", 2), ("a", 14), ("b", 15)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), vec![v]))
            .collect();
        let ids = PhonemeIds::new(map).unwrap();
        assert_eq!(ids.ids("ab?"), vec![1, 0, 14, 0, 15, 0, 2]);
    }

    #[test]
    fn a_map_without_framing_symbols_is_refused() {
        let map: HashMap<String, Vec<i64>> = [("a".to_owned(), vec![1])].into();
        assert!(PhonemeIds::new(map).unwrap_err().contains("'_'"));
    }
}
