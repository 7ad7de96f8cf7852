//! Tests that really run eSpeak NG (which must be installed: `make` installs it; these
//! tests fail rather than skip without it), plus fake programs for timeouts and the pool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use odeadev_audio::{decode_wav, AudioFormat, Pcm};

use super::{LocalEngine, LocalEngineSettings, LOCAL_VOICES};
use crate::engine::STREAM_CHUNK_BYTES;
use crate::engine::{Engine, EngineError, Provider, StreamEvent, SynthesisRequest};

const SENTENCE: &str = "The quick brown fox jumps over the lazy dog.";
const PARAGRAPH: &str = "Speech synthesis is the artificial production of human speech. \
    A computer system used for this purpose is called a speech synthesizer, and can be \
    implemented in software or hardware products. A text-to-speech system converts normal \
    language text into speech; other systems render symbolic linguistic representations \
    like phonetic transcriptions into speech.";

/// Extra milliseconds on top of `100 ms × chars ÷ speed + pauses` that the quota estimate
/// needs for eSpeak (see `billing_estimate_covers_real_audio`).
const RECOMMENDED_ALLOWANCE_MS: u64 = 1000;

/// The real engine; panics (fails the test) when espeak-ng is not installed.
async fn espeak() -> LocalEngine {
    let engine = LocalEngine::new(LocalEngineSettings::default()).await;
    assert_eq!(
        engine.unavailable_reason(),
        None,
        "espeak-ng must be installed for these tests (the Makefile installs it)"
    );
    engine
}

fn request(text: &str) -> SynthesisRequest {
    SynthesisRequest {
        text: text.to_owned(),
        engine_voice_id: "en-us+m3".to_owned(),
        model: "speech-02-turbo".to_owned(),
        speed: 1.0,
        pitch: 0,
        emotion: None,
        volume: 1.0,
        format: AudioFormat::Wav,
        sample_rate: 22_050,
        bitrate: 128_000,
        language_boost: None,
        request_id: "test".to_owned(),
    }
}

/// Decoded PCM of a WAV synthesis, checked against its reported duration.
async fn speak_pcm(engine: &LocalEngine, request: &SynthesisRequest) -> Pcm {
    assert_eq!(request.format, AudioFormat::Wav);
    let synthesis = engine.synthesize(request).await.unwrap();
    let pcm = decode_wav(&synthesis.audio).unwrap();
    assert_eq!(pcm.sample_rate, request.sample_rate);
    assert_eq!(pcm.duration_ms(), synthesis.audio_ms);
    pcm
}

async fn audio_ms(engine: &LocalEngine, request: &SynthesisRequest) -> u64 {
    engine.synthesize(request).await.unwrap().audio_ms
}

