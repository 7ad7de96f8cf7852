//! Billing follows the audio MiniMax sends (its reported length only when true), and the
//! request forwarded to MiniMax.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// 1. Billing follows the audio MiniMax sends
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimax_synthesis_bills_exactly_the_reported_audio_length_and_returns_the_sims_audio() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "Billing follows the length that MiniMax reports.";

    let response = app.post_tts(&key, &speak(text)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let audio = decode_audio(&body);

    let upstream = last_upstream_body(&app).await;
    let (sim_audio, sim_ms) = sim_full_audio(&app, &upstream).await;
    let sim_secs = sim_ms as f64 / 1000.0;
    assert!(sim_ms > 0);

    assert_eq!(
        audio.len(),
        sim_audio.len(),
        "audio length differs from the sim's"
    );
    assert!(audio == sim_audio, "audio bytes differ from the sim's");
    assert!(close(num(&body, "duration_seconds"), sim_secs), "{body}");
    assert!(close(num(&body, "billed_seconds"), sim_secs), "{body}");
    assert_eq!(body["voice_used"], "american-male");
    assert_eq!(body["text_length"], text.chars().count());

    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), sim_secs), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    assert!(
        close(
            num(&body, "remaining_quota"),
            num(&me, "quota_seconds") - sim_secs
        ),
        "{body} {me}"
    );

    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0]["status"], "success");
    assert_eq!(usage[0]["engine"], "minimax");
    assert!(
        close(num(&usage[0], "audio_seconds"), sim_secs),
        "{}",
        usage[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_reported_audio_length_is_not_what_gets_billed_the_audio_sent_is() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "audio_length", "audio_length_ms": 1234}))
        .await;

    let response = app
        .post_tts(&key, &speak("The simulator reports a shorter length here."))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let (_, sent_ms) = sim_full_audio(&app, &last_upstream_body(&app).await).await;
    let sent = sent_ms as f64 / 1000.0;
    assert!(sent > 1.234 + 0.5, "the sim's audio is {sent} s");
    assert!(close(num(&body, "duration_seconds"), sent), "{body}");
    assert!(close(num(&body, "billed_seconds"), sent), "{body}");

    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), sent), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["status"], "success");
    assert!(close(num(&usage[0], "audio_seconds"), sent), "{}", usage[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_longer_than_the_reservation_is_billed_at_the_reservation() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "The simulator claims ten minutes of audio.";
    let estimate = plain_estimate_secs(text);
    // 20 s of real audio, far above the reservation, reported as ten minutes.
    app.fault(json!({"kind": "audio_length", "audio_length_ms": 600_000, "produced_ms": 20_000}))
        .await;

    let response = app.post_tts(&key, &speak(text)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(close(num(&body, "billed_seconds"), estimate), "{body}");
    assert!(close(num(&body, "duration_seconds"), 20.0), "{body}");

    let me = app.me(&key).await;
    let used = num(&me, "used_seconds");
    assert!(used <= estimate + EPS, "used {used} > estimate {estimate}");
    assert!(close(used, estimate), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["status"], "success");
    assert!(
        close(num(&usage[0], "audio_seconds"), estimate),
        "{}",
        usage[0]
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The request forwarded to MiniMax
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarded_request_carries_our_key_the_engine_voice_id_and_the_text_unchanged() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "Hello there<#0.5#>and welcome back.";
    let response = app
        .post_tts(
            &key,
            &json!({
                "text": text,
                "voice_name": "american-male",
                "model": "speech-02-hd",
                "speed": 1.5,
                "pitch": -3,
            }),
        )
        .await;
    assert_eq!(response.status(), 200);

    let requests = app.sim_requests().await;
    let t2a: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"] == "/v1/t2a_v2")
        .collect();
    assert_eq!(t2a.len(), 1, "{requests:?}");
    let r = t2a[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(
        r["headers"]["authorization"].as_str(),
        Some(format!("Bearer {SIM_KEY}").as_str())
    );
    assert!(
        r["query"].is_null(),
        "no GroupId without MINIMAX_GROUP_ID: {}",
        r["query"]
    );
    let headers = r["headers"].to_string();
    assert!(
        !headers.contains(&key),
        "the client's API key was forwarded upstream: {headers}"
    );
    let body = &r["body"];
    assert_eq!(body["voice_setting"]["voice_id"], "male-qn-qingse");
    assert_eq!(body["text"], text);
    assert_eq!(body["model"], "speech-02-hd");
    assert!(
        close(body["voice_setting"]["speed"].as_f64().unwrap(), 1.5),
        "{body}"
    );
    assert_eq!(body["voice_setting"]["pitch"], -3);
    assert_eq!(body["stream"], false);
    assert_eq!(body["output_format"], "hex");
    assert_eq!(body["audio_setting"]["format"], "mp3");
    assert_eq!(body["audio_setting"]["sample_rate"], 32000);
    assert_eq!(body["audio_setting"]["bitrate"], 128000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_id_query_is_sent_only_when_configured() {
    let app = app_with(&[("MINIMAX_GROUP_ID", "12345")]).await;
    let (_, key) = app.create_user("enterprise").await;
    let response = app.post_tts(&key, &speak("Group id please.")).await;
    assert_eq!(response.status(), 200);
    let requests = app.sim_requests().await;
    let r = requests.iter().find(|r| r["path"] == "/v1/t2a_v2").unwrap();
    assert_eq!(r["query"], "GroupId=12345", "{r}");
}
