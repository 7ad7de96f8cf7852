//! Domain types and pure rules: plans, API keys, text, estimates, synthesis options.
//! Nothing here knows about HTTP or databases.

pub mod api_key;
pub mod audit;
pub mod cycle;
pub mod estimate;
pub mod openai;
pub mod options;
pub mod plan;
pub mod rate;
pub mod records;
pub mod text;
