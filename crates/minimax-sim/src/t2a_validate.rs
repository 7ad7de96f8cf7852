//! Validation of a `/v1/t2a_v2` request body (doc §2 and checklist item 4).
//! Every failure maps to `2013 invalid params, <field>`; the 10% invisible
//! character rule maps to `1042`.

use odeadev_audio::{AudioFormat, SUPPORTED_BITRATES, SUPPORTED_SAMPLE_RATES};
use serde_json::{Map, Value};

use crate::text::{analyze, TextStats};

/// Current and legacy model ids the simulator accepts.
pub(crate) const MODELS: [&str; 11] = [
    "speech-2.8-hd",
    "speech-2.8-turbo",
    "speech-2.6-hd",
    "speech-2.6-turbo",
    "speech-02-hd",
    "speech-02-turbo",
    "speech-01-hd",
    "speech-01-turbo",
    "speech-01",
    "speech-01-240228",
    "speech-01-turbo-240228",
];

const EMOTIONS: [&str; 10] = [
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
    "calm",
    "fluent",
    "whisper",
    "neutral",
];

const SOUND_EFFECTS: [&str; 4] = [
    "spacious_echo",
    "auditorium_echo",
    "lofi_telephone",
    "robotic",
];

/// Texts must be shorter than this many characters.
const MAX_TEXT_CHARS: usize = 10_000;

/// A validated request, reduced to what synthesis needs.
#[derive(Debug, Clone)]
pub(crate) struct T2aPlan {
    pub text: TextStats,
    pub seed: u64,
    pub stream: bool,
    pub exclude_aggregated: bool,
    pub format: AudioFormat,
    pub sample_rate: u32,
    pub bitrate: u32,
    pub url_output: bool,
    /// `voice_setting.voice_id` and/or the `timbre_weights` voices.
    pub voice_ids: Vec<String>,
    pub speed: f64,
}

/// A rejection: business code and message.
pub(crate) type Reject = (i64, String);

fn invalid(field: &str) -> Reject {
    (2013, format!("invalid params, {field}"))
}

fn object<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, Reject> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(invalid(key)),
    }
}

fn number(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<f64>, Reject> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| invalid(field)),
    }
}

/// An integer; `3.0` counts, `3.5` does not.
fn integer(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<i64>, Reject> {
    match number(m, key, field)? {
        None => Ok(None),
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Some(_) => Err(invalid(field)),
    }
}

fn string<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, Reject> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field)),
    }
}

fn boolean(m: &Map<String, Value>, key: &str, field: &str) -> Result<bool, Reject> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(field)),
    }
}

fn check_emotion(model: &str, emotion: &str) -> Result<(), Reject> {
    let field = "invalid params: voice_setting emotion";
    let is_26 = model.starts_with("speech-2.6-");
    let ok = EMOTIONS.contains(&emotion)
        && match emotion {
            // fluent/whisper are documented for 2.6 only (and 2.8 lacks whisper).
            "fluent" | "whisper" => is_26,
            _ => true,
        };
    if ok {
        Ok(())
    } else {
        Err(invalid(field))
    }
}

