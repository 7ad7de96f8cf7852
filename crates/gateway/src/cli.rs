//! Command line: `serve`, `migrate`, `create-admin`, `export-usage`, `backup`, `check-config`,
//! and the global `--config FILE`.

mod backup;
mod check_config;
mod export;

use clap::{Parser, Subcommand};

use crate::config::{ProcessEnv, Settings};
use crate::startup::{self, Application, SchemaPolicy};

/// OdeaDev TTS: a metered text-to-speech API gateway.
///
/// Settings come from environment variables (DATABASE_URL, ODEADEV_BIND, MINIMAX_API_KEY, ...)
/// over an optional TOML settings file (--config FILE, or ODEADEV_CONFIG); the environment
/// wins. `odeadev-tts check-config` prints the result; see the README for the full table.
#[derive(Debug, Parser)]
#[command(name = "odeadev-tts", version, about, long_about)]
pub struct Cli {
    /// TOML settings file; environment variables override it (default: $ODEADEV_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations, then serve the HTTP API.
    Serve {
        /// Listen address (overrides ODEADEV_BIND and server.bind; default 127.0.0.1:8000).
        #[arg(long)]
        bind: Option<String>,
        /// Do not migrate: refuse to start unless `odeadev-tts migrate` already ran (for
        /// fleets that migrate once, before rolling out nodes).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an admin user and print their new API key (shown only once).
    CreateAdmin {
        /// Display name.
        name: String,
        /// Email (unique).
        email: String,
        /// Print one JSON line: {"user_id": ..., "api_key": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// Export usage per user per period as CSV or JSON (same rows as GET /admin/usage),
    /// streamed to stdout or a file: for cron jobs.
    ExportUsage(export::ExportArgs),
    /// Write a consistent online copy of the SQLite database to DEST (which must not exist)
    /// and verify it; for PostgreSQL, print the pg_dump command to use instead.
    Backup {
        /// Path of the copy.
        dest: std::path::PathBuf,
    },
    /// Validate the settings as `serve` would (without opening the database or listening) and
    /// print each effective value, secrets redacted, with where it came from.
    CheckConfig,
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let bind = match &cli.command {
        Command::Serve { bind, .. } => bind.clone(),
        _ => None,
    };
    let loaded = Settings::load_layered(&ProcessEnv, cli.config.as_deref(), bind.as_deref())?;
    crate::telemetry::init(loaded.settings.log_format);
    match cli.command {
        Command::Serve { no_migrate, .. } => {
            let schema = if no_migrate {
                SchemaPolicy::RequireCurrent
            } else {
                SchemaPolicy::Migrate
            };
            serve(loaded.settings, schema).await
        }
        Command::Migrate => {
            startup::with_database(&loaded.settings, startup::migrate).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::CreateAdmin { name, email, json } => {
            create_admin(loaded.settings, name, email, json).await
        }
        Command::ExportUsage(args) => export::run(loaded.settings, args).await,
        Command::Backup { dest } => backup::run(loaded.settings, &dest).await,
        Command::CheckConfig => {
            check_config::print(&loaded);
            Ok(())
        }
    }
}

async fn serve(settings: Settings, schema: SchemaPolicy) -> anyhow::Result<()> {
    let app = Application::build_with(settings, schema).await?;
    let addr = app.local_addr()?;
    let shutdown = shutdown_signal()?;
    tracing::info!(%addr, "odeadev-tts listening");
    app.run_until(shutdown).await
}

async fn create_admin(
    settings: Settings,
    name: String,
    email: String,
    json: bool,
) -> anyhow::Result<()> {
    let (user, key) = startup::create_admin(&settings, &name, &email).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"user_id": user.id, "api_key": key.plain})
        );
    } else {
        println!(
            "Created admin user {} <{}> (id {}).",
            user.name, user.email, user.id
        );
        println!("API key (shown only once, store it now):");
        println!("{}", key.plain);
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal sent as soon as the "listening" line appears is
/// handled gracefully instead of killing the process.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let received = {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
    };
    #[cfg(not(unix))]
    let received = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        received.await;
        tracing::info!("shutdown signal received; finishing requests in flight");
    })
}
