//! MiniMax T2A v2 wire types and how its status codes map to our engine errors.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};

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

    /// The JSON body. (Strings and numbers only: encoding cannot fail in practice.)
    pub fn encode(&self) -> Result<bytes::Bytes, EngineError> {
        serde_json::to_vec(self)
            .map(bytes::Bytes::from)
            .map_err(|e| EngineError::Unavailable(format!("request not encodable: {e}")))
    }
}

/// Response body (and each streamed event) of `t2a_v2`. The audio is borrowed from the body
/// when it holds no escapes (hex never does): tens of kilobytes not copied per response.
#[derive(Debug, Deserialize)]
pub struct T2aResponse<'a> {
    #[serde(default, borrow)]
    pub data: Option<T2aData<'a>>,
    #[serde(default)]
    pub extra_info: Option<ExtraInfo>,
    #[serde(default)]
    pub trace_id: Option<String>,
    pub base_resp: BaseResp,
}

#[derive(Debug, Deserialize)]
pub struct T2aData<'a> {
    #[serde(default, borrow, deserialize_with = "borrowed_if_unescaped")]
    pub audio: Option<Cow<'a, [u8]>>,
    #[serde(default)]
    pub status: Option<i64>,
}

impl<'a> T2aResponse<'a> {
    /// Parses a response body or event. The audio hex is tens of kilobytes, and serde_json
    /// looks at every byte of a string for quotes and escapes; SIMD `memchr` finds its end
    /// much faster. So when the body holds `"audio"` exactly once, as a key directly
    /// followed by an escape-free string, that string is cut out with `memchr` and serde_json
    /// parses the rest; the parse must then find it as `data.audio`, or the whole body is
    /// parsed the ordinary way. Either way the result is the same.
    pub fn parse(body: &'a [u8]) -> Result<T2aResponse<'a>, serde_json::Error> {
        match split_audio(body) {
            Some((hex, rest)) => match serde_json::from_slice::<T2aResponse>(&rest) {
                Ok(parsed) if parsed.audio_is_empty() => Ok(parsed.with_audio(hex)),
                _ => serde_json::from_slice(body),
            },
            None => serde_json::from_slice(body),
        }
    }

    fn audio_is_empty(&self) -> bool {
        self.data.as_ref().and_then(|d| d.audio.as_deref()) == Some(&[][..])
    }

    fn with_audio<'b>(self, hex: &'b [u8]) -> T2aResponse<'b> {
        T2aResponse {
            data: self.data.map(|data| T2aData {
                audio: Some(Cow::Borrowed(hex)),
                status: data.status,
            }),
            extra_info: self.extra_info,
            trace_id: self.trace_id,
            base_resp: self.base_resp,
        }
    }
}

/// Below this much audio hex, serde_json alone is as fast.
const SPLIT_AUDIO_FROM: usize = 1024;

/// The audio hex and the body with that string emptied, when the body holds `"audio"` once,
/// followed directly by `:"`, with no escape before the string's closing quote. (Inside a
/// JSON string every quote is escaped, so `"audio"` found here is a key or a whole value.)
fn split_audio(body: &[u8]) -> Option<(&[u8], Vec<u8>)> {
    const KEY: &[u8] = b"\"audio\"";
    let key_end = memchr::memmem::find(body, KEY)? + KEY.len();
    let start = key_end + 2;
    let value = body.get(key_end..)?.strip_prefix(b":\"")?;
    let len = memchr::memchr2(b'"', b'\\', value)?;
    let end = start + len;
    let closed = value.get(len) == Some(&b'"');
    if !closed || len < SPLIT_AUDIO_FROM || memchr::memmem::find(&body[end..], KEY).is_some() {
        return None;
    }
    let hex = &value[..len];
    let mut rest = Vec::with_capacity(body.len() - len);
    rest.extend_from_slice(&body[..start]);
    rest.extend_from_slice(&body[end..]);
    Some((hex, rest))
}

