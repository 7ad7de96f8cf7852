//! Voice cloning: upload the sample (`/v1/files/upload`, purpose `voice_clone`), then register
//! it (`/v1/voice_clone`). MiniMax's refusals become client-safe reasons.

use async_trait::async_trait;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::json;

use super::protocol::{error_for_code, BaseResp};
use super::{check_status, read_bounded, transport_error, MinimaxEngine};
use crate::engine::{CloneError, CloneSample, EngineError, VoiceCloner};

#[derive(Debug, Deserialize)]
struct UploadResponse {
    #[serde(default)]
    file: Option<UploadedFile>,
    base_resp: BaseResp,
}

#[derive(Debug, Deserialize)]
struct UploadedFile {
    file_id: i64,
}

#[derive(Debug, Deserialize)]
struct CloneResponse {
    base_resp: BaseResp,
}

fn rejected(code: i64, message: &str) -> CloneError {
    match code {
        2037 => CloneError::Rejected("the sample must be between 10 seconds and 5 minutes long"),
        2039 => CloneError::VoiceIdTaken,
        2013 | 20132 => CloneError::Rejected("the sample or voice id was refused by the speech engine (mp3, m4a or wav, at most 20 MB; voice id 8-256 characters)"),
        1043 | 1044 => CloneError::Rejected("the sample did not pass the speech engine's quality check"),
        2038 => CloneError::Engine(EngineError::Account(format!("minimax {code}: {message}"))),
        _ => CloneError::Engine(error_for_code(code, message, None)),
    }
}

impl MinimaxEngine {
    fn endpoint(&self, path: &[&str]) -> Result<url::Url, EngineError> {
        let mut url = self.settings.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| EngineError::BadResponse("base URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(path);
        if let Some(group) = &self.settings.group_id {
            url.query_pairs_mut().append_pair("GroupId", group);
        }
        Ok(url)
    }

    async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, EngineError> {
        let call = async {
            let mut response = request
                .header(AUTHORIZATION, self.auth.clone())
                .send()
                .await
                .map_err(transport_error)?;
            check_status(response.status())?;
            let bytes = read_bounded(&mut response, 1024 * 1024).await?;
            serde_json::from_slice::<T>(&bytes)
                .map_err(|e| EngineError::BadResponse(format!("invalid JSON: {e}")))
        };
        tokio::time::timeout(self.settings.timeout, call)
            .await
            .map_err(|_| EngineError::Timeout)?
    }
}

#[async_trait]
impl VoiceCloner for MinimaxEngine {
    async fn clone_voice(&self, sample: CloneSample, voice_id: &str) -> Result<(), CloneError> {
        let part =
            reqwest::multipart::Part::bytes(sample.bytes.to_vec()).file_name(sample.filename);
        let form = reqwest::multipart::Form::new()
            .text("purpose", "voice_clone")
            .part("file", part);
        let upload: UploadResponse = self
            .post_json(
                self.http
                    .post(self.endpoint(&["v1", "files", "upload"])?)
                    .multipart(form),
            )
            .await?;
        if upload.base_resp.status_code != 0 {
            return Err(rejected(
                upload.base_resp.status_code,
                upload.base_resp.status_msg.as_deref().unwrap_or(""),
            ));
        }
        let file_id = upload
            .file
            .ok_or_else(|| EngineError::BadResponse("upload without file".into()))?
            .file_id;
        let cloned: CloneResponse = self
            .post_json(
                self.http
                    .post(self.endpoint(&["v1", "voice_clone"])?)
                    .json(&json!({"file_id": file_id, "voice_id": voice_id})),
            )
            .await?;
        match cloned.base_resp.status_code {
            0 => Ok(()),
            code => Err(rejected(
                code,
                cloned.base_resp.status_msg.as_deref().unwrap_or(""),
            )),
        }
    }
}
