//! Configuration of the local (eSpeak NG) engine.

use std::path::PathBuf;
use std::time::Duration;

/// How to run eSpeak NG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEngineSettings {
    /// The eSpeak NG program, looked up on `PATH` when not absolute. Default `espeak-ng`.
    pub program: PathBuf,
    /// Most syntheses running at once; more wait for a slot. Default: number of CPUs.
    pub max_concurrent: usize,
    /// Longest one synthesis may take, waiting for a slot included, before it fails with
    /// `EngineError::Timeout` and its process is killed. Default 30 s.
    pub timeout: Duration,
}

impl Default for LocalEngineSettings {
    fn default() -> Self {
        LocalEngineSettings {
            program: PathBuf::from("espeak-ng"),
            max_concurrent: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
            timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let settings = LocalEngineSettings::default();
        assert_eq!(settings.program, PathBuf::from("espeak-ng"));
        assert!(settings.max_concurrent >= 1);
        assert_eq!(settings.timeout, Duration::from_secs(30));
    }
}
