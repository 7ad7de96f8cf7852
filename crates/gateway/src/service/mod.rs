//! Use cases: authentication, the caller's account, the voice catalogue, admin writes and
//! reads, synthesis with metering, reports. No HTTP or SQL types here.
//!
//! The caches the request path reads ([`key_cache`], [`voice_cache`]) are shared components:
//! the admin services clear them when they change what they hold.

pub mod account;
pub mod admin;
pub mod auth;
pub mod key_cache;
pub mod reaper;
pub mod reports;
pub mod synthesis;
pub mod voice_cache;
pub mod voices;
