//! `/v1/tts` on the local engine: real, audible speech in every format, billed by its length.

use serde_json::{json, Value};

use crate::helpers::*;

async fn local_app() -> TestApp {
    spawn_app_with(Options {
        no_minimax: true,
        ..Options::default()
    })
    .await
}

fn wav_samples(bytes: &[u8]) -> (Vec<i16>, u32) {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
    let rate = reader.spec().sample_rate;
    let samples = reader.into_samples::<i16>().map(Result::unwrap).collect();
    (samples, rate)
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

fn mp3_duration_ms(bytes: &[u8]) -> u64 {
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let source = MediaSourceStream::new(
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        Default::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .unwrap();
    let mut format = probed.format;
    let track = format.default_track().unwrap().clone();
    let rate = track.codec_params.sample_rate.unwrap();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .unwrap();
    let mut frames = 0u64;
    while let Ok(packet) = format.next_packet() {
        if let Ok(decoded) = decoder.decode(&packet) {
            frames += decoded.frames() as u64;
        }
    }
    frames * 1000 / u64::from(rate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_minimax_the_default_voice_is_local_and_speaks() {
    let app = local_app().await;
    let (_, key) = app.create_user("free").await;
    let r = app
        .post_tts(
            &key,
            &json!({"text": "Hello from the local engine.", "format": "wav"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    for field in [
        "audio_base64",
        "duration_seconds",
        "sample_rate",
        "voice_used",
        "text_length",
        "remaining_quota",
    ] {
        assert!(body.get(field).is_some(), "TtsResponse lacks {field}");
    }
    assert!(body["voice_used"].as_str().unwrap().starts_with("local-"));
    assert_eq!(body["text_length"], 28);
    let (samples, rate) = wav_samples(&decode_audio(&body));
    assert_eq!(rate, 32_000);
    assert!(rms(&samples) > 500.0, "audible, not silence");
    let duration_ms = samples.len() as f64 * 1000.0 / f64::from(rate);
    assert!((duration_ms - body["duration_seconds"].as_f64().unwrap() * 1000.0).abs() <= 1.0);
    let me = app.me(&key).await;
    assert_eq!(me["used_seconds"], body["duration_seconds"]);
    assert_eq!(
        body["remaining_quota"].as_f64().unwrap(),
        600.0 - body["duration_seconds"].as_f64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longer_text_gives_longer_audio() {
    let app = local_app().await;
    let (_, key) = app.create_user("pro").await;
    let mut last = 0.0;
    for text in [
        "Hi.",
        "Hello there, how are you?",
        "Hello there, how are you today? I hope the weather is kind to you.",
    ] {
        let body: Value = app
            .post_tts(
                &key,
                &json!({"text": text, "voice_name": "local-british-female"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let d = body["duration_seconds"].as_f64().unwrap();
        assert!(d > last, "{text}: {d} s not longer than {last} s");
        last = d;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_decodes_to_the_billed_duration() {
    let app = local_app().await;
    let (_, key) = app.create_user("pro").await;
    for (format, rate) in [
        ("wav", 16_000),
        ("pcm", 22_050),
        ("flac", 24_000),
        ("mp3", 44_100),
        ("mp3", 32_000),
    ] {
        let body: Value = app
            .post_tts(&key, &json!({"text": "Testing every format.", "voice_name": "local-american-female", "format": format, "sample_rate": rate}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["format"], format);
        assert_eq!(body["sample_rate"], rate);
        let audio = decode_audio(&body);
        let expected_ms = body["duration_seconds"].as_f64().unwrap() * 1000.0;
        let decoded_ms = match format {
            "wav" => wav_samples(&audio).0.len() as f64 * 1000.0 / f64::from(rate),
            "pcm" => (audio.len() / 2) as f64 * 1000.0 / f64::from(rate),
            "flac" => {
                let mut reader = claxon::FlacReader::new(std::io::Cursor::new(&audio)).unwrap();
                assert_eq!(reader.streaminfo().sample_rate, rate);
                reader.samples().count() as f64 * 1000.0 / f64::from(rate)
            }
            _ => mp3_duration_ms(&audio) as f64,
        };
        let tolerance = if format == "mp3" { 80.0 } else { 1.0 };
        assert!(
            (decoded_ms - expected_ms).abs() <= tolerance,
            "{format}: decoded {decoded_ms} ms, billed {expected_ms} ms"
        );
        let record = &app.usage(&key).await[0];
        assert_eq!(record["audio_seconds"], body["duration_seconds"]);
        assert_eq!(record["engine"], "local");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_voices_are_unavailable_without_a_minimax_key() {
    let app = local_app().await;
    let (_, key) = app.create_user("pro").await;
    let voices: Vec<Value> = app.get("/v1/voices", &key).await.json().await.unwrap();
    let marcus = voices
        .iter()
        .find(|v| v["friendly_name"] == "marcus")
        .unwrap();
    assert_eq!(marcus["available"], false);
    assert!(marcus["unavailable_reason"]
        .as_str()
        .unwrap()
        .contains("MiniMax"));
    let e = error_body(
        app.post_tts(&key, &json!({"text": "Hi", "voice_name": "marcus"}))
            .await,
        503,
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("MiniMax"));
    assert_eq!(app.me(&key).await["reserved_seconds"], 0.0);
    assert!(
        app.usage(&key).await.is_empty(),
        "refused before reservation: no record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_streams_local_speech() {
    let app = local_app().await;
    let (_, key) = app.create_user("pro").await;
    let r = app
        .post("/v2/tts", &key, &json!({"text": "Streaming from the local engine.", "voice_name": "local-american-male", "format": "pcm", "sample_rate": 16000}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/pcm");
    let audio = r.bytes().await.unwrap();
    let record = &app.usage(&key).await[0];
    assert_eq!(record["status"], "success");
    let ms = (audio.len() / 2) as f64 / 16.0;
    assert!((record["audio_seconds"].as_f64().unwrap() * 1000.0 - ms).abs() <= 1.0);
}
