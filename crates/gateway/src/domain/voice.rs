//! What an admin gives to register or clone a voice: its friendly name, language, the
//! engine's voice id and a description; and the rules of cloned voices (their MiniMax voice
//! id, their lifetime). Each type has one constructor, which applies the rule and names the
//! field that broke it.

use super::field::InvalidField;
use super::options::is_language_code;
use super::unicode::CONTROL;

/// Days a cloned voice lives unused: MiniMax deletes a cloned voice that stays unused this
/// long, so the voice is registered with this expiry and each use pushes it out.
pub const CLONE_TTL_DAYS: i64 = 7;

/// Longest friendly name, in bytes (all ASCII).
pub const MAX_FRIENDLY_NAME: usize = 64;
/// Longest engine voice id, in characters.
pub const MAX_ENGINE_VOICE_ID: usize = 256;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// [`FriendlyName`]'s rule as a pattern, for the API document.
pub const FRIENDLY_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// [`CloneVoiceId`]'s rule as a pattern, for the API document: a letter, then 6 to 254 of
/// letters, digits, `-` and `_`, then a letter or digit (8 to 256 in all).
pub const CLONE_VOICE_ID_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_-]{6,254}[A-Za-z0-9]$";

/// [`EngineVoiceId`]'s rule as a pattern, for the API document (its length is `maxLength`).
pub fn engine_voice_id_pattern() -> String {
    format!("^[^{CONTROL}]+$")
}

/// The unique name clients use for a voice: 1 to 64 of `A-Z a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendlyName(String);

impl FriendlyName {
    /// Checks `raw` as given (field `friendly_name`).
    pub fn parse(raw: &str) -> Result<FriendlyName, InvalidField> {
        let valid = (1..=MAX_FRIENDLY_NAME).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(InvalidField::new(
                "friendly_name",
                "must be 1 to 64 characters of letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(FriendlyName(raw.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A voice's language in `en-US` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageCode(String);

impl LanguageCode {
    /// Checks `raw` as given (field `language`).
    pub fn parse(raw: &str) -> Result<LanguageCode, InvalidField> {
        if !is_language_code(raw) {
            return Err(InvalidField::new("language", "must look like en-US"));
        }
        Ok(LanguageCode(raw.to_string()))
    }

    /// The code, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The engine's own id of a registered voice (MiniMax voice id or eSpeak voice name): 1 to
/// 256 characters without control characters. Sent as the original API's `minimax_voice_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVoiceId(String);

impl EngineVoiceId {
    /// Checks `raw` as given (field `minimax_voice_id`).
    pub fn parse(raw: &str) -> Result<EngineVoiceId, InvalidField> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_ENGINE_VOICE_ID || raw.chars().any(char::is_control) {
            return Err(InvalidField::new(
                "minimax_voice_id",
                "must be 1 to 256 characters without control characters",
            ));
        }
        Ok(EngineVoiceId(raw.to_string()))
    }

    /// The id, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A voice's description: at most 500 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceDescription(String);

impl VoiceDescription {
    /// Checks `raw` as given (field `description`).
    pub fn parse(raw: String) -> Result<VoiceDescription, InvalidField> {
        if raw.chars().count() > MAX_DESCRIPTION {
            return Err(InvalidField::new(
                "description",
                "must be at most 500 characters",
            ));
        }
        Ok(VoiceDescription(raw))
    }

    /// The description, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The MiniMax voice id a clone is registered under. MiniMax's rule: 8 to 256 characters,
/// starts with a letter, letters, digits, `-` and `_` only, does not end with `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneVoiceId(String);

impl CloneVoiceId {
    /// Checks `raw` as given (field `voice_id`).
    pub fn parse(raw: String) -> Result<CloneVoiceId, InvalidField> {
        let valid = (8..=256).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_alphabetic())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !raw.ends_with(['-', '_']);
        if !valid {
            return Err(InvalidField::new(
                "voice_id",
                "must be 8 to 256 characters of letters, digits, '-' or '_', start with a letter and not end with '-' or '_'",
            ));
        }
        Ok(CloneVoiceId(raw))
    }

    /// A fresh id, for a clone whose admin gave none.
    pub fn generate() -> CloneVoiceId {
        CloneVoiceId(format!("odea{}", uuid::Uuid::now_v7().simple()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(result: Result<T, InvalidField>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn friendly_names_are_short_and_plain() {
        for good in ["marcus", "local-american-female", "v1.2_b", &"a".repeat(64)] {
            assert_eq!(FriendlyName::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "has space", "ünï", "semi;colon", &"a".repeat(65)] {
            assert_eq!(
                message(FriendlyName::parse(bad)),
                "friendly_name: must be 1 to 64 characters of letters, digits, '.', '_' or '-'",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn languages_look_like_en_us() {
        assert_eq!(LanguageCode::parse("en-US").unwrap().into_string(), "en-US");
        for bad in ["en-us", "english", "EN-US", "en_US", ""] {
            assert_eq!(
                message(LanguageCode::parse(bad)),
                "language: must look like en-US"
            );
        }
    }

    #[test]
    fn engine_voice_ids_are_bounded_and_free_of_control_characters() {
        assert!(EngineVoiceId::parse("English_expressive_narrator").is_ok());
        assert!(EngineVoiceId::parse(&"x".repeat(256)).is_ok());
        for bad in ["", "tab\there", &"x".repeat(257)] {
            assert_eq!(
                message(EngineVoiceId::parse(bad)),
                "minimax_voice_id: must be 1 to 256 characters without control characters"
            );
        }
    }

    #[test]
    fn descriptions_hold_at_most_500_characters() {
        assert!(VoiceDescription::parse("é".repeat(500)).is_ok());
        assert_eq!(
            message(VoiceDescription::parse("é".repeat(501))),
            "description: must be at most 500 characters"
        );
    }

    #[test]
    fn clone_voice_ids_follow_minimax_rule() {
        for good in ["MiniMax001", "odea_voice-1"] {
            assert_eq!(CloneVoiceId::parse(good.into()).unwrap().as_str(), good);
        }
        for bad in ["short", "1startsWithDigit", "ends_with_", "has space in it"] {
            assert!(message(CloneVoiceId::parse(bad.into())).starts_with("voice_id: must be"));
        }
        let generated = CloneVoiceId::generate().into_string();
        assert!(CloneVoiceId::parse(generated).is_ok());
    }
}
