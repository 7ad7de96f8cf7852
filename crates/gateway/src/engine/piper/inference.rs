//! ONNX Runtime, loaded from a shared library at start-up, and the bounded pool of Piper
//! sessions that run inference on blocking threads.
//!
//! `ort` is built with `load-dynamic`: its build downloads nothing, and the library
//! (`libonnxruntime.so` from the PyPI `onnxruntime` wheel, fetched by `make models`) is
//! opened at run time. ONNX Runtime allows one environment per process, so it is kept here
//! for the process's life. Each session runs on one thread (two threads on a busy 2-core
//! box are slower than one, `docs/local-tts.md`), and the pool holds as many sessions as
//! syntheses may run at once.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

use super::voices::PiperVoice;

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment, loading `library` the first time.
fn environment(library: &Path) -> Result<&'static Environment, String> {
    ENVIRONMENT
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|e| format!("loading {}: {e}", library.display()))?
                .with_name("odeadev-piper")
                .build()
                .map_err(|e| format!("starting ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A loaded voice model: its sessions, each used by one synthesis at a time.
pub(crate) struct VoiceModel {
    pub(crate) voice: PiperVoice,
    sessions: Vec<Mutex<Session>>,
}

impl VoiceModel {
    /// Loads `voice` into `sessions` single-threaded sessions of the runtime at `library`.
    pub(crate) fn load(
        library: &Path,
        voice: PiperVoice,
        sessions: usize,
    ) -> Result<VoiceModel, String> {
        let environment = environment(library)?;
        let mut loaded = Vec::with_capacity(sessions);
        for _ in 0..sessions.max(1) {
            let session = Session::builder(environment)
                .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
                .and_then(|b| Ok(b.with_intra_threads(1)?))
                .and_then(|b| Ok(b.with_inter_threads(1)?))
                .and_then(|mut b| b.commit_from_file(&voice.model))
                .map_err(|e| format!("loading {}: {e}", voice.model.display()))?;
            loaded.push(Mutex::new(session));
        }
        Ok(VoiceModel {
            voice,
            sessions: loaded,
        })
    }

    /// Speaks one sentence's phoneme ids on the session `slot` (the caller holds that slot's
    /// permit, so the lock is never contended); float samples at the voice's rate.
    /// Blocking: call it from a blocking thread.
    pub(crate) fn infer(&self, slot: usize, ids: Vec<i64>, speed: f32) -> Result<Vec<f32>, String> {
        let session = self.sessions.get(slot).ok_or("no such session")?;
        let mut session = session.lock().map_err(|_| "a session panicked earlier")?;
        let length = ids.len();
        let scales = vec![
            self.voice.noise_scale,
            self.voice.length_scale / speed,
            self.voice.noise_w,
        ];
        let input = Tensor::from_array(([1usize, length], ids)).map_err(|e| e.to_string())?;
        let lengths =
            Tensor::from_array(([1usize], vec![length as i64])).map_err(|e| e.to_string())?;
        let scales = Tensor::from_array(([3usize], scales)).map_err(|e| e.to_string())?;
        let outputs = session
            .run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
            ])
            .map_err(|e| format!("inference: {e}"))?;
        let (_, audio) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("reading the model's output: {e}"))?;
        Ok(audio.to_vec())
    }
}
