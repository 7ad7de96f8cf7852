//! Closed sets a client may choose from: models, emotions, genders, languages.

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// Parses a wire name.
            pub fn parse(value: &str) -> Option<$name> {
                match value { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

string_enum! {
    /// Speech model names, current and older.
    Model {
        /// MiniMax speech-2.8 HD.
        Speech28Hd = "speech-2.8-hd",
        /// MiniMax speech-2.8 Turbo.
        Speech28Turbo = "speech-2.8-turbo",
        /// MiniMax speech-2.6 HD.
        Speech26Hd = "speech-2.6-hd",
        /// MiniMax speech-2.6 Turbo.
        Speech26Turbo = "speech-2.6-turbo",
        /// MiniMax speech-02 HD.
        Speech02Hd = "speech-02-hd",
        /// MiniMax speech-02 Turbo (the default).
        Speech02Turbo = "speech-02-turbo",
        /// MiniMax speech-01 HD.
        Speech01Hd = "speech-01-hd",
        /// MiniMax speech-01 Turbo.
        Speech01Turbo = "speech-01-turbo",
    }
}

string_enum! {
    /// Emotion of the voice. `neutral` is the original service's default and means "let the
    /// model choose".
    Emotion {
        /// Let the model choose.
        Neutral = "neutral",
        /// Happy.
        Happy = "happy",
        /// Sad.
        Sad = "sad",
        /// Angry.
        Angry = "angry",
        /// Fearful.
        Fearful = "fearful",
        /// Disgusted.
        Disgusted = "disgusted",
        /// Surprised.
        Surprised = "surprised",
        /// Calm.
        Calm = "calm",
        /// Fluent (speech-2.6 models only).
        Fluent = "fluent",
        /// Whisper (speech-2.6 models only).
        Whisper = "whisper",
    }
}

string_enum! {
    /// Voice gender.
    Gender {
        /// Male.
        Male = "male",
        /// Female.
        Female = "female",
        /// Neutral.
        Neutral = "neutral",
    }
}

impl Emotion {
    /// Whether `model` supports this emotion (MiniMax's rule: fluent and whisper are 2.6 only).
    pub fn allowed_with(self, model: Model) -> bool {
        match self {
            Emotion::Fluent | Emotion::Whisper => {
                matches!(model, Model::Speech26Hd | Model::Speech26Turbo)
            }
            _ => true,
        }
    }
}

/// [`is_language_code`] as a pattern, for the API document.
pub const LANGUAGE_PATTERN: &str = "^[a-z]{2}-[A-Z]{2}$";

/// Whether `code` looks like `en-US`: two lowercase letters, a dash, two uppercase letters.
pub fn is_language_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && b[0].is_ascii_lowercase()
        && b[1].is_ascii_lowercase()
        && b[2] == b'-'
        && b[3].is_ascii_uppercase()
        && b[4].is_ascii_uppercase()
}

/// MiniMax `language_boost` values.
pub const LANGUAGE_BOOSTS: &[&str] = &[
    "Chinese",
    "Chinese,Yue",
    "English",
    "Arabic",
    "Russian",
    "Spanish",
    "French",
    "Portuguese",
    "German",
    "Turkish",
    "Dutch",
    "Ukrainian",
    "Vietnamese",
    "Indonesian",
    "Japanese",
    "Italian",
    "Korean",
    "Thai",
    "Polish",
    "Romanian",
    "Greek",
    "Czech",
    "Finnish",
    "Hindi",
    "Bulgarian",
    "Danish",
    "Hebrew",
    "Malay",
    "Persian",
    "Slovak",
    "Swedish",
    "Croatian",
    "Filipino",
    "Hungarian",
    "Norwegian",
    "Slovenian",
    "Catalan",
    "Nynorsk",
    "Tamil",
    "Afrikaans",
    "auto",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Model::ALL {
            assert_eq!(Model::parse(m.as_str()), Some(*m));
        }
        assert_eq!(Emotion::parse("robot"), None);
    }

    #[test]
    fn language_codes() {
        assert!(is_language_code("en-NG"));
        assert!(!is_language_code("en-ng"));
        assert!(!is_language_code("english"));
    }

    #[test]
    fn whisper_needs_speech_26() {
        assert!(Emotion::Whisper.allowed_with(Model::Speech26Hd));
        assert!(!Emotion::Whisper.allowed_with(Model::Speech28Hd));
        assert!(Emotion::Happy.allowed_with(Model::Speech01Turbo));
    }
}
