//! Simulator configuration.

/// How the simulator behaves; `Default` matches the documented defaults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// When `Some`, only `Authorization: Bearer <key>` is accepted; when
    /// `None`, any non-empty bearer token is.
    pub api_key: Option<String>,
    /// When `Some`, a `?GroupId=` that differs yields `1004 token not match
    /// group`; an absent GroupId is always accepted.
    pub group_id: Option<String>,
    /// Simulated speech duration per spoken character, in ms.
    pub ms_per_char: u32,
    /// Audio milliseconds carried by each streamed status-1 chunk.
    pub stream_chunk_ms: u32,
    /// Pause between streamed chunks, in ms.
    pub stream_chunk_delay_ms: u32,
    /// Base for `output_format=url` links (e.g. behind a proxy); defaults to
    /// the listener's `http://IP:PORT`.
    pub public_base_url: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_key: None,
            group_id: None,
            ms_per_char: 60,
            stream_chunk_ms: 250,
            stream_chunk_delay_ms: 0,
            public_base_url: None,
        }
    }
}
