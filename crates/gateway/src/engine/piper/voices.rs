//! The Piper voices under the models folder: every `NAME.onnx` beside a `NAME.onnx.json`.
//!
//! A voice's engine id is its file stem (`en_US-joe-medium`). A voice file that cannot be
//! read is reported with its reason and left out; it never stops the server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::phonemes::PhonemeIds;

/// One voice's model and the settings its JSON file gives.
#[derive(Debug, Clone)]
pub(crate) struct PiperVoice {
    /// The file stem, used as the voice's `engine_voice_id`.
    pub(crate) id: String,
    pub(crate) model: PathBuf,
    pub(crate) sample_rate: u32,
    /// The eSpeak NG voice that phonemizes its text (`en-us`).
    pub(crate) espeak_voice: String,
    pub(crate) noise_scale: f32,
    pub(crate) length_scale: f32,
    pub(crate) noise_w: f32,
    pub(crate) phoneme_ids: PhonemeIds,
}

#[derive(Deserialize)]
struct VoiceFile {
    audio: AudioSection,
    espeak: EspeakSection,
    #[serde(default)]
    inference: InferenceSection,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    phoneme_type: Option<String>,
}

#[derive(Deserialize)]
struct AudioSection {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct EspeakSection {
    voice: String,
}

#[derive(Deserialize)]
#[serde(default)]
struct InferenceSection {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

impl Default for InferenceSection {
    fn default() -> Self {
        // Piper's own defaults.
        InferenceSection {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        }
    }
}

/// Every Piper voice under `dir` (searched two levels deep), and the voice files that could
/// not be used with why. A missing folder has no voices.
pub(crate) fn discover(dir: &Path) -> (Vec<PiperVoice>, Vec<(PathBuf, String)>) {
    let mut voices = Vec::new();
    let mut broken = Vec::new();
    let mut models = Vec::new();
    collect_models(dir, 2, &mut models);
    models.sort();
    for model in models {
        match load(&model) {
            Ok(voice) => voices.push(voice),
            Err(reason) => broken.push((model, reason)),
        }
    }
    (voices, broken)
}

fn collect_models(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 {
                collect_models(&path, depth - 1, out);
            }
        } else if path.extension().is_some_and(|e| e == "onnx")
            && path.with_extension("onnx.json").is_file()
        {
            out.push(path);
        }
    }
}

/// Reads one voice's JSON file beside `model`.
pub(crate) fn load(model: &Path) -> Result<PiperVoice, String> {
    let id = model
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("the file name is not UTF-8")?
        .to_owned();
    let config_path = model.with_extension("onnx.json");
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("reading {}: {e}", config_path.display()))?;
    let file: VoiceFile = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a Piper voice file: {e}", config_path.display()))?;
    if file.phoneme_type.as_deref().is_some_and(|t| t != "espeak") {
        return Err(format!(
            "phoneme_type {:?} is not supported (only espeak)",
            file.phoneme_type
        ));
    }
    if !(8_000..=48_000).contains(&file.audio.sample_rate) {
        return Err(format!(
            "audio.sample_rate {} is out of range",
            file.audio.sample_rate
        ));
    }
    let phoneme_ids = PhonemeIds::new(file.phoneme_id_map)?;
    Ok(PiperVoice {
        id,
        model: model.to_path_buf(),
        sample_rate: file.audio.sample_rate,
        espeak_voice: file.espeak.voice,
        noise_scale: file.inference.noise_scale,
        length_scale: file.inference.length_scale,
        noise_w: file.inference.noise_w,
        phoneme_ids,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const VOICE_JSON: &str = r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},
        "inference":{"noise_scale":0.5,"length_scale":1.1,"noise_w":0.7},
        "phoneme_type":"espeak","phoneme_id_map":{"_":[0],"^":[1],"$":[2],"a":[3]}}"#;

    #[test]
    fn voices_are_found_beside_their_json_and_broken_ones_reported() {
        let dir = tempfile::tempdir().unwrap();
        let piper = dir.path().join("piper");
        std::fs::create_dir(&piper).unwrap();
        std::fs::write(piper.join("good.onnx"), b"model").unwrap();
        std::fs::write(piper.join("good.onnx.json"), VOICE_JSON).unwrap();
        std::fs::write(piper.join("bad.onnx"), b"model").unwrap();
        std::fs::write(piper.join("bad.onnx.json"), "{}").unwrap();
        std::fs::write(piper.join("lonely.onnx"), b"no json beside it").unwrap();

        let (voices, broken) = discover(dir.path());
        assert_eq!(voices.len(), 1);
        let voice = &voices[0];
        assert_eq!(voice.id, "good");
        assert_eq!(voice.sample_rate, 22_050);
        assert_eq!(voice.espeak_voice, "en-us");
        assert_eq!(voice.length_scale, 1.1);
        assert_eq!(broken.len(), 1);
        assert!(broken[0].1.contains("not a Piper voice file"), "{broken:?}");
    }

    #[test]
    fn a_missing_folder_has_no_voices() {
        let (voices, broken) = discover(Path::new("/nonexistent/models"));
        assert!(voices.is_empty() && broken.is_empty());
    }
}
