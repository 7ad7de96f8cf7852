//! Domain types and pure rules: plans, API keys, text, estimates, synthesis options, and the
//! validated input of admin writes (names, emails, voice fields, limit overrides).
//! Nothing here knows about HTTP or databases.

pub mod api_key;
pub mod audit;
pub mod cycle;
pub mod estimate;
pub mod field;
pub mod identity;
pub mod openai;
pub mod options;
pub mod overrides;
pub mod plan;
pub mod rate;
pub mod records;
pub mod text;
pub mod unicode;
pub mod voice;