fn rms(pcm: &Pcm) -> f64 {
    let sum: f64 = pcm.samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / pcm.samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn speaks_audible_audio() {
    let engine = espeak().await;
    assert_eq!(engine.provider(), Provider::Local);
    let pcm = speak_pcm(&engine, &request(SENTENCE)).await;
    assert!(pcm.duration_ms() > 1500, "{} ms", pcm.duration_ms());
    assert!(rms(&pcm) > 1000.0, "rms {}", rms(&pcm));
}

#[tokio::test]
async fn duration_grows_with_text_length() {
    let engine = espeak().await;
    let short = audio_ms(&engine, &request("Hello.")).await;
    let sentence = audio_ms(&engine, &request(SENTENCE)).await;
    let paragraph = audio_ms(&engine, &request(PARAGRAPH)).await;
    assert!(
        short < sentence && sentence * 4 < paragraph,
        "{short} {sentence} {paragraph}"
    );
}

#[tokio::test]
async fn speed_and_volume_take_effect() {
    let engine = espeak().await;
    let at = |speed: f32| SynthesisRequest {
        speed,
        ..request(SENTENCE)
    };
    let (slow, normal, fast) = (
        audio_ms(&engine, &at(0.5)).await,
        audio_ms(&engine, &at(1.0)).await,
        audio_ms(&engine, &at(2.0)).await,
    );
    assert!(
        slow > normal * 3 / 2 && normal > fast * 3 / 2,
        "{slow} {normal} {fast}"
    );

    let loud = |volume: f32| SynthesisRequest {
        volume,
        ..request(SENTENCE)
    };
    let quiet = rms(&speak_pcm(&engine, &loud(0.5)).await);
    let normal = rms(&speak_pcm(&engine, &loud(1.0)).await);
    let louder = rms(&speak_pcm(&engine, &loud(2.0)).await);
    assert!(
        quiet < normal * 0.7 && normal < louder * 0.7,
        "{quiet} {normal} {louder}"
    );

    let high = SynthesisRequest {
        pitch: 12,
        ..request(SENTENCE)
    };
    let low = SynthesisRequest {
        pitch: -12,
        ..request(SENTENCE)
    };
    assert_ne!(
        engine.synthesize(&high).await.unwrap().audio,
        engine.synthesize(&low).await.unwrap().audio
    );
}

#[tokio::test]
async fn every_format_and_rate_decodes_to_the_reported_duration() {
    let engine = espeak().await;
    for sample_rate in odeadev_audio::SUPPORTED_SAMPLE_RATES {
        for format in AudioFormat::ALL {
            let request = SynthesisRequest {
                format,
                sample_rate,
                bitrate: 64_000,
                ..request("Testing every format.")
            };
            let synthesis = engine.synthesize(&request).await.unwrap();
            assert_eq!(synthesis.format, format);
            assert_eq!(synthesis.sample_rate, sample_rate);
            let length = odeadev_audio::measure(format, &synthesis.audio, sample_rate);
            assert_eq!(length.sample_rate, sample_rate, "{format} {sample_rate}");
            // MP3 too: the LAME tag's delay and padding make the measured length exact.
            assert_eq!(
                length.ms(),
                synthesis.audio_ms,
                "{format} {sample_rate}: measured vs reported"
            );
            assert!(synthesis.audio_ms > 800, "{format} {sample_rate}");
        }
    }
}

#[tokio::test]
async fn pause_markers_add_exactly_their_length() {
    let engine = espeak().await;
    let hello = audio_ms(&engine, &request("Hello there.")).await;
    let world = audio_ms(&engine, &request("How are you?")).await;
    let trailing = audio_ms(&engine, &request("Hello there.<#1.5#>")).await;
    assert_eq!(trailing, hello + 1500);
    let leading = audio_ms(&engine, &request("<#0.25#>Hello there.")).await;
    assert_eq!(leading, hello + 250);
    let middle = audio_ms(&engine, &request("Hello there. <#2#> How are you?")).await;
    assert!(
        middle.abs_diff(hello + world + 2000) <= 1,
        "{middle} vs {hello}+{world}+2000"
    );
    let only = audio_ms(&engine, &request("<#0.5#> <#0.01#>")).await;
    assert_eq!(only, 510);
}

#[tokio::test]
async fn pause_is_real_silence() {
    let engine = espeak().await;
    let pcm = speak_pcm(&engine, &request("One.<#1#>Two.")).await;
    let one = speak_pcm(&engine, &request("One.")).await;
    let gap = &pcm.samples[one.samples.len()..one.samples.len() + 22_050];
    assert!(gap.iter().all(|&s| s == 0));
}

#[tokio::test]
async fn text_is_never_options_or_markup() {
    let engine = espeak().await;
    // Would print the version (not a WAV) if it reached the command line.
    let dash = speak_pcm(&engine, &request("--version -v xx")).await;
    assert!(dash.duration_ms() > 1000 && rms(&dash) > 500.0);
    // Would be 10 s of silence if read as SSML.
    let ssml = audio_ms(&engine, &request("a <break time=\"10s\"/> b")).await;
    assert!(ssml < 8000, "{ssml}");
    // Would be read as phoneme mnemonics (silence) if the brackets reached eSpeak as-is.
    let brackets = speak_pcm(&engine, &request("[[[hello]]]")).await;
    assert!(brackets.duration_ms() > 200 && rms(&brackets) > 500.0);
}

#[tokio::test]
async fn bad_voices_are_unknown() {
    let engine = espeak().await;
    for voice in ["xx-nope", "-v", "en us", "mb-us1"] {
        let request = SynthesisRequest {
            engine_voice_id: voice.to_owned(),
            ..request("Hi.")
        };
        let error = engine.synthesize(&request).await.unwrap_err();
        assert!(
            matches!(error, EngineError::UnknownVoice(_)),
            "{voice}: {error:?}"
        );
    }
}

#[tokio::test]
async fn seeded_voices_speak_and_differ() {
    let engine = espeak().await;
    let mut seen = Vec::new();
    for voice in LOCAL_VOICES {
        let request = SynthesisRequest {
            engine_voice_id: voice.engine_voice_id.to_owned(),
            ..request("Good morning, how are you today?")
        };
        let pcm = speak_pcm(&engine, &request).await;
        assert!(rms(&pcm) > 500.0, "{}", voice.friendly_name);
        assert!(
            !seen.contains(&pcm.samples),
            "{} sounds like an earlier voice (variant ignored?)",
            voice.friendly_name
        );
        seen.push(pcm.samples);
    }
}

#[tokio::test]
async fn stream_yields_the_same_audio_in_chunks() {
    let engine = espeak().await;
    let request = request(PARAGRAPH);
    let whole = engine.synthesize(&request).await.unwrap();
    assert!(whole.audio.len() > 2 * STREAM_CHUNK_BYTES);
    let mut stream = engine.synthesize_stream(&request).await.unwrap();
    let mut audio = Vec::new();
    let mut finished = None;
    while let Some(event) = stream.next().await {
        assert!(finished.is_none(), "event after Finished");
        match event.unwrap() {
            StreamEvent::Audio(chunk) => {
                assert!(!chunk.is_empty() && chunk.len() <= STREAM_CHUNK_BYTES);
                audio.extend_from_slice(&chunk);
            }
            StreamEvent::Finished { audio_ms } => finished = Some(audio_ms),
        }
    }
    assert_eq!(finished, Some(whole.audio_ms));
    assert_eq!(audio, whole.audio.to_vec());
}

#[tokio::test]
async fn missing_program_is_not_configured() {
    let engine = LocalEngine::new(LocalEngineSettings {
        program: PathBuf::from("/nonexistent/espeak-ng"),
        ..LocalEngineSettings::default()
    })
    .await;
    let reason = engine.unavailable_reason().unwrap();
    assert!(reason.contains("not installed"), "{reason}");
    let error = engine.synthesize(&request("Hi.")).await.unwrap_err();
    assert!(matches!(error, EngineError::NotConfigured(r) if r == reason));
    assert!(engine.synthesize_stream(&request("Hi.")).await.is_err());
}

#[tokio::test]
async fn broken_program_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let program = fake::script(dir.path(), "exit 3");
    let engine = LocalEngine::new(LocalEngineSettings {
        program,
        ..LocalEngineSettings::default()
    })
    .await;
    assert!(engine.unavailable_reason().unwrap().contains("not working"));
}

