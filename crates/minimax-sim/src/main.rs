//! `minimax-sim`: run the MiniMax T2A simulator as a standalone server.

use std::io::Write;

use clap::Parser;
use minimax_sim::{spawn, SimConfig};

/// Command-line options (each also readable from the environment).
#[derive(Debug, Parser)]
#[command(name = "minimax-sim", version, about = "MiniMax T2A v2 API simulator")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "MINIMAX_SIM_BIND", default_value = "127.0.0.1:9880")]
    bind: String,
    /// Only accept `Authorization: Bearer <KEY>` (default: any bearer).
    #[arg(long, env = "MINIMAX_SIM_API_KEY")]
    api_key: Option<String>,
    /// Reject a `?GroupId=` that differs from this one.
    #[arg(long, env = "MINIMAX_SIM_GROUP_ID")]
    group_id: Option<String>,
    /// Simulated speech milliseconds per character.
    #[arg(long, env = "MINIMAX_SIM_MS_PER_CHAR", default_value_t = 60)]
    ms_per_char: u32,
    /// Audio milliseconds per streamed chunk.
    #[arg(long, env = "MINIMAX_SIM_STREAM_CHUNK_MS", default_value_t = 250)]
    stream_chunk_ms: u32,
    /// Delay between streamed chunks, in ms.
    #[arg(long, env = "MINIMAX_SIM_STREAM_CHUNK_DELAY_MS", default_value_t = 0)]
    stream_chunk_delay_ms: u32,
    /// Public base URL for `output_format=url` links.
    #[arg(long, env = "MINIMAX_SIM_PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled: it is called before the address is printed, so a script that
/// signals as soon as it reads that line cannot kill the process before they exist.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let config = SimConfig {
        api_key: args.api_key,
        group_id: args.group_id,
        ms_per_char: args.ms_per_char,
        stream_chunk_ms: args.stream_chunk_ms,
        stream_chunk_delay_ms: args.stream_chunk_delay_ms,
        public_base_url: args.public_base_url,
    };
    let handle = spawn(config, listener).await?;
    let shutdown = shutdown_signal()?;
    {
        // Scripts wait for this exact line to learn the port.
        let mut out = std::io::stdout().lock();
        writeln!(out, "minimax-sim listening on {}", handle.base_url())?;
        out.flush()?;
    }
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}
