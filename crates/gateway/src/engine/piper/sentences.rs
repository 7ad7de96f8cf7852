//! Text → runs of clauses, each run spoken by one model run.
//!
//! Sentences are the unit of inference, cut at their punctuation (kept for the phonemizer),
//! and no run is longer than [`MAX_RUN_CHARS`], so memory stays bounded however long the
//! text is.

/// One clause of a sentence and the punctuation that ends it (`None` at the text's end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    pub(crate) text: String,
    pub(crate) terminator: Option<char>,
}

/// Characters that end a sentence.
const SENTENCE_END: [char; 3] = ['.', '!', '?'];
/// Characters that end a clause inside a sentence.
const CLAUSE_END: [char; 3] = [',', ';', ':'];

/// Longest stretch of text spoken in one model run, in characters. Piper's memory and time
/// grow with its input; a sentence longer than this (a run-on text with no full stop) is
/// spoken in several runs, cut between clauses, or between words when one clause is longer.
const MAX_RUN_CHARS: usize = 400;

/// Cuts `text` into sentences of clauses, none longer than [`MAX_RUN_CHARS`]. Punctuation
/// ends a clause only when followed by whitespace, more punctuation or the end (so `3.50`
/// and `3:00` stay whole); a dash between spaces ends a clause as `;` does, as Piper's own
/// phonemizer reads it.
pub(crate) fn sentences(text: &str) -> Vec<Vec<Clause>> {
    punctuated_sentences(text)
        .into_iter()
        .flat_map(bounded)
        .collect()
}

/// A sentence as runs of at most [`MAX_RUN_CHARS`]: whole clauses while they fit, and a
/// clause longer than that cut between words (its pieces carry no terminator but the last).
fn bounded(sentence: Vec<Clause>) -> Vec<Vec<Clause>> {
    let mut runs: Vec<Vec<Clause>> = Vec::new();
    let mut run: Vec<Clause> = Vec::new();
    let mut run_chars = 0;
    for clause in sentence.into_iter().flat_map(split_long_clause) {
        let chars = clause.text.chars().count();
        if !run.is_empty() && run_chars + chars > MAX_RUN_CHARS {
            runs.push(std::mem::take(&mut run));
            run_chars = 0;
        }
        run_chars += chars;
        run.push(clause);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn split_long_clause(clause: Clause) -> Vec<Clause> {
    if clause.text.chars().count() <= MAX_RUN_CHARS {
        return vec![clause];
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for word in clause.text.split_whitespace() {
        if !piece.is_empty() && piece.chars().count() + 1 + word.chars().count() > MAX_RUN_CHARS {
            pieces.push(Clause {
                text: std::mem::take(&mut piece),
                terminator: None,
            });
        }
        if !piece.is_empty() {
            piece.push(' ');
        }
        // A single "word" longer than a run (no spaces at all) is cut by characters.
        let mut word = word;
        while word.chars().count() > MAX_RUN_CHARS {
            let cut = word
                .char_indices()
                .nth(MAX_RUN_CHARS)
                .map_or(word.len(), |(at, _)| at);
            pieces.push(Clause {
                text: word[..cut].to_owned(),
                terminator: None,
            });
            word = &word[cut..];
        }
        piece.push_str(word);
    }
    pieces.push(Clause {
        text: piece,
        terminator: clause.terminator,
    });
    pieces.retain(|p| !p.text.trim().is_empty());
    pieces
}

fn punctuated_sentences(text: &str) -> Vec<Vec<Clause>> {
    let mut out = Vec::new();
    let mut sentence = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_is_break = chars.get(i + 1).is_none_or(|n| {
            n.is_whitespace() || SENTENCE_END.contains(n) || CLAUSE_END.contains(n)
        });
        let previous_is_space = i == 0 || chars[i - 1].is_whitespace();
        let terminator = if (SENTENCE_END.contains(&c) || CLAUSE_END.contains(&c)) && next_is_break
        {
            Some(c)
        } else if matches!(c, '-' | '–' | '—') && previous_is_space && next_is_break {
            Some(';')
        } else {
            None
        };
        match terminator {
            Some(t) => {
                push_clause(&mut sentence, &mut current, Some(t));
                if SENTENCE_END.contains(&t) && !sentence.is_empty() {
                    out.push(std::mem::take(&mut sentence));
                }
            }
            None => current.push(c),
        }
    }
    push_clause(&mut sentence, &mut current, None);
    if !sentence.is_empty() {
        out.push(sentence);
    }
    out
}

fn push_clause(sentence: &mut Vec<Clause>, current: &mut String, terminator: Option<char>) {
    let text = current.trim();
    if text.chars().any(char::is_alphanumeric) {
        sentence.push(Clause {
            text: text.to_owned(),
            terminator,
        });
    } else if let (Some(last), Some(t)) = (sentence.last_mut(), terminator) {
        // A mark with nothing before it ("Wait, ." or "Really?!"): nothing is spoken; a
        // sentence end after a clause mark ends that clause's sentence.
        if SENTENCE_END.contains(&t) {
            last.terminator = Some(t);
        }
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn clause(text: &str, terminator: Option<char>) -> Clause {
        Clause {
            text: text.to_owned(),
            terminator,
        }
    }

    #[test]
    fn text_is_cut_into_sentences_and_clauses_with_their_punctuation() {
        assert_eq!(
            sentences("Hello there, world. How are you? Fine - thanks!"),
            vec![
                vec![clause("Hello there", Some(',')), clause("world", Some('.'))],
                vec![clause("How are you", Some('?'))],
                vec![clause("Fine", Some(';')), clause("thanks", Some('!'))],
            ]
        );
    }

    #[test]
    fn numbers_times_and_hyphens_are_not_clause_breaks() {
        assert_eq!(
            sentences("It costs 3.50 at 3:00 in well-known shops"),
            vec![vec![clause(
                "It costs 3.50 at 3:00 in well-known shops",
                None
            )]]
        );
    }

    #[test]
    fn stray_punctuation_speaks_nothing() {
        assert_eq!(
            sentences("Really?! ... , ok"),
            vec![vec![clause("Really", Some('?'))], vec![clause("ok", None)]]
        );
        assert_eq!(
            sentences("Wait , what"),
            vec![vec![clause("Wait", Some(',')), clause("what", None)]]
        );
        assert!(sentences(" ... ,, ").is_empty());
    }

    #[test]
    fn a_run_on_text_is_spoken_in_bounded_runs() {
        let clause_text = "and then it went on ".repeat(8); // 160 characters
        let text = format!("{clause_text}, {clause_text}, {clause_text}, {clause_text}.");
        let runs = sentences(&text);
        assert_eq!(runs.len(), 2, "{runs:?}");
        for run in &runs {
            let chars: usize = run.iter().map(|c| c.text.chars().count()).sum();
            assert!(chars <= MAX_RUN_CHARS, "{chars}");
        }
        assert_eq!(runs[1].last().unwrap().terminator, Some('.'));

        let no_punctuation = "word ".repeat(300);
        let runs = sentences(&no_punctuation);
        assert_eq!(runs.len(), 4);
        let spoken: Vec<&str> = runs
            .iter()
            .flatten()
            .flat_map(|c| c.text.split_whitespace())
            .collect();
        assert_eq!(spoken.len(), 300, "no word lost or doubled");

        let one_long_word = "x".repeat(1_000);
        let runs = sentences(&one_long_word);
        let total: usize = runs.iter().flatten().map(|c| c.text.len()).sum();
        assert_eq!(total, 1_000);
        assert!(runs.iter().flatten().all(|c| c.text.len() <= MAX_RUN_CHARS));
    }
}
