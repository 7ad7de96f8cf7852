//! The eSpeak NG voices this deployment offers, and validation of eSpeak voice ids.
//!
//! Ids are `<language voice>+<variant>`. Checked against eSpeak NG 1.51: a variant is
//! silently ignored after `en-gb` (it resolves to the same audio as plain `en-gb`), so the
//! British voices use `en-gb-x-rp`, where variants do apply. eSpeak has no Nigerian or
//! other African English; the closest accent it ships is Caribbean English (`en-029`:
//! non-rhotic, syllable-timed, West-African-influenced), used for the `local-african-*`
//! voices.

use crate::engine::EngineError;

/// One local voice as the gateway seeds it into its voice table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalVoiceSeed {
    /// Public voice name clients use; always prefixed `local-`.
    pub friendly_name: &'static str,
    /// eSpeak NG voice passed as `-v` (stored as the voice's `engine_voice_id`).
    pub engine_voice_id: &'static str,
    /// BCP 47 language tag the voice is meant for.
    pub language: &'static str,
    /// `male` or `female`.
    pub gender: &'static str,
    /// Human description for voice listings.
    pub description: &'static str,
}

/// The voices to seed for the local engine.
pub const LOCAL_VOICES: &[LocalVoiceSeed] = &[
    LocalVoiceSeed {
        friendly_name: "local-american-male",
        engine_voice_id: "en-us+m3",
        language: "en-US",
        gender: "male",
        description: "American English, male (eSpeak NG en-us, variant m3). Robotic, offline.",
    },
    LocalVoiceSeed {
        friendly_name: "local-american-female",
        engine_voice_id: "en-us+f3",
        language: "en-US",
        gender: "female",
        description: "American English, female (eSpeak NG en-us, variant f3). Robotic, offline.",
    },
    LocalVoiceSeed {
        friendly_name: "local-british-male",
        engine_voice_id: "en-gb-x-rp+m3",
        language: "en-GB",
        gender: "male",
        description: "British English (Received Pronunciation), male (eSpeak NG en-gb-x-rp, \
                      variant m3). Robotic, offline.",
    },
    LocalVoiceSeed {
        friendly_name: "local-british-female",
        engine_voice_id: "en-gb-x-rp+f3",
        language: "en-GB",
        gender: "female",
        description: "British English (Received Pronunciation), female (eSpeak NG en-gb-x-rp, \
                      variant f3). Robotic, offline.",
    },
    LocalVoiceSeed {
        friendly_name: "local-african-male",
        engine_voice_id: "en-029+m3",
        language: "en-NG",
        gender: "male",
        description: "English for West African listeners, male. eSpeak NG has no African \
                      English; this is its closest accent, Caribbean English (en-029, variant \
                      m3). Robotic, offline.",
    },
    LocalVoiceSeed {
        friendly_name: "local-african-female",
        engine_voice_id: "en-029+f3",
        language: "en-NG",
        gender: "female",
        description: "English for West African listeners, female. eSpeak NG has no African \
                      English; this is its closest accent, Caribbean English (en-029, variant \
                      f3). Robotic, offline.",
    },
];

/// Longest voice id we pass to eSpeak.
const MAX_VOICE_ID_LEN: usize = 64;

/// Checks that `voice` is safe to pass as eSpeak's `-v` argument: 1 to 64 characters of
/// `[A-Za-z0-9+_-]`, not starting with `-` or `+`. Says nothing about whether it exists.
pub(crate) fn validate_voice_id(voice: &str) -> Result<&str, EngineError> {
    let well_formed = !voice.is_empty()
        && voice.len() <= MAX_VOICE_ID_LEN
        && !voice.starts_with(['-', '+'])
        && voice
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'-'));
    if well_formed {
        Ok(voice)
    } else {
        Err(EngineError::UnknownVoice(format!(
            "malformed eSpeak voice id {:?}",
            voice.chars().take(MAX_VOICE_ID_LEN).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_variant_ids() {
        for id in [
            "en",
            "en-us",
            "en-us+m3",
            "en-gb-x-rp+f3",
            "en-029+f3",
            "a_b",
        ] {
            assert!(validate_voice_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = "a".repeat(MAX_VOICE_ID_LEN + 1);
        for id in [
            "",
            "-v",
            "--version",
            "+m3",
            "en us",
            "en/us",
            "mb/mb-us1",
            "../etc",
            "en;rm",
            "en\0",
            "én",
            long.as_str(),
        ] {
            assert!(
                matches!(validate_voice_id(id), Err(EngineError::UnknownVoice(_))),
                "{id:?}"
            );
        }
    }

    #[test]
    fn seeds_are_valid_and_unique() {
        let mut names = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for voice in LOCAL_VOICES {
            assert!(validate_voice_id(voice.engine_voice_id).is_ok());
            assert!(voice.friendly_name.starts_with("local-"));
            assert!(matches!(voice.gender, "male" | "female"));
            assert!(names.insert(voice.friendly_name));
            assert!(ids.insert(voice.engine_voice_id));
        }
        for lang in ["en-US", "en-GB", "en-NG"] {
            for gender in ["male", "female"] {
                assert!(LOCAL_VOICES
                    .iter()
                    .any(|v| v.language == lang && v.gender == gender));
            }
        }
    }
}
