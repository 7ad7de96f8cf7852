//! Black-box tests of the gateway over real sockets: the app on a random port with a fresh
//! SQLite database, the MiniMax simulator on another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod direct_sql;
mod helpers;
mod hostile;
mod relay;

mod admin;
mod auth;
mod cli;
mod cloning;
mod contract;
mod cycles;
mod limits;
mod metering;
mod multinode;
mod openai;
mod operations;
mod piper;
mod private_postgres;
mod process;
mod reports;
mod sockets;
mod store_contract;
mod supervision;
mod tts;
mod upstream;
mod validation;
mod voices;
