//! `odeadev-tts` binary: parses the command line and hands over to the library.

use clap::Parser;

/// mimalloc rather than glibc's allocator: a request's buffers are allocated and freed on
/// several threads, and under load glibc's arenas cost the gateway about a fifth more CPU per
/// request (interleaved runs at 64 clients: 104 against 128 µs, 11,200 against 9,750 req/s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = odeadev_tts::cli::Cli::parse();
    match odeadev_tts::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
