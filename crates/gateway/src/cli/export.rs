//! `export-usage`: the admin usage report for cron jobs, streamed to stdout or a file.
//!
//! A file is written under a temporary name beside it and renamed when complete, so a
//! failed run never leaves a short report where the real one is expected.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::config::Settings;
use crate::service::reports::{self, ReportFilters, ReportFormat};
use crate::startup;

/// Output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// `{"data": [...]}`, as `GET /admin/usage` answers.
    Json,
}

/// Arguments of `export-usage`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Start, inclusive: RFC 3339 (2026-01-01T00:00:00Z) or a date (2026-01-01 = its
    /// midnight UTC).
    #[arg(long)]
    pub from: String,
    /// End, exclusive (same forms): the report covers [from, to).
    #[arg(long)]
    pub to: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: FormatArg,
    /// Grouping in time: `day` (UTC days), `month` (UTC calendar months) or `cycle` (each
    /// user's billing cycles, closed and current).
    #[arg(long, default_value = "day")]
    pub period: String,
    /// Only this user.
    #[arg(long)]
    pub user_id: Option<i64>,
    /// Only users on this plan.
    #[arg(long)]
    pub plan: Option<String>,
    /// Write here instead of stdout (replaced only when the export succeeds).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Runs the export; fails naming the bad argument, or the database problem.
pub async fn run(settings: Settings, args: ExportArgs) -> anyhow::Result<()> {
    let query = reports::query(&ReportFilters {
        period: Some(&args.period),
        user_id: args.user_id,
        plan: args.plan.as_deref(),
        from: Some(&args.from),
        to: Some(&args.to),
    })
    .map_err(|e| anyhow::anyhow!("invalid --{}: {}", e.field.replace('_', "-"), e.message))?;
    let format = match args.format {
        FormatArg::Csv => ReportFormat::Csv,
        FormatArg::Json => ReportFormat::Json,
    };
    startup::with_database(&settings, async |database| {
        database.require_current_schema().await?;
        let store = database.store();
        let bytes = reports::export(store.as_ref(), &query, format)
            .await
            .context("reading usage from the database")?;
        match &args.output {
            None => {
                let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
                copy(bytes, &mut out).await
            }
            Some(path) => write_file(bytes, path).await,
        }
    })
    .await
}

type ByteStream =
    futures::stream::BoxStream<'static, Result<bytes::Bytes, crate::store::StoreError>>;

async fn copy(mut bytes: ByteStream, out: &mut (impl AsyncWrite + Unpin)) -> anyhow::Result<()> {
    while let Some(chunk) = bytes.next().await {
        let chunk = chunk.context("reading usage from the database")?;
        out.write_all(&chunk).await.context("writing the report")?;
    }
    out.flush().await.context("writing the report")
}

async fn write_file(bytes: ByteStream, path: &Path) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("--output {} is not a file name", path.display()))?;
    let mut partial_name = name.to_os_string();
    partial_name.push(format!(".partial-{}", std::process::id()));
    let partial = path.with_file_name(partial_name);
    let file = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("cannot create --output {}", path.display()))?;
    let mut out = tokio::io::BufWriter::new(file);
    let written = async {
        copy(bytes, &mut out).await?;
        out.get_ref()
            .sync_all()
            .await
            .context("writing the report")?;
        tokio::fs::rename(&partial, path)
            .await
            .with_context(|| format!("cannot write --output {}", path.display()))
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    written
}