/// The audio as the bytes of its JSON string (hex is ASCII; decoding checks every byte), so
/// it is not checked as UTF-8 first. serde borrows a `Cow` only when it is the field's whole
/// type, not inside `Option`.
fn borrowed_if_unescaped<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, [u8]>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, [u8]>);
    Ok(Option::<Text<'a>>::deserialize(deserializer)?.map(|text| text.0))
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
pub fn decode_hex(hex_audio: &[u8]) -> Result<Vec<u8>, EngineError> {
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
        assert_eq!(decode_hex(b"00ffAB").unwrap(), vec![0, 255, 171]);
        assert!(decode_hex(b"abc").is_err());
        assert!(decode_hex(b"zz").is_err());
    }

    #[test]
    fn audio_is_borrowed_unless_escaped() {
        let plain = br#"{"data":{"audio":"00ff","status":1},"base_resp":{"status_code":0}}"#;
        let parsed: T2aResponse = serde_json::from_slice(plain).unwrap();
        let audio = parsed.data.unwrap().audio.unwrap();
        assert!(matches!(audio, Cow::Borrowed(b"00ff")));
        let escaped = br#"{"data":{"audio":"\u0030\u0030ff"},"base_resp":{"status_code":0}}"#;
        let parsed: T2aResponse = serde_json::from_slice(escaped).unwrap();
        assert_eq!(parsed.data.unwrap().audio.as_deref(), Some(&b"00ff"[..]));
        let absent = br#"{"data":{"audio":null},"base_resp":{"status_code":0}}"#;
        let parsed: T2aResponse = serde_json::from_slice(absent).unwrap();
        assert!(parsed.data.unwrap().audio.is_none());
    }

    /// What the fast path must agree with: serde_json alone.
    fn plain(body: &[u8]) -> Option<String> {
        let parsed: T2aResponse = serde_json::from_slice(body).ok()?;
        Some(format!("{parsed:?}"))
    }

    #[test]
    fn the_audio_split_parses_like_serde_json() {
        let hex = "0a".repeat(SPLIT_AUDIO_FROM);
        let tail = r#""extra_info":{"audio_length":1200,"audio_format":"mp3"},"trace_id":"t","base_resp":{"status_code":0,"status_msg":"ok"}"#;
        let bodies = [
            // The usual shapes: response and event.
            format!(r#"{{"data":{{"audio":"{hex}","status":2}},{tail}}}"#),
            format!(r#"{{"data":{{"status":1,"audio":"{hex}"}},{tail}}}"#),
            // Short audio, spaces, escapes: serde_json alone.
            r#"{"data":{"audio":"00ff","status":1},"base_resp":{"status_code":0}}"#.to_string(),
            format!(r#"{{"data":{{"audio" : "{hex}"}},{tail}}}"#),
            format!(r#"{{"data":{{"audio":"{hex}\u0030\u0030"}},{tail}}}"#),
            // "audio" elsewhere too: a key outside data, a value, in a message.
            format!(r#"{{"audio":"{hex}","data":{{"audio":"","status":1}},{tail}}}"#),
            format!(r#"{{"data":{{"audio":"{hex}","status":1}},"trace_id":"audio",{tail}}}"#),
            format!(
                r#"{{"data":{{"audio":"{hex}"}},"base_resp":{{"status_code":0,"status_msg":"\"audio\":\"x"}}}}"#
            ),
            // Not data.audio at all, or broken JSON.
            format!(r#"{{"extra":{{"audio":"{hex}"}},{tail}}}"#),
            format!(r#"{{"data":{{"audio":"{hex}""#),
            format!(r#"{{"data":{{"audio":"{hex}"#),
        ];
        for body in &bodies {
            let fast = T2aResponse::parse(body.as_bytes())
                .ok()
                .map(|p| format!("{p:?}"));
            assert_eq!(
                fast,
                plain(body.as_bytes()),
                "{}",
                &body[..body.len().min(80)]
            );
        }
        // The usual shapes take the fast path; the others do not.
        let took_split: Vec<bool> = bodies
            .iter()
            .map(|b| split_audio(b.as_bytes()).is_some())
            .collect();
        assert_eq!(took_split[..6], [true, true, false, false, false, false]);
        let split = T2aResponse::parse(bodies[0].as_bytes()).unwrap();
        assert!(matches!(split.data.unwrap().audio, Some(Cow::Borrowed(h)) if h == hex.as_bytes()));
    }
}
