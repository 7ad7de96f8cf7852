//! How a Piper voice found on disk is offered: its public name, language and gender.
//!
//! The voices `make models` fetches have names chosen here (`joe`); any other voice an
//! operator drops in is offered as `piper-<file stem>`, its language read from Piper's
//! `xx_YY-name-quality` naming.

use crate::domain::options::Gender;

/// The natural voice that is the default when MiniMax is not configured.
pub const NATURAL_DEFAULT_VOICE: &str = "joe";

/// A Piper voice as the gateway registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiperVoiceSeed {
    /// Public voice name.
    pub friendly_name: String,
    /// BCP 47 language tag.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Listing text.
    pub description: String,
}

/// The seed of the voice whose model file stem is `stem`; `None` when its language cannot be
/// read from the name (the operator registers such a voice with `POST /admin/voices`).
pub fn seed_for(stem: &str) -> Option<PiperVoiceSeed> {
    if stem == "en_US-joe-medium" {
        return Some(PiperVoiceSeed {
            friendly_name: NATURAL_DEFAULT_VOICE.to_owned(),
            language: "en-US".to_owned(),
            gender: Gender::Male,
            description: "American English, male. Natural neural voice (Piper en_US-joe-medium), \
                          offline on this server."
                .to_owned(),
        });
    }
    let language = stem
        .split('-')
        .next()
        .filter(|tag| tag.len() == 5 && tag.as_bytes()[2] == b'_')?
        .replace('_', "-");
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(58)
        .collect();
    Some(PiperVoiceSeed {
        friendly_name: format!("piper-{name}"),
        language,
        gender: Gender::Neutral,
        description: format!("Piper neural voice {stem}, offline on this server."),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn joe_has_its_own_name() {
        let seed = seed_for("en_US-joe-medium").unwrap();
        assert_eq!(seed.friendly_name, "joe");
        assert_eq!(seed.language, "en-US");
        assert_eq!(seed.gender, Gender::Male);
    }

    #[test]
    fn other_voices_are_named_from_their_file() {
        let seed = seed_for("de_DE-thorsten-high").unwrap();
        assert_eq!(seed.friendly_name, "piper-de_DE-thorsten-high");
        assert_eq!(seed.language, "de-DE");
        let odd = seed_for("pt_BR-my voice (v2)").unwrap();
        assert_eq!(odd.friendly_name, "piper-pt_BR-my-voice--v2-");
        assert!(seed_for("voice-without-language").is_none());
    }
}
