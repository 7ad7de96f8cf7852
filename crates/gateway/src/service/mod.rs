//! Use cases: authentication, accounts, synthesis with metering. No HTTP or SQL types here.

pub mod accounts;
pub mod auth;
pub mod cloning;
pub mod key_cache;
pub mod reaper;
pub mod reports;
pub mod synthesis;