#[tokio::test]
async fn failing_or_garbage_output_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let failing = fake::script(
        dir.path(),
        "[ \"$1\" = --version ] && exit 0\necho boom >&2\nexit 1",
    );
    let engine = fake::engine(failing, Duration::from_secs(10)).await;
    let error = engine.synthesize(&request("Hi.")).await.unwrap_err();
    assert!(
        matches!(error, EngineError::Unavailable(ref m) if m.contains("boom")),
        "{error:?}"
    );

    let garbage = fake::script(dir.path(), "cat");
    let engine = fake::engine(garbage, Duration::from_secs(10)).await;
    let error = engine.synthesize(&request("Hi.")).await.unwrap_err();
    assert!(matches!(error, EngineError::BadResponse(_)), "{error:?}");
}

#[tokio::test]
async fn timeout_kills_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let body = format!(
        "[ \"$1\" = --version ] && exit 0\necho $$ > '{}'\nexec sleep 30",
        pid_file.display()
    );
    let engine = fake::engine(fake::script(dir.path(), &body), Duration::from_millis(500)).await;
    let started = Instant::now();
    let error = engine.synthesize(&request("Hi.")).await.unwrap_err();
    assert!(matches!(error, EngineError::Timeout), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    assert!(!proc_dir.exists(), "process {} still running", pid.trim());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let body = format!(
        "[ \"$1\" = --version ] && exec espeak-ng --version\n\
         mkdir '{d}/running.'$$\n\
         ls -d '{d}'/running.* | wc -l >> '{d}/counts'\n\
         sleep 0.3\n\
         rmdir '{d}/running.'$$\n\
         exec espeak-ng \"$@\""
    );
    let engine =
        fake::engine_with(fake::script(dir.path(), &body), Duration::from_secs(30), 2).await;
    let hi = request("Hi.");
    let started = Instant::now();
    let results = futures::future::join_all((0..6).map(|_| engine.synthesize(&hi))).await;
    let elapsed = started.elapsed();
    for result in results {
        assert!(result.unwrap().audio_ms > 100);
    }
    let counts = std::fs::read_to_string(dir.path().join("counts")).unwrap();
    let counts: Vec<usize> = counts.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(counts.len(), 6);
    assert_eq!(counts.iter().max(), Some(&2), "{counts:?}");
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
}

