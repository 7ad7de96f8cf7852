//! The process's runtime machinery, apart from any one request: the HTTP server loop, the
//! waker that keeps a request's own wake-ups on its worker, periodic ticks, and the
//! supervision of background work.

pub mod connections;
pub(crate) mod fold_wakes;
pub mod own_errors;
pub mod server;
pub mod supervision;
pub mod ticks;
