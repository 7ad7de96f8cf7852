//! Non-streaming `/v1/t2a_v2`: formats, durations, determinism, validation,
//! auth and voice errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{code, flac_samples, mp3_samples, request, Sim};
use minimax_sim::SimConfig;
use serde_json::json;

#[tokio::test]
async fn every_format_decodes_to_audio_length() {
    let sim = Sim::default().await;
    for (format, rate) in [
        ("mp3", 32000),
        ("wav", 16000),
        ("pcm", 24000),
        ("flac", 44100),
        ("mp3", 8000),
    ] {
        let mut body = request("Hello there, this is a test.<#0.5#>Bye");
        body["audio_setting"] = json!({"format": format, "sample_rate": rate});
        let v = sim.t2a(&body).await;
        assert_eq!(code(&v), 0, "{v}");
        assert_eq!(v["base_resp"]["status_msg"], "success");
        assert_eq!(v["data"]["status"], 2);
        let hex = v["data"]["audio"].as_str().unwrap();
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let bytes = hex::decode(hex).unwrap();
        let extra = &v["extra_info"];
        assert_eq!(extra.as_object().unwrap().len(), 9);
        // 31 spoken characters * 60 ms + 500 ms pause.
        assert_eq!(extra["audio_length"], 31 * 60 + 500);
        assert_eq!(extra["audio_size"], bytes.len());
        assert_eq!(extra["audio_format"], format);
        assert_eq!(extra["audio_sample_rate"], rate);
        assert_eq!(extra["usage_characters"], 31);
        assert_eq!(extra["audio_channel"], 1);
        let samples = match format {
            "mp3" => mp3_samples(bytes),
            "wav" => odeadev_audio::decode_wav(&bytes).unwrap().samples.len() as u64,
            "pcm" => bytes.len() as u64 / 2,
            _ => flac_samples(bytes),
        };
        let ms = (samples * 1000 + rate / 2) / rate;
        assert_eq!(ms, 2360, "{format}");
        assert_eq!(v["trace_id"].as_str().unwrap().len(), 32);
    }
}

#[tokio::test]
async fn same_request_same_bytes_and_speed_scales_duration() {
    let sim = Sim::default().await;
    let a = sim.t2a(&request("determinism")).await;
    let b = sim.t2a(&request("determinism")).await;
    assert_eq!(a["data"]["audio"], b["data"]["audio"]);
    assert_eq!(a["extra_info"], b["extra_info"]);
    assert_ne!(a["trace_id"], b["trace_id"]);
    let c = sim.t2a(&request("determinisn")).await;
    assert_ne!(a["data"]["audio"], c["data"]["audio"]);
    let mut fast = request("determinism");
    fast["voice_setting"]["speed"] = json!(2.0);
    assert_eq!(sim.t2a(&fast).await["extra_info"]["audio_length"], 330);
    assert_eq!(
        sim.t2a(&request("a")).await["extra_info"]["audio_length"],
        100
    );
}

#[tokio::test]
async fn url_output_serves_the_bytes() {
    let sim = Sim::default().await;
    let hexed = sim.t2a(&request("by url")).await;
    let mut body = request("by url");
    body["output_format"] = json!("url");
    let v = sim.t2a(&body).await;
    let url = v["data"]["audio"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/_sim/audio/", sim.handle.base_url())));
    let resp = sim.client.get(url).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        hex::encode(&bytes),
        hexed["data"]["audio"].as_str().unwrap()
    );
}

#[tokio::test]
async fn validation_errors_are_2013_on_http_200() {
    let sim = Sim::default().await;
    let cases = [
        json!({"text": "x", "voice_setting": {"voice_id": "female-shaonv"}}),
        json!({"model": "speech-2.8-hd", "text": "", "voice_setting": {"voice_id": "female-shaonv"}}),
        json!({"model": "speech-2.8-hd", "text": "x"}),
        json!({"model": "speech-2.8-hd", "text": "x", "voice_setting": {"voice_id": "female-shaonv", "speed": 0.4}}),
        json!({"model": "speech-2.8-hd", "text": "x", "voice_setting": {"voice_id": "female-shaonv", "vol": 0}}),
        json!({"model": "speech-2.8-hd", "text": "x", "voice_setting": {"voice_id": "female-shaonv", "pitch": 0.5}}),
        json!({"model": "speech-2.8-hd", "text": "x", "voice_setting": {"voice_id": "female-shaonv", "emotion": "whisper"}}),
        json!({"model": "speech-2.8-hd", "text": "x", "voice_setting": {"voice_id": "female-shaonv"}, "audio_setting": {"sample_rate": 48000}}),
        json!({"model": "speech-2.8-hd", "text": "x", "voice_setting": {"voice_id": "female-shaonv"}, "audio_setting": {"format": "wav"}, "stream": true}),
        json!({"model": "speech-2.8-hd", "text": "x".repeat(10_000), "voice_setting": {"voice_id": "female-shaonv"}}),
    ];
    for body in cases {
        let v = sim.t2a(&body).await;
        assert_eq!(code(&v), 2013, "{body}");
        assert!(v["data"].is_null());
        assert!(v["base_resp"]["status_msg"]
            .as_str()
            .unwrap()
            .starts_with("invalid params, "));
    }
    let bad = sim
        .client
        .post(sim.url("/v1/t2a_v2"))
        .bearer_auth("k")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(code(&bad.json().await.unwrap()), 2013);
}

#[tokio::test]
async fn invisible_characters_and_unknown_voice() {
    let sim = Sim::default().await;
    let v = sim.t2a(&request("ab\u{1}\u{2}cdefgh")).await;
    assert_eq!(code(&v), 1042);
    assert_eq!(
        v["base_resp"]["status_msg"],
        "invisible character ratio limit"
    );
    let v = sim.t2a(&request("abcdefghijklmnopqrs\u{1}")).await;
    assert_eq!(code(&v), 0);
    assert_eq!(v["extra_info"]["invisible_character_ratio"], 0.05);
    let mut body = request("hi");
    body["voice_setting"]["voice_id"] = json!("nobody_here");
    let v = sim.t2a(&body).await;
    assert_eq!(code(&v), 2054);
    assert_eq!(v["base_resp"]["status_msg"], "voice id not exist");
}

#[tokio::test]
async fn auth_and_group_id() {
    let sim = Sim::start(SimConfig {
        api_key: Some("secret".into()),
        group_id: Some("g1".into()),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url("/v1/t2a_v2");
    let none = sim
        .client
        .post(&url)
        .json(&request("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 200);
    let trace = none.headers()["trace-id"].to_str().unwrap().to_owned();
    let v: serde_json::Value = none.json().await.unwrap();
    assert_eq!(code(&v), 1004);
    assert_eq!(v["base_resp"]["status_msg"], "not authorized");
    assert!(v["data"].is_null());
    assert_eq!(v["trace_id"], trace);
    let wrong = sim
        .client
        .post(&url)
        .bearer_auth("nope")
        .json(&request("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&wrong.json().await.unwrap()), 1004);
    let ok = sim
        .client
        .post(&url)
        .bearer_auth("secret")
        .json(&request("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&ok.json().await.unwrap()), 0);
    let group = sim
        .client
        .post(format!("{url}?GroupId=other"))
        .bearer_auth("secret")
        .json(&request("x"))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = group.json().await.unwrap();
    assert_eq!(v["base_resp"]["status_msg"], "token not match group");
    let same = sim
        .client
        .post(format!("{url}?GroupId=g1"))
        .bearer_auth("secret")
        .json(&request("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&same.json().await.unwrap()), 0);
}