/// Validates `body` against the T2A rules.
pub(crate) fn validate(body: &Value) -> Result<T2aPlan, Reject> {
    let body = body.as_object().ok_or_else(|| invalid("request body"))?;
    let model = string(body, "model", "model")?.ok_or_else(|| invalid("model"))?;
    if !MODELS.contains(&model) {
        return Err(invalid("model"));
    }
    let text = string(body, "text", "text")?.ok_or_else(|| invalid("text"))?;
    if text.is_empty() {
        return Err(invalid("text"));
    }
    let stream = boolean(body, "stream", "stream")?;
    let exclude_aggregated = match object(body, "stream_options")? {
        Some(o) => boolean(
            o,
            "exclude_aggregated_audio",
            "stream_options.exclude_aggregated_audio",
        )?,
        None => false,
    };

    let mut voice_ids = Vec::new();
    let mut speed = 1.0;
    if let Some(vs) = object(body, "voice_setting")? {
        if let Some(id) = string(vs, "voice_id", "voice_setting.voice_id")? {
            if !id.is_empty() {
                voice_ids.push(id.to_owned());
            }
        }
        if let Some(s) = number(vs, "speed", "voice_setting.speed")? {
            if !(0.5..=2.0).contains(&s) {
                return Err(invalid("voice_setting.speed"));
            }
            speed = s;
        }
        if let Some(v) = number(vs, "vol", "voice_setting.vol")? {
            if !(v > 0.0 && v <= 10.0) {
                return Err(invalid("voice_setting.vol"));
            }
        }
        if let Some(p) = integer(vs, "pitch", "voice_setting.pitch")? {
            if !(-12..=12).contains(&p) {
                return Err(invalid("voice_setting.pitch"));
            }
        }
        if let Some(e) = string(vs, "emotion", "voice_setting.emotion")? {
            check_emotion(model, e)?;
        }
        boolean(vs, "text_normalization", "voice_setting.text_normalization")?;
        boolean(vs, "latex_read", "voice_setting.latex_read")?;
    }
    match body.get("timbre_weights") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > 4 {
                return Err(invalid("timbre_weights"));
            }
            for item in items {
                let item = item.as_object().ok_or_else(|| invalid("timbre_weights"))?;
                let id = string(item, "voice_id", "timbre_weights.voice_id")?
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| invalid("timbre_weights.voice_id"))?;
                let w = integer(item, "weight", "timbre_weights.weight")?
                    .ok_or_else(|| invalid("timbre_weights.weight"))?;
                if !(1..=100).contains(&w) {
                    return Err(invalid("timbre_weights.weight"));
                }
                voice_ids.push(id.to_owned());
            }
        }
        Some(_) => return Err(invalid("timbre_weights")),
    }
    if voice_ids.is_empty() {
        return Err(invalid("voice_setting.voice_id"));
    }

    let (mut format, mut sample_rate, mut bitrate) = (AudioFormat::Mp3, 32_000, 128_000);
    if let Some(aus) = object(body, "audio_setting")? {
        if let Some(r) = integer(aus, "sample_rate", "audio_setting.sample_rate")? {
            sample_rate = u32::try_from(r)
                .ok()
                .filter(|r| SUPPORTED_SAMPLE_RATES.contains(r))
                .ok_or_else(|| invalid("audio_setting.sample_rate"))?;
        }
        if let Some(b) = integer(aus, "bitrate", "audio_setting.bitrate")? {
            bitrate = u32::try_from(b)
                .ok()
                .filter(|b| SUPPORTED_BITRATES.contains(b))
                .ok_or_else(|| invalid("audio_setting.bitrate"))?;
        }
        if let Some(f) = string(aus, "format", "audio_setting.format")? {
            format = f.parse().map_err(|_| invalid("audio_setting.format"))?;
        }
        // Stereo is accepted but the simulator always renders mono.
        if let Some(c) = integer(aus, "channel", "audio_setting.channel")? {
            if c != 1 && c != 2 {
                return Err(invalid("audio_setting.channel"));
            }
        }
        boolean(aus, "force_cbr", "audio_setting.force_cbr")?;
    }
    if format == AudioFormat::Wav && stream {
        return Err(invalid("audio_setting.format"));
    }

    if let Some(vm) = object(body, "voice_modify")? {
        for key in ["pitch", "intensity", "timbre"] {
            let field = format!("voice_modify.{key}");
            if let Some(v) = integer(vm, key, &field)? {
                if !(-100..=100).contains(&v) {
                    return Err(invalid(&field));
                }
            }
        }
        if let Some(fx) = string(vm, "sound_effects", "voice_modify.sound_effects")? {
            if !SOUND_EFFECTS.contains(&fx) {
                return Err(invalid("voice_modify.sound_effects"));
            }
        }
        // Effects support mp3/wav/flac when not streaming, mp3 only when streaming.
        let format_ok = if stream {
            format == AudioFormat::Mp3
        } else {
            format != AudioFormat::Pcm
        };
        if !vm.is_empty() && !format_ok {
            return Err(invalid("voice_modify"));
        }
    }

    let url_output = match string(body, "output_format", "output_format")? {
        None | Some("hex") => false,
        Some("url") => !stream,
        Some(_) => return Err(invalid("output_format")),
    };

    let stats = analyze(text);
    if stats.total_chars >= MAX_TEXT_CHARS {
        return Err(invalid("text"));
    }
    if stats.invisible_ratio > 0.1 {
        return Err((1042, "invisible character ratio limit".to_owned()));
    }
    Ok(T2aPlan {
        seed: crate::text::seed(text),
        text: stats,
        stream,
        exclude_aggregated,
        format,
        sample_rate,
        bitrate,
        url_output,
        voice_ids,
        speed,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"model":"speech-2.6-hd","text":"hi","voice_setting":{"voice_id":"female-shaonv"}})
    }

    fn with(path: &[&str], v: Value) -> Value {
        let mut b = base();
        let mut cur = &mut b;
        for p in &path[..path.len() - 1] {
            cur = cur
                .as_object_mut()
                .unwrap()
                .entry(p.to_string())
                .or_insert_with(|| json!({}));
        }
        cur[path[path.len() - 1]] = v;
        b
    }

    fn code(b: &Value) -> i64 {
        validate(b).err().map_or(0, |e| e.0)
    }

    #[test]
    fn accepts_defaults() {
        let p = validate(&base()).unwrap();
        assert_eq!(p.format, AudioFormat::Mp3);
        assert_eq!((p.sample_rate, p.bitrate), (32_000, 128_000));
        assert!(!p.stream && !p.url_output);
    }

    #[test]
    fn rejects_out_of_range_values() {
        for (path, v) in [
            (&["model"][..], json!("speech-9")),
            (&["text"][..], json!("")),
            (&["voice_setting", "speed"][..], json!(2.5)),
            (&["voice_setting", "vol"][..], json!(0)),
            (&["voice_setting", "pitch"][..], json!(1.5)),
            (&["voice_setting", "pitch"][..], json!(13)),
            (&["voice_setting", "emotion"][..], json!("bored")),
            (&["audio_setting", "sample_rate"][..], json!(48000)),
            (&["audio_setting", "bitrate"][..], json!(96000)),
            (&["audio_setting", "format"][..], json!("ogg")),
            (&["audio_setting", "channel"][..], json!(3)),
            (&["voice_modify", "pitch"][..], json!(101)),
            (&["output_format"][..], json!("base64")),
            (
                &["timbre_weights"][..],
                json!([{"voice_id":"a","weight":0}]),
            ),
        ] {
            assert_eq!(code(&with(path, v.clone())), 2013, "{path:?} = {v}");
        }
        let mut wav_stream = with(&["audio_setting", "format"], json!("wav"));
        wav_stream["stream"] = json!(true);
        assert_eq!(code(&wav_stream), 2013);
        assert_eq!(code(&with(&["text"], json!("a".repeat(10_000)))), 2013);
        assert_eq!(code(&with(&["text"], json!("a".repeat(9_999)))), 0);
    }

    #[test]
    fn emotion_rules_follow_the_model() {
        let e = |m: &str, e: &str| {
            let mut b = with(&["voice_setting", "emotion"], json!(e));
            b["model"] = json!(m);
            code(&b)
        };
        assert_eq!(e("speech-2.6-hd", "whisper"), 0);
        assert_eq!(e("speech-2.6-turbo", "fluent"), 0);
        assert_eq!(e("speech-2.8-hd", "whisper"), 2013);
        assert_eq!(e("speech-02-hd", "fluent"), 2013);
        assert_eq!(e("speech-01", "neutral"), 0);
        assert_eq!(e("speech-2.8-turbo", "calm"), 0);
    }

    #[test]
    fn invisible_characters_over_ten_percent_fail_with_1042() {
        assert_eq!(code(&with(&["text"], json!("ab\u{1}\u{2}cdefgh"))), 1042);
        let ok = validate(&with(&["text"], json!("abcdefghi\u{1}"))).unwrap();
        assert!((ok.text.invisible_ratio - 0.1).abs() < 1e-9);
    }
}
