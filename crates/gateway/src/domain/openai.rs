//! OpenAI speech API compatibility: model names, standard voice names and speed.

use super::options::Model;

/// Models accepted on `/v1/audio/speech`, with the model each one runs as.
pub const OPENAI_MODELS: &[(&str, Model)] = &[
    ("tts-1", Model::Speech02Turbo),
    ("tts-1-hd", Model::Speech02Hd),
    ("gpt-4o-mini-tts", Model::Speech26Turbo),
];

/// The model a name means: OpenAI's names map to ours, ours are taken as they are.
pub fn model_for(name: &str) -> Option<Model> {
    OPENAI_MODELS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m)
        .or_else(|| Model::parse(name))
}

/// OpenAI's standard voices and our default stand-ins, in order of preference: a MiniMax
/// voice, a natural local voice where one suits (Piper's `joe` for the male voices), then an
/// eSpeak voice. The first one this server can speak is used.
pub const OPENAI_VOICES: &[(&str, &[&str])] = &[
    ("alloy", &["marcy", "local-american-female"]),
    ("ash", &["marcus", "joe", "local-american-male"]),
    ("ballad", &["austyn", "joe", "local-african-male"]),
    ("cedar", &["nigerian-male", "joe", "local-african-male"]),
    ("coral", &["joslyn", "local-african-female"]),
    ("echo", &["american-male", "joe", "local-american-male"]),
    ("fable", &["marcus", "joe", "local-british-male"]),
    ("marin", &["british-female", "local-british-female"]),
    ("nova", &["british-female", "local-british-female"]),
    ("onyx", &["marcus", "joe", "local-british-male"]),
    ("sage", &["joslyn", "local-african-female"]),
    ("shimmer", &["marcy", "local-american-female"]),
    ("verse", &["austyn", "joe", "local-african-male"]),
];

/// Our stand-ins for an OpenAI voice name, in order of preference.
pub fn stand_ins(openai_voice: &str) -> Option<&'static [&'static str]> {
    OPENAI_VOICES
        .iter()
        .find(|(n, _)| *n == openai_voice)
        .map(|(_, names)| *names)
}

/// Engines speak at 0.5–2.0× speed; OpenAI allows 0.25–4.0, so the ends are clamped.
pub fn engine_speed(openai_speed: f64) -> f64 {
    openai_speed.clamp(0.5, 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_models_voices_and_speed() {
        assert_eq!(model_for("tts-1"), Some(Model::Speech02Turbo));
        assert_eq!(model_for("speech-2.8-hd"), Some(Model::Speech28Hd));
        assert_eq!(model_for("whisper-1"), None);
        assert_eq!(
            stand_ins("alloy"),
            Some(&["marcy", "local-american-female"][..])
        );
        assert_eq!(
            stand_ins("onyx"),
            Some(&["marcus", "joe", "local-british-male"][..])
        );
        assert_eq!(stand_ins("nobody"), None);
        assert_eq!(engine_speed(0.25), 0.5);
        assert_eq!(engine_speed(4.0), 2.0);
        assert_eq!(engine_speed(1.3), 1.3);
    }
}