/// Measures eSpeak's audio per character and checks the gateway's quota estimate
/// (`100 ms × chars ÷ speed + pauses + allowance`) covers it. Run with `--nocapture` to
/// see the table.
#[tokio::test]
async fn billing_estimate_covers_real_audio() {
    let engine = espeak().await;
    let texts = [
        "Hi",
        "OK.",
        "A",
        "x",
        "ok",
        "Yes",
        "Hello!",
        "Thank you.",
        SENTENCE,
        PARAGRAPH,
        "Wait.<#1.5#> Go.",
    ];
    for speed in [0.5f32, 1.0, 2.0] {
        for text in texts {
            let request = SynthesisRequest {
                speed,
                ..request(text)
            };
            let real = audio_ms(&engine, &request).await;
            let spoken = text.replace("<#1.5#>", "");
            let chars = spoken.chars().count() as u64;
            let pauses = if spoken.len() < text.len() { 1500 } else { 0 };
            let estimate = (100.0 * chars as f64 / f64::from(speed)) as u64 + pauses;
            println!(
                "speed {speed:>3}: {chars:>4} chars, {real:>6} ms real, {:>6.1} ms/char, \
                 estimate w/o allowance {estimate:>6} ms, over by {:>5} ms  {:?}",
                real as f64 / chars as f64,
                real.saturating_sub(estimate),
                text.chars().take(20).collect::<String>()
            );
            assert!(
                real < estimate + RECOMMENDED_ALLOWANCE_MS,
                "speed {speed} {text:?}: {real} ms vs estimate {estimate} ms"
            );
            if text.len() > 40 && !text.contains("<#") {
                assert!(real < estimate, "ordinary English over 100 ms/char ÷ speed");
            }
        }
    }
    // Not covered by any fixed allowance: eSpeak reads digits, symbols and emoji as
    // words, at roughly 5 to 7 times the per-character estimate.
    for text in [
        "1234567890",
        "2024",
        "3.14159",
        "www.example.com",
        "%",
        "\u{1f600}",
    ] {
        let real = audio_ms(&engine, &request(text)).await;
        let estimate = 100 * text.chars().count() as u64;
        println!(
            "speed   1: {real:>6} ms real vs estimate w/o allowance {estimate:>5} ms  {text:?}"
        );
    }
}
