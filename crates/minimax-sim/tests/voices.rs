//! Upload -> clone -> t2a -> get_voice -> delete, and their error codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{code, request, Sim};
use odeadev_audio::{encode, speechlike, AudioFormat};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

async fn upload(sim: &Sim, purpose: &str, name: &str, bytes: Vec<u8>) -> Value {
    let form = Form::new()
        .text("purpose", purpose.to_owned())
        .part("file", Part::bytes(bytes).file_name(name.to_owned()));
    sim.client
        .post(sim.url("/v1/files/upload"))
        .bearer_auth("k")
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn wav(ms: u64) -> Vec<u8> {
    encode(&speechlike(ms, 8000, 1), AudioFormat::Wav, 0).unwrap()
}

#[tokio::test]
async fn upload_rules() {
    let sim = Sim::default().await;
    let v = upload(&sim, "voice_clone", "a.wav", wav(3_000)).await;
    assert_eq!(code(&v), 2037);
    assert!(v["file"].is_null());
    assert_eq!(
        code(&upload(&sim, "voice_clone", "a.wav", wav(301_000)).await),
        2037
    );
    assert_eq!(
        code(&upload(&sim, "voice_clone", "a.txt", wav(12_000)).await),
        2013
    );
    assert_eq!(
        code(&upload(&sim, "bogus", "a.wav", wav(12_000)).await),
        2013
    );
    assert_eq!(
        code(&upload(&sim, "prompt_audio", "p.wav", wav(9_000)).await),
        2048
    );
    assert_eq!(
        code(&upload(&sim, "prompt_audio", "p.wav", wav(5_000)).await),
        0
    );
    // Unreadable duration (mp3 bytes) is accepted.
    assert_eq!(
        code(&upload(&sim, "voice_clone", "a.mp3", vec![0xff; 1000]).await),
        0
    );
    let ok = upload(&sim, "voice_clone", "a.wav", wav(12_000)).await;
    assert_eq!(code(&ok), 0);
    assert!(ok["file"]["file_id"].is_i64());
    assert_eq!(ok["file"]["purpose"], "voice_clone");
    assert_eq!(ok["file"]["filename"], "a.wav");
    let missing = sim
        .client
        .post(sim.url("/v1/files/upload"))
        .bearer_auth("k")
        .multipart(Form::new().text("purpose", "voice_clone"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&missing.json().await.unwrap()), 2013);
}

#[tokio::test]
async fn clone_flow() {
    let sim = Sim::default().await;
    let file_id = upload(&sim, "voice_clone", "me.wav", wav(11_000)).await["file"]["file_id"]
        .as_i64()
        .unwrap();
    let clone = |voice_id: &str, extra: Value| {
        let mut body = json!({"file_id": file_id, "voice_id": voice_id});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for bad in ["short", "1startsdigit", "ends_with_", "has space!"] {
        let v: Value = sim
            .post("/v1/voice_clone", &clone(bad, json!({})))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(code(&v), 2013, "{bad}");
    }
    let v: Value = sim
        .post(
            "/v1/voice_clone",
            &clone("MyVoice001", json!({"text": "hi"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&v), 2013);
    let v: Value = sim
        .post(
            "/v1/voice_clone",
            &json!({"file_id": 1, "voice_id": "MyVoice001"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&v), 20132);

    let v: Value = sim
        .post("/v1/voice_clone", &clone("MyVoice001", json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["input_sensitive"], false);
    assert_eq!(v["input_sensitive_type"], 0);
    assert_eq!(v["demo_audio"], "");
    let dup: Value = sim
        .post("/v1/voice_clone", &clone("MyVoice001", json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&dup), 2039);

    let list = |kind: &'static str| {
        let sim = &sim;
        async move {
            let v: Value = sim
                .post("/v1/get_voice", &json!({"voice_type": kind}))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(code(&v), 0);
            v
        }
    };
    // Hidden until used.
    assert_eq!(list("voice_cloning").await["voice_cloning"], json!([]));
    let mut body = request("cloned voice speaking");
    body["voice_setting"]["voice_id"] = json!("MyVoice001");
    assert_eq!(code(&sim.t2a(&body).await), 0);
    let all = list("all").await;
    assert_eq!(all["voice_cloning"][0]["voice_id"], "MyVoice001");
    let system = all["system_voice"].as_array().unwrap();
    assert!(system
        .iter()
        .any(|v| v["voice_id"] == "moss_audio_4e6eb029-ab89-11f0-a74c-2a7a0b4baedc"));
    assert!(list("system").await["voice_cloning"].is_null());

    let preview: Value = sim
        .post(
            "/v1/voice_clone",
            &clone(
                "MyVoice002",
                json!({"text": "preview", "model": "speech-02-hd"}),
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    let demo = preview["demo_audio"].as_str().unwrap();
    assert!(
        sim.client
            .get(demo)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len()
            > 100
    );

    let bad_type: Value = sim
        .post(
            "/v1/delete_voice",
            &json!({"voice_type": "system", "voice_id": "MyVoice001"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&bad_type), 2013);
    let del: Value = sim
        .post(
            "/v1/delete_voice",
            &json!({"voice_type": "voice_cloning", "voice_id": "MyVoice001"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&del), 0);
    assert_eq!(del["voice_id"], "MyVoice001");
    assert!(del["created_time"].as_str().unwrap().len() == 10);
    assert_eq!(code(&sim.t2a(&body).await), 2054);
    let again: Value = sim
        .post("/v1/voice_clone", &clone("MyVoice001", json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&again), 2039);
}
