//! Helpers shared by the integration tests: start a simulator on a random
//! port and talk to it with reqwest.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use minimax_sim::{spawn, SimConfig, SimHandle};
use serde_json::{json, Value};

/// A running simulator plus a client.
pub struct Sim {
    pub handle: SimHandle,
    pub client: reqwest::Client,
}

impl Sim {
    pub async fn start(config: SimConfig) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = spawn(config, listener).await.unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Sim { handle, client }
    }

    pub async fn default() -> Sim {
        Sim::start(SimConfig::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    /// POSTs JSON to `path` with a bearer token and returns the response.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth("test-key")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs to `/v1/t2a_v2` and parses the JSON answer.
    pub async fn t2a(&self, body: &Value) -> Value {
        let resp = self.post("/v1/t2a_v2", body).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Queues a fault.
    pub async fn fault(&self, fault: Value) {
        let resp = self
            .client
            .post(self.url("/_sim/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
}

/// A minimal valid request.
pub fn request(text: &str) -> Value {
    json!({
        "model": "speech-2.8-hd",
        "text": text,
        "voice_setting": {"voice_id": "English_expressive_narrator"},
    })
}

/// `base_resp.status_code`.
pub fn code(v: &Value) -> i64 {
    v["base_resp"]["status_code"].as_i64().unwrap()
}

/// Parses SSE text into the JSON of each `data:` event.
pub fn sse_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect()
}

/// Decoded sample count of an mp3 (symphonia, gapless).
pub fn mp3_samples(bytes: Vec<u8>) -> u64 {
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let mut format = symphonia::default::get_probe()
        .format(
            Hint::new().with_extension("mp3"),
            mss,
            &opts,
            &MetadataOptions::default(),
        )
        .unwrap()
        .format;
    let track = format.default_track().unwrap();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .unwrap();
    let mut n = 0;
    loop {
        match format.next_packet() {
            Ok(p) => n += decoder.decode(&p).unwrap().frames() as u64,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Decoded sample count of a flac (claxon).
pub fn flac_samples(bytes: Vec<u8>) -> u64 {
    let mut r = claxon::FlacReader::new(Cursor::new(bytes)).unwrap();
    r.samples().count() as u64
}
