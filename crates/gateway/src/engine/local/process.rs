//! Running the eSpeak NG program: one child process per spoken segment.
//!
//! The text goes in on stdin (never as an argument), the WAV comes out on stdout. The
//! child is killed when the deadline passes or when the future is dropped
//! (`kill_on_drop`), and its output is capped so a runaway process cannot exhaust memory.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::engine::EngineError;

/// Most WAV bytes accepted from one run: 30 minutes of 22050 Hz 16-bit mono.
const MAX_OUTPUT_BYTES: u64 = 22_050 * 2 * 60 * 30;
/// Most stderr bytes kept for the log message.
const MAX_STDERR_BYTES: u64 = 2048;
/// How long the `--version` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What probing the program found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// It ran; the first line of its `--version` output.
    Available(String),
    /// It could not be started (usually: not installed).
    Missing(String),
    /// It started but failed or hung.
    Broken(String),
}

/// Runs `program --version` once.
pub(crate) async fn probe(program: &Path) -> Probe {
    let mut command = Command::new(program);
    command.arg("--version");
    let deadline = Instant::now() + PROBE_TIMEOUT;
    match run(command, b"", deadline, 64 * 1024).await {
        Ok(output) if output.status.success() => Probe::Available(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ),
        Ok(output) => Probe::Broken(output.describe_failure()),
        Err(RunError::Spawn(error)) => Probe::Missing(error),
        Err(RunError::Timeout) => Probe::Broken("--version timed out".to_owned()),
        Err(RunError::Io(error)) => Probe::Broken(error),
    }
}

/// Runs eSpeak with `args`, `text` on stdin, and returns its stdout (a WAV stream).
pub(crate) async fn speak(
    program: &Path,
    args: &[String],
    text: &str,
    deadline: Instant,
) -> Result<Vec<u8>, EngineError> {
    let mut command = Command::new(program);
    command.args(args);
    let output = run(command, text.as_bytes(), deadline, MAX_OUTPUT_BYTES)
        .await
        .map_err(|error| match error {
            RunError::Timeout => EngineError::Timeout,
            RunError::Spawn(error) => {
                EngineError::Unavailable(format!("could not start espeak-ng: {error}"))
            }
            RunError::Io(error) => EngineError::Unavailable(error),
        })?;
    if output.status.success() {
        Ok(output.stdout)
    } else if output.stderr_text().contains("voice does not exist") {
        Err(EngineError::UnknownVoice(output.describe_failure()))
    } else {
        Err(EngineError::Unavailable(output.describe_failure()))
    }
}

/// A finished child process.
struct Output {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr)
            .trim()
            .replace('\n', " | ")
    }

    fn describe_failure(&self) -> String {
        format!("espeak-ng {}: {}", self.status, self.stderr_text())
    }
}

/// Why a run produced no [`Output`].
enum RunError {
    Spawn(String),
    Timeout,
    Io(String),
}

async fn run(
    mut command: Command,
    input: &[u8],
    deadline: Instant,
    max_stdout: u64,
) -> Result<Output, RunError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|error| RunError::Spawn(error.to_string()))?;
    let result =
        tokio::time::timeout_at(deadline, communicate(&mut child, input, max_stdout)).await;
    match result {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => {
            kill(&mut child).await;
            Err(error)
        }
        Err(_elapsed) => {
            kill(&mut child).await;
            Err(RunError::Timeout)
        }
    }
}

/// Feeds stdin, drains stdout and stderr concurrently (so neither pipe can fill up and
/// stall the child), then waits for the exit status.
async fn communicate(child: &mut Child, input: &[u8], max_stdout: u64) -> Result<Output, RunError> {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let write = async move {
        if let Some(mut stdin) = stdin {
            // A child that exits early closes the pipe; its exit status tells what happened.
            let _ = stdin.write_all(input).await;
            let _ = stdin.shutdown().await;
        }
    };
    let (_, stdout, stderr) = tokio::join!(
        write,
        read_capped(stdout, max_stdout),
        read_capped(stderr, MAX_STDERR_BYTES)
    );
    let (stdout, stdout_complete) = stdout?;
    let (stderr, _) = stderr?;
    if !stdout_complete {
        return Err(RunError::Io(format!(
            "espeak-ng wrote more than {max_stdout} bytes"
        )));
    }
    let status = child
        .wait()
        .await
        .map_err(|error| RunError::Io(format!("waiting for espeak-ng: {error}")))?;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Reads up to `max` bytes; `true` when the stream ended within the cap.
async fn read_capped(
    stream: Option<impl AsyncRead + Unpin>,
    max: u64,
) -> Result<(Vec<u8>, bool), RunError> {
    let Some(stream) = stream else {
        return Ok((Vec::new(), true));
    };
    let mut buffer = Vec::new();
    let read = stream
        .take(max.saturating_add(1))
        .read_to_end(&mut buffer)
        .await
        .map_err(|error| RunError::Io(format!("reading espeak-ng output: {error}")))?;
    if read as u64 > max {
        buffer.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        return Ok((buffer, false));
    }
    Ok((buffer, true))
}

/// Kills the child and reaps it so no zombie is left behind.
async fn kill(child: &mut Child) {
    if let Err(error) = child.kill().await {
        tracing::warn!(%error, "could not kill espeak-ng");
    }
}
