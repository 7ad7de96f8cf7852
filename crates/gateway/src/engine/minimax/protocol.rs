//! MiniMax T2A v2 wire types and how its status codes map to our engine errors.

use serde::{Deserialize, Serialize};

use crate::engine::{EngineError, SynthesisRequest};

/// Request body of `POST /v1/t2a_v2`.
#[derive(Debug, Serialize)]
pub struct T2aRequest<'a> {
    pub model: &'a str,
    pub text: &'a str,
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    pub voice_setting: VoiceSetting<'a>,
    pub audio_setting: AudioSetting,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_boost: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_format: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct StreamOptions {
    pub exclude_aggregated_audio: bool,
}

#[derive(Debug, Serialize)]
pub struct VoiceSetting<'a> {
    pub voice_id: &'a str,
    pub speed: f32,
    pub vol: f32,
    pub pitch: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emotion: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct AudioSetting {
    pub sample_rate: u32,
    pub bitrate: u32,
    pub format: &'static str,
    pub channel: u8,
}

impl<'a> T2aRequest<'a> {
    /// The body for `request`, streaming or not.
    pub fn new(request: &'a SynthesisRequest, stream: bool) -> T2aRequest<'a> {
        T2aRequest {
            model: &request.model,
            text: &request.text,
            stream,
            stream_options: stream.then_some(StreamOptions {
                exclude_aggregated_audio: true,
            }),
            voice_setting: VoiceSetting {
                voice_id: &request.engine_voice_id,
                speed: request.speed,
                vol: request.volume,
                pitch: request.pitch,
                emotion: request.emotion.as_deref(),
            },
            audio_setting: AudioSetting {
                sample_rate: request.sample_rate,
                bitrate: request.bitrate,
                format: request.format.as_str(),
                channel: 1,
            },
            language_boost: request.language_boost.as_deref(),
            output_format: (!stream).then_some("hex"),
        }
    }
}

/// Response body (and each streamed event) of `t2a_v2`.
#[derive(Debug, Deserialize)]
pub struct T2aResponse {
    #[serde(default)]
    pub data: Option<T2aData>,
    #[serde(default)]
    pub extra_info: Option<ExtraInfo>,
    #[serde(default)]
    pub trace_id: Option<String>,
    pub base_resp: BaseResp,
}

#[derive(Debug, Deserialize)]
pub struct T2aData {
    #[serde(default)]
    pub audio: Option<String>,
    #[serde(default)]
    pub status: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct ExtraInfo {
    pub audio_length: i64,
}

#[derive(Debug, Deserialize)]
pub struct BaseResp {
    pub status_code: i64,
    #[serde(default)]
    pub status_msg: Option<String>,
}

/// Maps a non-zero `base_resp.status_code` to our error. The upstream message is kept for the
/// log only.
pub fn error_for_code(code: i64, message: &str, trace_id: Option<&str>) -> EngineError {
    let detail = format!(
        "minimax status {code} ({message}), trace {}",
        trace_id.unwrap_or("-")
    );
    match code {
        // Transient or throttling: worth another attempt.
        1000 | 1001 | 1002 | 1013 | 1024 | 1033 | 1039 | 1041 | 2045 => {
            EngineError::Unavailable(detail)
        }
        // Our account: bad key, wrong region, no balance, plan used up.
        1004 | 1008 | 2049 | 2056 => EngineError::Account(detail),
        // The input itself.
        2013 | 1026 | 1027 | 1042 => EngineError::InvalidInput(detail),
        2054 | 20132 | 2042 => EngineError::UnknownVoice(detail),
        _ => EngineError::BadResponse(detail),
    }
}

/// Decodes hex audio strictly: even length, hex digits only (either case). `const-hex` is
/// SIMD-accelerated: the `hex` crate's byte-by-byte decoding was the gateway's hottest
/// user-space function.
pub fn decode_hex(hex_audio: &str) -> Result<Vec<u8>, EngineError> {
    const_hex::decode(hex_audio)
        .map_err(|e| EngineError::BadResponse(format!("bad hex audio: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_right_error() {
        assert!(error_for_code(1002, "rate limit", None).is_retryable());
        assert!(matches!(
            error_for_code(1004, "x", None),
            EngineError::Account(_)
        ));
        assert!(matches!(
            error_for_code(2049, "x", None),
            EngineError::Account(_)
        ));
        assert!(matches!(
            error_for_code(1008, "x", None),
            EngineError::Account(_)
        ));
        assert!(matches!(
            error_for_code(2013, "x", None),
            EngineError::InvalidInput(_)
        ));
        assert!(matches!(
            error_for_code(2054, "x", None),
            EngineError::UnknownVoice(_)
        ));
        assert!(matches!(
            error_for_code(99999, "x", None),
            EngineError::BadResponse(_)
        ));
    }

    #[test]
    fn hex_is_strict() {
        assert_eq!(decode_hex("00ffAB").unwrap(), vec![0, 255, 171]);
        assert!(decode_hex("abc").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
