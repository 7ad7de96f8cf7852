//! `POST /v1/files/upload` (multipart `purpose` + `file`) and the file store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map};

use crate::responses::{error_with, success};
use crate::state::{lock, SimState};
use crate::trace::TraceId;

/// Largest accepted audio upload.
const MAX_AUDIO_BYTES: usize = 20 * 1024 * 1024;

/// Metadata of an uploaded file.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub purpose: String,
}

/// Uploaded files by id.
#[derive(Debug, Default)]
pub(crate) struct FileStore {
    files: HashMap<i64, StoredFile>,
    next: i64,
}

impl FileStore {
    fn add(&mut self, file: StoredFile) -> i64 {
        self.next += 1;
        // Realistic-looking int64 ids that still fit in a JS double.
        let id = 300_000_000_000 + self.next;
        self.files.insert(id, file);
        id
    }

    /// Looks up a file.
    pub fn get(&self, id: i64) -> Option<&StoredFile> {
        self.files.get(&id)
    }
}

fn file_error(trace: &str, code: i64, msg: &str) -> Response {
    error_with("file", trace, code, msg)
}

/// Reads the `purpose` and `file` fields; `None` when either is missing or
/// the body is not multipart.
async fn read_fields(mut mp: Multipart) -> Option<(String, String, Vec<u8>)> {
    let (mut purpose, mut file) = (None, None);
    while let Ok(Some(field)) = mp.next_field().await {
        match field.name() {
            Some("purpose") => purpose = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("upload").to_owned();
                file = field.bytes().await.ok().map(|b| (name, b.to_vec()));
            }
            _ => {}
        }
    }
    let (name, bytes) = file?;
    Some((purpose?, name, bytes))
}

/// Checks an audio upload; `Err` carries the business error.
fn check_audio(purpose: &str, name: &str, bytes: &[u8]) -> Result<(), (i64, &'static str)> {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    if !matches!(ext.as_deref(), Some("mp3" | "m4a" | "wav")) {
        return Err((2013, "invalid params, file format"));
    }
    if bytes.len() > MAX_AUDIO_BYTES {
        return Err((2013, "invalid params, file too large"));
    }
    // Only WAV length can be read without a full decoder stack; other
    // formats are accepted as-is.
    let Ok(pcm) = odeadev_audio::decode_wav(bytes) else {
        return Ok(());
    };
    let ms = pcm.duration_ms();
    match purpose {
        "voice_clone" if ms < 10_000 => Err((2037, "voice duration too short")),
        "voice_clone" if ms > 300_000 => Err((2037, "voice duration too long")),
        "prompt_audio" if ms >= 8_000 => Err((2048, "prompt audio too long")),
        _ => Ok(()),
    }
}

/// `POST /v1/files/upload`.
pub(crate) async fn upload(
    State(state): State<Arc<SimState>>,
    Extension(TraceId(trace)): Extension<TraceId>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Err((code, msg)) = crate::auth::check(&state.config, &headers, query.as_deref()) {
        return file_error(&trace, code, msg);
    }
    let Ok(mp) = multipart else {
        return file_error(&trace, 2013, "invalid params");
    };
    let Some((purpose, name, bytes)) = read_fields(mp).await else {
        return file_error(&trace, 2013, "invalid params");
    };
    match purpose.as_str() {
        "voice_clone" | "prompt_audio" => {
            if let Err((code, msg)) = check_audio(&purpose, &name, &bytes) {
                return file_error(&trace, code, msg);
            }
        }
        "t2a_async_input" => {}
        _ => return file_error(&trace, 2013, "invalid params"),
    }
    let id = lock(&state.files).add(StoredFile {
        purpose: purpose.clone(),
    });
    let created_at = chrono::Utc::now().timestamp();
    let mut body = Map::new();
    body.insert(
        "file".to_owned(),
        json!({"file_id": id, "bytes": bytes.len(), "created_at": created_at, "filename": name, "purpose": purpose}),
    );
    success(&trace, body)
}
