//! Fake eSpeak programs: small shell scripts written to a temporary directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::{LocalEngine, LocalEngineSettings};

/// Writes an executable `/bin/sh` script with `body` and returns its path.
pub(super) fn script(dir: &Path, body: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("fake-espeak-{n}.sh"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    wait_until_executable(&path);
    path
}

/// Another test thread may fork while the script's write handle is open, which makes
/// exec fail with "text file busy" (ETXTBSY) until that child execs; wait it out.
fn wait_until_executable(path: &Path) {
    for _ in 0..100 {
        match std::process::Command::new(path)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
        {
            Err(error) if error.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => return,
        }
    }
}

/// An engine running `program`, which must answer `--version` successfully.
pub(super) async fn engine(program: PathBuf, timeout: Duration) -> LocalEngine {
    engine_with(program, timeout, 4).await
}

/// Like [`engine`], with a pool of `max_concurrent`.
pub(super) async fn engine_with(
    program: PathBuf,
    timeout: Duration,
    max_concurrent: usize,
) -> LocalEngine {
    use crate::engine::Engine;
    let engine = LocalEngine::new(LocalEngineSettings {
        program,
        max_concurrent,
        timeout,
    })
    .await;
    assert_eq!(engine.unavailable_reason(), None);
    engine
}
